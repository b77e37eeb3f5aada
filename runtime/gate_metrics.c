/* The gate's arithmetic and its lines (tinytrain/gate.h), apart from the runtime so that they
 * can be tested on hand-made numbers. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "tinytrain/gate.h"
#include "tinytrain/rng.h"

#define EM_DASH "\xe2\x80\x94"

/* snprintf whose truncation is acceptable (a line longer than the caller's buffer is cut). */
static void TT_PRINTF(3, 4) fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, len, f, ap);
    va_end(ap);
}

/* ---- the maths ---- */

static int64_t count_nonfinite(const float *x, int64_t n)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += !isfinite(x[i]);
    return k;
}

void tt_gate_compare(const float *fp32, const float *int8, int64_t n, tt_gate_metrics *m)
{
    memset(m, 0, sizeof *m);
    m->n = n;
    m->plcc = m->drop = m->worst_abs = NAN;
    m->std_fp32 = m->std_int8 = m->mean_fp32 = m->mean_int8 = NAN;
    if (n <= 0) return;
    m->nonfinite_fp32 = count_nonfinite(fp32, n);
    m->nonfinite_int8 = count_nonfinite(int8, n);
    if (m->nonfinite_fp32 || m->nonfinite_int8) return;
    /* Two passes (means, then centred sums), as numpy's corrcoef: one-pass formulas lose the
     * digits that a drop of 1e-4 lives in when the outputs have a large mean. */
    double sa = 0, sb = 0;
    for (int64_t i = 0; i < n; i++) {
        sa += fp32[i];
        sb += int8[i];
    }
    double ma = sa / (double)n, mb = sb / (double)n, saa = 0, sbb = 0, sab = 0, worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double da = fp32[i] - ma, db = int8[i] - mb, d = fabs((double)fp32[i] - (double)int8[i]);
        saa += da * da;
        sbb += db * db;
        sab += da * db;
        if (d > worst) worst = d;
    }
    m->mean_fp32 = ma;
    m->mean_int8 = mb;
    m->std_fp32 = sqrt(saa / (double)n);
    m->std_int8 = sqrt(sbb / (double)n);
    m->worst_abs = worst;
    if (m->std_fp32 < TT_GATE_CONSTANT_STD || m->std_int8 < TT_GATE_CONSTANT_STD) return;
    double r = sab / sqrt(saa * sbb);
    m->plcc = r > 1 ? 1 : r < -1 ? -1 : r; /* rounding can step past +-1, as numpy clips */
    m->drop = 1.0 - m->plcc;
}

tt_gate_verdict tt_gate_judge(const tt_gate_metrics *m, double budget)
{
    if (m->nonfinite_fp32 || m->nonfinite_int8) return TT_GATE_NONFINITE;
    if (isnan(m->plcc)) /* a constant output: equal means identical, element for element */
        return m->n > 0 && m->worst_abs == 0 ? TT_GATE_PASS_CONSTANT : TT_GATE_CONSTANT;
    return m->drop <= budget ? TT_GATE_PASS : TT_GATE_OVER_BUDGET;
}

tt_status tt_gate_inputs(const tt_shape *input_shape, int64_t n_samples, uint64_t seed,
                         tt_shape *sample, float **x)
{
    TT_CHECK_NULL(input_shape, "tt_gate_inputs");
    TT_CHECK_NULL(x, "tt_gate_inputs");
    *x = NULL;
    if (n_samples < 1 || n_samples > TT_GATE_SAMPLES_MAX)
        return tt_fail(TT_ERR_INVALID_ARG, "gate: %lld samples; 1 .. %d allowed",
                       (long long)n_samples, TT_GATE_SAMPLES_MAX);
    *sample = *input_shape;
    for (int i = 0; i < sample->ndim; i++)
        if (sample->dims[i] < 0) sample->dims[i] = 1; /* symbolic: 1, as the seed's gate */
    int64_t per = tt_shape_numel(sample);
    if (per < 1 || per > TT_TENSOR_MAX_BYTES / 4 / n_samples)
        return tt_fail(TT_ERR_NOMEM, "gate: %lld samples of %lld values is too many",
                       (long long)n_samples, (long long)per);
    *x = malloc((size_t)(per * n_samples) * sizeof(float));
    if (!*x) return tt_fail(TT_ERR_NOMEM, "gate: out of memory for the inputs");
    tt_rng rng;
    tt_rng_seed(&rng, seed, 0);
    for (int64_t i = 0; i < per * n_samples; i++) (*x)[i] = tt_rng_uniform(&rng);
    return TT_OK;
}

const char *tt_gate_status_name(tt_gate_status s)
{
    static const char *const names[] = {"pass",          "fail",  "skipped_fp32",
                                        "missing_model", "error", "unavailable"};
    return (unsigned)s < 6 ? names[s] : "?";
}

/* ---- the lines ---- */

void tt_gate_line(const tt_gate_row *r, char *buf, size_t len)
{
    const char *tag = r->status == TT_GATE_ST_PASS ? "PASS" : "FAIL";
    const tt_gate_metrics *m = &r->m;
    if (r->status == TT_GATE_ST_SKIPPED_FP32 || r->status == TT_GATE_ST_UNAVAILABLE) {
        fmt(buf, len, "[skip] %s " EM_DASH " %s", r->id, r->message);
    } else if (!r->measured) {
        fmt(buf, len, "[FAIL] %s " EM_DASH " %s", r->id, r->message);
    } else if (r->verdict == TT_GATE_PASS || r->verdict == TT_GATE_OVER_BUDGET) {
        fmt(buf, len, "[%s] %-24s mode=%-7s PLCC=%.6f  drop=%.6f  budget=%.4f  worst_abs=%.4f", tag,
            r->id, r->mode, m->plcc, m->drop, r->budget, m->worst_abs);
    } else if (r->verdict == TT_GATE_NONFINITE) {
        fmt(buf, len, "[%s] %-24s mode=%-7s %s", tag, r->id, r->mode, r->message);
    } else {
        fmt(buf, len, "[%s] %-24s mode=%-7s %s  budget=%.4f  worst_abs=%.4f", tag, r->id, r->mode,
            r->message, r->budget, m->worst_abs);
    }
}

bool tt_gate_all_ok(const tt_gate_row *rows, int n)
{
    for (int i = 0; i < n; i++)
        if (rows[i].status != TT_GATE_ST_PASS && rows[i].status != TT_GATE_ST_SKIPPED_FP32 &&
            rows[i].status != TT_GATE_ST_UNAVAILABLE)
            return false;
    return true;
}
