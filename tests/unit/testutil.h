/* Helpers shared by the unit tests: random fills, the finite-difference gradient check, the
 * models the ONNX tests build, fixtures, temporary directories and whole-file reads. */
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

/* The other layer kinds the configs offer (relu6, residual, avgpool, global_avgpool,
 * leaky_relu, sigmoid, tanh) on [1, 8, 8] synthetic data, as config YAML (no name): the ONNX
 * export and import tests share it. */
#define TT_TEST_OPS_YAML                                                                           \
    "data: {kind: synthetic, samples: 64}\n"                                                       \
    "model:\n"                                                                                     \
    "  input: [1, 8, 8]\n"                                                                         \
    "  layers:\n"                                                                                  \
    "    - {type: conv2d, out_channels: 4, kernel: 3, padding: 1}\n"                               \
    "    - {type: relu6}\n"                                                                        \
    "    - {type: residual, out_channels: 4}\n"                                                    \
    "    - {type: avgpool, kernel: 2}\n"                                                           \
    "    - {type: global_avgpool}\n"                                                               \
    "    - {type: flatten}\n"                                                                      \
    "    - {type: linear, out_features: 6}\n"                                                      \
    "    - {type: leaky_relu, alpha: 0.1}\n"                                                       \
    "    - {type: linear, out_features: 6}\n"                                                      \
    "    - {type: sigmoid}\n"                                                                      \
    "    - {type: linear, out_features: 3}\n"                                                      \
    "    - {type: tanh}\n"

/* A model built from config YAML, as the ONNX export and import tests use it: g the fp32 graph
 * (RNG seeded 11, BatchNorm statistics moved off their 0/1 defaults so that folding has
 * something to fold and a dropped or misread BN input shows), q its QAT twin when made. */
typedef struct tt_test_model {
    tt_config *cfg;
    tt_graph *g;
    int in, out;
    tt_graph *q;
    int qin, qout;
} tt_test_model;

void tt_test_model_build(tt_test_model *m, const char *yaml);
/* The QAT twin (cfg's qat section), calibrated by one training forward of 8 inputs uniform in
 * [-1, 2) with the observers on (what the QAT recipe's calibration does), so every scale and
 * zero point is a real one. */
void tt_test_model_qat(tt_test_model *m);
void tt_test_model_free(tt_test_model *m);

/* Path of a fixture file: $TT_FIXTURES/<rel> (TT_FIXTURES is set by ctest). */
const char *tt_test_fixture(const char *rel, char *buf, size_t len);

/* A fresh directory /tmp/<prefix>_XXXXXX (mkdtemp) in buf: buf, or NULL when it cannot be made
 * (a group setup returns -1 for that; a test asserts non-NULL). */
char *tt_test_tmpdir_make(const char *prefix, char *buf, size_t len);
/* Remove dir and everything below it. Symbolic links are removed, never followed (lstat), so a
 * test that links out of its directory cannot make the clean-up delete what a link points to. */
void tt_test_tmpdir_remove(const char *dir);
/* cmocka group teardown for a group whose setup left its tt_test_tmpdir_make directory in
 * *state: removes it. */
int tt_test_tmpdir_teardown(void **state);

/* The whole file, malloc'd, with a NUL after the last byte so text reads as a string; *len its
 * size unless len is NULL. Fails the test when the file cannot be read. */
void *tt_test_read_file(const char *path, size_t *len);
/* Write len bytes to path (created or truncated); fails the test on any error. */
void tt_test_write_file(const char *path, const void *data, size_t len);

#endif
