/* Dynamic PTQ (tinytrain/ptq.h, TT_PTQ_DYNAMIC): an fp32 ONNX model rewritten the way ONNX
 * Runtime 1.32's quantize_dynamic (QuantizationMode.IntegerOps) rewrites it. The rewrite works on
 * the model's own protobuf, so every node it does not quantise keeps its name, attributes, inputs
 * and outputs, and the model keeps its opsets, IR version, graph inputs/outputs and value_info:
 *
 *   1. Gemm with alpha = beta = 1 and transA = 0 becomes MatMul (+ Add of C); a constant B with
 *      transB = 1 is stored transposed as <B>_Transposed (ORT's replace_gemm_with_matmul, which
 *      runs on every Gemm, excluded or not).
 *   2. In node order, a MatMul whose B is a float initializer and a Conv become
 *      DynamicQuantizeLinear (once per activation) -> MatMulInteger / ConvInteger -> Cast -> Mul
 *      by (activation scale x weight scale); a Conv bias comes back through Reshape and Add.
 *   3. A node left in float that reads a quantised weight gets it through DequantizeLinear,
 *      unused initializers go, and the nodes are ordered by ORT's topological sort.
 *
 * Weights: int8 symmetric ([-127, 127]; [-64, 64] with reduce_range) or uint8 asymmetric
 * ([0, 255]; [0, 127]), from their min/max through tt_quant_compute_scale_zp, per tensor, or per
 * column (last axis) for MatMul with per-channel: ORT quantises Conv weights per tensor whatever
 * per_channel says (ConvInteger takes one weight zero point). Names are ORT's: <x>_QuantizeLinear
 * -> <x>_quantized, <x>_scale, <x>_zero_point; <w>_quantized/_scale/_zero_point; <node>_quant ->
 * <y>_output_quantized -> <y>_output_quantized_cast -> <node>_quant_output_scale_mul, with the
 * scales' product from <node>_quant_scales_mul (output "...:0"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "data/atomic_file.h"
#include "data/dataset_internal.h"
#include "data/whole_file.h"
#include "export/onnx_import.h"
#include "export/onnx_proto.h"
#include "runtime/ptq_dynamic.h"
#include "tinytrain/quant.h"
#include "tinytrain/runtime.h"
#include "tinytrain/tinytrain.h"

/* A value that has a quantised form (ORT's quantized_value_map). */
typedef struct qval {
    const char *name, *q, *scale, *zp;
    int axis; /* per-channel axis, -1 per tensor */
    bool weight;
} qval;

typedef struct node_list {
    Onnx__NodeProto **v;
    size_t n, cap;
} node_list;

typedef struct gemm_origin {
    const Onnx__NodeProto *matmul;
    const char *gemm; /* the Gemm's name, which --exclude also accepts */
} gemm_origin;

typedef struct name_pair {
    const char *from, *to;
} name_pair;

typedef struct dyn {
    const char *path;
    const tt_ptq_opts *o;
    tt_ptq_result *r;
    Onnx__ModelProto *m;
    Onnx__GraphProto *g;
    tt_onnx_builder b; /* owns the nodes and initializers made here */
    tt_imp im;         /* decodes initializers, and names the node in messages */
    node_list nodes;
    qval *qv;
    size_t n_qv, cap_qv;
    gemm_origin *gemm;
    size_t n_gemm, cap_gemm;
    name_pair *transposed; /* Gemm B -> its transposed initializer */
    size_t n_tr, cap_tr;
    const char **reserved; /* names the Gemm rewrite reserved */
    size_t n_res, cap_res;
    void **blocks; /* other allocations, freed at the end */
    size_t n_blocks, cap_blocks;
} dyn;

static const char *str(const char *s)
{
    return s ? s : "";
}

static tt_status oom(void)
{
    return tt_fail(TT_ERR_NOMEM, "dynamic PTQ: out of memory");
}

/* Room for one more element in *v (esize bytes each), which holds n of *cap. */
static tt_status grow(void *v, size_t *cap, size_t n, size_t esize)
{
    if (n < *cap) return TT_OK;
    size_t c = *cap ? 2 * *cap : 32;
    void *p = realloc(*(void **)v, c * esize);
    if (!p) return oom();
    *(void **)v = p;
    *cap = c;
    return TT_OK;
}

#define PUSH(arr, n, cap, item)                                                                    \
    do {                                                                                           \
        TT_CHECK(grow(&(arr), &(cap), (n), sizeof *(arr)));                                        \
        (arr)[(n)++] = (item);                                                                     \
    } while (0)

/* A zeroed block freed with d; NULL with the error set when out of memory. */
static void *keep(dyn *d, size_t bytes)
{
    if (grow(&d->blocks, &d->cap_blocks, d->n_blocks, sizeof *d->blocks) != TT_OK) return NULL;
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        oom();
        return NULL;
    }
    d->blocks[d->n_blocks++] = p;
    return p;
}

/* a + b (+ c), kept by d. */
static const char *join3(dyn *d, const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = keep(d, n);
    if (s) snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

#define JOIN(var, a, b)                                                                            \
    do {                                                                                           \
        if (!((var) = join3(d, (a), (b), ""))) return TT_ERR_NOMEM;                                \
    } while (0)

/* ---- lookups --------------------------------------------------------------------------------- */

static Onnx__TensorProto *find_init(const dyn *d, const char *name)
{
    for (size_t i = 0; i < d->g->n_initializer; i++)
        if (!strcmp(str(d->g->initializer[i]->name), name)) return d->g->initializer[i];
    for (size_t i = 0; i < d->b.inits.n; i++) {
        Onnx__TensorProto *t = d->b.inits.items[i];
        if (!strcmp(t->name, name)) return t;
    }
    return NULL;
}

static bool is_float_init(const dyn *d, const char *name)
{
    const Onnx__TensorProto *t = find_init(d, name);
    return t && t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
}

static const qval *find_qv(const dyn *d, const char *name)
{
    for (size_t i = 0; i < d->n_qv; i++)
        if (!strcmp(d->qv[i].name, name)) return &d->qv[i];
    return NULL;
}

static Onnx__NodeProto *find_node(Onnx__NodeProto *const *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(str(v[i]->name), name)) return v[i];
    return NULL;
}

/* ORT's find_node_by_name: the model's nodes, then the ones made so far. */
static Onnx__NodeProto *find_any_node(const dyn *d, const char *name)
{
    Onnx__NodeProto *n = find_node(d->g->node, d->g->n_node, name);
    return n ? n : find_node(d->nodes.v, d->nodes.n, name);
}

static bool in_list(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(str(v[i]), s)) return true;
    return false;
}

static bool in_value_infos(Onnx__ValueInfoProto *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(str(v[i]->name), s)) return true;
    return false;
}

/* A tensor name of the input model, or one the Gemm rewrite reserved (ORT's tensor_names). */
static bool name_taken(const dyn *d, const char *s)
{
    const Onnx__GraphProto *g = d->g;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (!strcmp(str(g->initializer[i]->name), s)) return true;
    if (in_value_infos(g->input, g->n_input, s) || in_value_infos(g->output, g->n_output, s) ||
        in_value_infos(g->value_info, g->n_value_info, s))
        return true;
    for (size_t i = 0; i < g->n_node; i++)
        if (in_list(g->node[i]->input, g->node[i]->n_input, s) ||
            in_list(g->node[i]->output, g->node[i]->n_output, s))
            return true;
    for (size_t i = 0; i < d->n_res; i++)
        if (!strcmp(d->reserved[i], s)) return true;
    return false;
}

/* A float initializer's values and dims, decoded by the importer's checked reader. */
static tt_status floats_of(dyn *d, const Onnx__TensorProto *t, const float **v, int64_t *n)
{
    int h;
    TT_CHECK(tt_imp_const_add(&d->im, str(t->name), t, &h));
    tt_imp_const *c = tt_imp_const_of(&d->im, h);
    const void *p;
    TT_CHECK(tt_imp_const_data(&d->im, c, &p));
    *v = p;
    *n = c->numel;
    return TT_OK;
}

/* ---- nodes ----------------------------------------------------------------------------------- */

/* A new node (one output) with exactly ORT's name: the builder's own naming would make it
 * unique, which ORT does not (unnamed nodes all stay ""). */
static tt_status new_node(dyn *d, const char *op, const char *name, int n_in, const char *const *in,
                          const char *out, Onnx__NodeProto **node)
{
    Onnx__NodeProto *n;
    char *nm;
    TT_CHECK(tt_ob_node(&d->b, op, name[0] ? name : "node", n_in, in, out, &n));
    TT_CHECK(tt_ob_strdup(&d->b, name, &nm));
    n->name = nm;
    PUSH(d->nodes.v, d->nodes.n, d->nodes.cap, n);
    if (node) *node = n;
    return TT_OK;
}

static tt_status mul_node(dyn *d, const char *name, const char *a, const char *b, const char *out)
{
    const char *in[2] = {a, b};
    return new_node(d, "Mul", name, 2, in, out, NULL);
}

/* ---- 1. Gemm -> MatMul (+ Add) --------------------------------------------------------------- */

/* B's transposed initializer: <B>_Transposed, or _Transposed_1, _2, ... while that name or its
 * quantised names are taken; made once per B. */
static tt_status transposed_init(dyn *d, const Onnx__TensorProto *t, const char **out)
{
    const char *b = str(t->name);
    for (size_t i = 0; i < d->n_tr; i++)
        if (!strcmp(d->transposed[i].from, b)) {
            *out = d->transposed[i].to;
            return TT_OK;
        }
    static const char *const suffix[4] = {"", "_quantized", "_scale", "_zero_point"};
    const char *name;
    JOIN(name, b, "_Transposed");
    for (int k = 1;; k++) {
        bool taken = false;
        for (int s = 0; s < 4 && !taken; s++) {
            const char *full;
            JOIN(full, name, suffix[s]);
            taken = name_taken(d, full);
        }
        if (!taken) break;
        char num[24];
        snprintf(num, sizeof num, "_Transposed_%d", k);
        JOIN(name, b, num);
    }
    for (int s = 0; s < 4; s++) {
        const char *full;
        JOIN(full, name, suffix[s]);
        PUSH(d->reserved, d->n_res, d->cap_res, full);
    }
    if (t->n_dims != 2 || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return tt_imp_fail(&d->im, TT_ERR_FORMAT,
                           "Gemm's B '%s' is not a float matrix (rank %zu, type %d)", b, t->n_dims,
                           (int)t->data_type);
    const float *v;
    int64_t n, r = t->dims[0], c = t->dims[1];
    TT_CHECK(floats_of(d, t, &v, &n));
    float *tv = keep(d, (size_t)n * sizeof *tv);
    if (!tv) return TT_ERR_NOMEM;
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++) tv[j * r + i] = v[i * c + j];
    TT_CHECK(tt_ob_init_f32(&d->b, name, 2, (int64_t[]){c, r}, tv));
    PUSH(d->transposed, d->n_tr, d->cap_tr, ((name_pair){b, name}));
    *out = name;
    return TT_OK;
}

static tt_status gemm_to_matmul(dyn *d, Onnx__NodeProto *p)
{
    float alpha, beta;
    int64_t ta, tb;
    TT_CHECK(tt_imp_attr_float(&d->im, p, "alpha", 1.0f, &alpha));
    TT_CHECK(tt_imp_attr_float(&d->im, p, "beta", 1.0f, &beta));
    TT_CHECK(tt_imp_attr_int(&d->im, p, "transA", 0, &ta));
    TT_CHECK(tt_imp_attr_int(&d->im, p, "transB", 0, &tb));
    if (alpha != 1.0f || beta != 1.0f || ta != 0 || p->n_input < 2 || p->n_output < 1) {
        PUSH(d->nodes.v, d->nodes.n, d->nodes.cap, p); /* stays a float Gemm, as in ORT */
        return TT_OK;
    }
    const char *name = str(p->name), *b = p->input[1], *out = p->output[0];
    if (tb) {
        const Onnx__TensorProto *t = find_init(d, b);
        if (t) {
            TT_CHECK(transposed_init(d, t, &b));
        } else {
            const char *tname = "", *tout;
            if (name[0]) JOIN(tname, name, "_Transpose");
            JOIN(tout, b, "_Transposed");
            TT_CHECK(new_node(d, "Transpose", tname, 1, (const char *[]){b}, tout, NULL));
            b = tout;
        }
    }
    /* An empty C is no bias (ORT would add an Add reading "", which no runtime loads). */
    bool bias = p->n_input > 2 && p->input[2][0];
    const char *mm_name = "", *mm_out = out;
    if (name[0]) JOIN(mm_name, name, "_MatMul");
    if (bias) JOIN(mm_out, out, "_MatMul");
    Onnx__NodeProto *mm;
    TT_CHECK(new_node(d, "MatMul", mm_name, 2, (const char *[]){p->input[0], b}, mm_out, &mm));
    PUSH(d->gemm, d->n_gemm, d->cap_gemm, ((gemm_origin){mm, name}));
    d->r->gemm_rewritten++;
    if (!bias) return TT_OK;
    const char *add_name = "";
    if (name[0]) JOIN(add_name, name, "_Add");
    return new_node(d, "Add", add_name, 2, (const char *[]){mm_out, p->input[2]}, out, NULL);
}

static tt_status rewrite_gemms(dyn *d)
{
    for (size_t i = 0; i < d->g->n_node; i++) {
        Onnx__NodeProto *p = d->g->node[i];
        d->im.node = p;
        d->im.node_index = (int)i;
        if (!strcmp(str(p->op_type), "Gemm") && !str(p->domain)[0])
            TT_CHECK(gemm_to_matmul(d, p));
        else
            PUSH(d->nodes.v, d->nodes.n, d->nodes.cap, p);
    }
    d->im.node = NULL;
    return TT_OK;
}

/* ---- 2. quantisation ------------------------------------------------------------------------- */

static bool excluded(const dyn *d, const Onnx__NodeProto *p)
{
    const char *gemm = NULL;
    for (size_t i = 0; i < d->n_gemm; i++)
        if (d->gemm[i].matmul == p) gemm = d->gemm[i].gemm;
    for (int i = 0; i < d->o->n_exclude; i++)
        if (!strcmp(d->o->exclude[i], str(p->name)) ||
            (gemm && gemm[0] && !strcmp(d->o->exclude[i], gemm)))
            return true;
    return false;
}

/* Every --exclude name is a node of the rewritten model, or a Gemm that became a MatMul. */
static tt_status check_excludes(const dyn *d)
{
    for (int i = 0; i < d->o->n_exclude; i++) {
        const char *x = d->o->exclude[i];
        bool found = find_node(d->nodes.v, d->nodes.n, x) != NULL;
        for (size_t k = 0; k < d->n_gemm && !found; k++) found = !strcmp(d->gemm[k].gemm, x);
        if (!found)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "%s: --exclude '%s': the model has no node of that name (a Gemm's "
                           "name stands for the MatMul it becomes)",
                           d->path, x);
    }
    return TT_OK;
}

/* The activation x as DynamicQuantizeLinear gives it: made the first time x is needed. */
static tt_status activation(dyn *d, const char *x, const qval **out)
{
    if ((*out = find_qv(d, x))) return TT_OK;
    if (find_init(d, x))
        return tt_imp_fail(&d->im, TT_ERR_UNSUPPORTED,
                           "its input '%s' is an initializer: ORT would quantise it as a uint8 "
                           "constant, which tinytrain's dynamic PTQ does not do; leave the node in "
                           "float with --exclude",
                           x);
    const char *name;
    JOIN(name, x, "_QuantizeLinear");
    if (find_node(d->g->node, d->g->n_node, name))
        return tt_imp_fail(&d->im, TT_ERR_UNSUPPORTED,
                           "the model already has a node named '%s', the name ORT gives the "
                           "DynamicQuantizeLinear of '%s'; rename it",
                           name, x);
    qval q = {.name = x, .axis = -1};
    JOIN(q.q, x, "_quantized");
    JOIN(q.scale, x, "_scale");
    JOIN(q.zp, x, "_zero_point");
    Onnx__NodeProto *n;
    TT_CHECK(new_node(d, "DynamicQuantizeLinear", name, 1, &x, q.q, &n));
    char **outs = keep(d, 3 * sizeof *outs);
    if (!outs) return TT_ERR_NOMEM;
    outs[0] = n->output[0];
    TT_CHECK(tt_ob_strdup(&d->b, q.scale, &outs[1]));
    TT_CHECK(tt_ob_strdup(&d->b, q.zp, &outs[2]));
    n->output = outs;
    n->n_output = 3;
    PUSH(d->qv, d->n_qv, d->cap_qv, q);
    d->r->dynamic_quantize_nodes++;
    *out = &d->qv[d->n_qv - 1];
    return TT_OK;
}

typedef struct wq {
    bool s8;
    tt_qrange range, full; /* the parameters' range; the stored type's range (ORT's clip) */
    int dtype;
} wq;

/* Channel c of w viewed as [outer, ch, inner]: its min and max (NaN/Inf refused). */
static tt_status channel_range(dyn *d, const char *name, const float *w, int64_t outer, int64_t ch,
                               int64_t inner, int64_t c, float *lo, float *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < inner; k++) {
            int64_t i = (o * ch + c) * inner + k;
            float v = w[i];
            if (!isfinite(v))
                return tt_fail(TT_ERR_NUMERIC,
                               "%s: weight '%s' holds %g at element %lld; the model cannot be "
                               "quantised (fix the fp32 model)",
                               d->path, name, (double)v, (long long)i);
            *lo = v < *lo ? v : *lo;
            *hi = v > *hi ? v : *hi;
        }
    return TT_OK;
}

/* ORT's quantize_initializer_impl / quantize_weight_per_channel_impl: per channel c of the
 * [outer, ch, inner] view, (scale, zero point) from its min/max and the values quantised with
 * the float32 division, half-to-even rounding and full-type clip of quantize_nparray. */
static tt_status quantise_values(dyn *d, const char *name, const float *w, int64_t outer,
                                 int64_t ch, int64_t inner, const wq *t, float *scale, int32_t *zp,
                                 int32_t *q)
{
    for (int64_t c = 0; c < ch; c++) {
        float lo, hi;
        TT_CHECK(channel_range(d, name, w, outer, ch, inner, c, &lo, &hi));
        tt_status s = tt_quant_compute_scale_zp(lo, hi, t->range.qmin, t->range.qmax, t->s8,
                                                &scale[c], &zp[c]);
        if (s != TT_OK) {
            char why[800];
            snprintf(why, sizeof why, "%s", tt_last_error());
            return tt_fail(s, "%s: weight '%s': %s", d->path, name, why);
        }
        for (int64_t o = 0; o < outer; o++)
            for (int64_t k = 0; k < inner; k++) {
                int64_t i = (o * ch + c) * inner + k;
                q[i] = tt_quantize_val(w[i], scale[c], zp[c], t->full.qmin, t->full.qmax);
            }
    }
    return TT_OK;
}

static wq weight_type(const tt_ptq_opts *o)
{
    wq t = {.s8 = !o->weight_u8};
    tt_qtype qt = t.s8 ? TT_QTYPE_S8 : TT_QTYPE_U8;
    /* ORT: weights of a signed type are symmetric, unsigned ones asymmetric */
    t.range = tt_quant_range(qt, t.s8, o->reduce_range);
    t.full = tt_quant_range(qt, false, false);
    t.dtype = t.s8 ? TT_ONNX_DT_INT8 : TT_ONNX_DT_UINT8;
    return t;
}

/* Weight w quantised once: <w>_scale, <w>_zero_point, <w>_quantized (in that order). */
static tt_status weight(dyn *d, const char *w, bool per_channel, const qval **out)
{
    if ((*out = find_qv(d, w))) return TT_OK;
    const Onnx__TensorProto *t = find_init(d, w);
    const float *v;
    int64_t n, nd = (int64_t)t->n_dims, outer = 1, ch = 1, inner = 1;
    TT_CHECK(floats_of(d, t, &v, &n));
    int axis = per_channel && nd > 0 ? (int)nd - 1 : -1;
    if (axis < 0) inner = n;
    for (int i = 0; axis >= 0 && i < nd; i++) {
        if (i < axis) outer *= t->dims[i];
        if (i == axis) ch = t->dims[i];
        if (i > axis) inner *= t->dims[i];
    }
    wq ty = weight_type(d->o);
    float *scale = keep(d, (size_t)ch * sizeof *scale);
    int32_t *zp = keep(d, (size_t)ch * sizeof *zp), *q = malloc((size_t)n * sizeof *q);
    if (!scale || !zp || !q) {
        free(q);
        return oom();
    }
    qval r = {.name = w, .axis = axis, .weight = true};
    tt_status s = quantise_values(d, w, v, outer, ch, inner, &ty, scale, zp, q);
    const char *sn = NULL;
    if (s == TT_OK &&
        !((sn = join3(d, w, "_scale", "")) && (r.zp = join3(d, w, "_zero_point", "")) &&
          (r.q = join3(d, w, "_quantized", ""))))
        s = TT_ERR_NOMEM;
    int sdims = axis >= 0 ? 1 : 0;
    if (s == TT_OK) s = tt_ob_init_f32(&d->b, sn, sdims, &ch, scale);
    if (s == TT_OK) s = tt_ob_init_8bit(&d->b, r.zp, ty.dtype, sdims, &ch, zp);
    if (s == TT_OK) s = tt_ob_init_8bit(&d->b, r.q, ty.dtype, (int)nd, t->dims, q);
    free(q);
    TT_CHECK(s);
    r.scale = sn;
    PUSH(d->qv, d->n_qv, d->cap_qv, r);
    d->r->weight_points++;
    *out = &d->qv[d->n_qv - 1];
    return TT_OK;
}

/* The integer op and its float tail: op -> Cast -> Mul by the scales' product (made once per
 * name). scaled: the Mul's output. */
static tt_status integer_op(dyn *d, const Onnx__NodeProto *p, const char *op, const qval *a,
                            const qval *w, const char *scaled, Onnx__NodeProto **opn)
{
    const char *name = str(p->name), *y = p->output[0], *qname = "", *qout, *cast_out, *cast_name;
    if (name[0]) JOIN(qname, name, "_quant");
    JOIN(qout, y, "_output_quantized");
    const char *in[4] = {a->q, w->q, a->zp, w->zp};
    TT_CHECK(new_node(d, op, qname, 4, in, qout, opn));
    Onnx__NodeProto *cast;
    JOIN(cast_name, qout, "_cast");
    JOIN(cast_out, qout, "_cast_output");
    TT_CHECK(new_node(d, "Cast", cast_name, 1, &qout, cast_out, &cast));
    TT_CHECK(tt_ob_attr_int(&d->b, cast, "to", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT));
    const char *smul, *sout;
    if (qname[0])
        JOIN(smul, qname, "_scales_mul");
    else if (!(smul = join3(d, a->scale, "_", w->scale)) || !(smul = join3(d, smul, "_mul", "")))
        return TT_ERR_NOMEM;
    const Onnx__NodeProto *have = find_node(d->nodes.v, d->nodes.n, smul);
    if (have) {
        sout = have->output[0];
    } else {
        JOIN(sout, smul, ":0");
        TT_CHECK(mul_node(d, smul, a->scale, w->scale, sout));
    }
    const char *oname = "";
    if (qname[0]) JOIN(oname, qname, "_output_scale_mul");
    return mul_node(d, oname, cast_out, sout, scaled);
}

static tt_status quantise_matmul(dyn *d, Onnx__NodeProto *p)
{
    const qval *a, *w;
    TT_CHECK(activation(d, p->input[0], &a));
    TT_CHECK(weight(d, p->input[1], !d->o->per_tensor, &w));
    d->r->matmul_integer_nodes++;
    return integer_op(d, p, "MatMulInteger", a, w, p->output[0], NULL);
}

static int attr_cmp(const void *a, const void *b)
{
    return strcmp(str((*(Onnx__AttributeProto *const *)a)->name),
                  str((*(Onnx__AttributeProto *const *)b)->name));
}

/* ConvInteger takes the Conv's attributes, sorted by name (onnx.helper.make_node sorts). */
static tt_status copy_conv_attrs(dyn *d, const Onnx__NodeProto *p, Onnx__NodeProto *ci)
{
    Onnx__AttributeProto **a = keep(d, (p->n_attribute + 1) * sizeof *a);
    if (!a) return TT_ERR_NOMEM;
    if (p->n_attribute) memcpy(a, p->attribute, p->n_attribute * sizeof *a);
    qsort(a, p->n_attribute, sizeof *a, attr_cmp);
    ci->attribute = a;
    ci->n_attribute = p->n_attribute;
    return TT_OK;
}

/* The float bias back: Reshape(b, [1, -1, 1, ...]) and Add, as ORT's ConvInteger.add_bias. */
static tt_status conv_bias(dyn *d, const Onnx__NodeProto *p, int rank, const char *scaled)
{
    const char *y = p->output[0], *shape, *rout, *add;
    JOIN(shape, y, "_bias_reshape_shape");
    JOIN(rout, y, "_bias_reshape_output");
    JOIN(add, y, "_bias_add");
    int64_t dims[TT_MAX_DIMS], n = rank;
    for (int i = 0; i < rank; i++) dims[i] = i == 1 ? -1 : 1;
    TT_CHECK(tt_ob_init_i64(&d->b, shape, 1, &n, dims));
    TT_CHECK(new_node(d, "Reshape", "", 2, (const char *[]){p->input[2], shape}, rout, NULL));
    return new_node(d, "Add", add, 2, (const char *[]){scaled, rout}, y, NULL);
}

static tt_status quantise_conv(dyn *d, Onnx__NodeProto *p)
{
    const Onnx__TensorProto *wt = p->n_input > 1 ? find_init(d, p->input[1]) : NULL;
    if (!wt || wt->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return tt_imp_fail(&d->im, TT_ERR_UNSUPPORTED,
                           "its weight is not a float initializer, which ConvInteger needs; leave "
                           "the node in float with --exclude");
    if (wt->n_dims < 3 || wt->n_dims > TT_MAX_DIMS)
        return tt_imp_fail(&d->im, TT_ERR_FORMAT, "the weight has rank %zu", wt->n_dims);
    const qval *a, *w;
    TT_CHECK(activation(d, p->input[0], &a));
    /* ORT: Conv weights per tensor even with per_channel */
    TT_CHECK(weight(d, p->input[1], false, &w));
    bool bias = p->n_input > 2 && p->input[2][0];
    const char *scaled = p->output[0];
    if (bias) JOIN(scaled, p->output[0], "quant_scaled_output");
    Onnx__NodeProto *ci;
    TT_CHECK(integer_op(d, p, "ConvInteger", a, w, scaled, &ci));
    TT_CHECK(copy_conv_attrs(d, p, ci));
    d->r->conv_integer_nodes++;
    return bias ? conv_bias(d, p, (int)wt->n_dims, scaled) : TT_OK;
}

/* A value read by a float node that was quantised as a weight comes back through
 * DequantizeLinear (<w>_DequantizeLinear, made once). */
static tt_status dequantise(dyn *d, const char *v)
{
    const qval *q = find_qv(d, v);
    if (!q || !q->weight) return TT_OK;
    const char *name;
    JOIN(name, v, "_DequantizeLinear");
    if (find_any_node(d, name)) return TT_OK;
    Onnx__NodeProto *n;
    TT_CHECK(
        new_node(d, "DequantizeLinear", name, 3, (const char *[]){q->q, q->scale, q->zp}, v, &n));
    return q->axis >= 0 ? tt_ob_attr_int(&d->b, n, "axis", q->axis) : TT_OK;
}

static tt_status pass_through(dyn *d, Onnx__NodeProto *p)
{
    for (size_t i = 0; i < p->n_input; i++) TT_CHECK(dequantise(d, p->input[i]));
    PUSH(d->nodes.v, d->nodes.n, d->nodes.cap, p);
    return TT_OK;
}

/* Ops ORT's IntegerOps registry quantises that tinytrain's dynamic PTQ does not. */
static bool ort_would_quantise(const dyn *d, const Onnx__NodeProto *p)
{
    const char *op = str(p->op_type);
    if (!strcmp(op, "Gather")) return p->n_input > 0 && is_float_init(d, p->input[0]);
    if (!strcmp(op, "Transpose")) return p->n_input > 0 && find_qv(d, p->input[0]);
    return !strcmp(op, "LSTM") || !strcmp(op, "Attention") ||
           !strcmp(op, "EmbedLayerNormalization");
}

static tt_status quantise_node(dyn *d, Onnx__NodeProto *p)
{
    const char *op = str(p->op_type);
    bool dflt = !str(p->domain)[0] || !strcmp(p->domain, "ai.onnx");
    bool mm = dflt && !strcmp(op, "MatMul") && p->n_input == 2 && p->n_output >= 1 &&
              is_float_init(d, p->input[1]);
    bool conv = dflt && !strcmp(op, "Conv") && p->n_input >= 2 && p->n_output >= 1;
    bool ex = excluded(d, p);
    if ((mm || conv) && ex) d->r->excluded_nodes++;
    if (mm && !ex) return quantise_matmul(d, p);
    if (conv && !ex) return quantise_conv(d, p);
    if (!ex && ort_would_quantise(d, p))
        return tt_imp_fail(&d->im, TT_ERR_UNSUPPORTED,
                           "ONNX Runtime's quantize_dynamic quantises this op, tinytrain's dynamic "
                           "PTQ does not (MatMul and Conv only); leave it in float with "
                           "--exclude %s",
                           str(p->name)[0] ? p->name : "NODE");
    return pass_through(d, p);
}

static tt_status quantise_nodes(dyn *d)
{
    node_list in = d->nodes;
    memset(&d->nodes, 0, sizeof d->nodes);
    tt_status s = TT_OK;
    for (size_t i = 0; i < in.n && s == TT_OK; i++) {
        d->im.node = in.v[i];
        d->im.node_index = (int)i;
        s = quantise_node(d, in.v[i]);
    }
    d->im.node = NULL;
    for (size_t i = 0; i < d->g->n_output && s == TT_OK; i++)
        s = dequantise(d, str(d->g->output[i]->name));
    free(in.v);
    return s;
}

/* ---- 3. clean up, order, write --------------------------------------------------------------- */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool in_sorted(const char **v, size_t n, const char *s)
{
    return n && bsearch(&s, v, n, sizeof *v, str_cmp) != NULL;
}

typedef struct kept {
    Onnx__TensorProto **inits;
    size_t n_inits;
    Onnx__ValueInfoProto **inputs;
    size_t n_inputs;
} kept;

/* ORT's clean_initializers: an initializer stays when a node or a graph output reads it and no
 * node writes it (the first of a name only); a dropped one leaves the graph inputs too. */
static tt_status clean_initializers(dyn *d, kept *k)
{
    size_t n_req = 0, n_out = 0, cap = d->g->n_output + 1, n_dropped = 0;
    for (size_t i = 0; i < d->nodes.n; i++) cap += d->nodes.v[i]->n_input;
    size_t n_all = d->g->n_initializer + d->b.inits.n, n_outs = 1;
    for (size_t i = 0; i < d->nodes.n; i++) n_outs += d->nodes.v[i]->n_output;
    const char **req = keep(d, cap * sizeof *req), **outs = keep(d, n_outs * sizeof *outs);
    const char **dropped = keep(d, (n_all + 1) * sizeof *dropped),
               **taken = keep(d, (n_all + 1) * sizeof *taken);
    k->inits = keep(d, (n_all + 1) * sizeof *k->inits);
    k->inputs = keep(d, (d->g->n_input + 1) * sizeof *k->inputs);
    if (!req || !outs || !dropped || !taken || !k->inits || !k->inputs) return TT_ERR_NOMEM;
    for (size_t i = 0; i < d->nodes.n; i++) {
        const Onnx__NodeProto *p = d->nodes.v[i];
        for (size_t j = 0; j < p->n_input; j++)
            if (p->input[j][0]) req[n_req++] = p->input[j];
        for (size_t j = 0; j < p->n_output; j++) outs[n_out++] = p->output[j];
    }
    for (size_t i = 0; i < d->g->n_output; i++) req[n_req++] = str(d->g->output[i]->name);
    qsort(req, n_req, sizeof *req, str_cmp);
    qsort(outs, n_out, sizeof *outs, str_cmp);
    size_t n_taken = 0;
    for (size_t i = 0; i < n_all; i++) {
        Onnx__TensorProto *t = i < d->g->n_initializer ? d->g->initializer[i]
                                                       : d->b.inits.items[i - d->g->n_initializer];
        const char *nm = str(t->name);
        bool used = in_sorted(req, n_req, nm) && !in_sorted(outs, n_out, nm);
        bool dup = in_list((char *const *)taken, n_taken, nm);
        if (used && !dup) {
            k->inits[k->n_inits++] = t;
            taken[n_taken++] = nm;
        } else {
            dropped[n_dropped++] = nm;
        }
    }
    for (size_t i = 0; i < d->g->n_input; i++)
        if (!in_list((char *const *)dropped, n_dropped, str(d->g->input[i]->name)) ||
            in_list((char *const *)taken, n_taken, str(d->g->input[i]->name)))
            k->inputs[k->n_inputs++] = d->g->input[i];
    return TT_OK;
}

typedef struct dep {
    const char *name;
    size_t seq;
    size_t node;
} dep;

static int dep_cmp(const void *a, const void *b)
{
    const dep *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

typedef struct sorter {
    dep *deps;
    size_t n_deps;
    size_t *count, *order, n_order;
} sorter;

/* Every node waiting for value `name` has one input fewer to wait for; those now ready are
 * appended, in the order they read it. */
static void release(sorter *s, const char *name)
{
    size_t lo = 0, hi = s->n_deps;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(s->deps[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < s->n_deps && !strcmp(s->deps[i].name, name); i++)
        if (--s->count[s->deps[i].node] == 0) s->order[s->n_order++] = s->deps[i].node;
}

/* ORT's ONNXModel.topological_sort, step for step: nodes without inputs first, then those
 * freed by the initializers and graph inputs (names sorted), then breadth first. */
static tt_status topo_sort(dyn *d, const kept *k)
{
    size_t n = d->nodes.n, total = 0;
    for (size_t i = 0; i < n; i++) total += d->nodes.v[i]->n_input;
    sorter s = {0};
    s.deps = keep(d, (total + 1) * sizeof *s.deps);
    s.count = keep(d, (n + 1) * sizeof *s.count);
    s.order = keep(d, (n + 1) * sizeof *s.order);
    const char **names = keep(d, (k->n_inits + k->n_inputs + 1) * sizeof *names);
    Onnx__NodeProto **sorted = keep(d, (n + 1) * sizeof *sorted);
    if (!s.deps || !s.count || !s.order || !names || !sorted) return TT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const Onnx__NodeProto *p = d->nodes.v[i];
        for (size_t j = 0; j < p->n_input; j++)
            if (p->input[j][0]) {
                s.deps[s.n_deps] = (dep){p->input[j], s.n_deps, i};
                s.n_deps++;
                s.count[i]++;
            }
        if (!s.count[i]) s.order[s.n_order++] = i;
    }
    qsort(s.deps, s.n_deps, sizeof *s.deps, dep_cmp);
    size_t nn = 0;
    for (size_t i = 0; i < k->n_inits; i++) names[nn++] = str(k->inits[i]->name);
    for (size_t i = 0; i < k->n_inputs; i++) names[nn++] = str(k->inputs[i]->name);
    qsort(names, nn, sizeof *names, str_cmp);
    for (size_t i = 0; i < nn; i++)
        if (!i || strcmp(names[i], names[i - 1])) release(&s, names[i]);
    for (size_t i = 0; i < s.n_order; i++) {
        const Onnx__NodeProto *p = d->nodes.v[s.order[i]];
        for (size_t j = 0; j < p->n_output; j++) release(&s, p->output[j]);
    }
    if (s.n_order != n)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: the quantised graph does not sort (%zu of %zu nodes reachable): a "
                       "cycle, or a node input nothing produces",
                       d->path, s.n_order, n);
    for (size_t i = 0; i < n; i++) sorted[i] = d->nodes.v[s.order[i]];
    memcpy(d->nodes.v, sorted, n * sizeof *sorted);
    return TT_OK;
}

/* The model's metadata with tinytrain_format set to "dynamic" (added when absent). */
static tt_status metadata(dyn *d, Onnx__StringStringEntryProto ***out, size_t *n_out)
{
    size_t n = d->m->n_metadata_props;
    Onnx__StringStringEntryProto **v = keep(d, (n + 1) * sizeof *v), *e = keep(d, sizeof *e);
    char *key, *val;
    if (!v || !e) return TT_ERR_NOMEM;
    onnx__string_string_entry_proto__init(e);
    TT_CHECK(tt_ob_strdup(&d->b, "tinytrain_format", &key));
    TT_CHECK(tt_ob_strdup(&d->b, "dynamic", &val));
    e->key = key;
    e->value = val;
    size_t k = 0;
    bool set = false;
    for (size_t i = 0; i < n; i++) {
        bool fmt = !strcmp(str(d->m->metadata_props[i]->key), key);
        v[k++] = fmt ? e : d->m->metadata_props[i];
        set |= fmt;
    }
    if (!set) v[k++] = e;
    *out = v;
    *n_out = k;
    return TT_OK;
}

/* The original model with its node, initializer and input lists (and producer, metadata)
 * swapped for the new ones while it is packed, then swapped back for free_unpacked. */
static tt_status write_model(dyn *d, const kept *k, const char *out)
{
    Onnx__ModelProto *m = d->m, saved_m = *m;
    Onnx__GraphProto *g = d->g, saved_g = *g;
    char *producer, *version;
    TT_CHECK(tt_ob_strdup(&d->b, "tinytrain", &producer));
    TT_CHECK(tt_ob_strdup(&d->b, tt_version(), &version));
    TT_CHECK(metadata(d, &m->metadata_props, &m->n_metadata_props));
    m->producer_name = producer;
    m->producer_version = version;
    g->node = d->nodes.v;
    g->n_node = d->nodes.n;
    g->initializer = k->inits;
    g->n_initializer = k->n_inits;
    g->input = k->inputs;
    g->n_input = k->n_inputs;
    size_t n = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    size_t len = buf ? onnx__model_proto__pack(m, buf) : 0;
    *m = saved_m;
    *g = saved_g;
    tt_status s = !buf ? oom() : TT_OK;
    if (s == TT_OK && len != n)
        s = tt_fail(TT_ERR_STATE, "dynamic PTQ: protobuf-c packed %zu bytes, not %zu", len, n);
    tt_atomic_file af;
    if (s == TT_OK) s = tt_atomic_open(&af, out);
    if (s == TT_OK) {
        fwrite(buf, 1, len, af.f); /* a short write fails the commit, which keeps `out` as it was */
        s = tt_atomic_commit(&af);
    }
    free(buf);
    return s;
}

/* ---- the model in, the model out ------------------------------------------------------------ */

static bool has_subgraph(const Onnx__NodeProto *p)
{
    for (size_t i = 0; i < p->n_attribute; i++)
        if (p->attribute[i]->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH ||
            p->attribute[i]->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS)
            return true;
    return false;
}

static bool is_quant_op(const char *op)
{
    static const char *const ops[] = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
                                      "MatMulInteger",  "ConvInteger",      "QLinearConv",
                                      "QLinearMatMul"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (!strcmp(op, ops[i])) return true;
    return false;
}

/* What ORT would do differently, or what is not an fp32 model, refused up front. */
static tt_status check_model(dyn *d)
{
    int64_t opset = 0;
    for (size_t i = 0; i < d->m->n_opset_import; i++) {
        const char *dom = str(d->m->opset_import[i]->domain);
        if (!dom[0] || !strcmp(dom, "ai.onnx")) opset = d->m->opset_import[i]->version;
    }
    if (opset < 11)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s: opset %lld; DynamicQuantizeLinear needs opset 11 (below it ORT builds "
                       "the activation parameters from ReduceMin/ReduceMax nodes instead); convert "
                       "the model to opset 13 with onnx.version_converter",
                       d->path, (long long)opset);
    for (size_t i = 0; i < d->g->n_node; i++) {
        const Onnx__NodeProto *p = d->g->node[i];
        if (has_subgraph(p))
            return tt_fail(TT_ERR_UNSUPPORTED,
                           "%s: node '%s' (%s) holds a subgraph; dynamic PTQ takes flat graphs",
                           d->path, str(p->name), str(p->op_type));
        if (is_quant_op(str(p->op_type)))
            return tt_fail(TT_ERR_INVALID_ARG,
                           "%s is already quantised (it has %s nodes); dynamic PTQ takes the fp32 "
                           "model",
                           d->path, str(p->op_type));
    }
    return TT_OK;
}

/* The file as protobuf-c structs, through the importer's depth and allocation checks. */
static tt_status load(dyn *d)
{
    void *buf = NULL;
    size_t len = 0;
    TT_CHECK(tt_read_whole_file(d->path, "ONNX model", TT_ONNX_IMPORT_MAX_BYTES, &buf, &len));
    tt_status s = len ? tt_imp_wire_check(buf, len, d->path)
                      : tt_fail(TT_ERR_FORMAT, "%s: empty file; not an ONNX model", d->path);
    if (s == TT_OK && !(d->m = tt_imp_unpack(buf, len, d->path))) s = TT_ERR_FORMAT;
    free(buf);
    TT_CHECK(s);
    if (!d->m->graph)
        return tt_fail(TT_ERR_FORMAT, "%s: the model has no graph; not an ONNX model", d->path);
    d->g = d->m->graph;
    return check_model(d);
}

static tt_status run(dyn *d, const char *out)
{
    /* The fp32 model must be one tinytrain imports (and so runs, quantised or not). */
    tt_model *fp32 = NULL;
    TT_CHECK(tt_onnx_import(d->path, NULL, &fp32));
    tt_model_free(fp32);
    TT_CHECK(load(d));
    TT_CHECK(rewrite_gemms(d));
    TT_CHECK(check_excludes(d));
    TT_CHECK(quantise_nodes(d));
    kept k = {0};
    TT_CHECK(clean_initializers(d, &k));
    TT_CHECK(topo_sort(d, &k));
    TT_CHECK(write_model(d, &k, out));
    TT_CHECK(tt_sha256_file(d->path, d->r->input_sha256, &d->r->input_bytes));
    return tt_sha256_file(out, d->r->output_sha256, &d->r->output_bytes);
}

tt_status tt_ptq_dynamic(const char *model_path, const char *out_path, const tt_ptq_opts *o,
                         tt_ptq_result *r)
{
    dyn d = {.path = model_path, .o = o, .r = r, .im = {.label = model_path}};
    tt_ob_init(&d.b);
    tt_status s = run(&d, out_path);
    r->activation_points = r->dynamic_quantize_nodes;
    tt_imp_consts_free(&d.im);
    tt_ob_free(&d.b);
    if (d.m) onnx__model_proto__free_unpacked(d.m, NULL);
    for (size_t i = 0; i < d.n_blocks; i++) free(d.blocks[i]);
    free(d.blocks);
    free(d.nodes.v);
    free(d.qv);
    free(d.gemm);
    free(d.transposed);
    free(d.reserved);
    return s;
}
