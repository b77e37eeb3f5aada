/* Training checkpoints: every parameter of a graph (trainable weights and buffers such as BN
 * running statistics), the optimiser state, and what a trainer needs to resume bit-identically
 * (epoch, global step, named RNG states, best metric, the config text), in one HDF5 file:
 *
 *   /params/<param name>   float32, the parameter's shape (names may contain '.', never '/')
 *   /optim                 group, attributes kind ("sgd", "adam", "adamw") and steps (int64);
 *   /optim/<state name>    float32 [numel]: "<param>.momentum_buffer", "<param>.exp_avg", ...
 *                          (absent when the checkpoint was saved without an optimiser)
 *   /meta                  group, attributes format ("tinytrain-checkpoint-1"), version,
 *                          epoch (int64), step (int64), best (float64)
 *   /meta/config           fixed-length string dataset: the run's config text (if given)
 *   /meta/extra            fixed-length string dataset: free-form JSON (if given)
 *   /rng/<name>            uint64 [2]: the generator's state and inc
 *
 * Saving is atomic: the file is written to "<path>.tmp" in the same directory, flushed, closed
 * and fsync'ed, renamed over path, and the directory is fsync'ed. On any failure the temporary
 * is removed and an existing file at path is left as it was. The same graph, optimiser state
 * and meta give byte-identical files (no timestamps are stored).
 *
 * Loading is all-or-nothing: the whole file is validated against the graph (every parameter
 * present with the same shape, no extra ones) and the optimiser (same kind, same state buffers)
 * and read into staging memory before anything is copied, so on failure g, opt and meta are
 * unchanged. Every file is treated as hostile; each failure is a tt_last_error() message naming
 * the file:
 *   cannot open / read / write / rename, a directory, a missing file       -> TT_ERR_IO
 *   not HDF5, truncated, empty, not a tinytrain checkpoint, wrong dtype,
 *   rank above 4, malformed meta or RNG entries                            -> TT_ERR_FORMAT
 *   a newer checkpoint format ("tinytrain-checkpoint-2")                   -> TT_ERR_UNSUPPORTED
 *   parameters missing from the file or not in the graph (both listed),
 *   optimiser kind or state buffers that differ, no optimiser state        -> TT_ERR_INVALID_ARG
 *   a parameter or state buffer whose shape differs (both shapes named)    -> TT_ERR_SHAPE
 *   a parameter or RNG name containing '/' (or empty, or ".")              -> TT_ERR_INVALID_ARG
 *
 * Loading needs temporary memory the size of the parameters plus the optimiser state.
 *
 * HDF5's automatic error printing is switched off during these calls (and restored after).
 * The system HDF5 is a non-thread-safe build: do not run these calls at the same time as other
 * HDF5 use (the HDF5 data loader) on another thread. */
#ifndef TINYTRAIN_CHECKPOINT_H
#define TINYTRAIN_CHECKPOINT_H

#include <stdint.h>
#include "tinytrain/graph.h"
#include "tinytrain/optim.h"
#include "tinytrain/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_CHECKPOINT_FORMAT       "tinytrain-checkpoint-1"
#define TT_CHECKPOINT_MAX_RNGS     8
#define TT_CHECKPOINT_RNG_NAME_MAX 32 /* including the NUL */
#define TT_CHECKPOINT_VERSION_MAX  32 /* including the NUL */
/* Cap on the config text and on the extra JSON, excluding the NUL; equal to the config file
 * cap (TT_CONFIG_MAX_BYTES) so any config that loads can be stored. */
#define TT_CHECKPOINT_TEXT_MAX (1 << 20)

typedef struct tt_checkpoint_rng {
    char name[TT_CHECKPOINT_RNG_NAME_MAX]; /* "shuffle", "dropout", ... */
    tt_rng rng;
} tt_checkpoint_rng;

/* What a trainer stores beside the weights.
 *
 * Saving reads it; config_text and extra_json are borrowed (NULL: not stored) and version ""
 * stores tt_version().
 *
 * Loading (tt_checkpoint_load, tt_checkpoint_read_meta) overwrites every field: config_text and
 * extra_json are then allocated by the library (NULL when the file has none) and must be
 * released with tt_checkpoint_meta_free; the previous pointers are not freed. RNGs come back
 * sorted by name (HDF5's link order); find one with tt_checkpoint_meta_rng. */
typedef struct tt_checkpoint_meta {
    int64_t epoch; /* epochs completed */
    int64_t step;  /* global optimiser steps completed */
    double best;   /* best validation metric so far; NaN when there is none yet */
    char version[TT_CHECKPOINT_VERSION_MAX]; /* tinytrain version that wrote the file */
    int n_rngs;                              /* 0 .. TT_CHECKPOINT_MAX_RNGS */
    tt_checkpoint_rng rngs[TT_CHECKPOINT_MAX_RNGS];
    char *config_text; /* NUL-terminated, at most TT_CHECKPOINT_TEXT_MAX bytes */
    char *extra_json;  /* NUL-terminated, at most TT_CHECKPOINT_TEXT_MAX bytes */
} tt_checkpoint_meta;

/* Write g's parameters, opt's state (opt may be NULL) and meta (may be NULL: zeros) to path. */
tt_status tt_checkpoint_save(const char *path, const tt_graph *g, const tt_optim *opt,
                             const tt_checkpoint_meta *meta);

/* Restore g's parameters, and opt's state and step count if opt is not NULL (the checkpoint
 * must then hold state of the same kind), and fill meta if not NULL. */
tt_status tt_checkpoint_load(const char *path, tt_graph *g, tt_optim *opt,
                             tt_checkpoint_meta *meta);

/* Read only the meta (config text, epoch, RNGs, ...), for tools that have no graph yet. */
tt_status tt_checkpoint_read_meta(const char *path, tt_checkpoint_meta *meta);

/* Free the strings a load allocated and set them to NULL. Safe on a zeroed meta and on NULL. */
void tt_checkpoint_meta_free(tt_checkpoint_meta *meta);

/* Append a named RNG for saving (the state is copied). Fails on a full table, a duplicate, an
 * empty name, '/' in the name, or a name of TT_CHECKPOINT_RNG_NAME_MAX characters or more. */
tt_status tt_checkpoint_meta_add_rng(tt_checkpoint_meta *meta, const char *name, const tt_rng *rng);
/* The RNG stored under name, or NULL. */
const tt_rng *tt_checkpoint_meta_rng(const tt_checkpoint_meta *meta, const char *name);

#ifdef __cplusplus
}
#endif
#endif
