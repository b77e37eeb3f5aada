/* The pieces of static PTQ (tinytrain/ptq.h), one file each: the calibration set read batch by
 * batch (ptq_source.c), the calibration passes over the prepared graph (ptq_calibrate.c), nodes
 * left in float (ptq_exclude.c), the report (ptq_report.c); ptq.c runs them in order. */
#ifndef TT_PTQ_INTERNAL_H
#define TT_PTQ_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/calibrator.h"
#include "tinytrain/graph.h"
#include "tinytrain/ptq.h"

/* ---- ptq.c ------------------------------------------------------------------------------ */

/* Whether the weights are quantised symmetric (zero point mid-range) with these options, as
 * ONNX Runtime's quantize_static (STATIC) or quantize_dynamic (DYNAMIC) does it. */
bool tt_ptq_weight_symmetric(const tt_ptq_opts *o);

/* ---- ptq_source.c: a calibration array streamed from .npz or .h5 ------------------------ */

typedef struct tt_ptq_source tt_ptq_source;

/* Open array `name` of path (.npz or .h5, by extension) and check it is [N, sample...] with the
 * model's per-sample shape `sample` (dims[0], the batch, is ignored) in float32 or float64.
 * Only the header is read here. */
tt_status tt_ptq_source_open(const char *path, const char *name, const tt_shape *sample,
                             tt_ptq_source **out);
void tt_ptq_source_close(tt_ptq_source *s);
int64_t tt_ptq_source_count(const tt_ptq_source *s);
/* Start again from sample 0 (the next pass). */
tt_status tt_ptq_source_rewind(tt_ptq_source *s);
/* The next k samples into dst (float32); TT_ERR_NUMERIC naming the sample on NaN or Inf. */
tt_status tt_ptq_source_read(tt_ptq_source *s, int64_t k, float *dst);

/* ---- ptq_calibrate.c ------------------------------------------------------------------- */

/* Whether FakeQuant node n quantises a weight (its input is a parameter). */
bool tt_ptq_is_weight_point(const tt_graph *g, const tt_node *n);

typedef struct tt_ptq_cal_out {
    float *rmin, *rmax; /* [n_points] */
    int64_t *values;    /* [n_points] */
    int64_t batches;    /* per pass */
    int passes;
} tt_ptq_cal_out;

/* Run g (prepared, fake quantisation off) over the source in batches of up to `batch` samples
 * (exactly `batch` when fixed), feeding the input tensor of each FakeQuant node points[i] to
 * its own calibrator; two passes (prescan, update) when the method wants them. */
tt_status tt_ptq_calibrate(tt_graph *g, int in_id, tt_ptq_source *src, int64_t batch, bool fixed,
                           tt_calib_method m, const tt_calibrator_opts *co, int n_points,
                           const int *points, tt_ptq_cal_out *out);

/* ---- ptq_exclude.c --------------------------------------------------------------------- */

/* Leave the nodes named in o->exclude in float in the prepared graph dst (made from src, the
 * imported graph with output src_out, read from model_path): their weight and bias quantisation is
 * bypassed, and so is every activation point that then touches no quantised node. *dst_out follows
 * when the output's point goes. *n_excluded: nodes excluded. */
tt_status tt_ptq_exclude(const char *model_path, const tt_graph *src, int src_out, tt_graph *dst,
                         int *dst_out, const tt_ptq_opts *o, int *n_excluded);

#endif
