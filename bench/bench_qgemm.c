/* bench_qgemm: the integer GEMM (kernels/cpu/qgemm.h) on each ISA path this CPU runs, against
 * OpenBLAS sgemm, at the GEMM shapes of configs/fashion_cnn.yaml at batch 64:
 *
 *   conv1  M=32 (out channels)  K=1*3*3   N=28*28 per image, 64 images
 *   conv2  M=64                 K=32*3*3  N=14*14 per image, 64 images
 *   conv3  M=64                 K=64*3*3  N=7*7   per image, 64 images
 *   fc     [64, 3136] x [3136, 10]: M=10, K=3136, N=64 (the Gemm layout: A[n][k], Y[n][m])
 *
 * The int8 figure per layer includes what the QLinear ops do per forward besides the GEMM
 * proper: packing the weights once, packing each activation block, requantising to uint8
 * (per-channel multipliers, bias); im2col is excluded on both sides. Images are split between
 * the threads, one work buffer each. The fp32 side runs cblas_sgemm per image (as the int8 path
 * does) and as one GEMM over all 64 images' columns (what autograd/ops/conv.c does in chunks);
 * the ratio uses the faster. Each figure is the best of --reps runs.
 *
 *   bench_qgemm [--threads T] [--reps R] [--layer conv1|conv2|conv3|fc] [--isa c|avx2|vnni]
 *               [--no-sgemm] [--cpu-clock]
 *   bench_qgemm --ops [--batch B] [--threads T] [--reps R] [--cpu-clock]
 *
 * --ops times the layers as graph nodes through the executor instead, at batch B (default 64):
 * QLinearConv (fused Relu, int32 bias, per-channel scales) against Conv (float bias) + Relu,
 * and QGemm against Gemm, at the same shapes. That adds what the ops do around the GEMM
 * (im2col, and in float the separate Relu), but not the pools, Q/DQ and reshapes between
 * layers. The int8 ops use the ISA tt_qgemm_isa_select picks (TT_QGEMM_ISA to force one).
 *
 * GOPS counts 2 * M * N * K operations (a multiply and an add) for both. --cpu-clock times in
 * process CPU time: only for --threads 1 on a loaded machine. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "kernels/cpu/qgemm.h"
#include "tinytrain/graph.h"
#include "tinytrain/exec.h"
#include "tinytrain/tinytrain.h"

typedef struct layer {
    const char *name;
    int64_t m, k, n, images; /* per-image GEMM: [M,K] x [K,N] */
    bool gemm;               /* Gemm layout (one "image": A[n][k], Y[n][m]) */
} layer;

static const layer layers[] = {
    {"conv1", 32, 9, 784, 64, false},
    {"conv2", 64, 288, 196, 64, false},
    {"conv3", 64, 576, 49, 64, false},
    {"fc", 10, 3136, 64, 1, true},
};

/* --cpu-clock: process CPU time instead of wall time, for one thread on a busy machine (it
 * leaves out time the process waits for a core; above one thread it is meaningless). */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct bufs {
    uint8_t *x, *y;
    int8_t *w;
    float *xf, *wf, *yf, *mult;
    int32_t *bias;
    void *pack, *work;
} bufs;

static int alloc_bufs(const layer *l, int threads, bufs *b)
{
    size_t xs = (size_t)(l->k * l->n * l->images), ys = (size_t)(l->m * l->n * l->images);
    size_t ws = (size_t)(l->m * l->k);
    b->x = malloc(xs);
    b->y = malloc(ys);
    b->w = malloc(ws);
    b->xf = malloc(xs * sizeof(float));
    b->yf = malloc(ys * sizeof(float));
    b->wf = malloc(ws * sizeof(float));
    b->mult = malloc((size_t)l->m * sizeof(float));
    b->bias = malloc((size_t)l->m * sizeof(int32_t));
    b->pack = aligned_alloc(64, tt_qgemm_pack_size(l->m, l->k));
    b->work = aligned_alloc(64, tt_qgemm_work_size(l->k) * (size_t)threads);
    if (!b->x || !b->y || !b->w || !b->xf || !b->yf || !b->wf || !b->mult || !b->bias || !b->pack ||
        !b->work)
        return -1;
    tt_rng rng;
    tt_rng_seed(&rng, 1, 0);
    for (size_t i = 0; i < xs; i++) b->x[i] = (uint8_t)tt_rng_u32(&rng);
    for (size_t i = 0; i < ws; i++) b->w[i] = (int8_t)((int)tt_rng_below(&rng, 255) - 127);
    for (size_t i = 0; i < xs; i++) b->xf[i] = (float)b->x[i];
    for (size_t i = 0; i < ws; i++) b->wf[i] = (float)b->w[i];
    for (int64_t m = 0; m < l->m; m++) {
        b->mult[m] = 1e-4f * (1.0f + 0.01f * (float)m);
        b->bias[m] = (int32_t)m * 100;
    }
    return 0;
}

static void free_bufs(bufs *b)
{
    free(b->x);
    free(b->y);
    free(b->w);
    free(b->xf);
    free(b->yf);
    free(b->wf);
    free(b->mult);
    free(b->bias);
    free(b->pack);
    free(b->work);
}

/* One forward's worth of int8 work for the layer: pack W, then every image's GEMM. */
static void run_int8(const layer *l, tt_qgemm_isa isa, int threads, bufs *b)
{
    tt_qgemm_wdesc wd = {.m = l->m,
                         .k = l->k,
                         .data = b->w,
                         .is_signed = true,
                         .sm = l->k,
                         .sk = 1,
                         .zp = NULL,
                         .n_zp = 1};
    tt_qgemm_packed pw;
    tt_qgemm_pack(isa, &wd, b->pack, &pw);
    size_t wsz = tt_qgemm_work_size(l->k);
    if (l->gemm) {
        /* one GEMM: threads split the columns (the batch rows) in blocks of 16 */
        int64_t nb = (l->n + 15) / 16;
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t t = 0; t < nb; t++) {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            tt_qgemm_xdesc xd = {.data = b->x, .is_signed = false, .sk = 1, .sn = l->k, .zp = 3};
            tt_qgemm_out yd = {.data = b->y,
                               .sm = 1,
                               .sn = l->m,
                               .multiplier = b->mult,
                               .n_mult = l->m,
                               .bias = b->bias,
                               .zp = 10,
                               .qmin = 0,
                               .qmax = 255};
            int64_t n1 = (t + 1) * 16 < l->n ? (t + 1) * 16 : l->n;
            tt_qgemm_cols(&pw, &xd, &yd, t * 16, n1, (char *)b->work + (size_t)tid * wsz);
        }
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < l->images; i++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        tt_qgemm_xdesc xd = {
            .data = b->x + i * l->k * l->n, .is_signed = false, .sk = l->n, .sn = 1, .zp = 3};
        tt_qgemm_out yd = {.data = b->y + i * l->m * l->n,
                           .sm = l->n,
                           .sn = 1,
                           .multiplier = b->mult,
                           .n_mult = l->m,
                           .bias = b->bias,
                           .zp = 10,
                           .qmin = 0,
                           .qmax = 255};
        tt_qgemm_cols(&pw, &xd, &yd, 0, l->n, (char *)b->work + (size_t)tid * wsz);
    }
}

static void run_sgemm(const layer *l, bool batched, bufs *b)
{
    if (l->gemm) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)l->n, (blasint)l->m,
                    (blasint)l->k, 1.0f, b->xf, (blasint)l->k, b->wf, (blasint)l->k, 0.0f, b->yf,
                    (blasint)l->m);
        return;
    }
    if (batched) { /* col [K, images * N] as one matrix */
        int64_t nn = l->n * l->images;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)l->m, (blasint)nn,
                    (blasint)l->k, 1.0f, b->wf, (blasint)l->k, b->xf, (blasint)nn, 0.0f, b->yf,
                    (blasint)nn);
        return;
    }
    for (int64_t i = 0; i < l->images; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)l->m, (blasint)l->n,
                    (blasint)l->k, 1.0f, b->wf, (blasint)l->k, b->xf + i * l->k * l->n,
                    (blasint)l->n, 0.0f, b->yf + i * l->m * l->n, (blasint)l->n);
}

/* What one timed run does: the int8 path on one ISA, or sgemm per image / batched. */
typedef struct job {
    const layer *l;
    bufs *b;
    int threads;
    int isa; /* -1: sgemm per image, -2: sgemm batched */
} job;

static void run_job(const job *j)
{
    if (j->isa >= 0)
        run_int8(j->l, (tt_qgemm_isa)j->isa, j->threads, j->b);
    else
        run_sgemm(j->l, j->isa == -2, j->b);
}

/* Best of reps runs after one warm-up run. */
static double best_of(int reps, const job *j)
{
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t0 = now_s();
        run_job(j);
        double dt = now_s() - t0;
        if (r > 0 && dt < best) best = dt;
    }
    return best;
}

static const char *only_isa = NULL; /* --isa */
static bool no_sgemm = false;       /* --no-sgemm */

static void bench_layer(const layer *l, int threads, int reps)
{
    bufs b;
    memset(&b, 0, sizeof b);
    if (alloc_bufs(l, threads, &b) != 0) {
        fprintf(stderr, "bench_qgemm: out of memory\n");
        free_bufs(&b);
        return;
    }
    double ops = 2.0 * (double)(l->m * l->k * l->n * l->images);
    double t_fp = no_sgemm ? 1e30 : best_of(reps, &(job){l, &b, threads, -1});
    double t_fb = l->gemm || no_sgemm ? t_fp : best_of(reps, &(job){l, &b, threads, -2});
    double t_f = t_fp < t_fb ? t_fp : t_fb;
    printf("%-6s M=%-3lld K=%-5lld N=%-4lld x%-3lld  sgemm per image %7.3f ms %6.1f GFLOPS",
           l->name, (long long)l->m, (long long)l->k, (long long)l->n, (long long)l->images,
           1e3 * t_fp, ops / t_fp * 1e-9);
    if (!l->gemm) printf(" | batched %7.3f ms %6.1f GFLOPS", 1e3 * t_fb, ops / t_fb * 1e-9);
    printf("\n");
    for (int i = 0; i < TT_QGEMM_ISA_COUNT; i++) {
        tt_qgemm_isa isa = (tt_qgemm_isa)i;
        if (only_isa && strcmp(only_isa, tt_qgemm_isa_name(isa)) != 0) continue;
        if (!tt_qgemm_isa_available(isa)) {
            printf("       int8 %-4s  not available on this CPU\n", tt_qgemm_isa_name(isa));
            continue;
        }
        double t = best_of(reps, &(job){l, &b, threads, (int)isa});
        printf("       int8 %-4s  %7.3f ms %6.1f GOPS", tt_qgemm_isa_name(isa), 1e3 * t,
               ops / t * 1e-9);
        if (!no_sgemm) printf("   %.2fx the faster sgemm", t_f / t);
        printf("\n");
    }
    free_bufs(&b);
}

/* One layer as a graph: float (Conv + Relu or Gemm) or int8 (QLinearConv or QGemm). */
typedef struct op_layer {
    const char *name;
    int64_t c, h, w, m; /* conv: [C, H, W] -> M channels, 3x3 pad 1; fc: c features -> m */
    bool fc;
} op_layer;

static const op_layer op_layers[] = {
    {"conv1", 1, 28, 28, 32, false},
    {"conv2", 32, 14, 14, 64, false},
    {"conv3", 64, 7, 7, 64, false},
    {"fc", 3136, 1, 1, 10, true},
};

static int add_param(tt_graph *g, const char *name, tt_dtype dt, int ndim, const int64_t *dims,
                     tt_rng *rng)
{
    int id;
    if (tt_graph_add_param_typed(g, name, dt, ndim, dims, &id) != TT_OK) return -1;
    tt_tensor *t = g->values[id].data;
    int64_t n = tt_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        switch (dt) {
        case TT_F32:
            ((float *)t->data)[i] = 0.01f + 0.001f * (float)tt_rng_below(rng, 100);
            break;
        case TT_I8:
            ((int8_t *)t->data)[i] = (int8_t)((int)tt_rng_below(rng, 255) - 127);
            break;
        case TT_U8:
            ((uint8_t *)t->data)[i] = (uint8_t)tt_rng_below(rng, 256);
            break;
        case TT_I32:
            ((int32_t *)t->data)[i] = (int32_t)tt_rng_below(rng, 2000) - 1000;
            break;
        default:
            break;
        }
    }
    return id;
}

static tt_status build_op_layer(const op_layer *l, bool int8, tt_graph **out, int *x, int *y)
{
    tt_graph *g;
    tt_status s = tt_graph_create(&g);
    if (s != TT_OK) return s;
    *out = g;
    tt_rng rng;
    tt_rng_seed(&rng, 3, 0);
    int64_t xd4[4] = {TT_DIM_BATCH, l->c, l->h, l->w}, xd2[2] = {TT_DIM_BATCH, l->c};
    int64_t wd4[4] = {l->m, l->c, 3, 3}, wd2[2] = {l->m, l->c}, one[1] = {1}, md[1] = {l->m};
    if ((s = tt_graph_add_input(g, "x", int8 ? TT_U8 : TT_F32, l->fc ? 2 : 4, l->fc ? xd2 : xd4,
                                x)) != TT_OK)
        return s;
    int64_t pads[4] = {1, 1, 1, 1};
    tt_attr at[2] = {tt_attr_ints("pads", 4, pads), tt_attr_int("fused_relu", 1)};
    if (!int8) {
        int w = add_param(g, "w", TT_F32, l->fc ? 2 : 4, l->fc ? wd2 : wd4, &rng);
        int b = add_param(g, "b", TT_F32, 1, md, &rng);
        int in[3] = {*x, w, b}, mid;
        if (l->fc) return tt_graph_add_node(g, TT_OP_GEMM, "fc", 3, in, 0, NULL, y);
        if ((s = tt_graph_add_node(g, TT_OP_CONV, "conv", 3, in, 1, at, &mid)) != TT_OK) return s;
        return tt_graph_add_node(g, TT_OP_RELU, "relu", 1, &mid, 0, NULL, y);
    }
    int xs = add_param(g, "xs", TT_F32, 1, one, &rng), xz = add_param(g, "xz", TT_U8, 1, one, &rng);
    int w = add_param(g, "w", TT_I8, l->fc ? 2 : 4, l->fc ? wd2 : wd4, &rng);
    int ws = add_param(g, "ws", TT_F32, 1, md, &rng), wz = add_param(g, "wz", TT_I8, 1, one, &rng);
    int ys = add_param(g, "ys", TT_F32, 1, one, &rng), yz = add_param(g, "yz", TT_U8, 1, one, &rng);
    int b = add_param(g, "b", TT_I32, 1, md, &rng);
    ((int8_t *)g->values[wz].data->data)[0] = 0;
    if (l->fc) {
        int in[9] = {*x, xs, xz, w, ws, wz, b, ys, yz};
        return tt_graph_add_node(g, TT_OP_QGEMM, "fc", 9, in, 1, at + 1, y);
    }
    int in[9] = {*x, xs, xz, w, ws, wz, ys, yz, b};
    return tt_graph_add_node(g, TT_OP_QLINEAR_CONV, "conv", 9, in, 2, at, y);
}

/* Best-of-reps forward time of one layer graph at batch n; negative on failure. */
static double time_op_layer(const op_layer *l, bool int8, int64_t n, int reps)
{
    tt_graph *g = NULL;
    tt_exec *e = NULL;
    int x, y;
    double best = -1.0;
    size_t per = (size_t)(l->c * l->h * l->w) * (int8 ? 1 : sizeof(float));
    void *data = calloc((size_t)n, per);
    if (data && build_op_layer(l, int8, &g, &x, &y) == TT_OK && tt_exec_create(g, n, &e) == TT_OK &&
        tt_exec_set_input(e, x, data, n) == TT_OK) {
        best = 1e30;
        for (int r = 0; r <= reps && best > 0; r++) {
            double t0 = now_s();
            if (tt_exec_forward(e, n, false) != TT_OK) best = -1.0;
            double dt = now_s() - t0;
            if (r > 0 && best > 0 && dt < best) best = dt;
        }
    }
    if (best < 0) fprintf(stderr, "bench_qgemm: %s: %s\n", l->name, tt_last_error());
    tt_exec_free(e);
    tt_graph_free(g);
    free(data);
    return best;
}

static int bench_ops(int64_t batch, int reps)
{
    tt_qgemm_isa isa;
    if (tt_qgemm_isa_select(&isa) != TT_OK) {
        fprintf(stderr, "bench_qgemm: %s\n", tt_last_error());
        return 1;
    }
    printf("ops at batch %lld, int8 on %s: float layer vs int8 layer (best of %d)\n",
           (long long)batch, tt_qgemm_isa_name(isa), reps);
    double tf = 0, ti = 0;
    for (size_t i = 0; i < sizeof op_layers / sizeof op_layers[0]; i++) {
        double f = time_op_layer(&op_layers[i], false, batch, reps);
        double q = time_op_layer(&op_layers[i], true, batch, reps);
        if (f < 0 || q < 0) return 1;
        printf("  %-6s float %8.3f ms   int8 %8.3f ms   %.2fx\n", op_layers[i].name, 1e3 * f,
               1e3 * q, f / q);
        tf += f;
        ti += q;
    }
    printf("  total  float %8.3f ms   int8 %8.3f ms   %.2fx\n", 1e3 * tf, 1e3 * ti, tf / ti);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 1, reps = 5;
    int64_t batch = 64;
    bool ops = false;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layer") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc)
            only_isa = argv[++i];
        else if (!strcmp(argv[i], "--no-sgemm"))
            no_sgemm = true;
        else if (!strcmp(argv[i], "--ops"))
            ops = true;
        else if (!strcmp(argv[i], "--cpu-clock"))
            bench_clock = CLOCK_PROCESS_CPUTIME_ID;
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoll(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: bench_qgemm [--threads T] [--reps R] [--layer conv1|conv2|conv3|fc] "
                    "[--isa c|avx2|vnni] [--no-sgemm] [--cpu-clock]\n"
                    "       bench_qgemm --ops [--batch B] [--threads T] [--reps R] "
                    "[--cpu-clock]\n");
            return 2;
        }
    }
    if (threads < 1 || reps < 1 || batch < 1) {
        fprintf(stderr, "bench_qgemm: --threads, --reps and --batch must be at least 1\n");
        return 2;
    }
    if (bench_clock != CLOCK_MONOTONIC && threads != 1) {
        fprintf(stderr, "bench_qgemm: --cpu-clock needs --threads 1\n");
        return 2;
    }
    tt_set_num_threads(threads);
    if (ops) return bench_ops(batch, reps);
    printf("bench_qgemm: fashion_cnn GEMM shapes at batch 64, %d thread(s), best of %d\n", threads,
           reps);
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++)
        if (!only || !strcmp(only, layers[i].name)) bench_layer(&layers[i], threads, reps);
    return 0;
}
