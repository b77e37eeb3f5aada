/* bench_train: step time of tinytrain training (forward + backward + SGD momentum) for the MLP
 * and CNN of the parity fixtures, OpenBLAS sgemm peak, and how close the Linear layers' GEMMs
 * get to it. bench/bench_train.py runs this next to the same models in PyTorch.
 *
 *   bench_train --model mlp|cnn [--steps N] [--warmup W] [--threads T] [--batch B] [--json]
 *   bench_train --config CONFIG.yaml [--qat] [...]   a config's model, fp32 or fake-quantised
 *   [--backend cpu|opencl[:N]|cuda[:N]]   where the training step runs (default cpu)
 *   bench_train --sgemm-peak [--threads T] [--json]
 *   bench_train --linear-gflops [--steps N] [--warmup W] [--threads T] [--json]
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "tinytrain/qat.h"
#include "tinytrain/tinytrain.h"

typedef enum { MODE_TRAIN, MODE_PEAK, MODE_LINEAR } bench_mode;

typedef struct bench_args {
    bench_mode mode;
    const char *model;
    const char *config; /* --config: the model of a tinytrain config */
    bool qat;           /* --qat: that model through tt_qat_prepare (default qat settings) */
    int steps, warmup, threads, batch;
    bool json;
    const char *backend;    /* --backend: tt_exec_create_on's name */
    char backend_used[192]; /* what the executor reports */
} bench_args;

typedef struct step_stats {
    double median_ms, mean_ms, min_ms;
    float loss_first, loss_last;
} step_stats;

/* CLOCK_PROCESS_CPUTIME_ID (--cpu-clock) is for comparing builds on a busy machine at one
 * thread: it does not count time the process waits for a core. It counts spinning threads, so
 * it means nothing above one thread. */
static clockid_t step_clock = CLOCK_MONOTONIC;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(step_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v in place. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_train: %s: %s\n", what, tt_last_error());
    return 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_train --model mlp|cnn [--steps N] [--warmup W] [--threads T]\n"
               "                   [--batch B] [--json] [--cpu-clock] [--backend B]\n"
               "       bench_train --config CONFIG.yaml [--qat] [same options]\n"
               "       bench_train --sgemm-peak [--threads T] [--json]\n"
               "       bench_train --linear-gflops [--steps N] [--warmup W] [--threads T] "
               "[--json]\n");
}

static int parse_int(const char *opt, const char *s, int lo, int *out)
{
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || *end || v < lo || v > 1000000) {
        fprintf(stderr, "bench_train: %s needs an integer >= %d (got '%s')\n", opt, lo, s ? s : "");
        return 1;
    }
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, bench_args *a)
{
    *a = (bench_args){.mode = MODE_TRAIN,
                      .steps = 200,
                      .warmup = 20,
                      .threads = 2,
                      .batch = 128,
                      .backend = "cpu"};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int err = 0;
        if (!strcmp(o, "--model") && v) {
            a->model = v;
            i++;
        } else if (!strcmp(o, "--config") && v) {
            a->config = a->model = v;
            i++;
        } else if (!strcmp(o, "--backend") && v) {
            a->backend = v;
            i++;
        } else if (!strcmp(o, "--qat")) {
            a->qat = true;
        } else if (!strcmp(o, "--steps")) {
            err = parse_int(o, v, 1, &a->steps), i++;
        } else if (!strcmp(o, "--warmup")) {
            err = parse_int(o, v, 0, &a->warmup), i++;
        } else if (!strcmp(o, "--threads")) {
            err = parse_int(o, v, 1, &a->threads), i++;
        } else if (!strcmp(o, "--batch")) {
            err = parse_int(o, v, 1, &a->batch), i++;
        } else if (!strcmp(o, "--cpu-clock")) {
            step_clock = CLOCK_PROCESS_CPUTIME_ID;
        } else if (!strcmp(o, "--json")) {
            a->json = true;
        } else if (!strcmp(o, "--sgemm-peak")) {
            a->mode = MODE_PEAK;
        } else if (!strcmp(o, "--linear-gflops")) {
            a->mode = MODE_LINEAR;
        } else if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "bench_train: unknown or incomplete option '%s'\n", o);
            usage(stderr);
            return 1;
        }
        if (err) return 1;
    }
    if (a->qat && !a->config) {
        fprintf(stderr, "bench_train: --qat needs --config\n");
        return 1;
    }
    if (a->mode == MODE_TRAIN && !a->config &&
        (!a->model || (strcmp(a->model, "mlp") != 0 && strcmp(a->model, "cnn") != 0))) {
        fprintf(stderr, "bench_train: --model must be mlp or cnn (or give --config)\n");
        usage(stderr);
        return 1;
    }
    if (a->mode == MODE_LINEAR) a->model = "mlp";
    return 0;
}

/* ---- models (the parity fixtures' MLP and CNN) ---- */

typedef struct bench_model {
    tt_graph *g;
    int x, labels, loss;
    int64_t in_numel;     /* floats per sample */
    int64_t target_numel; /* 0: int32 class labels; else float targets per sample (MSE) */
} bench_model;

static tt_status build_mlp(tt_graph *g, tt_rng *rng, bench_model *m)
{
    int64_t xd[2] = {TT_DIM_BATCH, 784}, ld[1] = {TT_DIM_BATCH};
    int h, logits;
    tt_status s;
    if ((s = tt_graph_add_input(g, "x", TT_F32, 2, xd, &m->x))) return s;
    if ((s = tt_graph_add_input(g, "labels", TT_I32, 1, ld, &m->labels))) return s;
    if ((s = tt_layer_linear(g, rng, "fc1", m->x, 256, true, &h))) return s;
    if ((s = tt_layer_simple(g, TT_OP_RELU, "relu1", h, &h))) return s;
    if ((s = tt_layer_linear(g, rng, "fc2", h, 128, true, &h))) return s;
    if ((s = tt_layer_simple(g, TT_OP_RELU, "relu2", h, &h))) return s;
    if ((s = tt_layer_linear(g, rng, "fc3", h, 10, true, &logits))) return s;
    int ce_in[2] = {logits, m->labels};
    m->in_numel = 784;
    return tt_graph_add_node(g, TT_OP_SOFTMAX_CE, "loss", 2, ce_in, 0, NULL, &m->loss);
}

static tt_status conv_block(tt_graph *g, tt_rng *rng, int idx, int x, int64_t out_ch, int *y)
{
    char cn[16], bn[16], rn[16], pn[16];
    snprintf(cn, sizeof cn, "conv%d", idx);
    snprintf(bn, sizeof bn, "bn%d", idx);
    snprintf(rn, sizeof rn, "relu%d", idx);
    snprintf(pn, sizeof pn, "pool%d", idx);
    /* nn.Conv2d defaults: bias on, stride 1, dilation 1, groups 1. */
    tt_conv2d_opts o = {.out_channels = out_ch, .kernel = 3, .padding = 1, .bias = true};
    tt_status s;
    if ((s = tt_layer_conv2d(g, rng, cn, x, &o, &x))) return s;
    if ((s = tt_layer_batchnorm(g, bn, x, 1e-5f, 0.1f, &x))) return s;
    if ((s = tt_layer_simple(g, TT_OP_RELU, rn, x, &x))) return s;
    return tt_layer_pool2d(g, TT_OP_MAXPOOL, pn, x, 2, 0, 0, y);
}

static tt_status build_cnn(tt_graph *g, tt_rng *rng, bench_model *m)
{
    int64_t xd[4] = {TT_DIM_BATCH, 1, 28, 28}, ld[1] = {TT_DIM_BATCH};
    int h, logits;
    tt_status s;
    if ((s = tt_graph_add_input(g, "x", TT_F32, 4, xd, &m->x))) return s;
    if ((s = tt_graph_add_input(g, "labels", TT_I32, 1, ld, &m->labels))) return s;
    if ((s = conv_block(g, rng, 1, m->x, 8, &h))) return s;
    if ((s = conv_block(g, rng, 2, h, 16, &h))) return s;
    if ((s = tt_layer_simple(g, TT_OP_FLATTEN, "flatten", h, &h))) return s;
    if ((s = tt_layer_linear(g, rng, "fc", h, 10, true, &logits))) return s;
    int ce_in[2] = {logits, m->labels};
    m->in_numel = 784;
    return tt_graph_add_node(g, TT_OP_SOFTMAX_CE, "loss", 2, ce_in, 0, NULL, &m->loss);
}

/* A config's model (fp32, or fake-quantised with the default qat settings) with a
 * cross-entropy loss. The fp32 graph is built into *g; with --qat it is replaced by its
 * prepared twin. */
static tt_status build_config(const bench_args *a, tt_graph **g, tt_rng *rng, bench_model *m)
{
    tt_config *c = NULL;
    tt_status s = tt_config_load(a->config, &c);
    int in = -1, out = -1;
    if (s == TT_OK) s = tt_model_build(c, *g, rng, &in, &out);
    if (s == TT_OK && a->qat) {
        tt_graph *q = NULL;
        s = tt_qat_prepare(*g, in, out, &c->qat, &q, &in, &out, NULL);
        if (s == TT_OK) {
            tt_graph_free(*g);
            *g = q;
        }
    }
    if (s == TT_OK) {
        m->g = *g;
        m->x = in;
        const tt_shape *xs = &(*g)->values[in].shape;
        m->in_numel = 1;
        for (int i = 1; i < xs->ndim; i++) m->in_numel *= xs->dims[i];
        /* Classifiers get cross-entropy on labels; regressors and filters MSE on targets of
         * the output's shape (what tinytrain fit uses for them by default). */
        const tt_shape *os = &(*g)->values[out].shape;
        int64_t ld[1] = {TT_DIM_BATCH};
        bool cls = c->task == TT_TASK_CLASSIFICATION;
        m->target_numel = 0;
        if (!cls) {
            m->target_numel = 1;
            for (int i = 1; i < os->ndim; i++) m->target_numel *= os->dims[i];
        }
        s = cls ? tt_graph_add_input(*g, "labels", TT_I32, 1, ld, &m->labels)
                : tt_graph_add_input(*g, "target", TT_F32, os->ndim, os->dims, &m->labels);
        if (s == TT_OK) {
            int in2[2] = {out, m->labels};
            s = tt_graph_add_node(*g, cls ? TT_OP_SOFTMAX_CE : TT_OP_MSE, "loss", 2, in2, 0, NULL,
                                  &m->loss);
        }
    }
    tt_config_free(c);
    return s;
}

/* Trains a fresh model for warmup + steps steps on one fixed random batch and times each step.
 * The timed step includes copying the batch into the executor: PyTorch reuses its tensor, so
 * this charges tinytrain for work the PyTorch side does not do (a conservative choice). */
static int run_train(bench_args *a, step_stats *st)
{
    tt_rng rng;
    tt_rng_seed(&rng, 42, 0);
    bench_model m = {0};
    tt_graph *g = NULL;
    tt_exec *e = NULL;
    tt_optim *opt = NULL;
    float *x = NULL;
    int32_t *y = NULL;
    double *t = NULL;
    int rc = 1;

    if (tt_graph_create(&g)) return fail("graph");
    m.g = g;
    if (a->config                      ? build_config(a, &g, &rng, &m)
        : strcmp(a->model, "mlp") == 0 ? build_mlp(g, &rng, &m)
                                       : build_cnn(g, &rng, &m)) {
        fail("building the model");
        goto out;
    }
    if (tt_exec_create_on(g, a->batch, a->backend, &e)) {
        fail("tt_exec_create_on");
        goto out;
    }
    snprintf(a->backend_used, sizeof a->backend_used, "%s", tt_exec_backend(e));
    tt_optim_config oc = tt_optim_defaults(TT_OPTIM_SGD);
    oc.lr = 0.01f;
    oc.momentum = 0.9f;
    if (tt_optim_create(&oc, e, &opt)) {
        fail("tt_optim_create");
        goto out;
    }
    x = malloc((size_t)(a->batch * m.in_numel) * sizeof *x);
    /* int32 labels, or float targets: 4 bytes per value either way. */
    int64_t per = m.target_numel ? m.target_numel : 1;
    y = malloc((size_t)(a->batch * per) * sizeof *y);
    t = malloc((size_t)a->steps * sizeof *t);
    if (!x || !y || !t) {
        fprintf(stderr, "bench_train: out of memory\n");
        goto out;
    }
    for (int64_t i = 0; i < a->batch * m.in_numel; i++) x[i] = tt_rng_uniform(&rng);
    if (m.target_numel)
        for (int64_t i = 0; i < a->batch * per; i++) ((float *)y)[i] = tt_rng_uniform(&rng);
    else
        for (int i = 0; i < a->batch; i++) y[i] = (int32_t)tt_rng_below(&rng, 10);

    for (int s = 0; s < a->warmup + a->steps; s++) {
        double t0 = now_s();
        if (tt_exec_set_input(e, m.x, x, a->batch) || tt_exec_set_input(e, m.labels, y, a->batch))
            goto fail_step;
        if (tt_exec_forward(e, a->batch, true) || tt_exec_backward(e, m.loss) ||
            tt_optim_step(opt, oc.lr))
            goto fail_step;
        double t1 = now_s();
        const tt_tensor *lt;
        if (tt_exec_read(e, m.loss, &lt)) goto fail_step;
        float loss = tt_tensor_f32(lt)[0];
        if (!isfinite(loss)) {
            fprintf(stderr, "bench_train: loss is %g at step %d\n", loss, s);
            goto out;
        }
        if (s == 0) st->loss_first = loss;
        st->loss_last = loss;
        if (s >= a->warmup) t[s - a->warmup] = 1e3 * (t1 - t0);
    }
    double sum = 0.0;
    for (int i = 0; i < a->steps; i++) sum += t[i];
    st->mean_ms = sum / a->steps;
    st->median_ms = median(t, a->steps); /* sorts t */
    st->min_ms = t[0];
    rc = 0;
    goto out;
fail_step:
    fail("training step");
out:
    free(t);
    free(y);
    free(x);
    tt_optim_free(opt);
    tt_exec_free(e);
    tt_graph_free(g);
    return rc;
}

/* ---- sgemm peak and the Linear layers' GEMM shapes ---- */

static void fill(float *p, size_t n, tt_rng *rng)
{
    for (size_t i = 0; i < n; i++) p[i] = tt_rng_uniform(rng) - 0.5f;
}

/* Best GFLOP/s of reps runs of a row-major C[m,n] = op(A) op(B) + beta C (k inner). Inner
 * repetitions keep one timing well above clock resolution for the small shapes. */
static double time_sgemm(bool ta, bool tb, int m, int n, int k, float beta, int reps, int inner,
                         double *best_s)
{
    tt_rng rng;
    tt_rng_seed(&rng, 7, 1);
    float *a = malloc((size_t)m * k * sizeof *a), *b = malloc((size_t)k * n * sizeof *b);
    float *c = malloc((size_t)m * n * sizeof *c);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return -1.0;
    }
    fill(a, (size_t)m * k, &rng);
    fill(b, (size_t)k * n, &rng);
    memset(c, 0, (size_t)m * n * sizeof *c);
    int lda = ta ? m : k, ldb = tb ? k : n;
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) { /* the first run warms caches and threads */
        double t0 = now_s();
        for (int i = 0; i < inner; i++)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                        tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, beta, c, n);
        double dt = (now_s() - t0) / inner;
        if (r > 0 && dt < best) best = dt;
    }
    free(a), free(b), free(c);
    if (best_s) *best_s = best;
    return 2.0 * m * n * k / best * 1e-9;
}

static double sgemm_peak(int *best_size)
{
    static const int sizes[] = {1024, 2048};
    double peak = 0.0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        double gf = time_sgemm(false, false, sizes[i], sizes[i], sizes[i], 0.0f, 5, 1, NULL);
        if (gf > peak) peak = gf, *best_size = sizes[i];
    }
    return peak;
}

/* The GEMMs one MLP training step issues (autograd/ops/gemm.c): forward Y = X W^T, dX = dY W,
 * dW = dY^T X, all with beta 1 (bias preload / gradient accumulation). fc1's input is data, so
 * its dX is never computed, in tinytrain as in PyTorch. */
typedef struct gemm_call {
    const char *what;
    bool ta, tb;
    int m, n, k;
} gemm_call;

static int mlp_gemms(int nb, gemm_call *c)
{
    static const int dims[3][2] = {{784, 256}, {256, 128}, {128, 10}}; /* {in, out} */
    static const char *names[3][3] = {{"fc1 fwd", "fc1 dX", "fc1 dW"},
                                      {"fc2 fwd", "fc2 dX", "fc2 dW"},
                                      {"fc3 fwd", "fc3 dX", "fc3 dW"}};
    int n = 0;
    for (int l = 0; l < 3; l++) {
        int k = dims[l][0], m = dims[l][1];
        c[n++] = (gemm_call){names[l][0], false, true, nb, m, k};
        if (l > 0) c[n++] = (gemm_call){names[l][1], false, false, nb, k, m};
        c[n++] = (gemm_call){names[l][2], true, false, m, k, nb};
    }
    return n;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void print_common_json(const bench_args *a)
{
    printf("\"threads\": %d, \"openblas_config\": ", a->threads);
    json_str(openblas_get_config());
    printf(", \"openblas_corename\": ");
    json_str(openblas_get_corename());
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf(", \"openblas_coretype_env\": ");
    if (ct)
        json_str(ct);
    else
        printf("null");
}

static int run_linear(bench_args *a)
{
    gemm_call calls[9];
    int nc = mlp_gemms(a->batch, calls);
    double flops = 0.0, secs = 0.0, per_s[9], per_gf[9];
    for (int i = 0; i < nc; i++) {
        const gemm_call *c = &calls[i];
        /* ~50 ms per measurement whatever the shape. */
        double f = 2.0 * c->m * c->n * c->k;
        int inner = (int)fmax(1.0, 5e7 / f * 10.0);
        per_gf[i] = time_sgemm(c->ta, c->tb, c->m, c->n, c->k, 1.0f, 5, inner, &per_s[i]);
        if (per_gf[i] < 0) {
            fprintf(stderr, "bench_train: out of memory\n");
            return 1;
        }
        flops += f;
        secs += per_s[i];
    }
    int peak_size = 0;
    double peak = sgemm_peak(&peak_size);
    step_stats st = {0};
    if (run_train(a, &st)) return 1;
    double direct_gf = flops / secs * 1e-9;
    double step_gf = flops / (st.median_ms * 1e-3) * 1e-9;
    if (a->json) {
        printf("{\"mode\": \"linear-gflops\", ");
        print_common_json(a);
        printf(", \"batch\": %d, \"linear_flops_per_step\": %.0f, \"sgemm_peak_gflops\": %.3f, "
               "\"sgemm_peak_size\": %d, \"linear_direct_gflops\": %.3f, "
               "\"linear_direct_ms\": %.4f, \"linear_direct_fraction\": %.4f, "
               "\"mlp_step_median_ms\": %.4f, \"linear_step_lower_bound_gflops\": %.3f, "
               "\"linear_step_lower_bound_fraction\": %.4f, \"shapes\": [",
               a->batch, flops, peak, peak_size, direct_gf, secs * 1e3, direct_gf / peak,
               st.median_ms, step_gf, step_gf / peak);
        for (int i = 0; i < nc; i++)
            printf("%s{\"what\": \"%s\", \"m\": %d, \"n\": %d, \"k\": %d, \"ta\": %d, \"tb\": %d, "
                   "\"ms\": %.5f, \"gflops\": %.3f}",
                   i ? ", " : "", calls[i].what, calls[i].m, calls[i].n, calls[i].k, calls[i].ta,
                   calls[i].tb, per_s[i] * 1e3, per_gf[i]);
        printf("]}\n");
        return 0;
    }
    printf("OpenBLAS %s (core %s), %d threads\n", openblas_get_config(), openblas_get_corename(),
           a->threads);
    printf("sgemm peak: %.1f GFLOP/s (%dx%d square, best of 5)\n", peak, peak_size, peak_size);
    printf("MLP Linear GEMMs at batch %d (row-major C[m,n] = op(A)[m,k] op(B)[k,n]):\n", a->batch);
    for (int i = 0; i < nc; i++)
        printf("  %-8s m=%4d n=%4d k=%4d %c%c  %8.4f ms  %7.1f GFLOP/s  %5.1f%% of peak\n",
               calls[i].what, calls[i].m, calls[i].n, calls[i].k, calls[i].ta ? 'T' : 'N',
               calls[i].tb ? 'T' : 'N', per_s[i] * 1e3, per_gf[i], 100.0 * per_gf[i] / peak);
    printf("  all     %.2f MFLOP in %.4f ms: %.1f GFLOP/s = %.1f%% of peak\n", flops * 1e-6,
           secs * 1e3, direct_gf, 100.0 * direct_gf / peak);
    printf("MLP training step: median %.4f ms; Linear FLOPs / step time = %.1f GFLOP/s = %.1f%% "
           "of peak\n  (a lower bound on the Linear layers' rate: the step time also holds ReLU, "
           "softmax-CE, bias, SGD and the input copy)\n",
           st.median_ms, step_gf, 100.0 * step_gf / peak);
    return 0;
}

int main(int argc, char **argv)
{
    bench_args a;
    if (parse_args(argc, argv, &a)) return 2;
    tt_set_num_threads(a.threads);

    if (a.mode == MODE_LINEAR) return run_linear(&a);
    if (a.mode == MODE_PEAK) {
        int size = 0;
        double peak = sgemm_peak(&size);
        if (peak < 0) return 1;
        if (a.json) {
            printf("{\"mode\": \"sgemm-peak\", ");
            print_common_json(&a);
            printf(", \"sgemm_peak_gflops\": %.3f, \"sgemm_peak_size\": %d}\n", peak, size);
        } else {
            printf("OpenBLAS %s (core %s), %d threads: sgemm peak %.1f GFLOP/s (%dx%d)\n",
                   openblas_get_config(), openblas_get_corename(), a.threads, peak, size, size);
        }
        return 0;
    }

    step_stats st = {0};
    if (run_train(&a, &st)) return 1;
    if (a.json) {
        printf("{\"mode\": \"train\", \"model\": \"%s\", \"qat\": %s, ", a.model,
               a.qat ? "true" : "false");
        print_common_json(&a);
        printf(", \"backend\": ");
        json_str(a.backend_used);
        printf(", \"batch\": %d, \"steps\": %d, \"warmup\": %d, \"median_ms\": %.4f, "
               "\"mean_ms\": %.4f, \"min_ms\": %.4f, \"loss_first\": %.6f, \"loss_last\": %.6f}\n",
               a.batch, a.steps, a.warmup, st.median_ms, st.mean_ms, st.min_ms, st.loss_first,
               st.loss_last);
    } else {
        printf("tinytrain %s: %s on %s, batch %d, %d threads, %d steps (+%d warm-up): median "
               "%.3f ms/step, mean %.3f, min %.3f; loss %.4f -> %.4f\n",
               tt_version(), a.model, a.backend_used, a.batch, a.threads, a.steps, a.warmup,
               st.median_ms, st.mean_ms, st.min_ms, st.loss_first, st.loss_last);
    }
    return 0;
}
