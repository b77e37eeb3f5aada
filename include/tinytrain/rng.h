/* PCG32 (O'Neill): one seeded generator threaded through init, shuffling, dropout and data. */
#ifndef TINYTRAIN_RNG_H
#define TINYTRAIN_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tt_rng {
    uint64_t state;
    uint64_t inc;
} tt_rng;

void tt_rng_seed(tt_rng *r, uint64_t seed, uint64_t stream);
uint32_t tt_rng_u32(tt_rng *r);
/* Uniform in [0, 1) with 24 random bits, so every value is an exact float. */
float tt_rng_uniform(tt_rng *r);
/* Uniform integer in [0, n) without modulo bias. n > 0. */
uint32_t tt_rng_below(tt_rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
float tt_rng_normal(tt_rng *r);

#ifdef __cplusplus
}
#endif
#endif
