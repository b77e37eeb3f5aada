/* Latency of one ONNX model on tinytrain's runtime, for bench/bench_runtime.py:
 *
 *   bench_runtime MODEL.onnx [--mode int8|float] [--batch N] [--threads N] [--runs N]
 *                 [--warmup N]
 *
 * Times `--runs` calls of tt_runtime_run on one fixed batch of uniform [0, 1) inputs (after
 * `--warmup` untimed calls) with a monotonic clock and prints one JSON line: median, best and
 * mean milliseconds per call, and the plan's node counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "tinytrain/runtime.h"
#include "tinytrain/tinytrain.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bench_args {
    const char *model;
    tt_rt_mode mode;
    int batch, threads, runs, warmup;
} bench_args;

static int parse(int argc, char **argv, bench_args *a)
{
    *a = (bench_args){.mode = TT_RT_INT8, .batch = 1, .threads = 2, .runs = 200, .warmup = 20};
    for (int i = 1; i < argc; i++) {
        int *slot = NULL;
        if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            a->mode = !strcmp(argv[++i], "float") ? TT_RT_FLOAT : TT_RT_INT8;
            continue;
        }
        if (!strcmp(argv[i], "--batch")) slot = &a->batch;
        if (!strcmp(argv[i], "--threads")) slot = &a->threads;
        if (!strcmp(argv[i], "--runs")) slot = &a->runs;
        if (!strcmp(argv[i], "--warmup")) slot = &a->warmup;
        if (slot && i + 1 < argc) {
            *slot = atoi(argv[++i]);
        } else if (argv[i][0] != '-' && !a->model) {
            a->model = argv[i];
        } else {
            fprintf(stderr, "bench_runtime: bad argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!a->model || a->batch < 1 || a->runs < 1 || a->warmup < 0) {
        fprintf(stderr, "usage: bench_runtime MODEL.onnx [--mode int8|float] [--batch N] "
                        "[--threads N] [--runs N] [--warmup N]\n");
        return 2;
    }
    return 0;
}

static int bench(const bench_args *a, tt_runtime *rt)
{
    int64_t nin = a->batch * tt_runtime_input_size(rt),
            nout = a->batch * tt_runtime_output_size(rt);
    float *x = malloc(sizeof(float) * (size_t)nin), *y = malloc(sizeof(float) * (size_t)nout);
    double *t = malloc(sizeof(double) * (size_t)a->runs);
    if (!x || !y || !t) return 1;
    tt_rng r;
    tt_rng_seed(&r, 0, 0);
    for (int64_t i = 0; i < nin; i++) x[i] = tt_rng_uniform(&r);
    double sum = 0;
    for (int i = 0; i < a->warmup + a->runs; i++) {
        double t0 = now_ms();
        if (tt_runtime_run(rt, x, a->batch, y) != TT_OK) {
            fprintf(stderr, "bench_runtime: %s\n", tt_last_error());
            return 1;
        }
        if (i >= a->warmup) sum += t[i - a->warmup] = now_ms() - t0;
    }
    qsort(t, (size_t)a->runs, sizeof *t, cmp_double);
    tt_runtime_stats st;
    tt_runtime_get_stats(rt, &st);
    printf("{\"model\": \"%s\", \"mode\": \"%s\", \"batch\": %d, \"threads\": %d, \"runs\": %d, "
           "\"median_ms\": %.6f, \"best_ms\": %.6f, \"mean_ms\": %.6f, \"nodes\": %d, "
           "\"int8_nodes\": %d}\n",
           a->model, a->mode == TT_RT_INT8 ? "int8" : "float", a->batch, a->threads, a->runs,
           t[a->runs / 2], t[0], sum / a->runs, st.n_nodes, st.n_int8_nodes);
    free(x);
    free(y);
    free(t);
    return 0;
}

int main(int argc, char **argv)
{
    bench_args a;
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    tt_set_num_threads(a.threads);
    tt_runtime_opts o = {.mode = a.mode, .max_batch = a.batch};
    tt_runtime *rt;
    if (tt_runtime_load(a.model, &o, &rt) != TT_OK) {
        fprintf(stderr, "bench_runtime: %s\n", tt_last_error());
        return 1;
    }
    rc = bench(&a, rt);
    tt_runtime_free(rt);
    return rc;
}
