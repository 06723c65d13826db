/* tests/test_onnx_writer.c: the protobuf encoder and the ONNX messages, byte for byte against known encodings (the protobuf spec's examples; bytes of python's onnx package). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/onnx.h"
#include "io/protobuf.h"

static void expect_bytes(const fcl_pb *p, const uint8_t *want, size_t n)
{
    cr_assert(fcl_pb_ok(p));
    cr_assert_eq(p->len, n, "encoded %zu bytes, expected %zu", p->len, n);
    for (size_t i = 0; i < n; i++) cr_assert_eq(p->buf[i], want[i], "byte %zu: 0x%02x, expected 0x%02x", i, p->buf[i], want[i]);
}

/* developers.google.com/protocol-buffers/docs/encoding: "message Test1 { optional int32 a = 1; }"
 * with a = 150 is 08 96 01; Test2 { optional string b = 2; } with "testing" is 12 07 74 65 73 74
 * 69 6e 67; Test3 { optional Test1 c = 3; } with a = 150 is 1a 03 08 96 01. */
Test(protobuf, spec_examples)
{
    fcl_pb p = {0};
    fcl_pb_int(&p, 1, 150);
    expect_bytes(&p, (const uint8_t[]){0x08, 0x96, 0x01}, 3);
    fcl_pb_free(&p);

    fcl_pb_string(&p, 2, "testing");
    expect_bytes(&p, (const uint8_t[]){0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67}, 9);
    fcl_pb_free(&p);

    size_t m = fcl_pb_begin(&p, 3);
    fcl_pb_int(&p, 1, 150);
    fcl_pb_end(&p, m);
    expect_bytes(&p, (const uint8_t[]){0x1a, 0x03, 0x08, 0x96, 0x01}, 5);
    fcl_pb_free(&p);
}

Test(protobuf, varints_and_scalars)
{
    fcl_pb p = {0};
    fcl_pb_varint(&p, 0);
    fcl_pb_varint(&p, 1);
    fcl_pb_varint(&p, 127);
    fcl_pb_varint(&p, 128);
    fcl_pb_varint(&p, 300);
    expect_bytes(&p, (const uint8_t[]){0x00, 0x01, 0x7f, 0x80, 0x01, 0xac, 0x02}, 7);
    fcl_pb_free(&p);
    /* negative int64 / int32 / enum: sign-extended, always 10 bytes */
    fcl_pb_int(&p, 1, -1);
    expect_bytes(&p, (const uint8_t[]){0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 11);
    fcl_pb_free(&p);
    fcl_pb_varint(&p, UINT64_MAX);
    expect_bytes(&p, (const uint8_t[]){0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10);
    cr_assert_eq(fcl_pb_varint_size(UINT64_MAX), 10);
    cr_assert_eq(fcl_pb_varint_size(127), 1);
    cr_assert_eq(fcl_pb_varint_size(16384), 3);
    fcl_pb_free(&p);
    /* float: wire type 5, little-endian IEEE bits; field 16 needs a 2-byte tag */
    fcl_pb_float(&p, 2, 1.0f);
    fcl_pb_float(&p, 16, -0.5f);
    expect_bytes(&p, (const uint8_t[]){0x15, 0x00, 0x00, 0x80, 0x3f, 0x85, 0x01, 0x00, 0x00, 0x00, 0xbf}, 11);
    fcl_pb_free(&p);
}

/* A nested message longer than 127 bytes gets a 2-byte length: the body moves up by one. */
Test(protobuf, nested_lengths)
{
    fcl_pb p = {0};
    size_t outer = fcl_pb_begin(&p, 1);
    size_t inner = fcl_pb_begin(&p, 2);
    uint8_t body[200];
    for (int i = 0; i < 200; i++) body[i] = (uint8_t)i;
    fcl_pb_bytes(&p, 3, body, 200); /* 1a c8 01 + 200 bytes = 203 */
    fcl_pb_end(&p, inner);          /* 12 cb 01 + 203 = 206 */
    fcl_pb_end(&p, outer);          /* 0a ce 01 + 206 = 209 */
    cr_assert(fcl_pb_ok(&p));
    cr_assert_eq(p.len, 209);
    const uint8_t head[] = {0x0a, 0xce, 0x01, 0x12, 0xcb, 0x01, 0x1a, 0xc8, 0x01};
    cr_assert_eq(memcmp(p.buf, head, sizeof head), 0);
    cr_assert_eq(memcmp(p.buf + 9, body, 200), 0);
    fcl_pb_free(&p);
    /* an empty embedded message */
    size_t e = fcl_pb_begin(&p, 5);
    fcl_pb_end(&p, e);
    expect_bytes(&p, (const uint8_t[]){0x2a, 0x00}, 2);
    fcl_pb_free(&p);
}

/* The expected bytes below were produced once with python's onnx package (1.23.2) (proto2
 * serializer): helper.make_node / make_attribute / numpy_helper.from_array /
 * make_tensor_value_info / make_model, each .SerializeToString(). */
Test(onnx, node_bytes_match_onnx_helper)
{
    /* helper.make_node("Conv", ["x", "w"], ["y"], name="c", kernel_shape=[3, 3], group=2, pads=[1, 1, 1, 1]) */
    static const uint8_t want[] = {
        0x0a, 0x01, 0x78, 0x0a, 0x01, 0x77, 0x12, 0x01, 0x79, 0x1a, 0x01, 0x63, 0x22, 0x04, 0x43, 0x6f, 0x6e, 0x76, 0x2a,
        0x0c, 0x0a, 0x05, 0x67, 0x72, 0x6f, 0x75, 0x70, 0x18, 0x02, 0xa0, 0x01, 0x02, 0x2a, 0x15, 0x0a, 0x0c, 0x6b, 0x65,
        0x72, 0x6e, 0x65, 0x6c, 0x5f, 0x73, 0x68, 0x61, 0x70, 0x65, 0x40, 0x03, 0x40, 0x03, 0xa0, 0x01, 0x07, 0x2a, 0x11,
        0x0a, 0x04, 0x70, 0x61, 0x64, 0x73, 0x40, 0x01, 0x40, 0x01, 0x40, 0x01, 0x40, 0x01, 0xa0, 0x01, 0x07};
    fcl_onnx_graph g = {0};
    const char *in[] = {"x", "w"}, *out[] = {"y"};
    fcl_onnx_attr a[] = {{"group", FCL_ONNX_ATTR_INT, 2, 0, NULL, 0},
                         {"kernel_shape", FCL_ONNX_ATTR_INTS, 0, 0, (const int64_t[]){3, 3}, 2},
                         {"pads", FCL_ONNX_ATTR_INTS, 0, 0, (const int64_t[]){1, 1, 1, 1}, 4}};
    fcl_onnx_node(&g, "Conv", "c", in, 2, out, 1, a, 3);
    /* the graph buffer holds the node as GraphProto.node: tag 0a, length 74, then the NodeProto */
    cr_assert_eq(g.n_nodes, 1);
    cr_assert_eq(g.nodes.len, 2 + sizeof want);
    cr_assert_eq(g.nodes.buf[0], 0x0a);
    cr_assert_eq(g.nodes.buf[1], sizeof want);
    cr_assert_eq(memcmp(g.nodes.buf + 2, want, sizeof want), 0);
    fcl_onnx_graph_free(&g);
}

Test(onnx, attribute_bytes_match_onnx_helper)
{
    fcl_pb p = {0};
    fcl_onnx_attr f = {"alpha", FCL_ONNX_ATTR_FLOAT, 0, 0.2f, NULL, 0};
    size_t m = fcl_pb_begin(&p, 1);
    fcl_onnx_encode_attr(&p, 5, &f);
    fcl_pb_end(&p, m);
    /* make_attribute("alpha", 0.2), inside a NodeProto.attribute (field 5) of a message */
    static const uint8_t want_f[] = {0x0a, 0x11, 0x2a, 0x0f, 0x0a, 0x05, 0x61, 0x6c, 0x70, 0x68,
                                     0x61, 0x15, 0xcd, 0xcc, 0x4c, 0x3e, 0xa0, 0x01, 0x01};
    expect_bytes(&p, want_f, sizeof want_f);
    fcl_pb_free(&p);
    /* make_attribute("axis", -1) */
    fcl_onnx_attr i = {"axis", FCL_ONNX_ATTR_INT, -1, 0, NULL, 0};
    fcl_onnx_encode_attr(&p, 5, &i);
    static const uint8_t want_i[] = {0x2a, 0x14, 0x0a, 0x04, 0x61, 0x78, 0x69, 0x73, 0x18, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0xa0, 0x01, 0x02};
    expect_bytes(&p, want_i, sizeof want_i);
    fcl_pb_free(&p);
}

Test(onnx, tensor_bytes_match_numpy_helper)
{
    fcl_onnx_graph g = {0};
    /* numpy_helper.from_array(np.array([[1, 2], [3, 4.5]], np.float32), "t") */
    static const uint8_t want_f[] = {0x08, 0x02, 0x08, 0x02, 0x10, 0x01, 0x42, 0x01, 0x74, 0x4a, 0x10, 0x00, 0x00, 0x80,
                                     0x3f, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x90, 0x40};
    const int64_t d2[2] = {2, 2};
    fcl_onnx_init_f32(&g, "t", 2, d2, (const float[]){1, 2, 3, 4.5f});
    cr_assert_eq(g.inits.len, 2 + sizeof want_f);
    cr_assert_eq(g.inits.buf[0], 0x2a); /* GraphProto.initializer = 5, wire type 2 */
    cr_assert_eq(memcmp(g.inits.buf + 2, want_f, sizeof want_f), 0);
    /* numpy_helper.from_array(np.array([0, 3, -1], np.int64), "s") */
    static const uint8_t want_i[] = {0x08, 0x03, 0x10, 0x07, 0x42, 0x01, 0x73, 0x4a, 0x18, 0x00, 0x00, 0x00, 0x00,
                                     0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    size_t before = g.inits.len;
    const int64_t d1 = 3;
    fcl_onnx_init_i64(&g, "s", 1, &d1, (const int64_t[]){0, 3, -1});
    cr_assert_eq(g.inits.len - before, 2 + sizeof want_i);
    cr_assert_eq(memcmp(g.inits.buf + before + 2, want_i, sizeof want_i), 0);
    cr_assert_eq(g.n_inits, 2);
    fcl_onnx_graph_free(&g);
}

Test(onnx, value_info_bytes_match_onnx_helper)
{
    /* helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 2, 2]) */
    static const uint8_t want[] = {0x0a, 0x05, 0x69, 0x6e, 0x70, 0x75, 0x74, 0x12, 0x17, 0x0a, 0x15, 0x08, 0x01,
                                   0x12, 0x11, 0x0a, 0x03, 0x12, 0x01, 0x4e, 0x0a, 0x02, 0x08, 0x03, 0x0a, 0x02,
                                   0x08, 0x02, 0x0a, 0x02, 0x08, 0x02};
    fcl_onnx_graph g = {0};
    const int64_t dims[4] = {-1, 3, 2, 2};
    const char *params[4] = {"N", NULL, NULL, NULL};
    fcl_onnx_value_info(&g, 0, "input", FCL_ONNX_FLOAT, 4, dims, params);
    cr_assert_eq(g.inputs.len, 2 + sizeof want);
    cr_assert_eq(g.inputs.buf[0], 0x5a); /* GraphProto.input = 11 */
    cr_assert_eq(memcmp(g.inputs.buf + 2, want, sizeof want), 0);
    cr_assert_eq(g.outputs.len, 0);
    fcl_onnx_graph_free(&g);
}

/* A whole model: make_model(make_graph([make_node("Mul", ["x", "k"], ["y"], name="m")], "g",
 * [x: FLOAT ["N", 2]], [y: FLOAT ["N", 2]], initializer=[k = [0.5, -2]]), producer_name="facecl",
 * producer_version="0.1.0", ir_version=7, opset_imports=[make_opsetid("", 13)], doc_string="d").
 * onnxruntime runs these bytes (y = x * k). */
Test(onnx, model_bytes_match_make_model)
{
    static const uint8_t want[] = {
        0x08, 0x07, 0x12, 0x06, 0x66, 0x61, 0x63, 0x65, 0x63, 0x6c, 0x1a, 0x05, 0x30, 0x2e, 0x31, 0x2e, 0x30, 0x32, 0x01,
        0x64, 0x3a, 0x55, 0x0a, 0x11, 0x0a, 0x01, 0x78, 0x0a, 0x01, 0x6b, 0x12, 0x01, 0x79, 0x1a, 0x01, 0x6d, 0x22, 0x03,
        0x4d, 0x75, 0x6c, 0x12, 0x01, 0x67, 0x2a, 0x11, 0x08, 0x02, 0x10, 0x01, 0x42, 0x01, 0x6b, 0x4a, 0x08, 0x00, 0x00,
        0x00, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x5a, 0x14, 0x0a, 0x01, 0x78, 0x12, 0x0f, 0x0a, 0x0d, 0x08, 0x01, 0x12, 0x09,
        0x0a, 0x03, 0x12, 0x01, 0x4e, 0x0a, 0x02, 0x08, 0x02, 0x62, 0x14, 0x0a, 0x01, 0x79, 0x12, 0x0f, 0x0a, 0x0d, 0x08,
        0x01, 0x12, 0x09, 0x0a, 0x03, 0x12, 0x01, 0x4e, 0x0a, 0x02, 0x08, 0x02, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x0d};
    fcl_onnx_graph g = {0};
    snprintf(g.name, sizeof g.name, "g");
    const char *in[] = {"x", "k"}, *out[] = {"y"}, *params[2] = {"N", NULL};
    fcl_onnx_node(&g, "Mul", "m", in, 2, out, 1, NULL, 0);
    const int64_t two = 2, dims[2] = {-1, 2};
    fcl_onnx_init_f32(&g, "k", 1, &two, (const float[]){0.5f, -2.0f});
    fcl_onnx_value_info(&g, 0, "x", FCL_ONNX_FLOAT, 2, dims, params);
    fcl_onnx_value_info(&g, 1, "y", FCL_ONNX_FLOAT, 2, dims, params);
    fcl_onnx_model_info info = {7, 13, "facecl", "0.1.0", "d"};
    fcl_pb p = {0};
    fcl_onnx_encode_model(&g, &info, &p);
    expect_bytes(&p, want, sizeof want);

    /* the file writer streams the same bytes */
    char path[] = "/tmp/fcl_onnx_wXXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    fcl_error err = {0};
    cr_assert_eq(fcl_onnx_write(&g, &info, path, &err), FCL_OK, "%s", err.msg);
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    uint8_t buf[256];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    unlink(path);
    cr_assert_eq(n, sizeof want);
    cr_assert_eq(memcmp(buf, want, n), 0);
    fcl_pb_free(&p);
    fcl_onnx_graph_free(&g);
}

/* Out of memory is sticky and reported once, at the end. */
Test(protobuf, oom_is_sticky)
{
    fcl_pb p = {0};
    fcl_pb_int(&p, 1, 5);
    p.oom = 1;
    size_t len = p.len;
    fcl_pb_string(&p, 2, "ignored");
    size_t m = fcl_pb_begin(&p, 3);
    fcl_pb_end(&p, m);
    cr_assert_eq(p.len, len);
    cr_assert(!fcl_pb_ok(&p));
    fcl_pb_free(&p);
    cr_assert(fcl_pb_ok(&p)); /* freed: empty and usable again */
}
