/* Train a 784-256-128-10 MLP on Fashion-MNIST through the public C API, with no
 * CLI or config: build the graph with layer builders, run forward/backward with
 * the executor, step SGD, and report test accuracy. Usage: tt_train_mlp [--data
 * DIR] [--epochs N] [--batch B] [--lr LR]
 * [--threads T] [--seed S] */
#include "tinytrain/idx.h"
#include "tinytrain/tinytrain.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

typedef struct options {
    const char *data;
    int epochs, batch, threads;
    long long train_limit, test_limit; /* use only the first N images (0: all) */
    float lr;
    double min_accuracy; /* exit 3 if the final test accuracy is below this */
    unsigned long long seed;
} options;

typedef struct split {
    tt_tensor *images, *labels;
} split;

static int fail(const char *what)
{
    fprintf(stderr, "tt_train_mlp: %s: %s\n", what, tt_last_error());
    return 1;
}

static int parse_args(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: tt_train_mlp [--data DIR] [--epochs N] [--batch B] [--lr LR] "
                   "[--threads T] [--seed S] [--train-limit N] [--test-limit N]\n"
                   "       [--min-accuracy PCT]\n"
                   "Trains a 784-256-128-10 MLP on Fashion-MNIST (IDX .gz files in DIR, "
                   "default "
                   "%s from the Debian package dataset-fashion-mnist).\n",
                   DEFAULT_DATA);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "tt_train_mlp: %s needs a value (see --help)\n", a);
            return 2;
        }
        char *end = NULL;
        if (!strcmp(a, "--data"))
            o->data = v;
        else if (!strcmp(a, "--epochs"))
            o->epochs = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--batch"))
            o->batch = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--threads"))
            o->threads = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--lr"))
            o->lr = strtof(v, &end);
        else if (!strcmp(a, "--train-limit"))
            o->train_limit = strtoll(v, &end, 10);
        else if (!strcmp(a, "--min-accuracy"))
            o->min_accuracy = strtod(v, &end);
        else if (!strcmp(a, "--test-limit"))
            o->test_limit = strtoll(v, &end, 10);
        else if (!strcmp(a, "--seed"))
            o->seed = strtoull(v, &end, 10);
        else {
            fprintf(stderr, "tt_train_mlp: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        if (end && *end) {
            fprintf(stderr, "tt_train_mlp: %s: '%s' is not a number\n", a, v);
            return 2;
        }
        i++;
    }
    if (o->epochs < 1 || o->batch < 1 || o->batch > 65536 || !(o->lr > 0) || o->train_limit < 0 ||
        o->test_limit < 0) {
        fprintf(stderr, "tt_train_mlp: need --epochs >= 1, 1 <= --batch <= 65536, --lr > 0, "
                        "--train-limit/--test-limit >= 0\n");
        return 2;
    }
    return 0;
}

static int load_split(const char *dir, const char *prefix, split *s)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    if (tt_idx_load(path, &s->images) != TT_OK) {
        fprintf(stderr,
                "tt_train_mlp: %s\n(install the Debian package dataset-fashion-mnist, "
                "or pass --data DIR)\n",
                tt_last_error());
        return 1;
    }
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    if (tt_idx_load(path, &s->labels) != TT_OK) return fail("labels");
    if (s->images->shape.dims[0] != s->labels->shape.dims[0] || s->images->shape.ndim != 3) {
        fprintf(stderr, "tt_train_mlp: %s: %lld images but %lld labels\n", dir,
                (long long)s->images->shape.dims[0], (long long)s->labels->shape.dims[0]);
        return 1;
    }
    return 0;
}

/* Fashion-MNIST training-set pixel statistics, as commonly used for
 * normalisation. */
#define PIX_MEAN 0.2860f
#define PIX_STD  0.3530f

static void fill_batch(const split *s, const uint32_t *idx, int64_t n, float *x, int32_t *y)
{
    const uint8_t *img = s->images->data, *lab = s->labels->data;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *src = img + (int64_t)idx[i] * 784;
        for (int k = 0; k < 784; k++) x[i * 784 + k] = (src[k] / 255.0f - PIX_MEAN) / PIX_STD;
        y[i] = lab[idx[i]];
    }
}

typedef struct model {
    tt_graph *g;
    tt_exec *e;
    int x, y, logits, loss;
} model;

static int build(model *m, const options *o)
{
    tt_rng rng;
    tt_rng_seed(&rng, o->seed, 0);
    int64_t xd[2] = {TT_DIM_BATCH, 784}, yd[1] = {TT_DIM_BATCH};
    int h1, r1, h2, r2;
    if (tt_graph_create(&m->g) || tt_graph_add_input(m->g, "x", TT_F32, 2, xd, &m->x) ||
        tt_graph_add_input(m->g, "label", TT_I32, 1, yd, &m->y) ||
        tt_layer_linear(m->g, &rng, "fc1", m->x, 256, true, &h1) ||
        tt_layer_simple(m->g, TT_OP_RELU, "relu1", h1, &r1) ||
        tt_layer_linear(m->g, &rng, "fc2", r1, 128, true, &h2) ||
        tt_layer_simple(m->g, TT_OP_RELU, "relu2", h2, &r2) ||
        tt_layer_linear(m->g, &rng, "fc3", r2, 10, true, &m->logits))
        return fail("building the model");
    int ins[2] = {m->logits, m->y};
    if (tt_graph_add_node(m->g, TT_OP_SOFTMAX_CE, "loss", 2, ins, 0, NULL, &m->loss) ||
        tt_exec_create(m->g, o->batch, &m->e))
        return fail("planning the model");
    tt_exec_seed(m->e, o->seed);
    return 0;
}

static double evaluate(model *m, const split *s, int64_t n, int batch, float *x, int32_t *y,
                       uint32_t *idx)
{
    int64_t correct = 0;
    for (int64_t start = 0; start < n; start += batch) {
        int64_t b = n - start < batch ? n - start : batch;
        for (int64_t i = 0; i < b; i++) idx[i] = (uint32_t)(start + i);
        fill_batch(s, idx, b, x, y);
        if (tt_exec_set_input(m->e, m->x, x, b) || tt_exec_set_input(m->e, m->y, y, b) ||
            tt_exec_forward(m->e, b, false))
            return -1.0;
        const float *z = tt_tensor_f32(tt_exec_value(m->e, m->logits));
        for (int64_t i = 0; i < b; i++) {
            int best = 0;
            for (int k = 1; k < 10; k++)
                if (z[i * 10 + k] > z[i * 10 + best]) best = k;
            correct += best == y[i];
        }
    }
    return 100.0 * (double)correct / (double)n;
}

static int train(model *m, const options *o, const split *tr, const split *te)
{
    tt_optim_config oc = tt_optim_defaults(TT_OPTIM_SGD);
    oc.momentum = 0.9f;
    oc.weight_decay = 5e-4f;
    tt_optim *opt;
    if (tt_optim_create(&oc, m->e, &opt)) return fail("optimizer");
    int64_t n = tr->labels->shape.dims[0];
    if (o->train_limit > 0 && o->train_limit < n) n = o->train_limit;
    int64_t steps_per_epoch = (n + o->batch - 1) / o->batch;
    tt_schedule sched = {
        .kind = TT_SCHED_COSINE, .base_lr = o->lr, .t_max = steps_per_epoch * o->epochs};
    float *x = malloc((size_t)o->batch * 784 * sizeof *x);
    int32_t *y = malloc((size_t)o->batch * sizeof *y);
    uint32_t *perm = malloc((size_t)n * sizeof *perm), *idx = malloc((size_t)o->batch * 4);
    tt_rng rng;
    tt_rng_seed(&rng, o->seed, 1);
    int rc = 0;
    for (int64_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    for (int ep = 0; ep < o->epochs && !rc; ep++) {
        struct timespec w0, w1;
        clock_gettime(CLOCK_MONOTONIC, &w0);
        for (int64_t i = n - 1; i > 0; i--) {
            uint32_t j = tt_rng_below(&rng, (uint32_t)(i + 1)), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        double loss_sum = 0.0;
        for (int64_t st = 0; st < steps_per_epoch; st++) {
            int64_t start = st * o->batch, b = n - start < o->batch ? n - start : o->batch;
            fill_batch(tr, perm + start, b, x, y);
            float lr = tt_schedule_lr(&sched, (int64_t)ep * steps_per_epoch + st);
            if (tt_exec_set_input(m->e, m->x, x, b) || tt_exec_set_input(m->e, m->y, y, b) ||
                tt_exec_forward(m->e, b, true) || tt_exec_backward(m->e, m->loss) ||
                tt_optim_step(opt, lr)) {
                rc = fail("training step");
                break;
            }
            loss_sum += tt_tensor_f32(tt_exec_value(m->e, m->loss))[0];
        }
        clock_gettime(CLOCK_MONOTONIC, &w1);
        double secs = (double)(w1.tv_sec - w0.tv_sec) + 1e-9 * (double)(w1.tv_nsec - w0.tv_nsec);
        int64_t n_test = te->labels->shape.dims[0];
        if (o->test_limit > 0 && o->test_limit < n_test) n_test = o->test_limit;
        double acc = rc ? -1 : evaluate(m, te, n_test, o->batch, x, y, idx);
        if (!rc)
            printf("epoch %d/%d  loss %.4f  test acc %.2f%%  %.1f s (%.0f samples/s)\n", ep + 1,
                   o->epochs, loss_sum / (double)steps_per_epoch, acc, secs, (double)n / secs);
        fflush(stdout);
        if (!rc && ep == o->epochs - 1 && acc < o->min_accuracy) {
            fprintf(stderr,
                    "tt_train_mlp: final test accuracy %.2f%% is below --min-accuracy %.2f\n", acc,
                    o->min_accuracy);
            rc = 3;
        }
    }
    free(x), free(y), free(perm), free(idx);
    tt_optim_free(opt);
    return rc;
}

int main(int argc, char **argv)
{
    options o = {.data = DEFAULT_DATA, .epochs = 10, .batch = 128, .lr = 0.05f, .threads = 0};
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    tt_set_num_threads(o.threads);
    split tr = {0}, te = {0};
    model m = {0};
    if ((rc = load_split(o.data, "train", &tr)) || (rc = load_split(o.data, "t10k", &te)) ||
        (rc = build(&m, &o)))
        goto done;
    printf("tinytrain %s: MLP 784-256-128-10 on %lld Fashion-MNIST images, %d "
           "threads, "
           "batch %d, %d epochs\n",
           tt_version(), (long long)tr.labels->shape.dims[0], tt_get_num_threads(), o.batch,
           o.epochs);
    rc = train(&m, &o, &tr, &te);
done:
    tt_exec_free(m.e);
    tt_graph_free(m.g);
    tt_tensor_free(tr.images), tt_tensor_free(tr.labels);
    tt_tensor_free(te.images), tt_tensor_free(te.labels);
    return rc;
}
