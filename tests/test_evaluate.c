/* tests/test_evaluate.c: evaluation runs (embeddings, logits, pair scores) against direct forwards; eval settings from checkpoints; errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <facecl/facecl.h>

#include "helpers/small_net.h"
#include "helpers/cmdline.h"

enum { S = 32, IDS = 2, PER = 5, N = IDS * PER, CLASSES = 3 };

static fcl_synth_source synth_src(void)
{
    fcl_synth_source s = {IDS, PER, S, 1, 3, 1.0f};
    return s;
}

/* A direct forward of images [n, 1, S, S]; copies the embedding (want_logits 0) or the output
 * into out and returns the width per image. */
static size_t direct_forward(fcl_ctx *ctx, fcl_net *net, const float *x, int n, int want_logits, float *out)
{
    fcl_tensor t = {0};
    cr_assert_eq(fcl_tensor_alloc4(ctx, &t, (size_t)n, 1, S, S), FCL_OK);
    cr_assert_eq(fcl_tensor_upload(ctx, &t, x, (size_t)n * S * S), FCL_OK);
    cr_assert_eq(fcl_net_forward(net, &t, 0), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    const fcl_tensor *y = want_logits ? fcl_net_output(net) : fcl_net_embedding(net);
    size_t numel = fcl_tensor_numel(y);
    cr_assert_eq(fcl_tensor_download(ctx, y, out, numel), FCL_OK);
    fcl_tensor_release(ctx, &t);
    return numel / (size_t)n;
}

/* All N synth images [N, 1, S, S], as the source renders them. */
static float *render_all(void)
{
    fcl_synth_source src = synth_src();
    float *x = malloc(sizeof(float) * N * S * S);
    cr_assert(x);
    for (int i = 0; i < N; i++) {
        fcl_image img = {0};
        int lab = -1;
        fcl_error e = {0};
        cr_assert_eq(fcl_synth_source_get(&src, (size_t)i, 1, &img, &lab, &e), FCL_OK, "%s", e.msg);
        cr_assert_eq(img.c * img.h * img.w, S * S);
        memcpy(x + (size_t)i * S * S, img.data, sizeof(float) * S * S);
        fcl_image_free(&img);
    }
    return x;
}

static void normalise(float *r, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++) s += (double)r[j] * r[j];
    for (size_t j = 0; j < d; j++) r[j] = (float)(r[j] / sqrt(s));
}

/* The set-up of the evaluation tests: a context, the small model (S x S, CLASSES classes) and its
 * net (batch N, init seed 5), the N synthetic images as a loader source, the model's eval input. */
#define EVAL_WORLD                                                                                 \
    fcl_ctx *ctx = fcl_test_ctx(11);                                                               \
    fcl_model *m = fcl_test_small_model(S, CLASSES, 0);                                            \
    fcl_net *net = fcl_test_small_net(ctx, m, N, 5);                                               \
    fcl_synth_source ss = synth_src();                                                             \
    fcl_loader_source src = {N, fcl_synth_source_get, &ss, NULL};                                  \
    fcl_eval_input in;                                                                             \
    fcl_eval_input_init(&in, m)

Test(evaluate, embeddings_unit_norm_ordered_batch_independent, .timeout = 300)
{
    EVAL_WORLD;
    cr_assert_eq(in.channels, 1);
    cr_assert_eq(in.height, S);

    float *e1 = NULL, *e4 = NULL, *e5 = NULL, *e5b = NULL;
    size_t d1 = 0, d4 = 0, d5 = 0, d5b = 0;
    in.batch = 1;
    in.workers = 1;
    cr_assert_eq(fcl_embed_source(ctx, net, &src, &in, NULL, NULL, &e1, &d1), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    in.batch = 4; /* 4 + 4 + 2: a smaller last batch */
    in.workers = 3;
    cr_assert_eq(fcl_embed_source(ctx, net, &src, &in, NULL, NULL, &e4, &d4), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    in.batch = 5;
    in.workers = 2;
    cr_assert_eq(fcl_embed_source(ctx, net, &src, &in, NULL, NULL, &e5, &d5), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_embed_source(ctx, net, &src, &in, NULL, NULL, &e5b, &d5b), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(d1, (size_t)m->embedding_dim);
    cr_assert(d1 == d4 && d1 == d5 && d1 == d5b);
    const size_t D = d1;

    /* Unit norm; the same call twice gives the same bits. */
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (size_t j = 0; j < D; j++) s += (double)e5[i * D + j] * e5[i * D + j];
        cr_expect(fabs(sqrt(s) - 1.0) < 1e-5, "row %d has norm %g", i, sqrt(s));
    }
    cr_expect_eq(memcmp(e5, e5b, sizeof(float) * N * D), 0, "two identical runs differ");

    /* Batch size does not matter; rows follow the source order (each row is its own image's
     * direct forward, one image at a time). */
    float *x = render_all(), *want = malloc(sizeof(float) * D);
    double max_b = 0, max_d = 0;
    for (size_t k = 0; k < N * D; k++) {
        max_b = fmax(max_b, fabs((double)e1[k] - e5[k]));
        max_b = fmax(max_b, fabs((double)e4[k] - e5[k]));
    }
    for (int i = 0; i < N; i++) {
        cr_assert_eq(direct_forward(ctx, net, x + (size_t)i * S * S, 1, 0, want), D);
        normalise(want, D);
        for (size_t j = 0; j < D; j++) max_d = fmax(max_d, fabs((double)want[j] - e5[i * D + j]));
    }
    cr_expect(max_b < 1e-5, "batch 1 / 4 / 5 embeddings differ by %g", max_b);
    cr_expect(max_d < 1e-5, "embeddings differ from direct forwards by %g", max_d);
    /* Distinct images give distinct rows (an order swap would be caught above). */
    double diff01 = 0;
    for (size_t j = 0; j < D; j++) diff01 = fmax(diff01, fabs((double)e5[j] - e5[D + j]));
    cr_expect(diff01 > 1e-4, "images 0 and 1 embed identically (%g)", diff01);

    free(e1);
    free(e4);
    free(e5);
    free(e5b);
    free(x);
    free(want);
    fcl_net_destroy(net);
    fcl_model_free(m);
    fcl_ctx_destroy(ctx);
}

typedef struct prog_rec {
    size_t calls, last_done, total;
    int cancel_after;
} prog_rec;

static int on_progress(void *user, size_t done, size_t total)
{
    prog_rec *p = user;
    cr_expect(done > p->last_done, "progress went from %zu to %zu", p->last_done, done);
    p->calls++;
    p->last_done = done;
    p->total = total;
    return p->cancel_after && (int)p->calls >= p->cancel_after;
}

Test(evaluate, predictions_match_direct_forward_and_progress, .timeout = 300)
{
    EVAL_WORLD;
    in.batch = 3;
    prog_rec pr = {0, 0, 0, 0};
    float *logits = NULL;
    size_t C = 0;
    cr_assert_eq(fcl_predict_source(ctx, net, &src, &in, on_progress, &pr, &logits, &C), FCL_OK, "%s",
                 fcl_ctx_errmsg(ctx));
    cr_assert_eq(C, (size_t)CLASSES);
    cr_expect_eq(pr.calls, 4u);
    cr_expect_eq(pr.last_done, (size_t)N);
    cr_expect_eq(pr.total, (size_t)N);

    float *x = render_all(), want[N * CLASSES];
    cr_assert_eq(direct_forward(ctx, net, x, N, 1, want), (size_t)CLASSES);
    int pa[N], pb[N];
    fcl_error e = {0};
    cr_assert_eq(fcl_argmax_rows(logits, N, CLASSES, pa, &e), FCL_OK);
    cr_assert_eq(fcl_argmax_rows(want, N, CLASSES, pb, &e), FCL_OK);
    double maxd = 0;
    for (int k = 0; k < N * CLASSES; k++) maxd = fmax(maxd, fabs((double)want[k] - logits[k]));
    cr_expect(maxd < 1e-4, "logits differ from a direct forward by %g", maxd);
    for (int i = 0; i < N; i++) cr_expect_eq(pa[i], pb[i], "image %d: predicted %d, direct forward %d", i, pa[i], pb[i]);

    /* Cancelling stops the run with an error saying so. */
    prog_rec cancel = {0, 0, 0, 2};
    free(logits);
    logits = NULL;
    cr_assert_neq(fcl_predict_source(ctx, net, &src, &in, on_progress, &cancel, &logits, &C), FCL_OK);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "cancelled"), "%s", fcl_ctx_errmsg(ctx));
    cr_expect_null(logits);

    free(x);
    fcl_net_destroy(net);
    fcl_model_free(m);
    fcl_ctx_destroy(ctx);
}

Test(evaluate, bad_inputs_are_errors, .timeout = 300)
{
    fcl_ctx *ctx = fcl_test_ctx(11);
    fcl_model *m = fcl_test_small_model(S, 0, 0); /* embedding-only */
    fcl_net *net = fcl_test_small_net(ctx, m, 4, 5);
    fcl_synth_source ss = synth_src();
    fcl_loader_source src = {N, fcl_synth_source_get, &ss, NULL};
    fcl_eval_input in;
    fcl_eval_input_init(&in, m);
    in.batch = 4;
    float *out = NULL;
    size_t d = 0;
    cr_assert_neq(fcl_predict_source(ctx, net, &src, &in, NULL, NULL, &out, &d), FCL_OK);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "no classifier"), "%s", fcl_ctx_errmsg(ctx));

    in.height = 48; /* not the model's input size */
    cr_assert_neq(fcl_embed_source(ctx, net, &src, &in, NULL, NULL, &out, &d), FCL_OK);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "does not match"), "%s", fcl_ctx_errmsg(ctx));
    in.height = S;

    in.batch = 8; /* larger than the net's max_batch */
    cr_assert_neq(fcl_embed_source(ctx, net, &src, &in, NULL, NULL, &out, &d), FCL_OK);
    cr_expect_null(out);
    in.batch = 4;

    in.workers = 0;
    cr_assert_neq(fcl_embed_source(ctx, net, &src, &in, NULL, NULL, &out, &d), FCL_OK);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "workers"), "%s", fcl_ctx_errmsg(ctx));
    in.workers = 1;

    /* A path that does not decode names the file. */
    const char *paths[2] = {FACECL_SOURCE_DIR "/models/small.model", FACECL_SOURCE_DIR "/nope.png"};
    fcl_loader_source ps = fcl_eval_source_paths(paths, 2);
    cr_assert_neq(fcl_embed_source(ctx, net, &ps, &in, NULL, NULL, &out, &d), FCL_OK);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "small.model"), "%s", fcl_ctx_errmsg(ctx));
    cr_expect_null(out);

    fcl_net_destroy(net);
    fcl_model_free(m);
    fcl_ctx_destroy(ctx);
}

/* Writes synth images 0..n-1 as dir/img<i>.png. */
static void write_pngs(const char *dir, int n)
{
    fcl_synth_source ss = synth_src();
    for (int i = 0; i < n; i++) {
        fcl_image img = {0};
        int lab;
        fcl_error e = {0};
        char p[512];
        cr_assert_eq(fcl_synth_source_get(&ss, (size_t)i, 1, &img, &lab, &e), FCL_OK, "%s", e.msg);
        snprintf(p, sizeof p, "%s/img%d.png", dir, i);
        cr_assert_eq(fcl_image_write_png(p, &img, &e), FCL_OK, "%s", e.msg);
        fcl_image_free(&img);
    }
}

static void rm_tree(const char *dir)
{
    cr_expect(fcl_test_rm_rf(dir));
}

Test(evaluate, pair_scores, .timeout = 300)
{
    char dir[] = "/tmp/fcl_eval_pairsXXXXXX";
    cr_assert(mkdtemp(dir));
    write_pngs(dir, 4);
    fcl_ctx *ctx = fcl_test_ctx(11);
    fcl_model *m = fcl_test_small_model(S, CLASSES, 0);
    fcl_net *net = fcl_test_small_net(ctx, m, 8, 5);
    fcl_eval_input in;
    fcl_eval_input_init(&in, m);
    in.batch = 2;

    const char *text = "# comment\n"
                       "img0.png img0.png 1\n"
                       "img0.png img1.png 1\n"
                       "img2.png img3.png 0\n"
                       "img3.png img1.png 0\n";
    fcl_pair_list pl;
    fcl_error e = {0};
    cr_assert_eq(fcl_pairs_parse(text, strlen(text), "pairs.txt", dir, FCL_PAIRS_PLAIN, 0, &pl, &e), FCL_OK, "%s", e.msg);

    fcl_pair_index pi;
    cr_assert_eq(fcl_pair_index_build(&pl, &pi, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(pi.n_images, 4u); /* img0, img1, img2, img3 in order of first appearance */
    for (int i = 0; i < 4; i++) {
        char want[512];
        snprintf(want, sizeof want, "%s/img%d.png", dir, i);
        cr_expect_str_eq(pi.images[i], want);
    }
    size_t w1[4] = {0, 0, 2, 3}, w2[4] = {0, 1, 3, 1};
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(pi.row1[i], w1[i], "pair %d row1", i);
        cr_expect_eq(pi.row2[i], w2[i], "pair %d row2", i);
    }
    cr_expect_eq(pi.first_line[3], 4); /* img3 first named on line 4 */

    prog_rec pr = {0, 0, 0, 0};
    double *scores = NULL;
    cr_assert_eq(fcl_embed_pairs(ctx, net, &in, &pl, on_progress, &pr, &scores), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_expect_eq(pr.total, 4u, "progress counts distinct images, got total %zu", pr.total);
    cr_expect(fabs(scores[0] - 1.0) < 1e-6, "same image twice scores %.9f", scores[0]);

    /* The same numbers from embedding the paths and scoring rows by hand. */
    fcl_loader_source ps = fcl_eval_source_paths((const char *const *)pi.images, pi.n_images);
    float *emb = NULL;
    size_t D = 0;
    cr_assert_eq(fcl_embed_source(ctx, net, &ps, &in, NULL, NULL, &emb, &D), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    for (int i = 0; i < 4; i++) {
        double dot = 0;
        for (size_t j = 0; j < D; j++) dot += (double)emb[pi.row1[i] * D + j] * emb[pi.row2[i] * D + j];
        cr_expect(fabs(dot - scores[i]) < 1e-6, "pair %d: %.9f vs hand %.9f", i, scores[i], dot);
        cr_expect(scores[i] >= -1.0 && scores[i] <= 1.0);
    }

    /* Lookup in an embedding table listed in another order. */
    const char *table[4] = {pi.images[3], pi.images[1], pi.images[0], pi.images[2]};
    size_t r1[4], r2[4];
    cr_assert_eq(fcl_pair_rows_lookup(&pl, table, 4, r1, r2, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(r1[0], 2u);
    cr_expect_eq(r2[1], 1u);
    cr_expect_eq(r1[2], 3u);
    cr_expect_eq(r2[2], 0u);
    /* A table missing img2: the error names the pair-list line and the image. */
    cr_assert_neq(fcl_pair_rows_lookup(&pl, table, 3, r1, r2, &e), FCL_OK);
    cr_expect(strstr(e.msg, "pairs.txt:4:") && strstr(e.msg, "img2.png"), "%s", e.msg);

    free(emb);
    free(scores);
    fcl_pair_index_free(&pi);
    fcl_pairs_free(&pl);

    /* A pair naming a missing file: error naming pairs file, line and the file, before any work. */
    const char *bad = "img0.png img1.png 1\n\nimg2.png missing.png 0\n";
    cr_assert_eq(fcl_pairs_parse(bad, strlen(bad), "pairs.txt", dir, FCL_PAIRS_PLAIN, 0, &pl, &e), FCL_OK, "%s", e.msg);
    scores = NULL;
    cr_assert_neq(fcl_embed_pairs(ctx, net, &in, &pl, NULL, NULL, &scores), FCL_OK);
    const char *msg = fcl_ctx_errmsg(ctx);
    cr_expect(strstr(msg, "pairs.txt:3:") && strstr(msg, "missing.png") && strstr(msg, "does not exist"), "%s", msg);
    cr_expect_null(scores);
    fcl_pairs_free(&pl);

    /* A file that exists but does not decode: same naming. */
    char junk[600];
    snprintf(junk, sizeof junk, "%s/junk.png", dir);
    FILE *f = fopen(junk, "w");
    cr_assert(f);
    fputs("not a png", f);
    fclose(f);
    const char *bad2 = "img0.png junk.png 0\n";
    cr_assert_eq(fcl_pairs_parse(bad2, strlen(bad2), "list.txt", dir, FCL_PAIRS_PLAIN, 0, &pl, &e), FCL_OK, "%s", e.msg);
    cr_assert_neq(fcl_embed_pairs(ctx, net, &in, &pl, NULL, NULL, &scores), FCL_OK);
    msg = fcl_ctx_errmsg(ctx);
    cr_expect(strstr(msg, "list.txt:1:") && strstr(msg, "junk.png"), "%s", msg);
    fcl_pairs_free(&pl);

    fcl_net_destroy(net);
    fcl_model_free(m);
    fcl_ctx_destroy(ctx);
    rm_tree(dir);
}

Test(evaluate, verify_scores_by_hand)
{
    const float emb[4 * 3] = {1, 0, 0, /* */ 0, 2, 0, /* */ -3, 0, 0, /* */ 0, 0, 0};
    size_t r1[5] = {0, 0, 0, 1, 3}, r2[5] = {0, 1, 2, 1, 0};
    double s[5];
    fcl_error e = {0};
    cr_assert_eq(fcl_verify_scores(emb, 4, 3, r1, r2, 5, s, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(s[0], 1.0);
    cr_expect_eq(s[1], 0.0);
    cr_expect_eq(s[2], -1.0);
    cr_expect_eq(s[3], 1.0); /* not normalised: still cosine */
    cr_expect_eq(s[4], 0.0); /* a zero row has no direction */
    size_t bad[1] = {4};
    cr_assert_neq(fcl_verify_scores(emb, 4, 3, bad, r2, 1, s, &e), FCL_OK);
    cr_expect(strstr(e.msg, "row 4 of 4"), "%s", e.msg);
    const float nan_emb[3] = {NAN, 0, 0};
    size_t z[1] = {0};
    cr_assert_neq(fcl_verify_scores(nan_emb, 1, 3, z, z, 1, s, &e), FCL_OK);
    cr_expect(strstr(e.msg, "not finite"), "%s", e.msg);
}

Test(evaluate, input_from_checkpoint_and_pipeline, .timeout = 300)
{
    char dir[] = "/tmp/fcl_eval_ckptXXXXXX";
    cr_assert(mkdtemp(dir));
    char path[600], path2[600];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    snprintf(path2, sizeof path2, "%s/plain.safetensors", dir);
    fcl_ctx *ctx = fcl_test_ctx(11);
    fcl_model *m = fcl_test_small_model(S, CLASSES, 0);
    fcl_net *net = fcl_test_small_net(ctx, m, N, 5);
    fcl_kv kv[2] = {{"eval_aug", "norm=0.5:0.25"}, {"class_names", "alice\nbob\ncarol"}};
    cr_assert_eq(fcl_checkpoint_save(ctx, net, NULL, NULL, NULL, kv, 2, path), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_eq(fcl_checkpoint_save(ctx, net, NULL, NULL, NULL, NULL, 0, path2), FCL_OK, "%s", fcl_ctx_errmsg(ctx));

    fcl_eval_input in;
    fcl_eval_input_init(&in, NULL);
    in.batch = 7;
    fcl_aug_pipeline pipe;
    fcl_strlist names = {0};
    fcl_error e = {0};
    cr_assert_eq(fcl_eval_input_from_checkpoint(path, &in, &pipe, &names, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(in.channels, 1);
    cr_expect_eq(in.height, S);
    cr_expect_eq(in.width, S);
    cr_expect_eq(in.batch, 7, "batch must be left alone");
    cr_assert_eq(in.pipeline, &pipe);
    cr_assert_eq(pipe.n, 1);
    cr_expect_eq(pipe.steps[0].kind, FCL_AUG_NORM);
    cr_assert_eq(names.n, 3u);
    cr_expect_str_eq(names.items[0], "alice");
    cr_expect_str_eq(names.items[2], "carol");

    /* The pipeline is applied: embeddings equal a direct forward of (x - 0.5) / 0.25. */
    fcl_synth_source ss = synth_src();
    fcl_loader_source src = {N, fcl_synth_source_get, &ss, NULL};
    in.batch = 4;
    in.workers = 2;
    float *emb = NULL;
    size_t D = 0;
    cr_assert_eq(fcl_embed_source(ctx, net, &src, &in, NULL, NULL, &emb, &D), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    float *x = render_all(), *want = malloc(sizeof(float) * N * D);
    for (size_t k = 0; k < (size_t)N * S * S; k++) x[k] = (x[k] - 0.5f) / 0.25f;
    cr_assert_eq(direct_forward(ctx, net, x, N, 0, want), D);
    double maxd = 0;
    for (int i = 0; i < N; i++) {
        normalise(want + (size_t)i * D, D);
        for (size_t j = 0; j < D; j++) maxd = fmax(maxd, fabs((double)want[i * D + j] - emb[i * D + j]));
    }
    cr_expect(maxd < 1e-5, "pipeline embeddings differ from normalised direct forwards by %g", maxd);

    /* No eval metadata: no pipeline, no names. */
    fcl_strlist none = {0};
    cr_assert_eq(fcl_eval_input_from_checkpoint(path2, &in, &pipe, &none, &e), FCL_OK, "%s", e.msg);
    cr_expect_null(in.pipeline);
    cr_expect_eq(none.n, 0u);

    /* Missing file: the error names it. */
    char missing[700];
    snprintf(missing, sizeof missing, "%s/nope.safetensors", dir);
    cr_assert_neq(fcl_eval_input_from_checkpoint(missing, &in, &pipe, NULL, &e), FCL_OK);
    cr_expect(strstr(e.msg, "nope.safetensors"), "%s", e.msg);

    /* A bad pipeline in the metadata names the key. */
    fcl_kv badkv[1] = {{"eval_aug", "norm=banana"}};
    cr_assert_eq(fcl_checkpoint_save(ctx, net, NULL, NULL, NULL, badkv, 1, path2), FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_assert_neq(fcl_eval_input_from_checkpoint(path2, &in, &pipe, NULL, &e), FCL_OK);
    cr_expect(strstr(e.msg, "eval_aug"), "%s", e.msg);

    free(emb);
    free(x);
    free(want);
    fcl_strlist_free(&names);
    fcl_net_destroy(net);
    fcl_model_free(m);
    fcl_ctx_destroy(ctx);
    rm_tree(dir);
}
