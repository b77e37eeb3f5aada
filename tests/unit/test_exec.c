/* Executor and graph API behaviour: gradient accumulation over several consumers, call-order
 * and argument errors, NULL safety, size caps, unknown ops, duplicate names, running a smaller
 * batch after a larger one, and no allocation in the training step. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "testutil.h"

/* ---- allocation counting ----------------------------------------------------------------
 * On glibc without a sanitizer (which brings its own allocator) the test replaces malloc and
 * friends with forwarding wrappers that count calls made from code linked into this
 * executable: tinytrain is a static library, so that is every allocation tinytrain makes, and
 * none of those made inside shared libraries (libgomp, OpenBLAS) on their own account. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define TT_NO_MALLOC_HOOK 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TT_NO_MALLOC_HOOK 1
#endif
#if defined(__GLIBC__) && !defined(TT_NO_MALLOC_HOOK)
#define TT_COUNT_MALLOC 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);
extern char __executable_start[], etext[];

static atomic_int counting;
static atomic_long own_allocs, all_allocs;
static atomic_size_t biggest_request;

static void note_alloc(size_t n, const void *caller)
{
    size_t b = atomic_load(&biggest_request);
    while (n > b && !atomic_compare_exchange_weak(&biggest_request, &b, n)) {
    }
    if (!atomic_load(&counting)) return;
    atomic_fetch_add(&all_allocs, 1);
    if ((const char *)caller >= __executable_start && (const char *)caller < etext)
        atomic_fetch_add(&own_allocs, 1);
}

/* noinline: inlined here, the return address would be our caller's. */
__attribute__((noinline)) void *malloc(size_t n)
{
    note_alloc(n, __builtin_return_address(0));
    return __libc_malloc(n);
}
__attribute__((noinline)) void *calloc(size_t n, size_t m)
{
    note_alloc(n * m, __builtin_return_address(0));
    return __libc_calloc(n, m);
}
__attribute__((noinline)) void *realloc(void *p, size_t n)
{
    note_alloc(n, __builtin_return_address(0));
    return __libc_realloc(p, n);
}
__attribute__((noinline)) void *aligned_alloc(size_t align, size_t n)
{
    note_alloc(n, __builtin_return_address(0));
    return __libc_memalign(align, n);
}
__attribute__((noinline)) int posix_memalign(void **out, size_t align, size_t n)
{
    note_alloc(n, __builtin_return_address(0));
    void *p = __libc_memalign(align, n);
    if (!p && n) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
__attribute__((noinline)) void free(void *p)
{
    __libc_free(p);
}
#endif

/* ---- helpers ---------------------------------------------------------------------------- */

static int add_x(tt_graph *g, int64_t feat)
{
    int x;
    int64_t d[2] = {TT_DIM_BATCH, feat};
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 2, d, &x));
    g->values[x].trainable = true;
    return x;
}

static int node1(tt_graph *g, tt_op_type op, const char *name, int a)
{
    int y;
    TT_ASSERT_OK(tt_graph_add_node(g, op, name, 1, &a, 0, NULL, &y));
    return y;
}

static int node2(tt_graph *g, tt_op_type op, const char *name, int a, int b)
{
    int y, in[2] = {a, b};
    TT_ASSERT_OK(tt_graph_add_node(g, op, name, 2, in, 0, NULL, &y));
    return y;
}

/* ---- gradient accumulation -------------------------------------------------------------- */

/* y = x * x via Mul(x, x): x has two consumer slots, dx = 2 x dy. */
static void square_via_mul(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x = add_x(g, 3);
    int y = node2(g, TT_OP_MUL, "y", x, x);
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 2, &e));
    const float xv[6] = {1.5f, -2.0f, 0.25f, 3.0f, -0.5f, 1.0f};
    const float seed[6] = {1.0f, 0.5f, -1.0f, 2.0f, 1.0f, -0.25f};
    TT_ASSERT_OK(tt_exec_set_input(e, x, xv, 2));
    TT_ASSERT_OK(tt_exec_forward(e, 2, true));
    TT_ASSERT_OK(tt_exec_backward_from(e, y, seed));
    const float *yv = tt_tensor_f32(tt_exec_value(e, y));
    const float *dx = tt_tensor_f32(tt_exec_grad(e, x));
    for (int i = 0; i < 6; i++) {
        assert_true(yv[i] == xv[i] * xv[i]);
        /* Both products are exact in float here, so the sum is exact too. */
        assert_true(dx[i] == 2.0f * xv[i] * seed[i]);
    }
    /* A second backward overwrites rather than adds to the previous gradients. */
    TT_ASSERT_OK(tt_exec_backward_from(e, y, seed));
    for (int i = 0; i < 6; i++) assert_true(dx[i] == 2.0f * xv[i] * seed[i]);
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    double worst;
    assert_int_equal(tt_gradcheck(e, y, 2, &o, &worst), 0);
    tt_exec_free(e);
    tt_graph_free(g);
}

/* A diamond: x feeds Relu and Tanh, whose outputs meet in Add; and r = Relu(x) feeds both
 * slots of a second Add. dx sums over every path. */
static void diamond(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x = add_x(g, 4);
    int r = node1(g, TT_OP_RELU, "r", x);
    int t = node1(g, TT_OP_TANH, "t", x);
    int y = node2(g, TT_OP_ADD, "y", r, t);
    int z = node2(g, TT_OP_ADD, "z", r, r);
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 2, &e));
    const float xv[8] = {-1.5f, -0.3f, 0.2f, 0.7f, 1.9f, -2.2f, 0.05f, -0.05f};
    float seed[8];
    tt_rng rng;
    tt_rng_seed(&rng, 4, 0);
    tt_test_fill_uniform(seed, 8, -1.0f, 1.0f, &rng);
    TT_ASSERT_OK(tt_exec_set_input(e, x, xv, 2));
    TT_ASSERT_OK(tt_exec_forward(e, 2, true));
    TT_ASSERT_OK(tt_exec_backward_from(e, y, seed));
    const float *dx = tt_tensor_f32(tt_exec_grad(e, x));
    for (int i = 0; i < 8; i++) {
        double th = tanh((double)xv[i]);
        double want = seed[i] * ((xv[i] > 0 ? 1.0 : 0.0) + (1.0 - th * th));
        /* Tanh's derivative is computed from the float output: a few float ulp. */
        assert_float_equal(dx[i], want, 1e-6);
    }
    TT_ASSERT_OK(tt_exec_backward_from(e, z, seed));
    for (int i = 0; i < 8; i++) assert_true(dx[i] == (xv[i] > 0 ? 2.0f * seed[i] : 0.0f));
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    double worst;
    assert_int_equal(tt_gradcheck(e, y, 2, &o, &worst), 0);
    assert_int_equal(tt_gradcheck(e, z, 2, &o, &worst), 0);
    tt_exec_free(e);
    tt_graph_free(g);
}

/* A parameter used by two nodes: w scales x and then scales the result again (y = x w w). */
static void shared_param(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x = add_x(g, 3), w;
    int64_t wd[1] = {3};
    TT_ASSERT_OK(tt_graph_add_param(g, "w", 1, wd, true, &w));
    const float wv[3] = {0.5f, -1.5f, 2.0f};
    memcpy(tt_graph_param_data(g, w), wv, sizeof wv);
    int h = node2(g, TT_OP_MUL, "h", x, w);
    int y = node2(g, TT_OP_MUL, "y", h, w);
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 2, &e));
    const float xv[6] = {1, 2, -1, 0.5f, -0.25f, 3};
    TT_ASSERT_OK(tt_exec_set_input(e, x, xv, 2));
    TT_ASSERT_OK(tt_exec_forward(e, 2, true));
    const float ones[6] = {1, 1, 1, 1, 1, 1};
    TT_ASSERT_OK(tt_exec_backward_from(e, y, ones));
    /* dy/dw_j = 2 w_j sum_n x[n, j]. */
    const float *dw = tt_tensor_f32(tt_exec_grad(e, w));
    for (int j = 0; j < 3; j++)
        assert_float_equal(dw[j], 2.0 * wv[j] * ((double)xv[j] + xv[3 + j]), 1e-6);
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    double worst;
    assert_int_equal(tt_gradcheck(e, y, 2, &o, &worst), 0);
    tt_exec_free(e);
    tt_graph_free(g);
}

/* ---- call order and arguments ----------------------------------------------------------- */

static void backward_state_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x = add_x(g, 2), t, l;
    int64_t d[2] = {TT_DIM_BATCH, 2};
    TT_ASSERT_OK(tt_graph_add_input(g, "t", TT_F32, 2, d, &t));
    l = node2(g, TT_OP_MSE, "l", x, t);
    int s = node1(g, TT_OP_SIGMOID, "s", t); /* depends on nothing trainable */
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 2, &e));
    const float v[4] = {1, 2, 3, 4};
    TT_ASSERT_OK(tt_exec_set_input(e, x, v, 2));
    TT_ASSERT_OK(tt_exec_set_input(e, t, v, 2));
    assert_int_equal(tt_exec_backward(e, l), TT_ERR_STATE);
    assert_int_equal(tt_exec_backward_from(e, l, v), TT_ERR_STATE);
    TT_ASSERT_OK(tt_exec_forward(e, 2, false));
    assert_int_equal(tt_exec_backward(e, l), TT_ERR_STATE);
    assert_non_null(strstr(tt_last_error(), "training"));
    TT_ASSERT_OK(tt_exec_forward(e, 2, true));
    TT_ASSERT_OK(tt_exec_backward(e, l));
    assert_int_equal(tt_exec_backward(e, s), TT_ERR_STATE); /* nothing to differentiate */
    assert_int_equal(tt_exec_backward(e, x), TT_ERR_SHAPE); /* not a scalar */
    assert_int_equal(tt_exec_backward(e, 999), TT_ERR_INVALID_ARG);
    /* An eval forward after a training one invalidates backward again. */
    TT_ASSERT_OK(tt_exec_forward(e, 2, false));
    assert_int_equal(tt_exec_backward(e, l), TT_ERR_STATE);
    tt_exec_free(e);
    tt_graph_free(g);
}

static void set_input_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x = add_x(g, 2), w, f;
    int64_t wd[2] = {2, 2}, fd[2] = {3, 2};
    TT_ASSERT_OK(tt_graph_add_param(g, "w", 2, wd, true, &w));
    TT_ASSERT_OK(tt_graph_add_input(g, "fixed", TT_F32, 2, fd, &f));
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 4, &e));
    float v[16] = {0};
    assert_int_equal(tt_exec_set_input(e, x, v, 5), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "'x'"));
    assert_int_equal(tt_exec_set_input(e, x, v, 0), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_exec_set_input(e, x, v, -1), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_exec_set_input(e, -1, v, 1), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_exec_set_input(e, 999, v, 1), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_exec_set_input(e, w, v, 2), TT_ERR_INVALID_ARG); /* a param */
    assert_int_equal(tt_exec_set_input(e, f, v, 2), TT_ERR_INVALID_ARG); /* fixed rows: 3 */
    TT_ASSERT_OK(tt_exec_set_input(e, f, v, 3));
    TT_ASSERT_OK(tt_exec_set_input(e, x, v, 4));
    assert_int_equal(tt_exec_forward(e, 5, true), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_exec_forward(e, 0, true), TT_ERR_INVALID_ARG);
    tt_exec *e2;
    assert_int_equal(tt_exec_create(g, 0, &e2), TT_ERR_INVALID_ARG);
    assert_null(e2);
    tt_exec_free(e);
    tt_graph_free(g);
}

static void null_arguments(void **state)
{
    (void)state;
    tt_graph *g;
    int id;
    int64_t d[2] = {TT_DIM_BATCH, 2};
    assert_int_equal(tt_graph_create(NULL), TT_ERR_INVALID_ARG);
    TT_ASSERT_OK(tt_graph_create(&g));
    assert_int_equal(tt_graph_add_input(NULL, "x", TT_F32, 2, d, &id), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_graph_add_input(g, NULL, TT_F32, 2, d, &id), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_graph_add_input(g, "x", TT_F32, 2, NULL, &id), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_graph_add_param(NULL, "w", 1, d + 1, true, &id), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_graph_add_param(g, NULL, 1, d + 1, true, &id), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_graph_add_param(g, "w", 1, NULL, true, &id), TT_ERR_INVALID_ARG);
    int x = add_x(g, 2);
    assert_int_equal(tt_graph_add_node(NULL, TT_OP_RELU, "r", 1, &x, 0, NULL, &id),
                     TT_ERR_INVALID_ARG);
    assert_int_equal(tt_graph_add_node(g, TT_OP_RELU, NULL, 1, &x, 0, NULL, &id),
                     TT_ERR_INVALID_ARG);
    assert_int_equal(tt_graph_add_node(g, TT_OP_RELU, "r", 1, NULL, 0, NULL, &id),
                     TT_ERR_INVALID_ARG);
    assert_int_equal(tt_graph_add_node(g, TT_OP_RELU, "r", 1, &x, 1, NULL, &id),
                     TT_ERR_INVALID_ARG);
    assert_int_equal(g->n_nodes, 0);
    int r = node1(g, TT_OP_RELU, "r", x); /* out_ids NULL is allowed too */
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_TANH, "t", 1, &x, 0, NULL, NULL));
    assert_int_equal(tt_graph_validate(NULL), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_graph_find_value(NULL, "x"), -1);
    assert_int_equal(tt_graph_find_value(g, NULL), -1);
    assert_null(tt_graph_param_data(NULL, 0));
    assert_null(tt_graph_param_data(g, x)); /* an input, not a param */
    assert_int_equal(tt_op_from_name(NULL), TT_OP_COUNT);
    assert_int_equal(tt_shape_make(NULL, 1, d), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_tensor_alloc(NULL, TT_F32, 1, d + 1), TT_ERR_INVALID_ARG);

    tt_exec *e = NULL;
    assert_int_equal(tt_exec_create(NULL, 2, &e), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_exec_create(g, 2, NULL), TT_ERR_INVALID_ARG);
    TT_ASSERT_OK(tt_exec_create(g, 2, &e));
    const float v[4] = {1, -1, 2, -2};
    assert_int_equal(tt_exec_set_input(NULL, x, v, 2), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_exec_set_input(e, x, NULL, 2), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_exec_forward(NULL, 2, true), TT_ERR_INVALID_ARG);
    TT_ASSERT_OK(tt_exec_set_input(e, x, v, 2));
    TT_ASSERT_OK(tt_exec_forward(e, 2, true));
    assert_int_equal(tt_exec_backward(NULL, r), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_exec_backward_from(NULL, r, v), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_exec_backward_from(e, r, NULL), TT_ERR_INVALID_ARG);
    assert_null(tt_exec_value(NULL, x));
    assert_null(tt_exec_value(e, -1));
    assert_null(tt_exec_grad(NULL, x));
    assert_null(tt_exec_grad(e, 12345));
    assert_null(tt_exec_graph(NULL));
    assert_null(tt_exec_rng(NULL));
    assert_int_equal(tt_exec_bytes(NULL), 0);
    tt_exec_seed(NULL, 1);
    tt_exec_free(NULL);
    tt_graph_free(NULL);
    tt_tensor_free(NULL);
    /* The executor still works after all that. */
    TT_ASSERT_OK(tt_exec_backward_from(e, r, v));
    assert_true(tt_tensor_f32(tt_exec_grad(e, x))[0] == 1.0f);
    tt_exec_free(e);
    tt_graph_free(g);
}

static void absurd_sizes(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int id;
    int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    int64_t big[2] = {(int64_t)1 << 20, (int64_t)1 << 20}; /* 4 TiB of floats, no overflow */
#ifdef TT_COUNT_MALLOC
    atomic_store(&biggest_request, 0);
#endif
    tt_status s = tt_graph_add_param(g, "w", 2, huge, true, &id);
    assert_true(s == TT_ERR_NOMEM || s == TT_ERR_SHAPE);
    s = tt_graph_add_param(g, "w", 2, big, true, &id);
    assert_true(s == TT_ERR_NOMEM || s == TT_ERR_SHAPE);
    int64_t neg[2] = {3, -4}, zero[2] = {3, 0};
    assert_int_equal(tt_graph_add_param(g, "w", 2, neg, true, &id), TT_ERR_SHAPE);
    assert_int_equal(tt_graph_add_param(g, "w", 2, zero, true, &id), TT_ERR_SHAPE);
    assert_int_equal(tt_graph_add_param(g, "w", 5, zero, true, &id), TT_ERR_SHAPE);
#ifdef TT_COUNT_MALLOC
    /* Refused before allocating: nothing near the requested size was asked of malloc. */
    assert_true(atomic_load(&biggest_request) < ((size_t)1 << 20));
#endif
    assert_int_equal(g->n_values, 0);
    /* An executor whose plan exceeds the cap is refused too. */
    int x, y;
    int64_t xd[2] = {TT_DIM_BATCH, (int64_t)1 << 16};
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 2, xd, &x));
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_RELU, "y", 1, &x, 0, NULL, &y));
    tt_exec *e;
    assert_int_equal(tt_exec_create(g, (int64_t)1 << 24, &e), TT_ERR_NOMEM);
    assert_null(e);
    tt_graph_free(g);
}

static void unknown_op(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x = add_x(g, 2), y;
    assert_int_equal(tt_graph_add_node(g, (tt_op_type)999, "u", 1, &x, 0, NULL, &y),
                     TT_ERR_UNSUPPORTED);
    assert_int_equal(tt_graph_add_node(g, (tt_op_type)-1, "u", 1, &x, 0, NULL, &y),
                     TT_ERR_UNSUPPORTED);
    assert_int_equal(tt_graph_add_node(g, TT_OP_COUNT, "u", 1, &x, 0, NULL, &y),
                     TT_ERR_UNSUPPORTED);
    assert_int_equal(g->n_nodes, 0);
    assert_string_equal(tt_op_name((tt_op_type)999), "?");
    assert_int_equal(tt_op_from_name("NoSuchOp"), TT_OP_COUNT);
    assert_int_equal(tt_op_from_name("Relu"), TT_OP_RELU);
    /* A node corrupted after building (a bad rewrite) is caught by validate and create. */
    y = node1(g, TT_OP_RELU, "r", x);
    g->nodes[0].op = (tt_op_type)999;
    assert_int_equal(tt_graph_validate(g), TT_ERR_UNSUPPORTED);
    tt_exec *e;
    assert_int_equal(tt_exec_create(g, 2, &e), TT_ERR_UNSUPPORTED);
    g->nodes[0].op = TT_OP_RELU;
    TT_ASSERT_OK(tt_graph_validate(g));
    tt_graph_free(g);
}

static void duplicate_names(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x = add_x(g, 2), id;
    int64_t d[2] = {TT_DIM_BATCH, 2}, wd[1] = {2};
    assert_int_equal(tt_graph_add_input(g, "x", TT_F32, 2, d, &id), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "'x'"));
    assert_int_equal(tt_graph_add_param(g, "x", 1, wd, true, &id), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_graph_add_node(g, TT_OP_RELU, "x", 1, &x, 0, NULL, &id),
                     TT_ERR_INVALID_ARG);
    node1(g, TT_OP_RELU, "r", x);
    assert_int_equal(tt_graph_add_node(g, TT_OP_TANH, "r", 1, &x, 0, NULL, &id),
                     TT_ERR_INVALID_ARG);
    assert_int_equal(tt_graph_add_input(g, "", TT_F32, 2, d, &id), TT_ERR_INVALID_ARG);
    assert_int_equal(g->n_values, 2);
    assert_int_equal(g->n_nodes, 1);
    tt_graph_free(g);
}

/* ---- batches and allocation ------------------------------------------------------------- */

/* A small training graph that touches most op kinds:
 * x -> Gemm -> LeakyRelu -> Mul(scale) -> Add(bias-like) -> Dropout -> Reshape -> Flatten
 *   -> Gemm -> logits -> SoftmaxCE(labels), plus an MSE head on Sigmoid(logits). */
typedef struct train_fx {
    tt_graph *g;
    int x, lab, tgt, logits, ce, mse;
} train_fx;

static void train_build(train_fx *f, float drop)
{
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    f->g = g;
    int64_t xd[2] = {TT_DIM_BATCH, 6}, ld[1] = {TT_DIM_BATCH}, td[2] = {TT_DIM_BATCH, 3};
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 2, xd, &f->x));
    TT_ASSERT_OK(tt_graph_add_input(g, "lab", TT_I32, 1, ld, &f->lab));
    TT_ASSERT_OK(tt_graph_add_input(g, "tgt", TT_F32, 2, td, &f->tgt));
    int w1, b1, s, c, w2, b2;
    int64_t w1d[2] = {8, 6}, b1d[1] = {8}, sd[2] = {1, 8}, w2d[2] = {3, 8}, b2d[1] = {3};
    TT_ASSERT_OK(tt_graph_add_param(g, "w1", 2, w1d, true, &w1));
    TT_ASSERT_OK(tt_graph_add_param(g, "b1", 1, b1d, true, &b1));
    TT_ASSERT_OK(tt_graph_add_param(g, "s", 2, sd, true, &s));
    TT_ASSERT_OK(tt_graph_add_param(g, "c", 1, b1d, true, &c));
    TT_ASSERT_OK(tt_graph_add_param(g, "w2", 2, w2d, true, &w2));
    TT_ASSERT_OK(tt_graph_add_param(g, "b2", 1, b2d, true, &b2));
    tt_rng rng;
    tt_rng_seed(&rng, 17, 0);
    tt_test_fill_uniform(tt_graph_param_data(g, w1), 48, -0.5f, 0.5f, &rng);
    tt_test_fill_uniform(tt_graph_param_data(g, b1), 8, -0.5f, 0.5f, &rng);
    tt_test_fill_uniform(tt_graph_param_data(g, s), 8, 0.5f, 1.5f, &rng);
    tt_test_fill_uniform(tt_graph_param_data(g, c), 8, -0.5f, 0.5f, &rng);
    tt_test_fill_uniform(tt_graph_param_data(g, w2), 24, -0.5f, 0.5f, &rng);
    tt_test_fill_uniform(tt_graph_param_data(g, b2), 3, -0.5f, 0.5f, &rng);
    int in3[3] = {f->x, w1, b1}, h;
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_GEMM, "h", 3, in3, 0, NULL, &h));
    int a = node1(g, TT_OP_LEAKYRELU, "a", h);
    int m = node2(g, TT_OP_MUL, "m", a, s);
    int p = node2(g, TT_OP_ADD, "p", m, c);
    tt_attr ratio = tt_attr_float("ratio", drop);
    int dr, r, fl;
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_DROPOUT, "d", 1, &p, 1, &ratio, &dr));
    int64_t rs[3] = {0, 2, 4};
    tt_attr shape = tt_attr_ints("shape", 3, rs);
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_RESHAPE, "rs", 1, &dr, 1, &shape, &r));
    fl = node1(g, TT_OP_FLATTEN, "fl", r);
    int in3b[3] = {fl, w2, b2};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_GEMM, "logits", 3, in3b, 0, NULL, &f->logits));
    f->ce = node2(g, TT_OP_SOFTMAX_CE, "ce", f->logits, f->lab);
    int sg = node1(g, TT_OP_SIGMOID, "sg", f->logits);
    f->mse = node2(g, TT_OP_MSE, "mse", sg, f->tgt);
}

static void smaller_batch_after_larger(void **state)
{
    (void)state;
    train_fx f;
    train_build(&f, 0.0f); /* no dropout: rows must not depend on the batch */
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(f.g, 4, &e));
    float xv[24];
    tt_rng rng;
    tt_rng_seed(&rng, 5, 0);
    tt_test_fill_uniform(xv, 24, -1.0f, 1.0f, &rng);
    TT_ASSERT_OK(tt_exec_set_input(e, f.x, xv, 4));
    TT_ASSERT_OK(tt_exec_forward(e, 4, false));
    float big[12];
    memcpy(big, tt_exec_value(e, f.logits)->data, sizeof big);
    TT_ASSERT_OK(tt_exec_set_input(e, f.x, xv, 2));
    TT_ASSERT_OK(tt_exec_forward(e, 2, false));
    tt_tensor *lt = tt_exec_value(e, f.logits);
    assert_int_equal(lt->shape.dims[0], 2);
    assert_int_equal(tt_tensor_numel(lt), 6);
    /* Same rows, same arithmetic; BLAS may block a 2-row product differently from a 4-row
     * one, so allow a few float ulp of these O(1) logits. */
    for (int i = 0; i < 6; i++) assert_float_equal(tt_tensor_f32(lt)[i], big[i], 1e-6);
    /* And back to 4 rows: bit-identical to the first run. */
    TT_ASSERT_OK(tt_exec_set_input(e, f.x, xv, 4));
    TT_ASSERT_OK(tt_exec_forward(e, 4, false));
    assert_memory_equal(tt_exec_value(e, f.logits)->data, big, sizeof big);
    tt_exec_free(e);
    tt_graph_free(f.g);
}

/* The per-row input gradient of a smaller batch matches the larger batch's rows. */
static void smaller_batch_gradients(void **state)
{
    (void)state;
    train_fx f;
    train_build(&f, 0.0f);
    f.g->values[f.x].trainable = true; /* before tt_exec_create, which plans the gradients */
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(f.g, 4, &e));
    float xv[24], seed[12];
    tt_rng rng;
    tt_rng_seed(&rng, 6, 0);
    tt_test_fill_uniform(xv, 24, -1.0f, 1.0f, &rng);
    tt_test_fill_uniform(seed, 12, -1.0f, 1.0f, &rng);
    TT_ASSERT_OK(tt_exec_set_input(e, f.x, xv, 4));
    TT_ASSERT_OK(tt_exec_forward(e, 4, true));
    TT_ASSERT_OK(tt_exec_backward_from(e, f.logits, seed));
    float gbig[24];
    memcpy(gbig, tt_exec_grad(e, f.x)->data, sizeof gbig);
    TT_ASSERT_OK(tt_exec_set_input(e, f.x, xv, 2));
    TT_ASSERT_OK(tt_exec_forward(e, 2, true));
    TT_ASSERT_OK(tt_exec_backward_from(e, f.logits, seed));
    tt_tensor *gx = tt_exec_grad(e, f.x);
    assert_int_equal(gx->shape.dims[0], 2);
    for (int i = 0; i < 12; i++) assert_float_equal(tt_tensor_f32(gx)[i], gbig[i], 1e-6);
    tt_exec_free(e);
    tt_graph_free(f.g);
}

static void train_step(tt_exec *e, const train_fx *f, int64_t n)
{
    TT_ASSERT_OK(tt_exec_forward(e, n, true));
    TT_ASSERT_OK(tt_exec_backward(e, f->ce));
    TT_ASSERT_OK(tt_exec_backward(e, f->mse));
}

static void no_allocation_in_step(void **state)
{
    (void)state;
    train_fx f;
    train_build(&f, 0.25f);
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(f.g, 8, &e));
    float xv[48], tv[24];
    int32_t lab[8];
    tt_rng rng;
    tt_rng_seed(&rng, 7, 0);
    tt_test_fill_uniform(xv, 48, -1.0f, 1.0f, &rng);
    tt_test_fill_uniform(tv, 24, 0.0f, 1.0f, &rng);
    for (int i = 0; i < 8; i++) lab[i] = (int32_t)tt_rng_below(&rng, 3);
    TT_ASSERT_OK(tt_exec_set_input(e, f.x, xv, 8));
    TT_ASSERT_OK(tt_exec_set_input(e, f.lab, lab, 8));
    TT_ASSERT_OK(tt_exec_set_input(e, f.tgt, tv, 8));
    size_t bytes = tt_exec_bytes(e);
    assert_true(bytes > 0);
    train_step(e, &f, 8); /* warm-up: libraries may set up pools on first use */
    TT_ASSERT_OK(tt_exec_forward(e, 3, false));
#ifdef TT_COUNT_MALLOC
    atomic_store(&own_allocs, 0);
    atomic_store(&all_allocs, 0);
    atomic_store(&counting, 1);
#endif
    for (int k = 0; k < 3; k++) {
        train_step(e, &f, 8);
        train_step(e, &f, 3);
        TT_ASSERT_OK(tt_exec_forward(e, 5, false));
    }
#ifdef TT_COUNT_MALLOC
    atomic_store(&counting, 0);
    if (atomic_load(&all_allocs))
        print_message("note: %ld allocations in the steps, %ld of them by tinytrain\n",
                      atomic_load(&all_allocs), atomic_load(&own_allocs));
    assert_int_equal(atomic_load(&own_allocs), 0);
#else
    print_message("malloc counting is off in sanitizer builds; checking tt_exec_bytes only\n");
#endif
    assert_int_equal(tt_exec_bytes(e), bytes);
    float loss = tt_tensor_f32(tt_exec_value(e, f.ce))[0];
    assert_true(isfinite(loss) && loss > 0.0f);
    tt_exec_free(e);
    tt_graph_free(f.g);
}

/* The counter itself works: a plain malloc from this file is seen. */
static void allocation_counter_works(void **state)
{
    (void)state;
#ifdef TT_COUNT_MALLOC
    atomic_store(&own_allocs, 0);
    atomic_store(&counting, 1);
    void *volatile p = malloc(32);
    atomic_store(&counting, 0);
    free(p);
    assert_int_equal(atomic_load(&own_allocs), 1);
    /* tinytrain's own allocations are seen too. */
    tt_graph *g;
    atomic_store(&own_allocs, 0);
    atomic_store(&counting, 1);
    tt_status s = tt_graph_create(&g);
    atomic_store(&counting, 0);
    assert_int_equal(s, TT_OK);
    assert_true(atomic_load(&own_allocs) >= 1);
    tt_graph_free(g);
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(square_via_mul),
        cmocka_unit_test(diamond),
        cmocka_unit_test(shared_param),
        cmocka_unit_test(backward_state_errors),
        cmocka_unit_test(set_input_errors),
        cmocka_unit_test(null_arguments),
        cmocka_unit_test(absurd_sizes),
        cmocka_unit_test(unknown_op),
        cmocka_unit_test(duplicate_names),
        cmocka_unit_test(smaller_batch_after_larger),
        cmocka_unit_test(smaller_batch_gradients),
        cmocka_unit_test(allocation_counter_works),
        cmocka_unit_test(no_allocation_in_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
