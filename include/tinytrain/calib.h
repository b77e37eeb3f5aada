/* Calibration sets for post-training quantisation: N samples of a config's data exactly as the
 * model sees them (after the config's normalisation, never augmented), chosen reproducibly.
 *
 * Selection (tt_calib_build): classification data is stratified -- each class gets its share
 * of n (count_c * n / total), the quotas rounded by largest remainder (lowest class first on
 * ties) so they sum to n; within a class the samples are a partial Fisher-Yates draw of a PCG
 * seeded from `seed`. Regression and image_to_image data get a seeded uniform draw of n
 * samples without replacement. Either way the chosen samples are kept in data set order, so
 * "index" is ascending.
 *
 * The set holds three arrays: "input" [n, model.input...] float32 (the model's input name),
 * "target" ([n] int32 labels, or [n, target shape...] float32 targets) and "index" [n] int64
 * (each sample's position in the loaded split). tt_calib_save writes them as .npz (stored, as
 * np.savez) or .h5 (datasets of the same names, attributes config_sha256 and seed on the root
 * group); both are written to "<path>.tmp" and renamed, so a failed save leaves nothing
 * damaged behind. */
#ifndef TINYTRAIN_CALIB_H
#define TINYTRAIN_CALIB_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/config.h"
#include "tinytrain/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tt_calib_set {
    tt_tensor *input;  /* [n, model.input...] float32, normalised */
    tt_tensor *target; /* [n] int32 labels or [n, ...] float32 targets */
    tt_tensor *index;  /* [n] int64, ascending */
    uint64_t seed;
    char config_sha256[65]; /* of the config's YAML text */
} tt_calib_set;

/* Load cfg's training (train_split) or test split, normalise it as the trainer does and choose
 * n samples (see above). n < 1 or n above the split's sample count is TT_ERR_INVALID_ARG; a
 * config without a test set asked for its test split is TT_ERR_INVALID_ARG; data too large
 * to be held in memory (streamed HDF5) is TT_ERR_UNSUPPORTED. *out is zeroed on failure. */
tt_status tt_calib_build(const tt_config *cfg, int64_t n, uint64_t seed, bool train_split,
                         tt_calib_set *out);

/* Write set to path: ".npz" or ".h5" (case-sensitive); any other extension is
 * TT_ERR_INVALID_ARG. Write-then-rename: on failure an existing file at path is untouched. */
tt_status tt_calib_save(const char *path, const tt_calib_set *set);

void tt_calib_free(tt_calib_set *set);

#ifdef __cplusplus
}
#endif
#endif
