/* Learning-rate schedules in closed form, matching PyTorch's schedulers.
 *
 *   CONSTANT: base_lr
 *   STEP:     base_lr * gamma^floor(t / step_size)                      (StepLR)
 *   COSINE:   eta_min + (base_lr - eta_min) (1 + cos(pi t / t_max)) / 2   (CosineAnnealingLR's
 *             closed form; past t_max it follows the cosine back up, as PyTorch does)
 *
 * Warm-up convention: PyTorch's LinearLR(start_factor = warmup_start, end_factor = 1,
 * total_iters = warmup) chained with the main schedule (ChainedScheduler), i.e. the two factors
 * multiply and the main schedule keeps counting during the warm-up (it is not delayed):
 *
 *   lr(t) = sched(t) * (warmup_start + (1 - warmup_start) * min(t, warmup) / warmup)
 *
 * For STEP, CONSTANT and COSINE with eta_min = 0 this equals ChainedScheduler exactly; with
 * eta_min != 0 PyTorch's recursive cosine form scales eta_min differently during warm-up, and
 * we keep the closed form above (the whole cosine value, eta_min included, is ramped).
 *
 * Invalid schedules (NULL, unknown kind, step_size < 1, gamma < 0, t_max < 1, warmup < 0,
 * warmup_start outside (0, 1] while warming up) give NaN, which tt_optim_step rejects with a
 * clear message rather than training with a garbage rate. A negative t counts as 0. */
#include <math.h>
#include "tinytrain/optim.h"

#define TT_PI 3.14159265358979323846

float tt_schedule_lr(const tt_schedule *s, int64_t t)
{
    if (!s) return NAN;
    if (t < 0) t = 0;
    double base = s->base_lr, lr;
    switch (s->kind) {
    case TT_SCHED_CONSTANT:
        lr = base;
        break;
    case TT_SCHED_STEP:
        if (s->step_size < 1 || !(s->gamma >= 0.0f)) return NAN;
        lr = base * pow((double)s->gamma, (double)(t / s->step_size));
        break;
    case TT_SCHED_COSINE: {
        if (s->t_max < 1) return NAN;
        double eta = s->eta_min;
        lr = eta + (base - eta) * (1.0 + cos(TT_PI * (double)t / (double)s->t_max)) / 2.0;
        break;
    }
    default:
        return NAN;
    }
    if (s->warmup < 0) return NAN;
    if (t < s->warmup) {
        double ws = s->warmup_start;
        if (!(ws > 0.0 && ws <= 1.0)) return NAN;
        lr *= ws + (1.0 - ws) * (double)t / (double)s->warmup;
    }
    return (float)lr;
}
