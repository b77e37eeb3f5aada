/* tinytrain gate (docs/gate.md): does a model's int8 sibling still compute what its fp32 model
 * computes? The seed system's measure_quant_drop, on tinytrain's own runtime, with its holes
 * closed (DESIGN §8):
 *
 *   inputs   `samples` (16) tensors from one generator seeded `seed` (0), uniform [0, 1)
 *            float32, in the first input's shape with a symbolic batch set to 1. The generator
 *            is tinytrain's PCG32 (tinytrain/rng.h, stream 0), not numpy's default_rng, so the
 *            numbers differ from the seed's Python gate; dump_dir writes them as .npy so any
 *            other runtime can be run on exactly these inputs. Or the first `samples` samples
 *            of an .npz file (the registry entry's gate_data, or `data` for every model):
 *            uniform noise can lie far outside the domain a model was trained on (a quality
 *            regressor on noise measures nothing it will ever see), real samples do not.
 *   metrics  the first outputs of all samples concatenated, fp32 against int8: Pearson's
 *            correlation (PLCC, in double), drop = 1 - PLCC, worst_abs = max |fp32 - int8|.
 *   verdict  pass iff drop <= budget. An output with a standard deviation below 1e-12 (in
 *            either model) has no PLCC: it fails as "constant output", unless both outputs are
 *            constant and identical. Any NaN or infinity in either output fails. A missing
 *            int8 file fails (never a silent fp32 fallback); a file whose SHA-256 is not the
 *            registry's fails before anything runs. */
#ifndef TINYTRAIN_GATE_H
#define TINYTRAIN_GATE_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/registry.h"
#include "tinytrain/runtime.h"
#include "tinytrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_GATE_SAMPLES_DEFAULT 16
#define TT_GATE_SAMPLES_MAX     65536
#define TT_GATE_SEED_DEFAULT    0
/* Below this standard deviation an output counts as constant (the seed's per-EP tool's
 * threshold): PLCC divides by it, so it is meaningless there. */
#define TT_GATE_CONSTANT_STD 1e-12

/* fp32 output against int8 output over n elements. */
typedef struct tt_gate_metrics {
    int64_t n;
    double plcc;               /* NaN when undefined: a constant or non-finite output */
    double drop;               /* 1 - plcc */
    double worst_abs;          /* max |fp32 - int8|; NaN when an output is non-finite */
    double std_fp32, std_int8; /* population standard deviations */
    double mean_fp32, mean_int8;
    int64_t nonfinite_fp32, nonfinite_int8; /* NaN or infinite elements */
} tt_gate_metrics;

typedef enum tt_gate_verdict {
    TT_GATE_PASS = 0,
    TT_GATE_PASS_CONSTANT, /* both outputs constant and identical */
    TT_GATE_OVER_BUDGET,   /* drop > budget */
    TT_GATE_CONSTANT,      /* an output is constant and they are not identical */
    TT_GATE_NONFINITE,     /* NaN or infinity in an output */
} tt_gate_verdict;

/* The metrics of two output vectors (all sums in double). */
void tt_gate_compare(const float *fp32, const float *int8, int64_t n, tt_gate_metrics *m);
tt_gate_verdict tt_gate_judge(const tt_gate_metrics *m, double budget);
static inline bool tt_gate_verdict_ok(tt_gate_verdict v)
{
    return v == TT_GATE_PASS || v == TT_GATE_PASS_CONSTANT;
}

/* The samples: n_samples tensors of shape *sample (the input shape with a symbolic batch set to
 * 1), drawn one after the other from tt_rng_seed(seed, 0). *x holds n_samples * numel(sample)
 * floats (free with free()). */
tt_status tt_gate_inputs(const tt_shape *input_shape, int64_t n_samples, uint64_t seed,
                         tt_shape *sample, float **x);

/* The samples from an .npz file instead: the array named input_name (the model's first input),
 * or the file's only array, of shape [N, d1, ...] where the model input is [batch, d1, ...];
 * each sample is the next sample->dims[0] rows (1 for a symbolic batch). The first n_samples
 * samples go to *x (free with free()) and the array's name to array. Refused, each with its own
 * message naming the file: not .npz or unreadable (the archive's own error), no such array and
 * not exactly one array (TT_ERR_FORMAT), a dtype other than float32 (float64 is read as
 * float32; TT_ERR_UNSUPPORTED), another rank or sample shape (TT_ERR_SHAPE), fewer than
 * n_samples samples (TT_ERR_INVALID_ARG), a NaN or infinity anywhere in the array
 * (TT_ERR_NUMERIC). */
tt_status tt_gate_data_inputs(const char *path, const char *input_name, const tt_shape *input_shape,
                              int64_t n_samples, tt_shape *sample, float **x, char *array,
                              size_t array_len);

typedef struct tt_gate_opts {
    int64_t samples;      /* 0: TT_GATE_SAMPLES_DEFAULT */
    uint64_t seed;        /* TT_GATE_SEED_DEFAULT is 0 */
    tt_rt_mode mode;      /* how both models are run (tinytrain/runtime.h) */
    const char *dump_dir; /* NULL, or write <dump_dir>/<id>/input_NN.npy and the outputs */
    const char *data;     /* NULL, or an .npz whose samples every model is gated on */
    bool synthetic;       /* draw the samples even for entries with gate_data (the seed's gate) */
    const char *backend;  /* NULL or "cpu", "opencl[:N]", "cuda[:N]": where both models run */
} tt_gate_opts;

typedef enum tt_gate_status {
    TT_GATE_ST_PASS = 0,
    TT_GATE_ST_FAIL,          /* measured and failed: budget, constant or non-finite output */
    TT_GATE_ST_SKIPPED_FP32,  /* a registry entry with quant_mode fp32 */
    TT_GATE_ST_MISSING_MODEL, /* the fp32 or the int8 file is not there */
    TT_GATE_ST_ERROR,         /* a hash mismatch, or a model that cannot be loaded or run */
    TT_GATE_ST_UNAVAILABLE,   /* the backend asked for has no device here (not a failure) */
} tt_gate_status;

/* "pass", "fail", "skipped_fp32", "missing_model", "error", "unavailable". */
const char *tt_gate_status_name(tt_gate_status s);

typedef struct tt_gate_row {
    char id[TT_REGISTRY_ID_MAX + 1];
    char mode[16]; /* the entry's quant_mode, or "override" for an --fp32/--int8 pair */
    tt_gate_status status;
    bool measured; /* m and verdict are set */
    tt_gate_verdict verdict;
    tt_gate_metrics m;
    double budget;
    char fp32_path[4096], int8_path[4096]; /* absolute when the file exists */
    bool fp32_exists, int8_exists;
    char fp32_sha256[65], int8_sha256[65]; /* of the files read; "" if not read */
    char inputs_sha256[65];                /* of the samples' float32 bytes, in order */
    /* Where the samples came from: "" for the generator (seed in the options), else the file
     * (absolute when it exists), its SHA-256 and the array read. */
    char data_path[4096], data_sha256[65], data_array[TT_NAME_MAX];
    char sample_shape[64]; /* "[1, 1, 28, 28]" */
    /* Where both models ran, as their executors report it ("cpu", "opencl:0 (device)"); the
     * backend asked for when they could not be loaded there. */
    char backend[192];
    double run_s; /* wall time of the fp32 and int8 runs over every sample */
    int64_t samples;
    char message[1024]; /* why it failed or was skipped; "" for a pass */
} tt_gate_row;

/* Gate one registry entry into *row. Returns TT_OK whatever the verdict (row->status says);
 * an error only for bad arguments. */
tt_status tt_gate_entry(const tt_registry *reg, const tt_registry_entry *e, const tt_gate_opts *o,
                        tt_gate_row *row);
/* Gate a registry-free pair (id: the label; NULL for the fp32 file's name without .onnx). */
tt_status tt_gate_pair(const char *fp32, const char *int8, const char *id, double budget,
                       const tt_gate_opts *o, tt_gate_row *row);

/* The row's line as the seed prints it, without a newline:
 *   [PASS] <id, 24 wide> mode=<mode, 7 wide> PLCC=%.6f  drop=%.6f  budget=%.4f  worst_abs=%.4f
 *   [FAIL] ... the same, or the reason (constant output, non-finite output, missing, mismatch)
 *   [skip] <id> — quant_mode=fp32, no quantised model to gate */
void tt_gate_line(const tt_gate_row *r, char *buf, size_t len);

/* What the reports record about the run (run_provenance). */
typedef struct tt_gate_run {
    int argc;
    char **argv;
    const char *registry;                     /* NULL for a pair */
    const char *out_json, *out_md, *dump_dir; /* NULL when not written */
    const char *backend;                      /* "cpu" */
    const tt_gate_opts *opts;
    double wall_s;
} tt_gate_run;

/* True when every row passed or was skipped (an fp32 entry, or an unavailable backend). */
bool tt_gate_all_ok(const tt_gate_row *rows, int n);
/* The Markdown table and the JSON report ({gate_pass, models[], run_provenance}; sorted keys,
 * 2-space indent), each written atomically. Write the Markdown first: the JSON records its
 * SHA-256. */
tt_status tt_gate_write_md(const char *path, const tt_gate_row *rows, int n,
                           const tt_gate_run *run);
tt_status tt_gate_write_json(const char *path, const tt_gate_row *rows, int n,
                             const tt_gate_run *run);

#ifdef __cplusplus
}
#endif
#endif
