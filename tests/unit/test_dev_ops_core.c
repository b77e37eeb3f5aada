/* Device op matrix, core group: Relu, Add (equal shapes and numpy broadcasting), Flatten and
 * Reshape, forward and backward, bit for bit against the CPU (one exact float operation per
 * element, a copy, or the CPU's summation order), and the executor's out-of-device-memory path.
 * Runs on $TT_TEST_BACKEND (ctest: OpenCL, and CUDA as *_cuda); exits 77 without a device. */
#include <stdio.h>
#include "dev_harness.h"
#include "testutil.h"
#include "tinytrain/backends.h"

#define IN(nm, nd, ...)                                                                            \
    {                                                                                              \
        nm, TT_F32, nd, {__VA_ARGS__}, TT_DH_INPUT, true, -2.0, 2.0                                \
    }

static void relu(void **state)
{
    (void)state;
    tt_dh_case c = {"Relu", TT_OP_RELU, 1, {IN("x", 4, 3, 5, 7, 9)}, .training = true, .seed = 1};
    assert_int_equal(tt_dh_run(&c, tt_dh_backend()), 0);
}

static void add_equal_shapes(void **state)
{
    (void)state;
    tt_dh_case c = {
        "Add", TT_OP_ADD, 2, {IN("a", 2, 37, 11), IN("b", 2, 37, 11)}, .training = true, .seed = 2};
    assert_int_equal(tt_dh_run(&c, tt_dh_backend()), 0);
    /* one input without a gradient: only the other accumulates */
    c.in[1].grad = false;
    c.label = "Add, b without gradient";
    assert_int_equal(tt_dh_run(&c, tt_dh_backend()), 0);
}

/* Broadcasting as the CPU plans it: a bias row, a per-channel bias, an outer sum, a scalar;
 * the reducing backward sums in the CPU's order, so bit for bit. */
static void add_broadcast(void **state)
{
    (void)state;
    tt_dh_case cases[] = {
        {"Add [4,3]+[3]", TT_OP_ADD, 2, {IN("a", 2, 4, 3), IN("b", 1, 3)}, .training = true},
        {"Add [3,5,7,9]+[1,5,1,1]",
         TT_OP_ADD,
         2,
         {IN("a", 4, 3, 5, 7, 9), IN("b", 4, 1, 5, 1, 1)},
         .training = true},
        {"Add [5,1]+[1,6]", TT_OP_ADD, 2, {IN("a", 2, 5, 1), IN("b", 2, 1, 6)}, .training = true},
        {"Add [1]+[2,3,4]", TT_OP_ADD, 2, {IN("a", 1, 1), IN("b", 3, 2, 3, 4)}, .training = true},
        {"Add [7,1,9]+[7,11,9]",
         TT_OP_ADD,
         2,
         {IN("a", 3, 7, 1, 9), IN("b", 3, 7, 11, 9)},
         .training = true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cases[i].seed = 30 + i;
        assert_int_equal(tt_dh_run(&cases[i], tt_dh_backend()), 0);
    }
}

static void flatten_reshape(void **state)
{
    (void)state;
    tt_dh_case f = {"Flatten",        TT_OP_FLATTEN, 1, {IN("x", 4, 2, 3, 4, 5)},
                    .training = true, .seed = 4};
    assert_int_equal(tt_dh_run(&f, tt_dh_backend()), 0);
    int64_t shape[2] = {6, 20};
    tt_dh_case r = {"Reshape",
                    TT_OP_RESHAPE,
                    1,
                    {IN("x", 4, 2, 3, 4, 5)},
                    1,
                    {tt_attr_ints("shape", 2, shape)},
                    .training = true,
                    .seed = 5};
    assert_int_equal(tt_dh_run(&r, tt_dh_backend()), 0);
}

/* A graph whose parameter the device cannot hold: the executor refuses it with the "out of
 * device memory" error and frees what it had allocated. The parameter is calloc'ed on the host
 * (pages untouched) and used by no node, so the host side costs nothing. Its size is half the
 * device's memory plus 1 GiB: above the per-buffer limit of PoCL (a quarter of the memory) and
 * of most drivers, and under the 16 GiB a host tensor may hold for devices up to 30 GiB; on
 * larger devices the device layer's own test covers the allocation failure. */
static void out_of_device_memory(void **state)
{
    (void)state;
    tt_backend_list l;
    TT_ASSERT_OK(tt_backends_list(&l));
    uint64_t mem = 0;
    for (int i = 0; i < l.n_devices; i++)
        if (!strncmp(tt_backend_kind_name(l.devices[i].kind), tt_dh_backend(), 4) && !mem)
            mem = l.devices[i].global_mem;
    uint64_t want = mem / 2 + ((uint64_t)1 << 30);
    if (want >= ((uint64_t)1 << 34)) {
        printf("skipped: %s has %.1f GiB, beyond what a host tensor may hold\n", tt_dh_backend(),
               (double)mem / (1 << 30));
        return;
    }
    tt_graph *g = NULL;
    TT_ASSERT_OK(tt_graph_create(&g));
    int big, x;
    int64_t n = (int64_t)(want / sizeof(float)), one = 4;
    TT_ASSERT_OK(tt_graph_add_param(g, "huge", 1, &n, false, &big));
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 1, &one, &x));
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_RELU, "r", 1, &x, 0, NULL, NULL));
    tt_exec *e = NULL;
    assert_int_equal(tt_exec_create_on(g, 1, tt_dh_backend(), &e), TT_ERR_NOMEM);
    assert_null(e);
    assert_non_null(strstr(tt_last_error(), "out of device memory"));
    tt_graph_free(g);
}

int main(void)
{
    int dev = tt_dh_device_status(tt_dh_backend());
    if (dev) return dev;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(relu),
        cmocka_unit_test(add_equal_shapes),
        cmocka_unit_test(add_broadcast),
        cmocka_unit_test(flatten_reshape),
        cmocka_unit_test(out_of_device_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
