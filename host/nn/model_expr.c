/* host/nn/model_expr.c: expressions of model files (numbers, strings, lists, arithmetic, functions, {interpolation}). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model_internal.h"

#define MP_LIST_MAX 65536   /* longest list an expression may build (range(1e9) is a mistake) */

/* Recursive-descent evaluator. `skip` > 0 while parsing a branch that is not taken (the other
 * side of && / || / ?:): syntax is still checked, values are not (so `i < len(l) && l[i]`
 * does not index out of range). */
typedef struct ep {
    mp_exec *x;
    const char *s;
    const char *p;
    int line;
    int skip;
    int depth;    /* nesting of the recursive descent: bounded so no input can exhaust the stack */
} ep;

static fcl_status ep_fail(ep *e, fcl_status st, const char *fmt, const char *a, const char *b)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    return mp_fail(e->x, e->line, st, "%s (in `%s`)", msg, e->s);
}

static void ws(ep *e)
{
    while (*e->p == ' ') e->p++;
}

static int peek(ep *e, const char *tok)
{
    ws(e);
    return !strncmp(e->p, tok, strlen(tok));
}

static int eat(ep *e, const char *tok)
{
    if (!peek(e, tok)) return 0;
    e->p += strlen(tok);
    return 1;
}

static mp_value num(double v)
{
    mp_value r = {MP_NUM, v, NULL, NULL, 0};
    return r;
}

static const char *type_name(mp_type t)
{
    return t == MP_NUM ? "a number" : t == MP_STR ? "a string" : "a list";
}

static fcl_status need_num(ep *e, const mp_value *v, const char *what)
{
    if (e->skip || v->type == MP_NUM) return FCL_OK;
    return ep_fail(e, FCL_ERR_FORMAT, "bad value: %s needs numbers, got %s", what, type_name(v->type));
}

static int is_int(double v)
{
    return isfinite(v) && v == floor(v) && fabs(v) < 9.0e15;
}

static fcl_status expr(ep *e, mp_value *out);
static fcl_status expr_body(ep *e, mp_value *out);

/* ---- functions ------------------------------------------------------------------------------ */

/* torchvision's _make_divisible (round_limit 0.9), with timm's round_limit as an option. */
static double make_divisible(double v, double divisor, double min_value, double round_limit)
{
    if (min_value <= 0) min_value = divisor;
    double nv = floor((double)(long long)(v + divisor / 2) / divisor) * divisor;
    if (nv < min_value) nv = min_value;
    if (nv < round_limit * v) nv += divisor;
    return nv;
}

/* Python 3 round(): halves go to the even neighbour. */
static double round_half_even(double v)
{
    double r = round(v);
    if (fabs(v - trunc(v)) == 0.5) r = 2.0 * round(v / 2.0);
    return r;
}

static fcl_status shape_fn(ep *e, char which, mp_value *out)
{
    ws(e);
    if (*e->p != '@') return ep_fail(e, FCL_ERR_FORMAT, "%s() takes a reference like @in%s", which == 'C' ? "C" : which == 'H' ? "H" : "W", NULL);
    const char *b = e->p++;
    while (isalnum((unsigned char)*e->p) || *e->p == '_' || *e->p == '.') e->p++;
    char ref[FCL_MODEL_NAME_MAX];
    size_t n = (size_t)(e->p - b);
    if (n >= sizeof ref) return ep_fail(e, FCL_ERR_FORMAT, "reference too long%s%s", NULL, NULL);
    memcpy(ref, b, n);
    ref[n] = '\0';
    if (!eat(e, ")")) return ep_fail(e, FCL_ERR_FORMAT, "expected ')' after %s%s", ref, NULL);
    if (e->skip) {
        *out = num(1);
        return FCL_OK;
    }
    int layer, c, h, w;
    fcl_status st = mp_ref_get(e->x, ref, e->line, &layer);
    if (st) return st;
    mp_layer_shape(e->x, layer, &c, &h, &w);
    *out = num(which == 'C' ? c : which == 'H' ? h : w);
    return FCL_OK;
}

static fcl_status call(ep *e, const char *name, mp_value *out)
{
    if (!strcmp(name, "C") || !strcmp(name, "H") || !strcmp(name, "W")) return shape_fn(e, name[0], out);
    mp_value a[8];
    int n = 0;
    fcl_status st;
    if (!eat(e, ")")) {
        for (;;) {
            if (n == 8) return ep_fail(e, FCL_ERR_FORMAT, "too many arguments to %s()%s", name, NULL);
            if ((st = expr(e, &a[n++]))) return st;
            if (eat(e, ")")) break;
            if (!eat(e, ",")) return ep_fail(e, FCL_ERR_FORMAT, "expected ',' or ')' in %s()%s", name, NULL);
        }
    }
    if (e->skip) {
        *out = num(0);
        return FCL_OK;
    }
#define NARGS(lo, hi)                                                                            \
    do {                                                                                         \
        if (n < (lo) || n > (hi))                                                                \
            return ep_fail(e, FCL_ERR_FORMAT, "wrong number of arguments to %s()%s", name, NULL); \
    } while (0)
    if (!strcmp(name, "len")) {
        NARGS(1, 1);
        if (a[0].type == MP_NUM) return ep_fail(e, FCL_ERR_FORMAT, "bad value: len() of a number%s%s", NULL, NULL);
        *out = num(a[0].type == MP_LIST ? a[0].len : (double)strlen(a[0].str));
        return FCL_OK;
    }
    if (!strcmp(name, "min") || !strcmp(name, "max")) {
        const double *v = NULL;
        double tmp[8];
        int len = 0;
        if (n == 1 && a[0].type == MP_LIST) {
            v = a[0].list;
            len = a[0].len;
        } else {
            for (int i = 0; i < n; i++) {
                if ((st = need_num(e, &a[i], name))) return st;
                tmp[i] = a[i].num;
            }
            v = tmp;
            len = n;
        }
        if (len == 0) return ep_fail(e, FCL_ERR_FORMAT, "bad value: %s() of nothing%s", name, NULL);
        double r = v[0];
        for (int i = 1; i < len; i++) r = name[1] == 'i' ? fmin(r, v[i]) : fmax(r, v[i]);
        *out = num(r);
        return FCL_OK;
    }
    for (int i = 0; i < n; i++)
        if ((st = need_num(e, &a[i], name))) return st;
    if (!strcmp(name, "abs") || !strcmp(name, "int") || !strcmp(name, "floor") ||
        !strcmp(name, "ceil") || !strcmp(name, "round")) {
        NARGS(1, 1);
        double v = a[0].num;
        *out = num(name[0] == 'a' ? fabs(v) : name[0] == 'i' ? trunc(v) : name[0] == 'f' ? floor(v)
                   : name[0] == 'c' ? ceil(v) : round_half_even(v));
        return FCL_OK;
    }
    if (!strcmp(name, "make_divisible")) {
        NARGS(2, 4);
        if (a[1].num <= 0 || !is_int(a[1].num))
            return ep_fail(e, FCL_ERR_FORMAT, "bad value: make_divisible() needs a positive integer divisor%s%s", NULL, NULL);
        *out = num(make_divisible(a[0].num, a[1].num, n > 2 ? a[2].num : 0, n > 3 ? a[3].num : 0.9));
        return FCL_OK;
    }
    if (!strcmp(name, "range")) {
        NARGS(1, 3);
        for (int i = 0; i < n; i++)
            if (!is_int(a[i].num)) return ep_fail(e, FCL_ERR_FORMAT, "bad value: range() needs integers%s%s", NULL, NULL);
        double lo = n > 1 ? a[0].num : 0, hi = n > 1 ? a[1].num : a[0].num, step = n > 2 ? a[2].num : 1;
        if (step == 0) return ep_fail(e, FCL_ERR_FORMAT, "bad value: range() step 0%s%s", NULL, NULL);
        double cnt = step > 0 ? ceil((hi - lo) / step) : ceil((lo - hi) / -step);
        if (cnt < 0) cnt = 0;
        if (cnt > MP_LIST_MAX) return ep_fail(e, FCL_ERR_FORMAT, "bad value: range() longer than 65536%s%s", NULL, NULL);
        double *l = mp_alloc(e->x->arena, ((size_t)cnt + 1) * sizeof *l);
        if (!l) return FCL_ERR(e->x->err, FCL_ERR_NOMEM, "out of memory");
        for (int i = 0; i < (int)cnt; i++) l[i] = lo + i * step;
        mp_value r = {MP_LIST, 0, NULL, l, (int)cnt};
        *out = r;
        return FCL_OK;
    }
#undef NARGS
    return ep_fail(e, FCL_ERR_FORMAT, "unknown function '%s'%s", name, NULL);
}

/* ---- grammar -------------------------------------------------------------------------------- */

static fcl_status primary(ep *e, mp_value *out)
{
    ws(e);
    const char *p = e->p;
    fcl_status st;
    if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
        char *end;
        double v = strtod(p, &end);
        if (isalpha((unsigned char)*end) || *end == '_')
            return ep_fail(e, FCL_ERR_FORMAT, "bad number%s%s", NULL, NULL);
        e->p = end;
        *out = num(v);
        return FCL_OK;
    }
    if (*p == '"') {
        const char *q = strchr(p + 1, '"');
        if (!q) return ep_fail(e, FCL_ERR_FORMAT, "unterminated string%s%s", NULL, NULL);
        mp_value r = {MP_STR, 0, mp_strndup(e->x->arena, p + 1, (size_t)(q - p - 1)), NULL, 0};
        if (!r.str) return FCL_ERR(e->x->err, FCL_ERR_NOMEM, "out of memory");
        e->p = q + 1;
        *out = r;
        return FCL_OK;
    }
    if (*p == '(') {
        e->p++;
        if ((st = expr(e, out))) return st;
        if (!eat(e, ")")) return ep_fail(e, FCL_ERR_FORMAT, "expected ')'%s%s", NULL, NULL);
        return FCL_OK;
    }
    if (*p == '[') {
        e->p++;
        int cap = 16, n = 0;
        double *l = mp_alloc(e->x->arena, (size_t)cap * sizeof *l);
        if (!l) return FCL_ERR(e->x->err, FCL_ERR_NOMEM, "out of memory");
        if (!eat(e, "]")) {
            for (;;) {
                mp_value v;
                if ((st = expr(e, &v))) return st;
                if (!e->skip && v.type != MP_NUM)
                    return ep_fail(e, FCL_ERR_FORMAT, "bad value: list elements must be numbers%s%s", NULL, NULL);
                if (n == cap) {
                    if (cap >= MP_LIST_MAX) return ep_fail(e, FCL_ERR_FORMAT, "list too long%s%s", NULL, NULL);
                    double *nl = mp_alloc(e->x->arena, (size_t)cap * 2 * sizeof *nl);
                    if (!nl) return FCL_ERR(e->x->err, FCL_ERR_NOMEM, "out of memory");
                    memcpy(nl, l, (size_t)n * sizeof *nl);
                    l = nl;
                    cap *= 2;
                }
                l[n++] = v.type == MP_NUM ? v.num : 0;
                if (eat(e, "]")) break;
                if (!eat(e, ",")) return ep_fail(e, FCL_ERR_FORMAT, "expected ',' or ']' in a list%s%s", NULL, NULL);
            }
        }
        mp_value r = {MP_LIST, 0, NULL, l, n};
        *out = r;
        return FCL_OK;
    }
    if (isalpha((unsigned char)*p) || *p == '_') {
        const char *b = p;
        while (isalnum((unsigned char)*p) || *p == '_') p++;
        char name[64];
        size_t n = (size_t)(p - b);
        if (n >= sizeof name) return ep_fail(e, FCL_ERR_FORMAT, "name too long%s%s", NULL, NULL);
        memcpy(name, b, n);
        name[n] = '\0';
        e->p = p;
        if (eat(e, "(")) return call(e, name, out);
        if (e->skip) {
            *out = num(0);
            return FCL_OK;
        }
        mp_value *v = mp_var_get(e->x, name);
        if (!v) return ep_fail(e, FCL_ERR_FORMAT, "undefined variable '%s'%s", name, NULL);
        *out = *v;
        return FCL_OK;
    }
    if (*p == '@') return ep_fail(e, FCL_ERR_FORMAT, "a reference can only be used in C(), H(), W()%s%s", NULL, NULL);
    if (!*p) return ep_fail(e, FCL_ERR_FORMAT, "expression ends too early%s%s", NULL, NULL);
    char c[2] = {*p, 0};
    return ep_fail(e, FCL_ERR_FORMAT, "unexpected '%s'%s", c, NULL);
}

static fcl_status postfix(ep *e, mp_value *out)
{
    fcl_status st = primary(e, out);
    while (!st && eat(e, "[")) {
        mp_value i;
        if ((st = expr(e, &i))) return st;
        if (!eat(e, "]")) return ep_fail(e, FCL_ERR_FORMAT, "expected ']'%s%s", NULL, NULL);
        if (e->skip) {
            *out = num(0);
            continue;
        }
        if (out->type != MP_LIST) return ep_fail(e, FCL_ERR_FORMAT, "bad value: only a list can be indexed%s%s", NULL, NULL);
        if (i.type != MP_NUM || !is_int(i.num) || i.num < 0 || i.num >= out->len) {
            char b1[64], b2[32];
            mp_value_str(&i, b1, sizeof b1);
            snprintf(b2, sizeof b2, "%d", out->len);
            return ep_fail(e, FCL_ERR_FORMAT, "bad value: index %s out of range for a list of %s", b1, b2);
        }
        *out = num(out->list[(int)i.num]);
    }
    return st;
}

static fcl_status unary(ep *e, mp_value *out);

static fcl_status power(ep *e, mp_value *out)
{
    fcl_status st = postfix(e, out);
    if (st) return st;
    if (eat(e, "**")) {
        mp_value r;
        if ((st = unary(e, &r))) return st;   /* right-associative, binds tighter than unary - */
        if ((st = need_num(e, out, "**")) || (st = need_num(e, &r, "**"))) return st;
        *out = num(pow(out->num, r.num));
    }
    return FCL_OK;
}

static fcl_status unary_body(ep *e, mp_value *out);

/* body one nesting level deeper: more than 100 levels is an error (not a stack overflow). */
static fcl_status nested(ep *e, mp_value *out, fcl_status (*body)(ep *, mp_value *))
{
    if (e->depth >= 100) return ep_fail(e, FCL_ERR_FORMAT, "expression nested too deeply%s%s", NULL, NULL);
    e->depth++;
    fcl_status st = body(e, out);
    e->depth--;
    return st;
}

static fcl_status unary(ep *e, mp_value *out) { return nested(e, out, unary_body); }

static fcl_status unary_body(ep *e, mp_value *out)
{
    fcl_status st;
    if (eat(e, "-")) {
        if ((st = unary(e, out)) || (st = need_num(e, out, "-"))) return st;
        out->num = -out->num;
        return FCL_OK;
    }
    if (eat(e, "+")) return unary(e, out);
    if (peek(e, "!") && !peek(e, "!=")) {
        e->p++;
        if ((st = unary(e, out)) || (st = need_num(e, out, "!"))) return st;
        *out = num(out->num == 0);
        return FCL_OK;
    }
    return power(e, out);
}

static fcl_status term(ep *e, mp_value *out)
{
    fcl_status st = unary(e, out);
    while (!st) {
        int op;
        if (eat(e, "//")) op = 'f';
        else if (peek(e, "**")) break;
        else if (eat(e, "*")) op = '*';
        else if (eat(e, "/")) op = '/';
        else if (eat(e, "%")) op = '%';
        else break;
        mp_value r;
        if ((st = unary(e, &r))) return st;
        if ((st = need_num(e, out, "arithmetic")) || (st = need_num(e, &r, "arithmetic"))) return st;
        if (e->skip) continue;
        if (op != '*' && r.num == 0) return ep_fail(e, FCL_ERR_FORMAT, "bad value: division by zero%s%s", NULL, NULL);
        double a = out->num, b = r.num;
        out->num = op == '*' ? a * b : op == '/' ? a / b : op == 'f' ? floor(a / b) : a - b * floor(a / b);
    }
    return st;
}

static fcl_status sum(ep *e, mp_value *out)
{
    fcl_status st = term(e, out);
    while (!st) {
        int op;
        if (eat(e, "+")) op = '+';
        else if (eat(e, "-")) op = '-';
        else break;
        mp_value r;
        if ((st = term(e, &r))) return st;
        if ((st = need_num(e, out, "arithmetic")) || (st = need_num(e, &r, "arithmetic"))) return st;
        out->num = op == '+' ? out->num + r.num : out->num - r.num;
    }
    return st;
}

static fcl_status cmp(ep *e, mp_value *out)
{
    fcl_status st = sum(e, out);
    if (st) return st;
    static const char *ops[] = {"==", "!=", "<=", ">=", "<", ">"};
    for (int k = 0; k < 6; k++) {
        if (!eat(e, ops[k])) continue;
        mp_value r;
        if ((st = sum(e, &r))) return st;
        if (e->skip) {
            *out = num(0);
            return FCL_OK;
        }
        if (out->type == MP_STR && r.type == MP_STR && k < 2) {
            int eq = !strcmp(out->str, r.str);
            *out = num(k == 0 ? eq : !eq);
            return FCL_OK;
        }
        if (out->type != MP_NUM || r.type != MP_NUM)
            return ep_fail(e, FCL_ERR_FORMAT, "bad value: %s compares numbers (strings only with == and !=)%s", ops[k], NULL);
        double a = out->num, b = r.num;
        int v = k == 0 ? a == b : k == 1 ? a != b : k == 2 ? a <= b : k == 3 ? a >= b : k == 4 ? a < b : a > b;
        *out = num(v);
        return FCL_OK;
    }
    return FCL_OK;
}

/* a && b (is_or 0, operands: comparisons) or a || b (is_or 1, operands: && chains), left to right;
 * once the left side decides, the right side is parsed but not evaluated (e->skip). */
static fcl_status logic(ep *e, mp_value *out, int is_or)
{
    const char *name = is_or ? "||" : "&&";
    fcl_status st = is_or ? logic(e, out, 0) : cmp(e, out);
    while (!st && eat(e, name)) {
        if ((st = need_num(e, out, name))) return st;
        int lhs = e->skip ? is_or : out->num != 0;
        int decided = is_or ? lhs : !lhs;
        if (decided) e->skip++;
        mp_value r;
        st = is_or ? logic(e, &r, 0) : cmp(e, &r);
        if (decided) e->skip--;
        if (st) return st;
        if (!decided && (st = need_num(e, &r, name))) return st;
        *out = num(is_or ? (lhs || r.num != 0) : (lhs && r.num != 0));
    }
    return st;
}

static fcl_status expr(ep *e, mp_value *out) { return nested(e, out, expr_body); }

static fcl_status expr_body(ep *e, mp_value *out)
{
    fcl_status st = logic(e, out, 1);
    if (st || !eat(e, "?")) return st;
    if ((st = need_num(e, out, "?:"))) return st;
    int c = e->skip ? 1 : out->num != 0;
    mp_value a, b;
    if (!c) e->skip++;
    st = expr(e, &a);
    if (!c) e->skip--;
    if (st) return st;
    if (!eat(e, ":")) return ep_fail(e, FCL_ERR_FORMAT, "expected ':' of `c ? a : b`%s%s", NULL, NULL);
    if (c) e->skip++;
    st = expr(e, &b);
    if (c) e->skip--;
    if (st) return st;
    *out = c ? a : b;
    return FCL_OK;
}

fcl_status mp_eval(mp_exec *x, const char *s, int line, mp_value *out)
{
    ep e = {x, s, s, line, 0, 0};
    fcl_status st = expr(&e, out);
    if (st) return st;
    ws(&e);
    if (*e.p) return ep_fail(&e, FCL_ERR_FORMAT, "unexpected '%s' after the expression%s", e.p, NULL);
    return FCL_OK;
}

fcl_status mp_eval_int(mp_exec *x, const char *s, int line, const char *what, long *out)
{
    mp_value v;
    fcl_status st = mp_eval(x, s, line, &v);
    if (st) return st;
    if (v.type != MP_NUM || !is_int(v.num)) {
        char b[64];
        mp_value_str(&v, b, sizeof b);
        return mp_fail(x, line, FCL_ERR_FORMAT, "bad value for %s: %s is not an integer", what, b);
    }
    *out = (long)v.num;
    return FCL_OK;
}

void mp_value_str(const mp_value *v, char *out, size_t n)
{
    if (v->type == MP_STR) {
        snprintf(out, n, "\"%s\"", v->str);
    } else if (v->type == MP_NUM) {
        if (is_int(v->num)) snprintf(out, n, "%lld", (long long)v->num);
        else snprintf(out, n, "%g", v->num);
    } else {
        size_t k = (size_t)snprintf(out, n, "[");
        for (int i = 0; i < v->len && k < n; i++) {
            mp_value e = num(v->list[i]);
            char b[32];
            mp_value_str(&e, b, sizeof b);
            k += (size_t)snprintf(out + k, n - k, "%s%s", i ? ", " : "", b);
        }
        if (k < n) snprintf(out + k, n - k, "]");
    }
}

fcl_status mp_interpolate(mp_exec *x, const char *s, int line, char *out, size_t n)
{
    size_t k = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '}') return mp_fail(x, line, FCL_ERR_FORMAT, "'}' without '{' in `%s`", s);
        if (*p != '{') {
            if (k + 1 >= n) return mp_fail(x, line, FCL_ERR_FORMAT, "name too long: `%s`", s);
            out[k++] = *p;
            continue;
        }
        const char *q = strchr(p + 1, '}');
        if (!q) return mp_fail(x, line, FCL_ERR_FORMAT, "'{' without '}' in `%s`", s);
        char *sub = mp_strndup(x->arena, p + 1, (size_t)(q - p - 1));
        if (!sub) return FCL_ERR(x->err, FCL_ERR_NOMEM, "out of memory");
        mp_value v;
        fcl_status st = mp_eval(x, sub, line, &v);
        if (st) return st;
        char b[256];
        if (v.type == MP_STR) snprintf(b, sizeof b, "%s", v.str);
        else mp_value_str(&v, b, sizeof b);
        size_t bl = strlen(b);
        if (k + bl + 1 >= n) return mp_fail(x, line, FCL_ERR_FORMAT, "name too long: `%s`", s);
        memcpy(out + k, b, bl);
        k += bl;
        p = q;
    }
    out[k] = '\0';
    return FCL_OK;
}
