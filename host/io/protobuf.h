/* host/io/protobuf.h: the protocol-buffers wire encoding (varints, tags, length-delimited fields) into a growable byte buffer. */
#ifndef FACECL_HOST_IO_PROTOBUF_H
#define FACECL_HOST_IO_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

/* Wire types of the encoding (developers.google.com/protocol-buffers/docs/encoding). */
enum { FCL_PB_VARINT = 0, FCL_PB_I64 = 1, FCL_PB_LEN = 2, FCL_PB_I32 = 5 };

/* A byte buffer being appended to. An allocation failure sets `oom` and turns every later call
 * into a no-op, so a writer checks once at the end (fcl_pb_ok). Fields are written in the
 * order the caller calls; writing them in field-number order gives the bytes protobuf's own
 * serializers produce. Repeated scalars are written unpacked (one tag per value), as onnx.proto
 * (proto2) declares them and as the onnx Python package emits them; every parser reads both. */
typedef struct fcl_pb {
    uint8_t *buf;
    size_t len, cap;
    int oom;
} fcl_pb;

void fcl_pb_free(fcl_pb *p);
/* 1 when no allocation failed. */
int fcl_pb_ok(const fcl_pb *p);

void fcl_pb_raw(fcl_pb *p, const void *data, size_t n);
/* Base-128 varint, least significant group first (1..10 bytes). */
void fcl_pb_varint(fcl_pb *p, uint64_t v);
/* (field << 3) | wire as a varint. */
void fcl_pb_tag(fcl_pb *p, int field, int wire);

/* Scalar fields. int32/int64/enum negative values are sign-extended to 64 bits (10 bytes), as
 * the spec says; floats are 4 little-endian bytes (wire type 5). */
void fcl_pb_int(fcl_pb *p, int field, int64_t v);
void fcl_pb_float(fcl_pb *p, int field, float v);
/* Length-delimited: bytes, strings (without the NUL), embedded messages already encoded. */
void fcl_pb_bytes(fcl_pb *p, int field, const void *data, size_t n);
void fcl_pb_string(fcl_pb *p, int field, const char *s);
/* Writes the tag and length of a length-delimited field whose n bytes the caller writes next. */
void fcl_pb_len_prefix(fcl_pb *p, int field, size_t n);

/* Embedded messages written in place: fcl_pb_begin writes the tag and returns a mark; the
 * caller writes the message's fields; fcl_pb_end inserts the (minimal) length varint at the
 * mark, moving the body up by its size. */
size_t fcl_pb_begin(fcl_pb *p, int field);
void fcl_pb_end(fcl_pb *p, size_t mark);

/* Bytes a varint of v takes (1..10). */
size_t fcl_pb_varint_size(uint64_t v);

#endif
