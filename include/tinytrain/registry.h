/* The model registry (model/registry.json, docs/gate.md): every model tinytrain gate checks,
 * with the SHA-256 of its fp32 file and of its int8 sibling.
 *
 * tt_registry_load applies the rules of model/registry.schema.json (JSON Schema draft 2020-12;
 * the two are kept in step by tests/unit/test_registry.c and tests/onnx/check_gate.py, which
 * run the same good and bad cases through both) plus what a schema cannot say: unique ids and
 * no key twice in one object. tt_registry_check_files then checks an entry against the disk:
 * the files exist inside the registry's directory (symbolic links resolved), their hashes and
 * opset match, a static entry's calibration set is there, and gate data, when given, matches its
 * hash and holds samples of the model's input shape. Every failure names the file, the entry
 * and the field. */
#ifndef TINYTRAIN_REGISTRY_H
#define TINYTRAIN_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include "tinytrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_REGISTRY_SCHEMA_VERSION 1
#define TT_REGISTRY_ID_MAX         64  /* characters */
#define TT_REGISTRY_PATH_MAX       256 /* characters of a registry-relative path */
#define TT_REGISTRY_NOTES_MAX      512 /* characters (Unicode code points) */
#define TT_REGISTRY_OPSET_MIN      7
#define TT_REGISTRY_OPSET_MAX      21
/* quant_accuracy_budget_plcc when absent (DESIGN §8): QAT models are trained for int8, so
 * they are held to a tighter budget than post-training quantisation. */
#define TT_REGISTRY_BUDGET_DEFAULT     0.01
#define TT_REGISTRY_BUDGET_DEFAULT_QAT 0.002

typedef enum tt_model_kind {
    TT_KIND_CLASSIFIER = 0,
    TT_KIND_REGRESSOR,
    TT_KIND_FILTER,
} tt_model_kind;

typedef enum tt_quant_mode {
    TT_QUANT_FP32 = 0,
    TT_QUANT_DYNAMIC,
    TT_QUANT_STATIC,
    TT_QUANT_QAT,
} tt_quant_mode;

typedef struct tt_registry_entry {
    char id[TT_REGISTRY_ID_MAX + 1];
    tt_model_kind kind;
    char onnx[TT_REGISTRY_PATH_MAX + 1]; /* relative to the registry's directory */
    char sha256[65];
    int opset;
    tt_quant_mode quant_mode;
    char int8_sha256[65]; /* "" for fp32 */
    double budget;        /* quant_accuracy_budget_plcc, the default applied when absent */
    bool budget_set;      /* written in the file (a rewrite keeps an absent one absent) */
    char calibration[TT_REGISTRY_PATH_MAX + 1]; /* quant_calibration_set; "" when absent */
    char notes[4 * TT_REGISTRY_NOTES_MAX + 1];  /* UTF-8; "" when absent */
    bool notes_set;
    /* The .npz of samples the gate runs this model on instead of drawn ones (tinytrain/gate.h),
     * and its SHA-256; both "" when absent (given together, never for fp32). */
    char gate_data[TT_REGISTRY_PATH_MAX + 1];
    char gate_data_sha256[65];
} tt_registry_entry;

typedef struct tt_registry {
    char path[1024]; /* the file, as given */
    char dir[4096];  /* its directory, resolved (realpath) when it exists */
    int schema_version;
    char schema_ref[TT_REGISTRY_PATH_MAX + 1]; /* "$schema"; "" when absent */
    int n;
    tt_registry_entry *models; /* sorted as in the file */
} tt_registry;

const char *tt_model_kind_name(tt_model_kind k);
const char *tt_quant_mode_name(tt_quant_mode m);
/* Parse a name; false if it is none of them. */
bool tt_model_kind_parse(const char *s, tt_model_kind *out);
bool tt_quant_mode_parse(const char *s, tt_quant_mode *out);
/* The budget an entry gets when the file gives none. */
double tt_registry_default_budget(tt_quant_mode m);

/* Read and validate path into *reg (free with tt_registry_free; *reg is empty on failure).
 * TT_ERR_IO when the file cannot be read; TT_ERR_FORMAT for malformed JSON or any rule broken,
 * with a message naming the file, the entry ("models[2] (id 'cnn')") and the field. */
tt_status tt_registry_load(const char *path, tt_registry *reg);
/* The same for text already in memory; name is used in messages, dir as the registry's
 * directory (for the files checks later). */
tt_status tt_registry_parse(const char *text, size_t len, const char *name, const char *dir,
                            tt_registry *reg);
void tt_registry_free(tt_registry *reg);

/* The entry with this id, or NULL. */
const tt_registry_entry *tt_registry_find(const tt_registry *reg, const char *id);

/* "<dir>/<onnx>" (int8: the .int8.onnx sibling) into buf. */
tt_status tt_registry_model_path(const tt_registry *reg, const tt_registry_entry *e, bool int8,
                                 char *buf, size_t len);
/* "x.onnx" -> "x.int8.onnx". TT_ERR_INVALID_ARG if path does not end in .onnx. */
tt_status tt_registry_int8_sibling(const char *path, char *buf, size_t len);

/* Resolve rel (a registry-relative path) against reg->dir and check that the file exists and,
 * after symbolic links, lies inside reg->dir; the resolved path goes to buf (PATH_MAX). */
tt_status tt_registry_resolve(const tt_registry *reg, const char *rel, char *buf, size_t len);

/* The disk checks of one entry: fp32 file present inside the directory with the registered
 * sha256 and opset; for quantised modes the int8 sibling present with int8_sha256; for static
 * the calibration set present; gate data present with gate_data_sha256 and usable by the gate
 * at its default sample count (tt_gate_data_inputs: the array, dtype, shape of the fp32 model's
 * input, at least TT_GATE_SAMPLES_DEFAULT samples, all finite). The first failure is returned
 * (TT_ERR_IO for a missing file, TT_ERR_FORMAT for a hash or opset mismatch, the data reader's
 * status for unusable gate data). */
tt_status tt_registry_check_files(const tt_registry *reg, const tt_registry_entry *e);

/* Insert e (validated by the same rules as a loaded entry) keeping the models sorted by id.
 * An existing id is TT_ERR_INVALID_ARG unless replace. */
tt_status tt_registry_insert(tt_registry *reg, const tt_registry_entry *e, bool replace);

/* The registry as JSON text: sorted keys, 2-space indent, trailing newline (the layout of
 * Python's json.dumps(indent=2, sort_keys=True)), entries in reg's order. Free with free(). */
tt_status tt_registry_to_json(const tt_registry *reg, char **text);
/* Write it to path atomically (a temporary file renamed over path). */
tt_status tt_registry_save(const tt_registry *reg, const char *path);

/* SHA-256 of a file as 64 lowercase hex digits. */
tt_status tt_registry_file_sha256(const char *path, char hex[65]);

#ifdef __cplusplus
}
#endif
#endif
