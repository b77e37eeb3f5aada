/* Metrics against hand-computed values. */
#include "testutil.h"
#include <math.h>
#include <stdlib.h>
#include "tinytrain/metrics.h"

static void confusion_counts(void **state)
{
    (void)state;
    tt_confusion c;
    TT_ASSERT_OK(tt_confusion_init(&c, 3));
    /* argmax per row: 0, 2, 2, 1 (the tie in row 4 goes to the first maximum, class 1) */
    float z[12] = {5, 1, 0, 0, 1, 3, 0, 0, 9, 0, 4, 4};
    int32_t y[4] = {0, 2, 1, 1};
    TT_ASSERT_OK(tt_confusion_add(&c, z, y, 4));
    assert_int_equal(c.total, 4);
    assert_float_equal(tt_confusion_accuracy(&c), 75.0, 1e-12);
    assert_float_equal(tt_confusion_class_accuracy(&c, 1), 50.0, 1e-12);
    assert_float_equal(tt_confusion_class_accuracy(&c, 2), 100.0, 1e-12);
    assert_int_equal(c.counts[1 * 3 + 2], 1); /* a true 1 predicted as 2 */
    int32_t bad[1] = {3};
    assert_int_equal(tt_confusion_add(&c, z, bad, 1), TT_ERR_INVALID_ARG);
    assert_int_equal(c.total, 4);
    tt_confusion_free(&c);
    assert_int_equal(tt_confusion_init(&c, 0), TT_ERR_INVALID_ARG);
}

static void correlations(void **state)
{
    (void)state;
    float a[5] = {1, 2, 3, 4, 5}, b[5] = {2, 4, 6, 8, 10}, c[5] = {5, 4, 3, 2, 1};
    assert_float_equal(tt_plcc(a, b, 5), 1.0, 1e-12);
    assert_float_equal(tt_plcc(a, c, 5), -1.0, 1e-12);
    float k[5] = {3, 3, 3, 3, 3};
    assert_true(isnan(tt_plcc(a, k, 5))); /* constant side: undefined, not 0 */
    /* Monotone but non-linear: SROCC 1, PLCC < 1. */
    float sq[5] = {1, 4, 9, 16, 100};
    void *scratch = malloc(tt_srocc_scratch_bytes(5));
    assert_float_equal(tt_srocc(a, sq, 5, scratch), 1.0, 1e-12);
    assert_true(tt_plcc(a, sq, 5) < 0.95);
    /* Ties get average ranks: ranks of t are 1.5, 1.5, 3, 4, 5; against a, Pearson of
     * (1.5,1.5,3,4,5) with (1..5) = 0.97467943448089(6) (numpy.corrcoef on those ranks). */
    float t[5] = {0, 0, 1, 2, 3};
    assert_float_equal(tt_srocc(a, t, 5, scratch), 0.9746794344808963, 1e-12);
    free(scratch);
}

static void rmse_psnr(void **state)
{
    (void)state;
    float a[4] = {0, 0.5f, 1, 0.25f}, b[4] = {0.1f, 0.5f, 0.9f, 0.25f};
    double want = sqrt((0.01 + 0.01) / 4.0);
    assert_float_equal(tt_rmse(a, b, 4), want, 1e-7);
    assert_float_equal(tt_psnr(a, b, 4, 1.0), 20.0 * log10(1.0 / want), 1e-5);
    assert_true(isinf(tt_psnr(a, a, 4, 1.0)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(confusion_counts),
        cmocka_unit_test(correlations),
        cmocka_unit_test(rmse_psnr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
