/* host/io/json.h: a small strict JSON parser (RFC 8259, UTF-8) producing a tree, for safetensors headers (internal). */
#ifndef FACECL_IO_JSON_H
#define FACECL_IO_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "facecl/status.h"

typedef enum fcl_json_type {
    FCL_JSON_NULL = 0,
    FCL_JSON_BOOL,
    FCL_JSON_NUMBER,
    FCL_JSON_STRING,
    FCL_JSON_ARRAY,
    FCL_JSON_OBJECT
} fcl_json_type;

/* A value. Strings are decoded to NUL-terminated UTF-8 (the escape \u0000 is refused, so a C
 * string is the whole value); numbers keep their literal text in `str` (grammar-checked).
 * Arrays have n `items`; objects n `keys` with `items` as their values, in document order. */
typedef struct fcl_json {
    fcl_json_type type;
    int boolean;
    char *str;
    size_t len;
    struct fcl_json *items;
    char **keys;
    size_t n;
    size_t pos;          /* byte offset of the value in the text, for messages */
} fcl_json;

/* Parses exactly one value from text[0..len) (surrounding whitespace allowed, nothing else).
 * Strict: the text must be valid UTF-8, strings may not hold raw control characters, objects
 * may not repeat a key, nesting is limited to `max_depth`. On error *out is left empty and err
 * says "byte N: what" (FCL_ERR_FORMAT) or FCL_ERR_NOMEM. */
fcl_status fcl_json_parse(const char *text, size_t len, int max_depth, fcl_json *out,
                          fcl_error *err);
void fcl_json_free(fcl_json *v);

/* The value of key in an object, or NULL. */
const fcl_json *fcl_json_get(const fcl_json *obj, const char *key);
/* 1 and *out when v is a number written as a non-negative integer (digits only) that fits in
 * uint64; else 0. */
int fcl_json_u64(const fcl_json *v, uint64_t *out);
/* 1 when s[0..len) is valid UTF-8 (no overlong forms, surrogates or values past U+10FFFF). */
int fcl_utf8_valid(const char *s, size_t len);

#endif
