/* host/nn/model_parse.c: the model-file format, and splitting a file into statements (if/for/block nesting). */

/*
 * THE MODEL-FILE FORMAT (models/README.md has the same with more examples)
 *
 * A model file is plain text, one statement per line; '#' starts a comment. A line whose
 * ( or [ is still open continues on the next line. Indentation is free (blocks close with
 * `end`). Statements:
 *
 *   option NAME = EXPR        default of a run-time option (channels, size, classes, embedding,
 *                             width, stem); the caller's value wins. Before the first layer.
 *   let NAME = EXPR           a variable: a number, a "string" or a [list, of, numbers]
 *   block NAME P1 P2=DEFAULT  a reusable block with parameters, up to `end` (top level only).
 *                             It is instantiated like a layer: `NAME INSTANCE p1=... from=@x`;
 *                             the state_dict names of its layers get the prefix "INSTANCE."
 *   for VAR in EXPR ... end   repeat for each element of a list (range(n), range(a, b[, step]),
 *                             [1, 2, 3] or a list variable)
 *   if EXPR ... elif EXPR ... else ... end
 *   alias LABEL = @REF        give an existing output another name (e.g. the shortcut)
 *   error "MESSAGE {EXPR}"    stop with this message (e.g. an unsupported option value)
 *   TYPE [NAME] key=value...  a layer (or a block instance). NAME is its state_dict prefix
 *                             inside the enclosing block instance, with {EXPR} replaced by
 *                             values: `conv layer{s}.{i}.conv1 ...`. Values are expressions
 *                             without spaces (or in parentheses).
 *
 * Every layer reads the previous output unless `from=@REF[,@REF...]` says otherwise. A
 * reference names an output of the current block instance: @in (the instance's input; the
 * network input at the top level), @prev (the latest output), the NAME of a layer or block
 * instance, or a label given with `as=LABEL` or `alias`.
 *
 * Expressions: numbers, "strings", [lists], variables, + - * / // (floor) % ** (power), unary
 * - and !, comparisons == != < <= > >=, && ||, c ? a : b, list[i], and the functions
 * min max abs int floor ceil round len range make_divisible(v, divisor[, min[, limit]])
 * C(@ref) H(@ref) W(@ref) (channels / height / width of an output). Run-time options are
 * variables: channels, size (= size_h), size_h, size_w, classes, embedding, width, stem.
 *
 * Layer types (see models/README.md for every key):
 *   conv NAME out= k= [s=1 p=0 d=1 groups=1 bias=1 kh kw sh sw ph pw dh dw]
 *   bn NAME [eps=1e-5 momentum=0.1 affine=1]
 *   relu relu6 sigmoid tanh silu hardswish hardsigmoid; leaky [slope=0.01];
 *   prelu NAME [shared=0 init=0.25]
 *   maxpool k= [s=k p=0 ceil=0]   avgpool k= [s=k p=0 ceil=0 count_include_pad=1]
 *   gap (global average pool)     adaptive_avgpool out= (or oh= ow=)
 *   linear NAME out= [bias=1]     flatten     dropout [p=0.5]
 *   add from=@a,@b[,...]          channel_mul from=@x,@scale     concat from=@a,@b[,...]
 *   embedding [NAME] [bias=0 eps=1e-5]   marks the embedding; with embedding=E > 0 it first
 *                                 adds linear NAME.0 (to E) + batchnorm NAME.1 ("embedding")
 *   classifier NAME [bias=1]      the linear to `classes`; with classes=0 it and every layer
 *                                 between `embedding` and it are left out
 *
 * Limits (so no file can exhaust the machine): 1,000,000 statements run, 100,000 layers,
 * 256 MiB of parse-time memory, lists of 65,536, blocks nested 32 deep, expressions 100 deep.
 *
 * Example (a residual block written once, used for every stage):
 *
 *   block basic planes stride=1
 *       conv conv1 out=planes k=3 s=stride p=1 bias=0
 *       bn bn1
 *       relu
 *       conv conv2 out=planes k=3 p=1 bias=0
 *       bn bn2 as=body
 *       if stride != 1 || C(@in) != planes
 *           conv downsample.0 from=@in out=planes k=1 s=stride bias=0
 *           bn downsample.1 as=short
 *       else
 *           alias short = @in
 *       end
 *       add from=@body,@short
 *       relu
 *   end
 *   for s in range(4)
 *       for i in range(2)
 *           basic layer{s+1}.{i} planes=64*2**s stride=(i == 0 && s > 0 ? 2 : 1)
 *       end
 *   end
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model_internal.h"

/* ---- arena ---------------------------------------------------------------------------------- */

struct mp_chunk {
    mp_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

void *mp_alloc(mp_arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (!n) n = sizeof(max_align_t);
    mp_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (n > MP_ARENA_LIMIT || a->total + cap > MP_ARENA_LIMIT) return NULL;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
        a->total += cap;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *mp_strndup(mp_arena *a, const char *s, size_t n)
{
    char *p = mp_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void mp_arena_free(mp_arena *a)
{
    mp_chunk *c = a->head;
    while (c) {
        mp_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
}

/* ---- logical lines -------------------------------------------------------------------------- */

typedef struct mp_line {
    int line;          /* first physical line */
    char *text;        /* comment removed, trimmed, continuation lines joined with a space */
} mp_line;

static fcl_status fail_line(fcl_error *err, const char *src, int line, fcl_status st,
                            const char *msg, const char *detail)
{
    return FCL_ERR(err, st, "%s:%d: %s%s", src, line, msg, detail ? detail : "");
}

/* Splits text into logical lines. Brackets are counted outside strings; an unclosed string
 * ends at the end of its physical line (and is reported by the expression parser). */
static fcl_status split_lines(mp_arena *a, const char *text, const char *src, mp_line **out,
                              int *n_out, fcl_error *err)
{
    int cap = 64, n = 0;
    size_t tlen = strlen(text);
    mp_line *lines = mp_alloc(a, (size_t)cap * sizeof *lines);
    char *buf = mp_alloc(a, tlen + 1);
    if (!lines || !buf) return FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", src);
    size_t blen = 0;
    int depth = 0, start_line = 0, phys = 0;
    const char *p = text;
    while (*p) {
        phys++;
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (memchr(p, '\0', len)) return fail_line(err, src, phys, FCL_ERR_FORMAT, "NUL byte in text", NULL);
        if (depth == 0) {
            blen = 0;
            start_line = phys;
        } else {
            buf[blen++] = ' ';
        }
        int in_str = 0;
        for (size_t i = 0; i < len; i++) {
            char ch = p[i];
            if (ch == '\r' || ch == '\t') ch = ' ';
            if (ch == '"') in_str = !in_str;
            if (!in_str && ch == '#') break;
            if (!in_str && (ch == '(' || ch == '[')) depth++;
            if (!in_str && (ch == ')' || ch == ']') && depth > 0) depth--;
            buf[blen++] = ch;
        }
        p = eol ? eol + 1 : p + len;
        if (depth > 0 && *p) continue;
        /* trim */
        size_t b = 0, e = blen;
        while (b < e && buf[b] == ' ') b++;
        while (e > b && buf[e - 1] == ' ') e--;
        if (e > b) {
            if (n == cap) {
                mp_line *nl = mp_alloc(a, (size_t)cap * 2 * sizeof *nl);
                if (!nl) return FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", src);
                memcpy(nl, lines, (size_t)n * sizeof *nl);
                lines = nl;
                cap *= 2;
            }
            lines[n].line = start_line;
            lines[n].text = mp_strndup(a, buf + b, e - b);
            if (!lines[n].text) return FCL_ERR(err, FCL_ERR_NOMEM, "%s: out of memory", src);
            n++;
        }
        depth = 0;
    }
    *out = lines;
    *n_out = n;
    return FCL_OK;
}

/* ---- words ---------------------------------------------------------------------------------- */

fcl_status mp_split_words(mp_arena *a, const char *s, const char ***words, int *n_out)
{
    int n = 0, cap = 8;
    const char **w = mp_alloc(a, (size_t)cap * sizeof *w);
    if (!w) return FCL_ERR_NOMEM;
    const char *p = s;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *b = p;
        int depth = 0, in_str = 0;
        while (*p && (in_str || depth > 0 || *p != ' ')) {
            if (*p == '"') in_str = !in_str;
            else if (!in_str && (*p == '(' || *p == '[' || *p == '{')) depth++;
            else if (!in_str && (*p == ')' || *p == ']' || *p == '}') && depth > 0) depth--;
            p++;
        }
        if (n == cap) {
            const char **nw = mp_alloc(a, (size_t)cap * 2 * sizeof *nw);
            if (!nw) return FCL_ERR_NOMEM;
            memcpy(nw, w, (size_t)n * sizeof *nw);
            w = nw;
            cap *= 2;
        }
        w[n] = mp_strndup(a, b, (size_t)(p - b));
        if (!w[n]) return FCL_ERR_NOMEM;
        n++;
    }
    *words = w;
    *n_out = n;
    return FCL_OK;
}

/* ---- statements ----------------------------------------------------------------------------- */

typedef struct mp_reader {
    mp_arena *a;
    const char *src;
    fcl_error *err;
    mp_line *lines;
    int n, pos;
} mp_reader;

static int is_ident(const char *s, size_t n)
{
    if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return 0;
    return 1;
}

/* The first word of a line and the rest (trimmed). */
static void first_word(mp_arena *a, const char *t, const char **word, const char **rest)
{
    size_t n = 0;
    while (t[n] && t[n] != ' ') n++;
    *word = mp_strndup(a, t, n);
    const char *r = t + n;
    while (*r == ' ') r++;
    *rest = r;
}

/* "NAME = EXPR" of option / let / alias lines. */
static fcl_status parse_assign(mp_reader *r, mp_stmt *st, const char *kw, const char *rest)
{
    const char *eq = strchr(rest, '=');
    if (!eq || eq[1] == '=')
        return fail_line(r->err, r->src, st->line, FCL_ERR_FORMAT, kw, ": expected `NAME = VALUE`");
    size_t n = (size_t)(eq - rest);
    while (n > 0 && rest[n - 1] == ' ') n--;
    if (!is_ident(rest, n))
        return fail_line(r->err, r->src, st->line, FCL_ERR_FORMAT, kw,
                         ": the name before '=' must be a plain identifier");
    st->word = mp_strndup(r->a, rest, n);
    const char *e = eq + 1;
    while (*e == ' ') e++;
    if (!*e) return fail_line(r->err, r->src, st->line, FCL_ERR_FORMAT, kw, ": missing value after '='");
    st->expr = e;
    return st->word ? FCL_OK : FCL_ERR(r->err, FCL_ERR_NOMEM, "out of memory");
}

typedef enum { END_EOF, END_END, END_ELIF, END_ELSE } mp_end;

static fcl_status parse_list(mp_reader *r, int depth, mp_stmt **out, mp_end *how, int *how_line,
                             const char **how_rest);

/* Parses the body of a for/block/if branch; the terminator must be one of the allowed ones. */
static fcl_status parse_body(mp_reader *r, int depth, const char *what, int open_line,
                             int allow_else, mp_stmt **body, mp_end *how, int *how_line,
                             const char **how_rest)
{
    fcl_status st = parse_list(r, depth + 1, body, how, how_line, how_rest);
    if (st) return st;
    if (*how == END_EOF)
        return FCL_ERR(r->err, FCL_ERR_FORMAT, "%s:%d: `%s` has no matching `end`", r->src,
                       open_line, what);
    if (!allow_else && *how != END_END)
        return FCL_ERR(r->err, FCL_ERR_FORMAT, "%s:%d: `%s` without `if`", r->src, *how_line,
                       *how == END_ELSE ? "else" : "elif");
    return FCL_OK;
}

static fcl_status parse_list(mp_reader *r, int depth, mp_stmt **out, mp_end *how, int *how_line,
                             const char **how_rest)
{
    mp_stmt *head = NULL, **tail = &head;
    if (depth > 64)
        return FCL_ERR(r->err, FCL_ERR_FORMAT, "%s:%d: nesting deeper than 64 levels", r->src,
                       r->lines[r->pos > 0 ? r->pos - 1 : 0].line);
    while (r->pos < r->n) {
        mp_line *ln = &r->lines[r->pos++];
        const char *word, *rest;
        first_word(r->a, ln->text, &word, &rest);
        if (!word) return FCL_ERR(r->err, FCL_ERR_NOMEM, "out of memory");
        if (!strcmp(word, "end") || !strcmp(word, "else") || !strcmp(word, "elif")) {
            if (depth == 0)
                return FCL_ERR(r->err, FCL_ERR_FORMAT, "%s:%d: `%s` without an open if/for/block",
                               r->src, ln->line, word);
            if (strcmp(word, "elif") && *rest)
                return FCL_ERR(r->err, FCL_ERR_FORMAT, "%s:%d: unexpected text after `%s`", r->src,
                               ln->line, word);
            *how = !strcmp(word, "end") ? END_END : !strcmp(word, "else") ? END_ELSE : END_ELIF;
            *how_line = ln->line;
            *how_rest = rest;
            *out = head;
            return FCL_OK;
        }
        mp_stmt *st = mp_alloc(r->a, sizeof *st);
        if (!st) return FCL_ERR(r->err, FCL_ERR_NOMEM, "out of memory");
        st->line = ln->line;
        fcl_status s = FCL_OK;
        mp_end h = END_EOF;
        int hl = 0;
        const char *hr = NULL;
        if (!strcmp(word, "option") || !strcmp(word, "let") || !strcmp(word, "alias")) {
            st->kind = word[0] == 'o' ? MP_OPTION : word[0] == 'l' ? MP_LET : MP_ALIAS;
            if (st->kind == MP_OPTION && depth > 0)
                return FCL_ERR(r->err, FCL_ERR_FORMAT, "%s:%d: `option` only at the top level",
                               r->src, st->line);
            s = parse_assign(r, st, word, rest);
        } else if (!strcmp(word, "error")) {
            st->kind = MP_ERROR;
            st->expr = rest;
            if (!*rest)
                return FCL_ERR(r->err, FCL_ERR_FORMAT, "%s:%d: `error` needs a message", r->src, st->line);
        } else if (!strcmp(word, "block")) {
            st->kind = MP_BLOCK;
            if (depth > 0)
                return FCL_ERR(r->err, FCL_ERR_FORMAT,
                               "%s:%d: `block` definitions only at the top level", r->src, st->line);
            const char **w = NULL;
            int nw = 0;
            if (mp_split_words(r->a, rest, &w, &nw)) return FCL_ERR(r->err, FCL_ERR_NOMEM, "out of memory");
            if (nw < 1 || !is_ident(w[0], strlen(w[0])))
                return FCL_ERR(r->err, FCL_ERR_FORMAT, "%s:%d: `block` needs a name (an identifier)",
                               r->src, st->line);
            st->word = w[0];
            st->tok = w + 1;
            st->n_tok = nw - 1;
            for (int i = 0; i < st->n_tok; i++) {
                const char *eq = strchr(st->tok[i], '=');
                size_t pn = eq ? (size_t)(eq - st->tok[i]) : strlen(st->tok[i]);
                if (!is_ident(st->tok[i], pn) || (eq && !eq[1]))
                    return FCL_ERR(r->err, FCL_ERR_FORMAT,
                                   "%s:%d: block parameter '%s' must be NAME or NAME=DEFAULT",
                                   r->src, st->line, st->tok[i]);
                if ((pn == 4 && !strncmp(st->tok[i], "from", 4)) || (pn == 2 && !strncmp(st->tok[i], "as", 2)))
                    return FCL_ERR(r->err, FCL_ERR_FORMAT,
                                   "%s:%d: `from` and `as` are reserved, not block parameters",
                                   r->src, st->line);
            }
            s = parse_body(r, depth, "block", st->line, 0, &st->body, &h, &hl, &hr);
        } else if (!strcmp(word, "for")) {
            st->kind = MP_FOR;
            const char *in = strstr(rest, " in ");
            size_t vn = in ? (size_t)(in - rest) : 0;
            if (!in || !is_ident(rest, vn))
                return FCL_ERR(r->err, FCL_ERR_FORMAT, "%s:%d: expected `for VAR in LIST`", r->src,
                               st->line);
            st->word = mp_strndup(r->a, rest, vn);
            st->expr = in + 4;
            while (*st->expr == ' ') st->expr++;
            if (!*st->expr)
                return FCL_ERR(r->err, FCL_ERR_FORMAT, "%s:%d: expected `for VAR in LIST`", r->src,
                               st->line);
            s = parse_body(r, depth, "for", st->line, 0, &st->body, &h, &hl, &hr);
        } else if (!strcmp(word, "if")) {
            st->kind = MP_IF;
            if (!*rest)
                return FCL_ERR(r->err, FCL_ERR_FORMAT, "%s:%d: `if` needs a condition", r->src, st->line);
            int cap = 4;
            st->cond = mp_alloc(r->a, (size_t)cap * sizeof *st->cond);
            st->cond_line = mp_alloc(r->a, (size_t)cap * sizeof *st->cond_line);
            st->branch = mp_alloc(r->a, (size_t)cap * sizeof *st->branch);
            const char *cond = rest;
            int cline = st->line, seen_else = 0;
            for (;;) {
                if (!st->cond || !st->cond_line || !st->branch)
                    return FCL_ERR(r->err, FCL_ERR_NOMEM, "out of memory");
                if (st->n_branches == cap) {
                    const char **nc = mp_alloc(r->a, (size_t)cap * 2 * sizeof *nc);
                    int *nl = mp_alloc(r->a, (size_t)cap * 2 * sizeof *nl);
                    mp_stmt **nb = mp_alloc(r->a, (size_t)cap * 2 * sizeof *nb);
                    if (!nc || !nl || !nb) return FCL_ERR(r->err, FCL_ERR_NOMEM, "out of memory");
                    memcpy(nc, st->cond, (size_t)cap * sizeof *nc);
                    memcpy(nl, st->cond_line, (size_t)cap * sizeof *nl);
                    memcpy(nb, st->branch, (size_t)cap * sizeof *nb);
                    st->cond = nc;
                    st->cond_line = nl;
                    st->branch = nb;
                    cap *= 2;
                }
                int b = st->n_branches++;
                st->cond[b] = cond;
                st->cond_line[b] = cline;
                s = parse_body(r, depth, "if", st->line, 1, &st->branch[b], &h, &hl, &hr);
                if (s) return s;
                if (h == END_END) break;
                if (seen_else)
                    return FCL_ERR(r->err, FCL_ERR_FORMAT, "%s:%d: `%s` after `else`", r->src, hl,
                                   h == END_ELSE ? "else" : "elif");
                if (h == END_ELSE) {
                    seen_else = 1;
                    cond = NULL;
                } else {
                    if (!*hr)
                        return FCL_ERR(r->err, FCL_ERR_FORMAT, "%s:%d: `elif` needs a condition",
                                       r->src, hl);
                    cond = hr;
                }
                cline = hl;
            }
        } else {
            st->kind = MP_LAYER;
            st->word = word;
            if (mp_split_words(r->a, rest, &st->tok, &st->n_tok))
                return FCL_ERR(r->err, FCL_ERR_NOMEM, "out of memory");
        }
        if (s) return s;
        *tail = st;
        tail = &st->next;
    }
    *how = END_EOF;
    *how_line = r->n ? r->lines[r->n - 1].line : 0;
    *how_rest = "";
    *out = head;
    return FCL_OK;
}

fcl_status mp_parse_structure(mp_arena *a, const char *text, const char *src, mp_stmt **out,
                              fcl_error *err)
{
    mp_reader r = {a, src, err, NULL, 0, 0};
    fcl_status st = split_lines(a, text, src, &r.lines, &r.n, err);
    if (st) return st;
    mp_end how;
    int hl;
    const char *hr;
    return parse_list(&r, 0, out, &how, &hl, &hr);
}
