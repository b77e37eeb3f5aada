/* Checkpoints: round trips of parameters (BN running stats included), optimiser state (SGD
 * momentum, AdamW) and meta; training resumed from a checkpoint is bit-identical to an
 * uninterrupted run; the same state gives the same bytes; every model / optimiser mismatch is
 * refused with a message naming what differs and leaves the graph and optimiser untouched;
 * corrupt, truncated, hand-crafted hostile and bit-flipped files fail cleanly (run under
 * ASan/UBSan); failed saves leave no temporary and never damage an existing checkpoint.
 *
 * Comparisons are exact (memcmp): checkpoints store float32 bits, and resuming must reproduce
 * the uninterrupted run bit for bit, so there is no tolerance to state. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "testutil.h"
#include "tinytrain/checkpoint.h"

/* The hand-crafted hostile files are written with HDF5 directly. tinytrain links HDF5 into its
 * static library, so the symbols are on this test's link line; the header is found on the
 * default path or Debian's serial-flavour directory. */
#if defined(__has_include)
#if __has_include(<hdf5.h>)
#include <hdf5.h>
#define TT_TEST_HDF5 1
#elif __has_include(<hdf5/serial/hdf5.h>)
#include <hdf5/serial/hdf5.h>
#define TT_TEST_HDF5 1
#endif
#endif

/* HDF5 1.10 itself leaks a little on some corrupt files (objects its error paths never free).
 * Under LeakSanitizer the bit-flip test marks what it allocates as not-a-leak, after emptying
 * HDF5's free lists so the blocks it reuses are its own. */
#if defined(__SANITIZE_ADDRESS__)
#define TT_TEST_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TT_TEST_LSAN 1
#endif
#endif
#ifdef TT_TEST_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define N_DATA 32
#define BATCH  8
#define N_IN   4
#define N_CLS  3

/* ---- files ------------------------------------------------------------------------------ */

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

/* Every file these tests read back is a checkpoint: never empty. */
static unsigned char *read_all(const char *path, size_t *len)
{
    unsigned char *b = tt_test_read_file(path, len);
    assert_true(*len > 0);
    return b;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void assert_same_file(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *x = read_all(a, &na), *y = read_all(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(x, y, na);
    free(x);
    free(y);
}

/* Expect status want and a message that names path and contains needle (if not NULL). */
static void expect_err(tt_status got, tt_status want, const char *path, const char *needle)
{
    const char *msg = tt_last_error();
    if (got != want || (path && !strstr(msg, path)) || (needle && !strstr(msg, needle)))
        print_error("got %s '%s', want %s naming '%s' and containing '%s'\n", tt_status_str(got),
                    msg, tt_status_str(want), path ? path : "", needle ? needle : "");
    assert_int_equal(got, want);
    if (path) assert_non_null(strstr(msg, path));
    if (needle) assert_non_null(strstr(msg, needle));
}

/* ---- a tiny trainer --------------------------------------------------------------------- */

/* fc1 -> bn1 -> relu -> dropout -> fc2 -> softmax CE: weights, BN running stats (untrainable
 * params that change in training forwards), and a dropout mask drawn from the executor RNG. */
typedef struct model_opts {
    int64_t hidden;
    bool fc2_bias;
    bool extra_param; /* an untrainable "extra.scale" the checkpoint does not have */
} model_opts;

static const model_opts DEFAULT_MODEL = {.hidden = 6, .fc2_bias = true};

typedef struct model {
    tt_graph *g;
    tt_exec *e;
    tt_optim *o;
    int x, y, loss;
    tt_rng shuffle;
} model;

static float data_x[N_DATA * N_IN];
static int32_t data_y[N_DATA];

static void make_data(void)
{
    tt_rng r;
    tt_rng_seed(&r, 99, 5);
    tt_test_fill_uniform(data_x, N_DATA * N_IN, -2.0f, 2.0f, &r);
    for (int i = 0; i < N_DATA; i++) data_y[i] = (int32_t)tt_rng_below(&r, N_CLS);
}

/* init_seed drives the weights, the executor's dropout RNG and the shuffle RNG, so two models
 * built with different seeds differ in everything a checkpoint must restore. oc may be NULL. */
static void model_build(model *m, const tt_optim_config *oc, uint64_t init_seed,
                        const model_opts *mo)
{
    memset(m, 0, sizeof *m);
    make_data();
    TT_ASSERT_OK(tt_graph_create(&m->g));
    int64_t xd[2] = {TT_DIM_BATCH, N_IN}, yd[1] = {TT_DIM_BATCH};
    TT_ASSERT_OK(tt_graph_add_input(m->g, "x", TT_F32, 2, xd, &m->x));
    TT_ASSERT_OK(tt_graph_add_input(m->g, "y", TT_I32, 1, yd, &m->y));
    tt_rng init;
    tt_rng_seed(&init, init_seed, 1);
    int h;
    TT_ASSERT_OK(tt_layer_linear(m->g, &init, "fc1", m->x, mo->hidden, true, &h));
    TT_ASSERT_OK(tt_layer_batchnorm(m->g, "bn1", h, 1e-5f, 0.1f, &h));
    TT_ASSERT_OK(tt_layer_simple(m->g, TT_OP_RELU, "relu1", h, &h));
    TT_ASSERT_OK(tt_layer_dropout(m->g, "drop1", h, 0.25f, &h));
    TT_ASSERT_OK(tt_layer_linear(m->g, &init, "fc2", h, N_CLS, mo->fc2_bias, &h));
    if (mo->extra_param) {
        int64_t d = 3;
        int id;
        TT_ASSERT_OK(tt_graph_add_param(m->g, "extra.scale", 1, &d, false, &id));
    }
    int in[2] = {h, m->y};
    TT_ASSERT_OK(tt_graph_add_node(m->g, TT_OP_SOFTMAX_CE, "loss", 2, in, 0, NULL, &m->loss));
    TT_ASSERT_OK(tt_exec_create(m->g, BATCH, &m->e));
    tt_exec_seed(m->e, init_seed + 100);
    if (oc) TT_ASSERT_OK(tt_optim_create(oc, m->e, &m->o));
    tt_rng_seed(&m->shuffle, init_seed + 200, 3);
}

static void model_free(model *m)
{
    tt_optim_free(m->o);
    tt_exec_free(m->e);
    tt_graph_free(m->g);
}

static void train_steps(model *m, int n)
{
    float xb[BATCH * N_IN];
    int32_t yb[BATCH];
    for (int s = 0; s < n; s++) {
        for (int i = 0; i < BATCH; i++) {
            uint32_t k = tt_rng_below(&m->shuffle, N_DATA);
            memcpy(xb + i * N_IN, data_x + k * N_IN, sizeof(float) * N_IN);
            yb[i] = data_y[k];
        }
        TT_ASSERT_OK(tt_exec_set_input(m->e, m->x, xb, BATCH));
        TT_ASSERT_OK(tt_exec_set_input(m->e, m->y, yb, BATCH));
        TT_ASSERT_OK(tt_exec_forward(m->e, BATCH, true));
        TT_ASSERT_OK(tt_exec_backward(m->e, m->loss));
        TT_ASSERT_OK(tt_optim_step(m->o, 0.05f));
    }
}

/* Every parameter's bytes, in graph order (caller frees). */
static float *params_copy(const tt_graph *g, size_t *bytes)
{
    size_t n = 0;
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i].kind == TT_VALUE_PARAM) n += (size_t)tt_tensor_numel(g->values[i].data);
    float *out = malloc(n * sizeof(float) + 1), *p = out;
    assert_non_null(out);
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i].kind == TT_VALUE_PARAM) {
            size_t k = (size_t)tt_tensor_numel(g->values[i].data);
            memcpy(p, g->values[i].data->data, k * sizeof(float));
            p += k;
        }
    *bytes = n * sizeof(float);
    return out;
}

static void assert_same_params(const tt_graph *a, const tt_graph *b)
{
    size_t na, nb;
    float *x = params_copy(a, &na), *y = params_copy(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(x, y, na);
    free(x);
    free(y);
}

static void assert_same_optim(const tt_optim *a, const tt_optim *b)
{
    assert_int_equal(tt_optim_get_kind(a), tt_optim_get_kind(b));
    assert_int_equal(tt_optim_steps(a), tt_optim_steps(b));
    assert_int_equal(tt_optim_state_count(a), tt_optim_state_count(b));
    for (int i = 0; i < tt_optim_state_count(a); i++) {
        const char *na, *nb;
        float *da, *db;
        int64_t ka, kb;
        TT_ASSERT_OK(tt_optim_state_get(a, i, &na, &da, &ka));
        TT_ASSERT_OK(tt_optim_state_get(b, i, &nb, &db, &kb));
        assert_string_equal(na, nb);
        assert_int_equal(ka, kb);
        assert_memory_equal(da, db, (size_t)ka * sizeof(float));
    }
}

static tt_optim_config sgd_momentum(void)
{
    tt_optim_config c = tt_optim_defaults(TT_OPTIM_SGD);
    c.momentum = 0.9f;
    c.weight_decay = 5e-4f;
    return c;
}

static tt_optim_config adamw(void)
{
    return tt_optim_defaults(TT_OPTIM_ADAMW);
}

/* The meta a trainer saves after `step` steps: its shuffle RNG and the executor's dropout RNG. */
static void trainer_meta(model *m, tt_checkpoint_meta *meta, int64_t step)
{
    memset(meta, 0, sizeof *meta);
    meta->epoch = 2;
    meta->step = step;
    meta->best = 0.8125;
    TT_ASSERT_OK(tt_checkpoint_meta_add_rng(meta, "shuffle", &m->shuffle));
    TT_ASSERT_OK(tt_checkpoint_meta_add_rng(meta, "dropout", tt_exec_rng(m->e)));
}

static void save_trained(const char *path, const tt_optim_config *oc, model *m)
{
    model_build(m, oc, 1, &DEFAULT_MODEL);
    train_steps(m, 3);
    tt_checkpoint_meta meta;
    trainer_meta(m, &meta, 3);
    TT_ASSERT_OK(tt_checkpoint_save(path, m->g, m->o, &meta));
}

/* ---- optimiser state accessors ---------------------------------------------------------- */

static void optim_state_accessors(void **state)
{
    (void)state;
    tt_optim_config cfgs[3] = {sgd_momentum(), adamw(), tt_optim_defaults(TT_OPTIM_SGD)};
    /* 6 trainable params (fc1, bn1, fc2: weight and bias) times the buffers per param. */
    const int want[3] = {6, 12, 0};
    for (int c = 0; c < 3; c++) {
        model m;
        model_build(&m, &cfgs[c], 1, &DEFAULT_MODEL);
        assert_int_equal(tt_optim_state_count(m.o), want[c]);
        const char *name;
        float *data;
        int64_t numel;
        if (want[c]) {
            TT_ASSERT_OK(tt_optim_state_get(m.o, 0, &name, &data, &numel));
            assert_string_equal(name, c == 0 ? "fc1.weight.momentum_buffer" : "fc1.weight.exp_avg");
            assert_int_equal(numel, 24);
            assert_non_null(data);
        }
        if (c == 1) {
            TT_ASSERT_OK(tt_optim_state_get(m.o, 1, &name, NULL, &numel));
            assert_string_equal(name, "fc1.weight.exp_avg_sq");
            TT_ASSERT_OK(tt_optim_state_get(m.o, 11, &name, NULL, &numel));
            assert_string_equal(name, "fc2.bias.exp_avg_sq");
            assert_int_equal(numel, N_CLS);
        }
        assert_int_equal(tt_optim_state_get(m.o, want[c], &name, &data, &numel),
                         TT_ERR_INVALID_ARG);
        assert_int_equal(tt_optim_state_get(m.o, -1, &name, &data, &numel), TT_ERR_INVALID_ARG);
        assert_int_equal(tt_optim_set_steps(m.o, -1), TT_ERR_INVALID_ARG);
        TT_ASSERT_OK(tt_optim_set_steps(m.o, 41));
        assert_int_equal(tt_optim_steps(m.o), 41);
        assert_int_equal(tt_optim_get_kind(m.o), cfgs[c].kind);
        model_free(&m);
    }
}

/* ---- round trips ------------------------------------------------------------------------ */

static void round_trip_case(const tt_optim_config *oc)
{
    char dir[64], path[128];
    assert_non_null(tt_test_tmpdir_make("tt_ckpt", dir, sizeof dir));
    snprintf(path, sizeof path, "%s/ck.h5", dir);
    model a, b;
    model_build(&a, oc, 1, &DEFAULT_MODEL);
    train_steps(&a, 3);
    /* The BN buffers really moved, so copying them is tested, not assumed. */
    const float *rm = tt_graph_param_data(a.g, tt_graph_find_value(a.g, "bn1.running_mean"));
    const float *rv = tt_graph_param_data(a.g, tt_graph_find_value(a.g, "bn1.running_var"));
    assert_true(rm[0] != 0.0f && rv[0] != 1.0f);

    tt_checkpoint_meta meta;
    trainer_meta(&a, &meta, 3);
    static const char cfg_text[] = "name: ckpt\nseed: 1\nmodel:\n  input: [4]\n";
    meta.config_text = (char *)cfg_text;
    meta.extra_json = (char *)"{\"git\": \"abc123\", \"note\": \"\\u00e9\"}";
    TT_ASSERT_OK(tt_checkpoint_save(path, a.g, a.o, &meta));
    assert_true(exists(path));
    assert_int_equal(count_entries(dir), 1); /* no temporary left */

    model_build(&b, oc, 2, &DEFAULT_MODEL);
    tt_checkpoint_meta got;
    memset(&got, 0x5a, sizeof got); /* load overwrites every field */
    TT_ASSERT_OK(tt_checkpoint_load(path, b.g, b.o, &got));
    assert_same_params(a.g, b.g);
    assert_same_optim(a.o, b.o);
    assert_int_equal(tt_optim_steps(b.o), 3);
    assert_int_equal(got.epoch, 2);
    assert_int_equal(got.step, 3);
    assert_true(got.best == 0.8125);
    assert_string_equal(got.version, tt_version());
    assert_string_equal(got.config_text, cfg_text);
    assert_string_equal(got.extra_json, meta.extra_json);
    assert_int_equal(got.n_rngs, 2);
    /* Sorted by name. */
    assert_string_equal(got.rngs[0].name, "dropout");
    assert_string_equal(got.rngs[1].name, "shuffle");
    const tt_rng *sh = tt_checkpoint_meta_rng(&got, "shuffle");
    const tt_rng *dr = tt_checkpoint_meta_rng(&got, "dropout");
    assert_non_null(sh);
    assert_non_null(dr);
    assert_true(sh->state == a.shuffle.state && sh->inc == a.shuffle.inc);
    assert_true(dr->state == tt_exec_rng(a.e)->state && dr->inc == tt_exec_rng(a.e)->inc);
    assert_null(tt_checkpoint_meta_rng(&got, "absent"));

    /* The meta alone, without a graph, is the same. */
    tt_checkpoint_meta only;
    TT_ASSERT_OK(tt_checkpoint_read_meta(path, &only));
    assert_string_equal(only.config_text, cfg_text);
    assert_int_equal(only.step, 3);
    assert_int_equal(only.n_rngs, 2);
    assert_memory_equal(only.rngs, got.rngs, sizeof got.rngs[0] * 2);
    tt_checkpoint_meta_free(&only);
    tt_checkpoint_meta_free(&got);
    assert_null(got.config_text);
    tt_checkpoint_meta_free(&got); /* twice is harmless */

    /* Weights only: no optimiser and no meta wanted. */
    model c;
    model_build(&c, NULL, 3, &DEFAULT_MODEL);
    TT_ASSERT_OK(tt_checkpoint_load(path, c.g, NULL, NULL));
    assert_same_params(a.g, c.g);
    model_free(&c);

    model_free(&a);
    model_free(&b);
    tt_test_tmpdir_remove(dir);
}

static void round_trip_sgd_momentum(void **state)
{
    (void)state;
    tt_optim_config c = sgd_momentum();
    round_trip_case(&c);
}

static void round_trip_adamw(void **state)
{
    (void)state;
    tt_optim_config c = adamw();
    round_trip_case(&c);
}

/* Saved with no optimiser and no meta: defaults come back (best NaN = "none yet"). */
static void round_trip_minimal(void **state)
{
    (void)state;
    char dir[64], path[128];
    assert_non_null(tt_test_tmpdir_make("tt_ckpt", dir, sizeof dir));
    snprintf(path, sizeof path, "%s/w.h5", dir);
    model a, b;
    model_build(&a, NULL, 1, &DEFAULT_MODEL);
    TT_ASSERT_OK(tt_checkpoint_save(path, a.g, NULL, NULL));
    tt_checkpoint_meta m;
    TT_ASSERT_OK(tt_checkpoint_read_meta(path, &m));
    assert_int_equal(m.epoch, 0);
    assert_int_equal(m.step, 0);
    assert_true(isnan(m.best));
    assert_string_equal(m.version, tt_version());
    assert_int_equal(m.n_rngs, 0);
    assert_null(m.config_text);
    assert_null(m.extra_json);
    model_build(&b, NULL, 2, &DEFAULT_MODEL);
    TT_ASSERT_OK(tt_checkpoint_load(path, b.g, NULL, &m));
    assert_same_params(a.g, b.g);
    /* An empty config text is stored and comes back as "", not as absent. */
    tt_checkpoint_meta e = {.best = 1.0, .config_text = (char *)""};
    snprintf(e.version, sizeof e.version, "9.9.9-test");
    TT_ASSERT_OK(tt_checkpoint_save(path, a.g, NULL, &e));
    TT_ASSERT_OK(tt_checkpoint_read_meta(path, &m));
    assert_non_null(m.config_text);
    assert_string_equal(m.config_text, "");
    assert_string_equal(m.version, "9.9.9-test");
    tt_checkpoint_meta_free(&m);
    model_free(&a);
    model_free(&b);
    tt_test_tmpdir_remove(dir);
}

/* ---- resume is bit-identical ------------------------------------------------------------ */

static void resume_case(const tt_optim_config *oc)
{
    char dir[64], path[128];
    assert_non_null(tt_test_tmpdir_make("tt_ckpt", dir, sizeof dir));
    snprintf(path, sizeof path, "%s/ck.h5", dir);
    model a, b, c;
    save_trained(path, oc, &a);
    train_steps(&a, 3); /* the uninterrupted run */

    model_build(&b, oc, 2, &DEFAULT_MODEL); /* different init, dropout and shuffle seeds */
    tt_checkpoint_meta m;
    TT_ASSERT_OK(tt_checkpoint_load(path, b.g, b.o, &m));
    b.shuffle = *tt_checkpoint_meta_rng(&m, "shuffle");
    *tt_exec_rng(b.e) = *tt_checkpoint_meta_rng(&m, "dropout");
    assert_int_equal(m.step, 3);
    assert_int_equal(tt_optim_steps(b.o), 3);
    train_steps(&b, 3);
    assert_same_params(a.g, b.g);
    assert_same_optim(a.o, b.o);

    /* Control: the same resume without the executor's RNG draws other dropout masks and
     * diverges, so the comparison above really depends on the RNG being saved. */
    model_build(&c, oc, 2, &DEFAULT_MODEL);
    TT_ASSERT_OK(tt_checkpoint_load(path, c.g, c.o, &m));
    c.shuffle = *tt_checkpoint_meta_rng(&m, "shuffle");
    train_steps(&c, 3);
    size_t na, nc;
    float *pa = params_copy(a.g, &na), *pc = params_copy(c.g, &nc);
    assert_int_equal(na, nc);
    assert_true(memcmp(pa, pc, na) != 0);
    free(pa);
    free(pc);

    tt_checkpoint_meta_free(&m);
    model_free(&a);
    model_free(&b);
    model_free(&c);
    tt_test_tmpdir_remove(dir);
}

static void resume_sgd_momentum_bit_identical(void **state)
{
    (void)state;
    tt_optim_config c = sgd_momentum();
    resume_case(&c);
}

static void resume_adamw_bit_identical(void **state)
{
    (void)state;
    tt_optim_config c = adamw();
    resume_case(&c);
}

/* ---- determinism ------------------------------------------------------------------------ */

static void same_state_same_bytes(void **state)
{
    (void)state;
    char dir[64], p1[128], p2[128], p3[128];
    assert_non_null(tt_test_tmpdir_make("tt_ckpt", dir, sizeof dir));
    snprintf(p1, sizeof p1, "%s/a.h5", dir);
    snprintf(p2, sizeof p2, "%s/b.h5", dir);
    snprintf(p3, sizeof p3, "%s/c.h5", dir);
    tt_optim_config oc = adamw();
    model a, b;
    save_trained(p1, &oc, &a);
    /* HDF5 object timestamps have one-second resolution: wait past a second boundary so any
     * stored time would differ between the two files. */
    struct timespec ts = {1, 100000000};
    nanosleep(&ts, NULL);
    tt_checkpoint_meta meta;
    trainer_meta(&a, &meta, 3);
    TT_ASSERT_OK(tt_checkpoint_save(p2, a.g, a.o, &meta));
    assert_same_file(p1, p2);
    /* Overwriting in place gives the same bytes again. */
    TT_ASSERT_OK(tt_checkpoint_save(p2, a.g, a.o, &meta));
    assert_same_file(p1, p2);
    /* A different process state holding the same values (loaded into fresh objects) too. */
    model_build(&b, &oc, 7, &DEFAULT_MODEL);
    tt_checkpoint_meta m;
    TT_ASSERT_OK(tt_checkpoint_load(p1, b.g, b.o, &m));
    TT_ASSERT_OK(tt_checkpoint_save(p3, b.g, b.o, &m));
    assert_same_file(p1, p3);
    tt_checkpoint_meta_free(&m);
    /* And a different state does not (the test can tell files apart). */
    train_steps(&b, 1);
    TT_ASSERT_OK(tt_checkpoint_save(p3, b.g, b.o, &meta));
    size_t n1, n3;
    unsigned char *x = read_all(p1, &n1), *y = read_all(p3, &n3);
    assert_true(n1 != n3 || memcmp(x, y, n1) != 0);
    free(x);
    free(y);
    model_free(&a);
    model_free(&b);
    tt_test_tmpdir_remove(dir);
}

/* ---- mismatches ------------------------------------------------------------------------- */

/* Load path into m and expect failure; m's parameters and optimiser must not change. */
static void expect_load_fails(const char *path, model *m, tt_status want, const char *n1,
                              const char *n2, const char *n3)
{
    size_t nb, na;
    float *before = params_copy(m->g, &nb);
    int64_t steps = m->o ? tt_optim_steps(m->o) : 0;
    tt_checkpoint_meta meta = {.epoch = -5};
    tt_status s = tt_checkpoint_load(path, m->g, m->o, &meta);
    expect_err(s, want, path, n1);
    if (n2) assert_non_null(strstr(tt_last_error(), n2));
    if (n3) assert_non_null(strstr(tt_last_error(), n3));
    assert_int_equal(meta.epoch, -5);
    float *after = params_copy(m->g, &na);
    assert_memory_equal(before, after, nb);
    if (m->o) assert_int_equal(tt_optim_steps(m->o), steps);
    free(before);
    free(after);
}

static void model_and_optim_mismatches(void **state)
{
    (void)state;
    char dir[64], path[128], bare[128];
    assert_non_null(tt_test_tmpdir_make("tt_ckpt", dir, sizeof dir));
    snprintf(path, sizeof path, "%s/ck.h5", dir);
    snprintf(bare, sizeof bare, "%s/bare.h5", dir);
    tt_optim_config sgd = sgd_momentum(), aw = adamw(), plain = tt_optim_defaults(TT_OPTIM_SGD);
    model a, b;
    save_trained(path, &sgd, &a);
    TT_ASSERT_OK(tt_checkpoint_save(bare, a.g, NULL, NULL));

    /* The model has a parameter the file lacks. */
    model_opts mo = DEFAULT_MODEL;
    mo.extra_param = true;
    model_build(&b, &sgd, 2, &mo);
    expect_load_fails(path, &b, TT_ERR_INVALID_ARG, "'extra.scale'", "1 missing", NULL);
    model_free(&b);

    /* The file has a parameter the model lacks. */
    mo = DEFAULT_MODEL;
    mo.fc2_bias = false;
    model_build(&b, &sgd, 2, &mo);
    expect_load_fails(path, &b, TT_ERR_INVALID_ARG, "'fc2.bias'", "1 in the file but not expected",
                      NULL);
    model_free(&b);

    /* Same names, other shapes: both shapes are named. */
    mo = DEFAULT_MODEL;
    mo.hidden = 5;
    model_build(&b, &sgd, 2, &mo);
    expect_load_fails(path, &b, TT_ERR_SHAPE, "fc1.weight", "[6, 4]", "[5, 4]");
    model_free(&b);

    /* Optimiser of another kind, with momentum off, or none in the file. */
    model_build(&b, &aw, 2, &DEFAULT_MODEL);
    expect_load_fails(path, &b, TT_ERR_INVALID_ARG, "'sgd'", "'adamw'", NULL);
    expect_load_fails(bare, &b, TT_ERR_INVALID_ARG, "no optimiser state", NULL, NULL);
    model_free(&b);
    model_build(&b, &plain, 2, &DEFAULT_MODEL);
    expect_load_fails(path, &b, TT_ERR_INVALID_ARG, "fc1.weight.momentum_buffer", NULL, NULL);
    /* ... but the weights alone load into it. */
    tt_optim *keep = b.o;
    b.o = NULL;
    TT_ASSERT_OK(tt_checkpoint_load(path, b.g, NULL, NULL));
    assert_same_params(a.g, b.g);
    b.o = keep;
    model_free(&b);

    model_free(&a);
    tt_test_tmpdir_remove(dir);
}

/* ---- corrupt files ---------------------------------------------------------------------- */

static void expect_both_fail(const char *path, model *m, tt_status want)
{
    expect_load_fails(path, m, want, NULL, NULL, NULL);
    tt_checkpoint_meta meta = {.step = -7};
    expect_err(tt_checkpoint_read_meta(path, &meta), want, path, NULL);
    assert_int_equal(meta.step, -7);
}

static void corrupt_files_fail_cleanly(void **state)
{
    (void)state;
    char dir[64], path[128], bad[128];
    assert_non_null(tt_test_tmpdir_make("tt_ckpt", dir, sizeof dir));
    snprintf(path, sizeof path, "%s/ck.h5", dir);
    snprintf(bad, sizeof bad, "%s/bad.h5", dir);
    tt_optim_config oc = sgd_momentum();
    model a, b;
    save_trained(path, &oc, &a);
    model_build(&b, &oc, 2, &DEFAULT_MODEL);

    /* Missing file and a directory: I/O errors. */
    snprintf(bad, sizeof bad, "%s/absent.h5", dir);
    expect_both_fail(bad, &b, TT_ERR_IO);
    expect_both_fail(dir, &b, TT_ERR_IO);
    assert_non_null(strstr(tt_last_error(), "directory"));

    snprintf(bad, sizeof bad, "%s/bad.h5", dir);
    tt_test_write_file(bad, "", 0);
    expect_both_fail(bad, &b, TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "empty"));

    unsigned char junk[4096];
    tt_rng r;
    tt_rng_seed(&r, 4, 4);
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)tt_rng_u32(&r);
    tt_test_write_file(bad, junk, sizeof junk);
    expect_both_fail(bad, &b, TT_ERR_FORMAT);
    /* Junk behind a valid HDF5 signature. */
    memcpy(junk, "\x89HDF\r\n\x1a\n", 8);
    tt_test_write_file(bad, junk, sizeof junk);
    expect_both_fail(bad, &b, TT_ERR_FORMAT);

    /* Truncated copies of a valid checkpoint. */
    size_t n;
    unsigned char *good = read_all(path, &n);
    const size_t cuts[] = {1, 7, 8, 64, 511, 1024, n / 3, n / 2, n - 16, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        assert_true(cuts[i] < n);
        tt_test_write_file(bad, good, cuts[i]);
        expect_both_fail(bad, &b, TT_ERR_FORMAT);
    }
    free(good);
    model_free(&a);
    model_free(&b);
    tt_test_tmpdir_remove(dir);
}

/* Flip a few bytes of a valid checkpoint many times: every load must return (OK when only
 * weight bits were hit, else an error with a message), never crash or leak (ASan). */
static void bit_flips_never_crash(void **state)
{
    (void)state;
    char dir[64], path[128], bad[128];
    assert_non_null(tt_test_tmpdir_make("tt_ckpt", dir, sizeof dir));
    snprintf(path, sizeof path, "%s/ck.h5", dir);
    snprintf(bad, sizeof bad, "%s/bad.h5", dir);
    tt_optim_config oc = adamw();
    model a, b;
    save_trained(path, &oc, &a);
    model_build(&b, &oc, 2, &DEFAULT_MODEL);
    size_t n;
    unsigned char *good = read_all(path, &n), *buf = malloc(n);
    assert_non_null(buf);
    tt_rng r;
    tt_rng_seed(&r, 77, 1);
    int ok = 0, failed = 0;
#ifdef TT_TEST_LSAN
#ifndef TT_TEST_HDF5
    print_message("LeakSanitizer without hdf5.h: HDF5's own leaks cannot be scoped; skipped\n");
    free(good);
    free(buf);
    model_free(&a);
    model_free(&b);
    tt_test_tmpdir_remove(dir);
    return;
#else
    H5garbage_collect();
    __lsan_disable();
#endif
#endif
    for (int it = 0; it < 300; it++) {
        memcpy(buf, good, n);
        int flips = 1 + (int)tt_rng_below(&r, 4);
        for (int f = 0; f < flips; f++)
            buf[tt_rng_below(&r, (uint32_t)n)] ^= (unsigned char)(1u << tt_rng_below(&r, 8));
        tt_test_write_file(bad, buf, n);
        tt_checkpoint_meta m;
        tt_status s = tt_checkpoint_load(bad, b.g, b.o, &m);
        if (s == TT_OK) {
            ok++;
            tt_checkpoint_meta_free(&m);
        } else {
            failed++;
            assert_true(strlen(tt_last_error()) > 0);
            assert_non_null(strstr(tt_last_error(), bad));
        }
    }
#ifdef TT_TEST_LSAN
    __lsan_enable();
#endif
    print_message("bit flips: %d loaded, %d refused\n", ok, failed);
    assert_true(failed > 0); /* metadata checksums catch some */
    free(good);
    free(buf);
    model_free(&a);
    model_free(&b);
    tt_test_tmpdir_remove(dir);
}

#ifdef TT_TEST_HDF5
/* Copy the valid checkpoint src to dst and open the copy for editing with HDF5. */
static hid_t edit_copy(const char *src, const char *dst)
{
    size_t n;
    unsigned char *b = read_all(src, &n);
    tt_test_write_file(dst, b, n);
    free(b);
    hid_t f = H5Fopen(dst, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

static void replace_dataset(hid_t f, const char *name, hid_t type, int ndim, const hsize_t *dims,
                            const void *data)
{
    assert_true(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    hid_t sp = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    if (data) assert_true(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
}

static void replace_attr_str(hid_t f, const char *obj, const char *name, const char *value)
{
    assert_true(H5Adelete_by_name(f, obj, name, H5P_DEFAULT) >= 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate_by_name(f, obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, t, value) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

static void replace_attr_i64(hid_t f, const char *obj, const char *name, int64_t v)
{
    assert_true(H5Adelete_by_name(f, obj, name, H5P_DEFAULT) >= 0);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a =
        H5Acreate_by_name(f, obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
}

enum {
    CRAFT_F64,
    CRAFT_RANK3,
    CRAFT_RANK6,
    CRAFT_HUGE,
    CRAFT_GROUP,
    CRAFT_FORMAT2,
    CRAFT_FORMAT_OTHER,
    CRAFT_NO_META,
    CRAFT_STEP_STRING,
    CRAFT_RNG_SHAPE,
    CRAFT_RNG_SIGNED,
    CRAFT_CONFIG_HUGE,
    CRAFT_CONFIG_VLEN,
    CRAFT_NEG_STEPS,
    CRAFT_STATE_SHAPE,
    CRAFT_COUNT
};

static void craft(hid_t f, int kind)
{
    static double d64[24];
    static float f32[24];
    const hsize_t d2[2] = {6, 4}, d3[3] = {6, 4, 1}, d6[6] = {1, 6, 1, 4, 1, 1};
    const hsize_t huge[2] = {(hsize_t)1 << 30, (hsize_t)1 << 30}, three = 3, twelve = 12;
    switch (kind) {
    case CRAFT_F64:
        replace_dataset(f, "/params/fc1.weight", H5T_IEEE_F64LE, 2, d2, d64);
        break;
    case CRAFT_RANK3:
        replace_dataset(f, "/params/fc1.weight", H5T_IEEE_F32LE, 3, d3, f32);
        break;
    case CRAFT_RANK6:
        replace_dataset(f, "/params/fc1.weight", H5T_IEEE_F32LE, 6, d6, f32);
        break;
    case CRAFT_HUGE: /* 2^60 floats declared, never allocated */
        replace_dataset(f, "/params/fc1.weight", H5T_IEEE_F32LE, 2, huge, NULL);
        break;
    case CRAFT_GROUP: {
        assert_true(H5Ldelete(f, "/params/fc1.bias", H5P_DEFAULT) >= 0);
        hid_t g = H5Gcreate2(f, "/params/fc1.bias", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        assert_true(g >= 0);
        H5Gclose(g);
        break;
    }
    case CRAFT_FORMAT2:
        replace_attr_str(f, "/meta", "format", "tinytrain-checkpoint-2");
        break;
    case CRAFT_FORMAT_OTHER:
        replace_attr_str(f, "/meta", "format", "keras-weights");
        break;
    case CRAFT_NO_META:
        assert_true(H5Ldelete(f, "/meta", H5P_DEFAULT) >= 0);
        break;
    case CRAFT_STEP_STRING:
        replace_attr_str(f, "/meta", "step", "3");
        break;
    case CRAFT_RNG_SHAPE: {
        uint64_t v[3] = {1, 2, 3};
        replace_dataset(f, "/rng/shuffle", H5T_STD_U64LE, 1, &three, v);
        break;
    }
    case CRAFT_RNG_SIGNED: {
        int64_t v[2] = {1, 2};
        const hsize_t two = 2;
        replace_dataset(f, "/rng/shuffle", H5T_STD_I64LE, 1, &two, v);
        break;
    }
    case CRAFT_CONFIG_HUGE: { /* a 2 MiB string type, data never written */
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, (size_t)2 << 20);
        hid_t sp = H5Screate(H5S_SCALAR);
        hid_t d = H5Dcreate2(f, "/meta/config", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        assert_true(d >= 0);
        H5Dclose(d);
        H5Sclose(sp);
        H5Tclose(t);
        break;
    }
    case CRAFT_CONFIG_VLEN: {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        hid_t sp = H5Screate(H5S_SCALAR);
        hid_t d = H5Dcreate2(f, "/meta/config", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        assert_true(d >= 0);
        const char *s = "seed: 1";
        assert_true(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) >= 0);
        H5Dclose(d);
        H5Sclose(sp);
        H5Tclose(t);
        break;
    }
    case CRAFT_NEG_STEPS:
        replace_attr_i64(f, "/optim", "steps", -3);
        break;
    case CRAFT_STATE_SHAPE:
        replace_dataset(f, "/optim/fc1.weight.momentum_buffer", H5T_IEEE_F32LE, 1, &twelve, f32);
        break;
    }
}

static void crafted_hostile_files(void **state)
{
    (void)state;
    static const struct {
        tt_status want;
        const char *needle;
        bool meta_too; /* tt_checkpoint_read_meta fails too (the meta itself is broken) */
    } want[CRAFT_COUNT] = {
        [CRAFT_F64] = {TT_ERR_FORMAT, "not float32", false},
        [CRAFT_RANK3] = {TT_ERR_SHAPE, "[6, 4, 1]", false},
        [CRAFT_RANK6] = {TT_ERR_SHAPE, "[1, 6, 1, 4, 1, 1]", false},
        [CRAFT_HUGE] = {TT_ERR_SHAPE, "[1073741824, 1073741824]", false},
        [CRAFT_GROUP] = {TT_ERR_FORMAT, "not a dataset", false},
        [CRAFT_FORMAT2] = {TT_ERR_UNSUPPORTED, "newer tinytrain", true},
        [CRAFT_FORMAT_OTHER] = {TT_ERR_FORMAT, "keras-weights", true},
        [CRAFT_NO_META] = {TT_ERR_FORMAT, "not a tinytrain checkpoint", true},
        [CRAFT_STEP_STRING] = {TT_ERR_FORMAT, "'step'", true},
        [CRAFT_RNG_SHAPE] = {TT_ERR_FORMAT, "/rng/shuffle", true},
        [CRAFT_RNG_SIGNED] = {TT_ERR_FORMAT, "not uint64", true},
        [CRAFT_CONFIG_HUGE] = {TT_ERR_FORMAT, "/meta/config", true},
        [CRAFT_CONFIG_VLEN] = {TT_ERR_FORMAT, "variable-length", true},
        [CRAFT_NEG_STEPS] = {TT_ERR_FORMAT, "negative", false},
        [CRAFT_STATE_SHAPE] = {TT_ERR_SHAPE, "[12]", false},
    };
    char dir[64], path[128], bad[128];
    assert_non_null(tt_test_tmpdir_make("tt_ckpt", dir, sizeof dir));
    snprintf(path, sizeof path, "%s/ck.h5", dir);
    snprintf(bad, sizeof bad, "%s/bad.h5", dir);
    tt_optim_config oc = sgd_momentum();
    model a, b;
    save_trained(path, &oc, &a);
    model_build(&b, &oc, 2, &DEFAULT_MODEL);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    for (int k = 0; k < CRAFT_COUNT; k++) {
        hid_t f = edit_copy(path, bad);
        craft(f, k);
        assert_true(H5Fclose(f) >= 0);
        expect_load_fails(bad, &b, want[k].want, want[k].needle, NULL, NULL);
        tt_checkpoint_meta m;
        tt_status s = tt_checkpoint_read_meta(bad, &m);
        if (want[k].meta_too) {
            expect_err(s, want[k].want, bad, want[k].needle);
        } else {
            assert_int_equal(s, TT_OK);
            tt_checkpoint_meta_free(&m);
        }
    }
    /* The unedited copy still loads: the edits, not the copying, broke the files. */
    hid_t f = edit_copy(path, bad);
    assert_true(H5Fclose(f) >= 0);
    TT_ASSERT_OK(tt_checkpoint_load(bad, b.g, b.o, NULL));
    assert_same_params(a.g, b.g);
    model_free(&a);
    model_free(&b);
    tt_test_tmpdir_remove(dir);
}
#endif

/* ---- failed saves ----------------------------------------------------------------------- */

static void unwritable_targets(void **state)
{
    (void)state;
    char dir[64], p[192], tmp[200];
    assert_non_null(tt_test_tmpdir_make("tt_ckpt", dir, sizeof dir));
    model a;
    model_build(&a, NULL, 1, &DEFAULT_MODEL);

    snprintf(p, sizeof p, "%s/no/such/dir/ck.h5", dir);
    expect_err(tt_checkpoint_save(p, a.g, NULL, NULL), TT_ERR_IO, p, NULL);

    /* The parent is a file. */
    snprintf(p, sizeof p, "%s/file", dir);
    tt_test_write_file(p, "x", 1);
    snprintf(p, sizeof p, "%s/file/ck.h5", dir);
    expect_err(tt_checkpoint_save(p, a.g, NULL, NULL), TT_ERR_IO, p, NULL);
    assert_int_equal(count_entries(dir), 1);

    /* The target is a directory: everything is written, the rename fails, the temporary goes. */
    snprintf(p, sizeof p, "%s/adir", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    expect_err(tt_checkpoint_save(p, a.g, NULL, NULL), TT_ERR_IO, p, "rename");
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    assert_false(exists(tmp));
    assert_int_equal(count_entries(dir), 2);

    /* A read-only directory (root ignores permissions, so only as an ordinary user). */
    snprintf(p, sizeof p, "%s/ro", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    if (geteuid() != 0) {
        assert_int_equal(chmod(p, 0500), 0);
        snprintf(p, sizeof p, "%s/ro/ck.h5", dir);
        expect_err(tt_checkpoint_save(p, a.g, NULL, NULL), TT_ERR_IO, NULL, NULL);
        snprintf(p, sizeof p, "%s/ro", dir);
        assert_int_equal(count_entries(p), 0);
        chmod(p, 0700);
    } else {
        print_message("running as root: the read-only directory case is skipped\n");
    }
    model_free(&a);
    tt_test_tmpdir_remove(dir);
}

static void failed_save_keeps_existing(void **state)
{
    (void)state;
    char dir[64], path[128], tmp[136];
    assert_non_null(tt_test_tmpdir_make("tt_ckpt", dir, sizeof dir));
    snprintf(path, sizeof path, "%s/ck.h5", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    tt_optim_config oc = sgd_momentum();
    model a;
    save_trained(path, &oc, &a);
    size_t n0;
    unsigned char *orig = read_all(path, &n0);
    train_steps(&a, 1); /* the state differs now, so a completed save would change the file */

    /* A parameter name with '/' is found midway, after the meta and some parameters were
     * written to the temporary. */
    int id = tt_graph_find_value(a.g, "fc2.weight");
    assert_true(id >= 0);
    snprintf(a.g->values[id].name, TT_NAME_MAX, "fc2/weight");
    tt_checkpoint_meta meta;
    trainer_meta(&a, &meta, 4);
    expect_err(tt_checkpoint_save(path, a.g, a.o, &meta), TT_ERR_INVALID_ARG, NULL, "fc2/weight");
    assert_non_null(strstr(tt_last_error(), "'/'"));
    assert_false(exists(tmp));
    size_t n1;
    unsigned char *now = read_all(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(orig, now, n0);
    free(now);
    snprintf(a.g->values[id].name, TT_NAME_MAX, "fc2.weight");

    /* Bad meta is refused before any file is touched. */
    tt_checkpoint_meta bad = meta;
    snprintf(bad.rngs[1].name, sizeof bad.rngs[1].name, "shuffle");
    assert_int_equal(tt_checkpoint_save(path, a.g, a.o, &bad), TT_ERR_INVALID_ARG);
    bad = meta;
    bad.n_rngs = TT_CHECKPOINT_MAX_RNGS + 1;
    assert_int_equal(tt_checkpoint_save(path, a.g, a.o, &bad), TT_ERR_INVALID_ARG);
    bad = meta;
    char *long_text = malloc(TT_CHECKPOINT_TEXT_MAX + 2);
    assert_non_null(long_text);
    memset(long_text, 'a', TT_CHECKPOINT_TEXT_MAX + 1);
    long_text[TT_CHECKPOINT_TEXT_MAX + 1] = '\0';
    bad.config_text = long_text;
    expect_err(tt_checkpoint_save(path, a.g, a.o, &bad), TT_ERR_INVALID_ARG, NULL, "config_text");
    free(long_text);

    /* Something squatting on the temporary's name: the create fails, the squatter stays. */
    assert_int_equal(mkdir(tmp, 0700), 0);
    expect_err(tt_checkpoint_save(path, a.g, a.o, &meta), TT_ERR_IO, tmp, NULL);
    struct stat st;
    assert_int_equal(stat(tmp, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    rmdir(tmp);

    now = read_all(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(orig, now, n0);
    free(now);
    free(orig);

    /* A read-only directory holding a checkpoint (ordinary users only; root ignores it). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(dir, 0500), 0);
        assert_int_equal(tt_checkpoint_save(path, a.g, a.o, &meta), TT_ERR_IO);
        chmod(dir, 0700);
        assert_false(exists(tmp));
    }
    /* The existing checkpoint still loads. */
    model b;
    model_build(&b, &oc, 2, &DEFAULT_MODEL);
    TT_ASSERT_OK(tt_checkpoint_load(path, b.g, b.o, NULL));
    assert_int_equal(tt_optim_steps(b.o), 3);
    model_free(&b);
    model_free(&a);
    tt_test_tmpdir_remove(dir);
}

/* ---- API arguments ---------------------------------------------------------------------- */

static void argument_errors(void **state)
{
    (void)state;
    model a;
    model_build(&a, NULL, 1, &DEFAULT_MODEL);
    tt_checkpoint_meta m = {0};
    assert_int_equal(tt_checkpoint_save(NULL, a.g, NULL, NULL), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_checkpoint_save("x.h5", NULL, NULL, NULL), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_checkpoint_save("", a.g, NULL, NULL), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_checkpoint_load(NULL, a.g, NULL, NULL), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_checkpoint_load("x.h5", NULL, NULL, NULL), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_checkpoint_read_meta(NULL, &m), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_checkpoint_read_meta("x.h5", NULL), TT_ERR_INVALID_ARG);

    tt_rng r = {1, 3};
    assert_int_equal(tt_checkpoint_meta_add_rng(&m, "", &r), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_checkpoint_meta_add_rng(&m, "a/b", &r), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_checkpoint_meta_add_rng(&m, ".", &r), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_checkpoint_meta_add_rng(&m, "0123456789012345678901234567890123", &r),
                     TT_ERR_INVALID_ARG);
    assert_int_equal(tt_checkpoint_meta_add_rng(NULL, "a", &r), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_checkpoint_meta_add_rng(&m, "a", NULL), TT_ERR_INVALID_ARG);
    TT_ASSERT_OK(tt_checkpoint_meta_add_rng(&m, "a", &r));
    assert_int_equal(tt_checkpoint_meta_add_rng(&m, "a", &r), TT_ERR_INVALID_ARG);
    for (int i = 1; i < TT_CHECKPOINT_MAX_RNGS; i++) {
        char nm[8];
        snprintf(nm, sizeof nm, "r%d", i);
        TT_ASSERT_OK(tt_checkpoint_meta_add_rng(&m, nm, &r));
    }
    assert_int_equal(tt_checkpoint_meta_add_rng(&m, "full", &r), TT_ERR_INVALID_ARG);
    assert_int_equal(m.n_rngs, TT_CHECKPOINT_MAX_RNGS);
    const tt_rng *got = tt_checkpoint_meta_rng(&m, "r3");
    assert_non_null(got);
    assert_true(got->state == 1 && got->inc == 3);
    assert_null(tt_checkpoint_meta_rng(NULL, "a"));
    tt_checkpoint_meta_free(NULL);
    tt_checkpoint_meta_free(&m);
    model_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(optim_state_accessors),
        cmocka_unit_test(round_trip_sgd_momentum),
        cmocka_unit_test(round_trip_adamw),
        cmocka_unit_test(round_trip_minimal),
        cmocka_unit_test(resume_sgd_momentum_bit_identical),
        cmocka_unit_test(resume_adamw_bit_identical),
        cmocka_unit_test(same_state_same_bytes),
        cmocka_unit_test(model_and_optim_mismatches),
        cmocka_unit_test(corrupt_files_fail_cleanly),
        cmocka_unit_test(bit_flips_never_crash),
#ifdef TT_TEST_HDF5
        cmocka_unit_test(crafted_hostile_files),
#endif
        cmocka_unit_test(unwritable_targets),
        cmocka_unit_test(failed_save_keeps_existing),
        cmocka_unit_test(argument_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
