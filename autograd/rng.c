/* PCG32 (XSH RR variant): small state, good statistics, reproducible on every platform. */
#include <math.h>
#include "tinytrain/rng.h"

void tt_rng_seed(tt_rng *r, uint64_t seed, uint64_t stream)
{
    r->state = 0;
    r->inc = (stream << 1u) | 1u;
    tt_rng_u32(r);
    r->state += seed;
    tt_rng_u32(r);
}

uint32_t tt_rng_u32(tt_rng *r)
{
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

float tt_rng_uniform(tt_rng *r)
{
    return (float)(tt_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

uint32_t tt_rng_below(tt_rng *r, uint32_t n)
{
    /* Reject the low values that would make the modulo uneven. */
    uint32_t threshold = (uint32_t)(-n) % n;
    for (;;) {
        uint32_t x = tt_rng_u32(r);
        if (x >= threshold) return x % n;
    }
}

float tt_rng_normal(tt_rng *r)
{
    double u1 = ((double)(tt_rng_u32(r) >> 8) + 0.5) / 16777216.0;
    double u2 = (double)(tt_rng_u32(r) >> 8) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
