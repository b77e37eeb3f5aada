/* The ONNX export API (tinytrain/onnx.h): options, model metadata, serialisation and the atomic
 * write; and rebuilding a checkpoint's graph to export it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "data/atomic_file.h"
#include "data/sha256.h"
#include "export/onnx_lower.h"
#include "tinytrain/checkpoint.h"
#include "tinytrain/config.h"
#include "tinytrain/onnx.h"
#include "tinytrain/qat.h"
#include "tinytrain/tinytrain.h"
#include "tinytrain/trainer.h"

int tt_onnx_ir_version(int opset)
{
    /* The IR version of the ONNX release that introduced each opset (onnx.helper's
     * VERSION_TABLE): the oldest IR a runtime must read to run the opset. */
    if (opset < TT_ONNX_OPSET_MIN || opset > TT_ONNX_OPSET_MAX) return 0;
    if (opset <= 14) return 7;
    if (opset <= 18) return 8;
    if (opset <= 20) return 9;
    return 10;
}

static tt_status write_file(const char *path, const uint8_t *buf, size_t len)
{
    tt_atomic_file af;
    TT_CHECK(tt_atomic_open(&af, path));
    /* A short write sets the stream's error flag, which tt_atomic_commit reports (and then
     * removes the temporary file, leaving any existing file at path untouched). */
    fwrite(buf, 1, len, af.f);
    return tt_atomic_commit(&af);
}

static tt_status export_graph(const tt_graph *g, int in_id, int out_id, tt_onnx_format format,
                              int opset, const tt_onnx_export_opts *o, const char *path)
{
    tt_onnx_builder b;
    tt_ob_init(&b);
    char doc[256];
    const char *ver = tt_version();
    if (o->doc)
        snprintf(doc, sizeof doc, "%s", o->doc);
    else if (format == TT_ONNX_QDQ)
        snprintf(doc, sizeof doc,
                 "tinytrain %s QDQ export: uint8 activations, int8 weights, int32 biases, with "
                 "the quantisation parameters trained by tinytrain qat",
                 ver);
    else
        snprintf(doc, sizeof doc, "tinytrain %s fp32 export", ver);
    const char *keys[3] = {"tinytrain_version", "tinytrain_format", "config_sha256"};
    const char *vals[3] = {ver, format == TT_ONNX_QDQ ? "qdq" : "fp32", o->config_sha256};
    tt_ob_model_info info = {.ir_version = tt_onnx_ir_version(opset),
                             .opset = opset,
                             .graph_name = o->graph_name ? o->graph_name : "tinytrain",
                             .doc = o->doc ? o->doc : doc,
                             .producer_version = ver,
                             .n_meta = o->config_sha256 ? 3 : 2,
                             .meta_keys = keys,
                             .meta_values = vals};
    uint8_t *buf = NULL;
    size_t len = 0;
    tt_status s = tt_onnx_lower_graph(g, in_id, out_id, format, opset, !o->no_channel_pad, &b);
    if (s == TT_OK) s = tt_ob_pack(&b, &info, &buf, &len);
    tt_ob_free(&b);
    /* Only a complete model reaches the disk. */
    if (s == TT_OK) s = write_file(path, buf, len);
    free(buf);
    return s;
}

tt_status tt_onnx_export(const tt_graph *g, int input_id, int output_id,
                         const tt_onnx_export_opts *opts, const char *path)
{
    TT_CHECK_NULL(g, "tt_onnx_export");
    TT_CHECK_NULL(path, "tt_onnx_export");
    tt_onnx_export_opts o = {0};
    if (opts) o = *opts;
    int opset = o.opset ? o.opset : TT_ONNX_OPSET_DEFAULT;
    if (opset < TT_ONNX_OPSET_MIN || opset > TT_ONNX_OPSET_MAX)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "ONNX export: opset %d is not supported; tinytrain writes opsets %d to %d "
                       "(%d is the first with per-channel QuantizeLinear/DequantizeLinear)",
                       opset, TT_ONNX_OPSET_MIN, TT_ONNX_OPSET_MAX, TT_ONNX_OPSET_MIN);
    tt_onnx_format f = o.format;
    if (f == TT_ONNX_AUTO) f = tt_qat_count(g) > 0 ? TT_ONNX_QDQ : TT_ONNX_FP32;
    if (f != TT_ONNX_FP32 && f != TT_ONNX_QDQ)
        return tt_fail(TT_ERR_INVALID_ARG, "ONNX export: unknown format %d", (int)o.format);
    return export_graph(g, input_id, output_id, f, opset, &o, path);
}

/* The graph ckpt was saved from: cfg's model, through the QAT prepare pass for a QAT
 * checkpoint (what tt_trainer_create_ex builds, without its data and loss), with ckpt's
 * parameters loaded. */
static tt_status rebuild(const char *ckpt, const tt_config *cfg, const tt_trainer_opts *topts,
                         tt_graph **out, int *in_id, int *out_id)
{
    tt_graph *g = NULL, *q = NULL;
    tt_rng rng;
    tt_rng_seed(&rng, cfg->seed, 0);
    tt_status s = tt_graph_create(&g);
    if (s == TT_OK) s = tt_model_build(cfg, g, &rng, in_id, out_id);
    if (s == TT_OK && topts->qat) {
        tt_qat_config qc = cfg->qat;
        if (topts->bn_fold_set) qc.bn_fold = topts->bn_fold;
        s = tt_qat_prepare(g, *in_id, *out_id, &qc, &q, in_id, out_id, NULL);
        tt_graph_free(g);
        g = q;
    }
    if (s == TT_OK) s = tt_checkpoint_load(ckpt, g, NULL, NULL);
    if (s != TT_OK) {
        tt_graph_free(g);
        return s;
    }
    *out = g;
    return TT_OK;
}

static tt_status export_checkpoint(const char *ckpt, const char *out_path,
                                   const tt_onnx_export_opts *opts, const tt_checkpoint_meta *m)
{
    if (!m->config_text)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: the checkpoint stores no config, so its model cannot be rebuilt "
                       "(checkpoints written by tinytrain fit and qat store one)",
                       ckpt);
    tt_trainer_opts topts;
    TT_CHECK(tt_trainer_opts_for_checkpoint(ckpt, &topts));
    tt_onnx_export_opts o = {0};
    if (opts) o = *opts;
    if (o.format == TT_ONNX_AUTO) o.format = topts.qat ? TT_ONNX_QDQ : TT_ONNX_FP32;
    if (o.format == TT_ONNX_QDQ && !topts.qat)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: an fp32 checkpoint has no quantisation parameters, so it cannot be "
                       "exported as QDQ; run `tinytrain qat` with it as the warm start and "
                       "export that checkpoint, or export this one as fp32",
                       ckpt);
    char sha[65];
    TT_CHECK(tt_sha256_hex(m->config_text, strlen(m->config_text), sha));
    if (!o.config_sha256) o.config_sha256 = sha;
    tt_config *cfg = NULL;
    TT_CHECK(tt_config_parse(m->config_text, strlen(m->config_text), ckpt, &cfg));
    if (!o.graph_name) o.graph_name = cfg->name;
    tt_graph *g = NULL;
    int in_id, out_id;
    tt_status s = rebuild(ckpt, cfg, &topts, &g, &in_id, &out_id);
    if (s == TT_OK) s = tt_onnx_export(g, in_id, out_id, &o, out_path);
    tt_graph_free(g);
    tt_config_free(cfg);
    return s;
}

tt_status tt_onnx_export_checkpoint(const char *ckpt, const char *out_path,
                                    const tt_onnx_export_opts *opts)
{
    TT_CHECK_NULL(ckpt, "tt_onnx_export_checkpoint");
    TT_CHECK_NULL(out_path, "tt_onnx_export_checkpoint");
    tt_checkpoint_meta m;
    memset(&m, 0, sizeof m);
    TT_CHECK(tt_checkpoint_read_meta(ckpt, &m));
    tt_status s = export_checkpoint(ckpt, out_path, opts, &m);
    tt_checkpoint_meta_free(&m);
    return s;
}
