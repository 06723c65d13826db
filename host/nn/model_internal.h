/* host/nn/model_internal.h: what the model-file reader's parts share (arena, statements, values, interpreter state). */
#ifndef FACECL_NN_MODEL_INTERNAL_H
#define FACECL_NN_MODEL_INTERNAL_H

#include <stddef.h>

#include "facecl/model.h"

/* ---- arena: every parse-time allocation lives here and goes at once ------------------------ */
typedef struct mp_chunk mp_chunk;
typedef struct mp_arena {
    mp_chunk *head;
    size_t total;          /* bytes taken so far */
} mp_arena;

/* What one parse may allocate: real files need well under a megabyte; the cap turns a runaway
 * file (lists built in nested loops) into an error instead of exhausting memory. */
#define MP_ARENA_LIMIT ((size_t)256 << 20)
#define MP_MAX_STEPS 1000000      /* statements one parse may run (a runaway loop is an error) */
#define MP_MAX_LAYERS 100000

/* Zeroed memory, NULL when out of memory or over MP_ARENA_LIMIT. */
void *mp_alloc(mp_arena *a, size_t n);
/* A NUL-terminated copy of s[0..n). */
char *mp_strndup(mp_arena *a, const char *s, size_t n);
void mp_arena_free(mp_arena *a);

/* ---- statements: the file's structure, before anything is evaluated ----------------------- */
typedef enum mp_stmt_kind {
    MP_OPTION,   /* option NAME = EXPR */
    MP_LET,      /* let NAME = EXPR */
    MP_ALIAS,    /* alias NAME = @REF */
    MP_ERROR,    /* error "message" */
    MP_BLOCK,    /* block NAME PARAM PARAM=DEFAULT ... end */
    MP_FOR,      /* for VAR in EXPR ... end */
    MP_IF,       /* if EXPR ... elif EXPR ... else ... end */
    MP_LAYER     /* TYPE [NAME] key=value ...: a layer or a block instance */
} mp_stmt_kind;

typedef struct mp_stmt mp_stmt;
struct mp_stmt {
    mp_stmt_kind kind;
    int line;
    const char *word;      /* option/let/alias/for variable, block name, or layer type */
    const char *expr;      /* option/let/alias/error/for expression */
    int n_tok;             /* MP_LAYER: the words after the type; MP_BLOCK: the parameters */
    const char **tok;
    mp_stmt *body;         /* MP_BLOCK, MP_FOR */
    int n_branches;        /* MP_IF: branch i runs body[i] when cond[i] (NULL: else) holds */
    const char **cond;
    int *cond_line;
    mp_stmt **branch;
    mp_stmt *next;
};

/* Splits text into statements. Reports "<src>:<line>: ..." errors for structure problems
 * (missing `end`, `else` without `if`, malformed option/let lines). */
fcl_status mp_parse_structure(mp_arena *a, const char *text, const char *src, mp_stmt **out,
                              fcl_error *err);
/* Splits s at whitespace outside (), [], {} and "": the words of a layer line. */
fcl_status mp_split_words(mp_arena *a, const char *s, const char ***words, int *n);

/* ---- values --------------------------------------------------------------------------------- */
typedef enum mp_type { MP_NUM, MP_STR, MP_LIST } mp_type;

typedef struct mp_value {
    mp_type type;
    double num;
    const char *str;       /* MP_STR (arena) */
    const double *list;    /* MP_LIST (arena), len elements */
    int len;
} mp_value;

/* ---- interpreter state ---------------------------------------------------------------------- */
typedef struct mp_var {
    const char *name;
    mp_value v;
    struct mp_var *next;
} mp_var;

typedef struct mp_ref {
    const char *name;
    int layer;             /* -1: the network input */
    struct mp_ref *next;
} mp_ref;

/* One running block instance (or the top level). Variables are the instance's own plus the
 * top level's (blocks do not see their caller's locals); references are the instance's own. */
typedef struct mp_scope mp_scope;
struct mp_scope {
    mp_var *vars;
    mp_ref *refs;
    char prefix[FCL_MODEL_NAME_MAX];   /* state_dict prefix of the instance ("layer1.0") */
    int in_layer;                      /* @in */
    int prev_layer;                    /* @prev: the latest output */
    const mp_stmt *block;              /* the block being run, NULL at the top level */
    int call_line;                     /* where it was instantiated */
    mp_scope *caller;
    int depth;
};

typedef struct mp_exec {
    mp_arena *arena;
    const char *src;                   /* name for messages */
    fcl_error *err;
    mp_scope *top;
    mp_scope *cur;
    const mp_stmt *blocks;             /* the block definitions (a list of MP_BLOCK) */
    fcl_model *m;                      /* layers being built */
    int cap_layers;
    int opt_set[8];                    /* which options the caller gave */
    int seen_layer;                    /* a layer line ran: no more `option` lines */
    int seen_embedding, seen_classifier;
    int skip_head;                     /* classes == 0: the layers after `embedding` are left out */
    long steps;                        /* statements run so far */
    int *names;                        /* open-addressing set of the layers that have parameters */
    int names_cap, names_n;            /* (by name: parameter names must be unique), -1 empty */
} mp_exec;

/* Records "<src>:<line>: <message>" (plus the block instances it is inside) in x->err and
 * returns status. */
fcl_status mp_fail(mp_exec *x, int line, fcl_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Evaluates an expression in the current scope. */
fcl_status mp_eval(mp_exec *x, const char *expr, int line, mp_value *out);
/* Evaluates and requires an integer (what says `what` in the message). */
fcl_status mp_eval_int(mp_exec *x, const char *expr, int line, const char *what, long *out);
/* Replaces every {EXPR} in s by its value (integers without decimals, strings as they are). */
fcl_status mp_interpolate(mp_exec *x, const char *s, int line, char *out, size_t n);
/* "3", "0.5", "\"face\"", "[1, 2]" */
void mp_value_str(const mp_value *v, char *out, size_t n);

/* Looks a variable up (current scope, then the top level); NULL when undefined. */
mp_value *mp_var_get(mp_exec *x, const char *name);
/* Sets a variable in scope s (creating it). */
fcl_status mp_var_set(mp_exec *x, mp_scope *s, const char *name, const mp_value *v, int line);
/* Resolves "@name" / "name" (in, prev, a layer name or label) to a layer index (-1: network
 * input). */
fcl_status mp_ref_get(mp_exec *x, const char *ref, int line, int *layer);

/* Output shape of layer i (-1: the network input). */
void mp_layer_shape(const mp_exec *x, int i, int *c, int *h, int *w);

/* Parses text and fills m's layers, options and totals (model_build.c); the caller owns m and
 * frees it on failure. */
fcl_status mp_build(const char *text, const char *src, const fcl_model_opts *opts, fcl_model *m,
                    fcl_error *err);
/* Runs the statements (model_build.c). */
fcl_status mp_exec_list(mp_exec *x, const mp_stmt *s);

/* ---- built-in layer types (model_layers.c) --------------------------------------------------- */

/* How a built-in layer type takes its name and inputs; NULL for an unknown type. */
typedef struct mp_type_info {
    const char *type;        /* "conv", "bn", ... */
    int name;                /* 2: NAME required (it names parameters), 1: optional, 0: none */
    int min_inputs, max_inputs;
    const char *keys;        /* the keys it accepts, space-separated (for messages too) */
} mp_type_info;

const mp_type_info *mp_type_find(const char *type);

/* A layer line's key=value pairs, for the builders (model_layers.c, model_layers_ext.c). */
typedef struct mp_kvs {
    mp_exec *x;
    int line;
    const char *type;
    int n;
    const char *const *keys;
    const char *const *vals;
} mp_kvs;
const char *mp_kv_find(const mp_kvs *k, const char *key);
/* An integer key: *out = its value, else def; required keys report "missing required key". */
fcl_status mp_kv_int(const mp_kvs *k, const char *key, long def, int required, long lo, long hi, long *out);
/* A number in [lo, hi] ([lo, hi) with hi_open), else def. */
fcl_status mp_kv_num(const mp_kvs *k, const char *key, double def, double lo, double hi, int hi_open,
                     double *out);
/* Appends the state_dict entry "<layer name>.<suffix>" (suffix NULL: the layer name itself, as
 * ConvNeXt's "features.1.0.layer_scale") of shape d0..d{ndim-1}. */
fcl_status mp_add_param(mp_exec *x, int line, fcl_layer *L, const char *suffix, fcl_param_kind kind,
                        int ndim, int d0, int d1, int d2, int d3, int trainable, int decay);

/* The layer types of model_layers_ext.c (issue 12's building blocks): 1 when `type` is one. */
int mp_is_ext_type(const char *type);
/* A conv's ws / gamma / ws_eps / gain_init keys (after its weight and bias): ws=1 adds the gain. */
fcl_status mp_conv_ws(const mp_kvs *k, fcl_layer *L);
/* Fills L (inputs and input shape already set) for one of them. */
fcl_status mp_build_ext(const mp_kvs *k, fcl_layer *L);
/* Builds the layer(s) of one built-in layer line. keys/vals are its key=value pairs (already
 * checked against info->keys), inputs the resolved `from` (or @prev). *out receives the index
 * of the line's output (the last layer made; unchanged when nothing is made). */
fcl_status mp_build_layer(mp_exec *x, int line, const mp_type_info *info, const char *name,
                          int n_kv, const char *const *keys, const char *const *vals,
                          const int *inputs, int n_inputs, int *out);

#endif
