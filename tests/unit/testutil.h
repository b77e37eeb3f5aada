/* Helpers shared by the unit tests: random fills and the finite-difference gradient check. */
#ifndef TT_TESTUTIL_H
#define TT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "tinytrain/tinytrain.h"

/* Assert a tinytrain call succeeded, printing tt_last_error() if not. */
#define TT_ASSERT_OK(expr)                                                                         \
    do {                                                                                           \
        tt_status s_ = (expr);                                                                     \
        if (s_ != TT_OK)                                                                           \
            print_error("%s failed: %s: %s\n", #expr, tt_status_str(s_), tt_last_error());         \
        assert_int_equal(s_, TT_OK);                                                               \
    } while (0)

void tt_test_fill_uniform(float *x, int64_t n, float lo, float hi, tt_rng *rng);

typedef struct tt_gradcheck_opts {
    float eps;   /* central-difference step */
    double rtol; /* |analytic - numeric| <= atol + rtol * |numeric| */
    double atol;
    uint64_t seed; /* dropout RNG is re-seeded with this before every forward */
} tt_gradcheck_opts;

tt_gradcheck_opts tt_gradcheck_defaults(void);

/* Compare the analytic gradient of L = sum_i out[i] * r[i] (r fixed, uniform in [-1, 1), the
 * sum in double) with central differences, for every element of every trainable input and
 * parameter. Inputs must already be set. Returns the number of mismatching elements (printing
 * the first few) and writes the worst relative error. */
int tt_gradcheck(tt_exec *e, int out_id, int64_t batch, const tt_gradcheck_opts *o,
                 double *worst_rel);

/* A small conv (no bias) - bn - relu - maxpool - conv (bias) - bn - relu - flatten - dropout -
 * linear model on [2, 8, 8] synthetic data, as config YAML (no name): the QAT and export tests
 * share it so they check the same graph. */
#define TT_TEST_CNN_YAML                                                                           \
    "data: {kind: synthetic, samples: 64}\n"                                                       \
    "model:\n"                                                                                     \
    "  input: [2, 8, 8]\n"                                                                         \
    "  layers:\n"                                                                                  \
    "    - {type: conv2d, out_channels: 4, kernel: 3, padding: 1, bias: false}\n"                  \
    "    - {type: batchnorm}\n"                                                                    \
    "    - {type: relu}\n"                                                                         \
    "    - {type: maxpool, kernel: 2}\n"                                                           \
    "    - {type: conv2d, out_channels: 6, kernel: 3, padding: 1}\n"                               \
    "    - {type: batchnorm}\n"                                                                    \
    "    - {type: relu}\n"                                                                         \
    "    - {type: flatten}\n"                                                                      \
    "    - {type: dropout, ratio: 0.5}\n"                                                          \
    "    - {type: linear, out_features: 5}\n"

/* Path of a fixture file: $TT_FIXTURES/<rel> (TT_FIXTURES is set by ctest). */
const char *tt_test_fixture(const char *rel, char *buf, size_t len);

#endif
