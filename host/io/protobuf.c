/* host/io/protobuf.c: the protocol-buffers wire encoding into a growable buffer (what the ONNX writer is built on). */
#include <stdlib.h>
#include <string.h>

#include "io/protobuf.h"

void fcl_pb_free(fcl_pb *p)
{
    free(p->buf);
    memset(p, 0, sizeof *p);
}

int fcl_pb_ok(const fcl_pb *p) { return !p->oom; }

/* Room for n more bytes (doubling, so appends are amortised O(1)). */
static int reserve(fcl_pb *p, size_t n)
{
    if (p->oom) return 0;
    if (n <= p->cap - p->len) return 1;
    if (n > SIZE_MAX / 2 - p->len) {
        p->oom = 1;
        return 0;
    }
    size_t cap = p->cap ? p->cap : 256;
    while (cap - p->len < n) cap *= 2;
    uint8_t *b = realloc(p->buf, cap);
    if (!b) {
        p->oom = 1;
        return 0;
    }
    p->buf = b;
    p->cap = cap;
    return 1;
}

void fcl_pb_raw(fcl_pb *p, const void *data, size_t n)
{
    if (!n || !reserve(p, n)) return;
    memcpy(p->buf + p->len, data, n);
    p->len += n;
}

size_t fcl_pb_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Encodes v into out (at least 10 bytes); returns the byte count. */
static size_t encode_varint(uint64_t v, uint8_t *out)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

void fcl_pb_varint(fcl_pb *p, uint64_t v)
{
    uint8_t b[10];
    fcl_pb_raw(p, b, encode_varint(v, b));
}

void fcl_pb_tag(fcl_pb *p, int field, int wire) { fcl_pb_varint(p, ((uint64_t)(uint32_t)field << 3) | (uint64_t)wire); }

void fcl_pb_int(fcl_pb *p, int field, int64_t v)
{
    fcl_pb_tag(p, field, FCL_PB_VARINT);
    fcl_pb_varint(p, (uint64_t)v); /* two's complement: negatives take 10 bytes */
}

void fcl_pb_float(fcl_pb *p, int field, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    fcl_pb_tag(p, field, FCL_PB_I32);
    fcl_pb_raw(p, b, 4);
}

void fcl_pb_len_prefix(fcl_pb *p, int field, size_t n)
{
    fcl_pb_tag(p, field, FCL_PB_LEN);
    fcl_pb_varint(p, (uint64_t)n);
}

void fcl_pb_bytes(fcl_pb *p, int field, const void *data, size_t n)
{
    fcl_pb_len_prefix(p, field, n);
    fcl_pb_raw(p, data, n);
}

void fcl_pb_string(fcl_pb *p, int field, const char *s) { fcl_pb_bytes(p, field, s, strlen(s)); }

size_t fcl_pb_begin(fcl_pb *p, int field)
{
    fcl_pb_tag(p, field, FCL_PB_LEN);
    return p->len;
}

void fcl_pb_end(fcl_pb *p, size_t mark)
{
    if (p->oom) return;
    size_t body = p->len - mark;
    uint8_t b[10];
    size_t k = encode_varint((uint64_t)body, b);
    if (!reserve(p, k)) return;
    memmove(p->buf + mark + k, p->buf + mark, body);
    memcpy(p->buf + mark, b, k);
    p->len += k;
}
