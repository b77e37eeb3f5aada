/* tinytrain run MODEL.onnx --input X.npy -o Y.npy: one model on tinytrain's runtime, so any
 * other runtime can be compared on identical inputs (docs/runtime.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "tinytrain/npy.h"
#include "tinytrain/runtime.h"
#include "tinytrain/tinytrain.h"

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: tinytrain run MODEL.onnx --input X.npy -o Y.npy [--mode int8|float]\n"
            "                     [--batch N] [--threads N] [--verbose]\n\n"
            "Run an ONNX model (fp32 or QDQ int8) on tinytrain's own kernels (docs/runtime.md).\n"
            "X holds float32 samples in the model input's shape, with the batch first.\n\n"
            "options:\n"
            "  --input FILE   float32 .npy, [N, ...] matching the model's input\n"
            "  -o, --output FILE  the first output as float32 .npy [N, ...] (atomic)\n"
            "  --mode M       int8: QDQ patterns run on integer kernels (default);\n"
            "                 float: QuantizeLinear/DequantizeLinear as written, float math\n"
            "  --batch N      samples per executor run (default 64)\n"
            "  --threads N    threads (default: all cores)\n"
            "  --verbose      print what the plan made of the graph\n"
            "  -h, --help     this help\n");
}

typedef struct run_args {
    const char *model, *input, *output, *mode, *batch, *threads;
    bool verbose;
} run_args;

static int run_parse(int argc, char **argv, run_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            run_usage(stdout);
            return -1;
        }
        if (!strcmp(argv[i], "--verbose")) {
            a->verbose = true;
            continue;
        }
        if (!strcmp(argv[i], "--input")) slot = &a->input;
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) slot = &a->output;
        if (!strcmp(argv[i], "--mode")) slot = &a->mode;
        if (!strcmp(argv[i], "--batch")) slot = &a->batch;
        if (!strcmp(argv[i], "--threads")) slot = &a->threads;
        if (slot) {
            if (!(*slot = tt_cli_value("run", argc, argv, &i))) return TT_EXIT_USAGE;
        } else if (argv[i][0] == '-' || a->model) {
            fprintf(stderr,
                    "tinytrain run: unexpected argument '%s' (see 'tinytrain run --help')\n",
                    argv[i]);
            return TT_EXIT_USAGE;
        } else {
            a->model = argv[i];
        }
    }
    const char *missing = !a->model    ? "MODEL.onnx"
                          : !a->input  ? "--input X.npy"
                          : !a->output ? "-o Y.npy"
                                       : NULL;
    if (missing) {
        fprintf(stderr, "tinytrain run: missing %s (see 'tinytrain run --help')\n", missing);
        return TT_EXIT_USAGE;
    }
    return 0;
}

/* A positive integer flag value; 0 after printing the error. */
static long positive(const char *flag, const char *v)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 1 || n > 1 << 20) {
        fprintf(stderr, "tinytrain run: %s: must be an integer from 1 to %d, got '%s'\n", flag,
                1 << 20, v);
        return 0;
    }
    return n;
}

static int run_options(const run_args *a, tt_runtime_opts *o)
{
    if (a->mode && !strcmp(a->mode, "float"))
        o->mode = TT_RT_FLOAT;
    else if (a->mode && strcmp(a->mode, "int8")) {
        fprintf(stderr, "tinytrain run: --mode: must be int8 or float, got '%s'\n", a->mode);
        return TT_EXIT_USAGE;
    }
    if (a->batch && !(o->max_batch = positive("--batch", a->batch))) return TT_EXIT_USAGE;
    if (a->threads) {
        long t = positive("--threads", a->threads);
        if (!t) return TT_EXIT_USAGE;
        tt_set_num_threads((int)t);
    }
    return 0;
}

/* The input as [N, per-sample...] float32 matching the model; NULL after printing why. */
static tt_tensor *load_input(const char *path, const tt_runtime *rt)
{
    tt_tensor *x = NULL;
    if (tt_npy_load(path, &x) != TT_OK) {
        tt_cli_error("run", path, true);
        return NULL;
    }
    int64_t n = x->shape.ndim ? x->shape.dims[0] : 0;
    char want[96], got[96];
    tt_shape_str(tt_runtime_input_shape(rt), want, sizeof want);
    tt_shape_str(&x->shape, got, sizeof got);
    if (x->dtype != TT_F32 || x->shape.ndim < 1 ||
        n * tt_runtime_input_size(rt) != tt_tensor_numel(x)) {
        fprintf(stderr,
                "tinytrain run: %s: %s %s does not match the model input %s (-1 = batch); give "
                "float32 [N, ...]\n",
                path, tt_dtype_name(x->dtype), got, want);
        tt_tensor_free(x);
        return NULL;
    }
    return x;
}

static void print_plan(const char *path, const tt_runtime *rt)
{
    tt_runtime_stats st;
    tt_runtime_get_stats(rt, &st);
    fprintf(stderr,
            "%s: %d nodes: %d integer kernels, %d float Conv/Gemm/MatMul, %d Q/DQ run in float\n",
            path, st.n_nodes, st.n_int8_nodes, st.n_float_compute, st.n_qdq_float);
}

static int run_model(const run_args *a, tt_runtime *rt)
{
    tt_tensor *x = load_input(a->input, rt), *y = NULL;
    if (!x) return TT_EXIT_FAIL;
    int64_t n = x->shape.dims[0];
    const tt_shape *os = tt_runtime_output_shape(rt);
    int64_t dims[TT_MAX_DIMS];
    memcpy(dims, os->dims, sizeof dims);
    dims[0] = n;
    int rc = TT_EXIT_FAIL;
    if (tt_tensor_alloc(&y, TT_F32, os->ndim, dims) != TT_OK ||
        tt_runtime_run(rt, tt_tensor_f32(x), n, tt_tensor_f32(y)) != TT_OK)
        tt_cli_error("run", a->model, true);
    else if (tt_npy_save(a->output, y) != TT_OK)
        tt_cli_error("run", a->output, true);
    else
        rc = TT_EXIT_OK;
    tt_tensor_free(x);
    tt_tensor_free(y);
    return rc;
}

int tt_cmd_run(int argc, char **argv)
{
    run_args a = {0};
    int rc = run_parse(argc, argv, &a);
    if (rc) return rc < 0 ? TT_EXIT_OK : rc;
    tt_runtime_opts o = {0};
    if ((rc = run_options(&a, &o))) return rc;
    tt_runtime *rt = NULL;
    if (tt_runtime_load(a.model, &o, &rt) != TT_OK) {
        tt_cli_error("run", a.model, true);
        return TT_EXIT_FAIL;
    }
    if (a.verbose) print_plan(a.model, rt);
    rc = run_model(&a, rt);
    tt_runtime_free(rt);
    return rc;
}
