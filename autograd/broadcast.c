/* Numpy broadcasting: shape rules and the strided loops behind Add and Mul. */
#include "autograd/broadcast.h"
#include <string.h>
#include "autograd/internal.h"
#include "autograd/op.h"

/* Elementwise loops go parallel above this many elements (smaller ones lose to thread start). */
#define TT_PAR_MIN 65536

static int64_t padded_dim(const tt_shape *s, int r, int i)
{
    int k = i - (r - s->ndim);
    return k >= 0 ? s->dims[k] : 1;
}

tt_status tt_bcast_infer(const tt_node *n, const tt_shape *a, const tt_shape *b, tt_shape *out)
{
    int r = a->ndim > b->ndim ? a->ndim : b->ndim;
    char sa[64], sb[64];
    if (r > TT_MAX_DIMS)
        return tt_fail(TT_ERR_SHAPE, "node '%s' (%s): rank %d is above the maximum %d", n->name,
                       tt_op_name(n->op), r, TT_MAX_DIMS);
    memset(out, 0, sizeof *out);
    out->ndim = r;
    for (int i = 0; i < r; i++) {
        int64_t da = padded_dim(a, r, i), db = padded_dim(b, r, i), o;
        if (da == db)
            o = da;
        else if (da == 1)
            o = db;
        else if (db == 1)
            o = da;
        else
            return tt_fail(TT_ERR_SHAPE,
                           "node '%s' (%s): shapes %s and %s do not broadcast (dimension %d: "
                           "%lld vs %lld; sizes must match or one must be 1%s)",
                           n->name, tt_op_name(n->op), tt_shape_str(a, sa, sizeof sa),
                           tt_shape_str(b, sb, sizeof sb), i, (long long)da, (long long)db,
                           (da == TT_DIM_BATCH || db == TT_DIM_BATCH)
                               ? "; the batch N broadcasts only with N or 1"
                               : "");
        /* The executor resolves the batch only in dimension 0, so a batch dimension that lands
         * anywhere else (a [N] with a [3, 1]) has no concrete size. */
        if (o == TT_DIM_BATCH && i != 0)
            return tt_fail(TT_ERR_SHAPE,
                           "node '%s' (%s): broadcasting %s with %s puts the batch dimension at "
                           "position %d; it must stay the leading dimension",
                           n->name, tt_op_name(n->op), tt_shape_str(a, sa, sizeof sa),
                           tt_shape_str(b, sb, sizeof sb), i);
        out->dims[i] = o;
    }
    return TT_OK;
}

void tt_bcast_plan(const tt_shape *a, const tt_shape *b, tt_bcast *p)
{
    const tt_shape *ops[2] = {a, b};
    int r = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t od[TT_MAX_DIMS], st[2][TT_MAX_DIMS];
    for (int w = 0; w < 2; w++) {
        int64_t s = 1;
        for (int i = r - 1; i >= 0; i--) {
            int64_t d = padded_dim(ops[w], r, i);
            st[w][i] = d == 1 ? 0 : s;
            s *= d;
        }
    }
    memset(p, 0, sizeof *p);
    p->numel = 1;
    int nd = 0;
    int64_t md[TT_MAX_DIMS], ms[2][TT_MAX_DIMS];
    for (int i = 0; i < r; i++) {
        od[i] = padded_dim(a, r, i) == 1 ? padded_dim(b, r, i) : padded_dim(a, r, i);
        p->numel *= od[i];
        if (od[i] == 1) continue; /* a unit dim adds no loop */
        if (nd > 0 && ms[0][nd - 1] == st[0][i] * od[i] && ms[1][nd - 1] == st[1][i] * od[i]) {
            md[nd - 1] *= od[i];
            ms[0][nd - 1] = st[0][i];
            ms[1][nd - 1] = st[1][i];
            continue;
        }
        md[nd] = od[i];
        ms[0][nd] = st[0][i];
        ms[1][nd] = st[1][i];
        nd++;
    }
    if (nd == 0) { /* every dim is 1: one element */
        md[0] = 1;
        ms[0][0] = ms[1][0] = 0;
        nd = 1;
    }
    /* Right-align into four loops; the leading padding loops run once. */
    p->nd = nd;
    for (int i = 0; i < TT_MAX_DIMS; i++) {
        int k = i - (TT_MAX_DIMS - nd);
        p->dims[i] = k >= 0 ? md[k] : 1;
        p->st[0][i] = k >= 0 ? ms[0][k] : 0;
        p->st[1][i] = k >= 0 ? ms[1][k] : 0;
    }
    p->same = nd == 1 && p->st[0][3] == 1 && p->st[1][3] == 1;
}

/* Offset of operand w at outer index o (the three outer loops flattened). */
static inline int64_t outer_off(const tt_bcast *p, int w, int64_t o)
{
    int64_t i2 = o % p->dims[2], t = o / p->dims[2];
    int64_t i1 = t % p->dims[1], i0 = t / p->dims[1];
    return i0 * p->st[w][0] + i1 * p->st[w][1] + i2 * p->st[w][2];
}

/* One operator's loops: flat when both operands have the output's shape, else per outer row
 * with the inner strides (0 or 1) spelt out so the compiler vectorises each case. */
#define BCAST_LOOPS(OP)                                                                            \
    do {                                                                                           \
        if (p->same) {                                                                             \
            _Pragma("omp parallel for if (n > TT_PAR_MIN)") for (int64_t i = 0; i < n; i++) y[i] = \
                a[i] OP b[i];                                                                      \
            break;                                                                                 \
        }                                                                                          \
        _Pragma("omp parallel for if (n > TT_PAR_MIN)") for (int64_t o = 0; o < outer; o++)        \
        {                                                                                          \
            const float *ap = a + outer_off(p, 0, o), *bp = b + outer_off(p, 1, o);                \
            float *yp = y + o * inner;                                                             \
            if (s0 && s1)                                                                          \
                for (int64_t j = 0; j < inner; j++) yp[j] = ap[j] OP bp[j];                        \
            else if (s0)                                                                           \
                for (int64_t j = 0; j < inner; j++) yp[j] = ap[j] OP bp[0];                        \
            else if (s1)                                                                           \
                for (int64_t j = 0; j < inner; j++) yp[j] = ap[0] OP bp[j];                        \
            else                                                                                   \
                for (int64_t j = 0; j < inner; j++) yp[j] = ap[0] OP bp[0];                        \
        }                                                                                          \
    } while (0)

void tt_bcast_binary(const tt_bcast *p, tt_bcast_op op, const float *a, const float *b, float *y)
{
    int64_t n = p->numel;
    int64_t inner = p->dims[3], outer = p->dims[0] * p->dims[1] * p->dims[2];
    int64_t s0 = p->st[0][3], s1 = p->st[1][3];
    switch (op) {
    case TT_BCAST_ADD:
        BCAST_LOOPS(+);
        break;
    case TT_BCAST_SUB:
        BCAST_LOOPS(-);
        break;
    case TT_BCAST_MUL:
        BCAST_LOOPS(*);
        break;
    case TT_BCAST_DIV:
        BCAST_LOOPS(/);
        break; /* IEEE division, never a reciprocal multiply */
    }
}

void tt_bcast_accum(const tt_bcast *p, int which, float *dst, const float *dy, const float *other)
{
    int64_t n = p->numel;
    int ow = 1 - which;
    if (p->same) {
        if (other) {
#pragma omp parallel for if (n > TT_PAR_MIN)
            for (int64_t i = 0; i < n; i++) dst[i] += dy[i] * other[i];
        } else {
#pragma omp parallel for if (n > TT_PAR_MIN)
            for (int64_t i = 0; i < n; i++) dst[i] += dy[i];
        }
        return;
    }
    int64_t inner = p->dims[3], outer = p->dims[0] * p->dims[1] * p->dims[2];
    int64_t sd = p->st[which][3], so = p->st[ow][3];
    /* Outer iterations write disjoint parts of dst only when dst is not broadcast along any
     * outer loop; otherwise they reduce into the same elements and must run in order. */
    bool disjoint = true;
    for (int k = 0; k < 3; k++)
        if (p->dims[k] > 1 && p->st[which][k] == 0) disjoint = false;
#pragma omp parallel for if (disjoint && n > TT_PAR_MIN)
    for (int64_t o = 0; o < outer; o++) {
        float *dp = dst + outer_off(p, which, o);
        const float *gp = dy + o * inner;
        const float *op = other ? other + outer_off(p, ow, o) : NULL;
        if (sd) {
            if (!op)
                for (int64_t j = 0; j < inner; j++) dp[j] += gp[j];
            else if (so)
                for (int64_t j = 0; j < inner; j++) dp[j] += gp[j] * op[j];
            else
                for (int64_t j = 0; j < inner; j++) dp[j] += gp[j] * op[0];
        } else {
            float s = 0.0f;
            if (!op)
                for (int64_t j = 0; j < inner; j++) s += gp[j];
            else if (so)
                for (int64_t j = 0; j < inner; j++) s += gp[j] * op[j];
            else
                for (int64_t j = 0; j < inner; j++) s += gp[j] * op[0];
            dp[0] += s;
        }
    }
}
