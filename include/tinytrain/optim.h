/* Optimisers (SGD with momentum/Nesterov/weight decay, Adam, AdamW), learning-rate schedules and
 * gradient-norm clipping, with PyTorch's update formulas so parity fixtures line up. */
#ifndef TINYTRAIN_OPTIM_H
#define TINYTRAIN_OPTIM_H

#include <stdbool.h>
#include "tinytrain/exec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tt_optim_kind { TT_OPTIM_SGD = 0, TT_OPTIM_ADAM, TT_OPTIM_ADAMW } tt_optim_kind;

typedef struct tt_optim_config {
    tt_optim_kind kind;
    float lr;                /* base learning rate */
    float momentum;          /* SGD */
    float dampening;         /* SGD */
    bool nesterov;           /* SGD; needs momentum > 0 and dampening 0 */
    float weight_decay;      /* SGD/Adam: L2 added to the gradient; AdamW: decoupled */
    float beta1, beta2, eps; /* Adam/AdamW */
} tt_optim_config;

/* PyTorch's defaults for each kind (SGD lr 0.01; Adam lr 1e-3, betas 0.9/0.999, eps 1e-8;
 * AdamW the same with weight_decay 0.01). */
tt_optim_config tt_optim_defaults(tt_optim_kind kind);

typedef struct tt_optim tt_optim;

/* State for every trainable parameter of e's graph is allocated here, once. */
tt_status tt_optim_create(const tt_optim_config *cfg, tt_exec *e, tt_optim **out);
/* Free the optimiser before its executor (on a device its state lives in the executor's
 * device context). */
void tt_optim_free(tt_optim *o);
/* One update of every trainable parameter from its gradient, at learning rate lr. */
tt_status tt_optim_step(tt_optim *o, float lr);
int64_t tt_optim_steps(const tt_optim *o);

/* Checkpoint access (tinytrain/checkpoint.h). The state buffers are, per trainable parameter in
 * graph order, "<param>.momentum_buffer" (SGD with momentum != 0; plain SGD has none) or
 * "<param>.exp_avg" then "<param>.exp_avg_sq" (Adam, AdamW), named as PyTorch's state_dict.
 * The name and data stay valid until tt_optim_free; writing *data changes the optimiser. */
tt_optim_kind tt_optim_get_kind(const tt_optim *o);
int tt_optim_state_count(const tt_optim *o);
tt_status tt_optim_state_get(const tt_optim *o, int i, const char **name, float **data,
                             int64_t *numel);
/* With an executor on a device the state lives there: copy it to the host before reading it
 * through tt_optim_state_get (saving a checkpoint) and back after writing it (loading one).
 * Both do nothing on the CPU. */
tt_status tt_optim_state_to_host(tt_optim *o);
tt_status tt_optim_state_to_device(tt_optim *o);
/* Restore the step count (it drives Adam's bias correction and SGD's first-step buffer). */
tt_status tt_optim_set_steps(tt_optim *o, int64_t steps);

/* Scale all gradients so their global L2 norm is at most max_norm (PyTorch clip_grad_norm_).
 * Writes the norm before clipping to *norm_out if not NULL. NaN/Inf norm -> TT_ERR_NUMERIC. */
tt_status tt_clip_grad_norm(tt_exec *e, float max_norm, float *norm_out);

typedef enum tt_sched_kind {
    TT_SCHED_CONSTANT = 0,
    TT_SCHED_STEP,   /* lr * gamma^(floor(step / step_size)) */
    TT_SCHED_COSINE, /* eta_min + (lr - eta_min)(1 + cos(pi t / t_max)) / 2 */
} tt_sched_kind;

typedef struct tt_schedule {
    tt_sched_kind kind;
    float base_lr;
    int64_t step_size;  /* STEP: steps (or epochs) between decays */
    float gamma;        /* STEP */
    int64_t t_max;      /* COSINE: length of the cosine */
    float eta_min;      /* COSINE */
    int64_t warmup;     /* linear warm-up length (0: none), applied on top of any kind */
    float warmup_start; /* warm-up starts at base_lr * warmup_start (PyTorch LinearLR's
                           start_factor) */
} tt_schedule;

/* Learning rate at step t (t counts from 0); the warm-up ramps linearly to the schedule's value. */
float tt_schedule_lr(const tt_schedule *s, int64_t t);

#ifdef __cplusplus
}
#endif
#endif
