/* host/runtime/rng.c: the context RNG (xoshiro256** seeded by splitmix64): fast, reproducible. */
#include <math.h>

#include "facecl/context.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void fcl_rng_seed(fcl_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t fcl_rng_next(fcl_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float fcl_rng_uniform(fcl_rng *r)
{
    return (float)(fcl_rng_next(r) >> 40) * (1.0f / 16777216.0f); /* 24 random bits: [0, 1) */
}

float fcl_rng_normal(fcl_rng *r)
{
    /* Box-Muller; u1 in (0, 1] so the log is finite. */
    double u1 = ((double)(fcl_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(fcl_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
