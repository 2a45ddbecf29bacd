/* mb_id: WAMP IDs. Global- and router-scope IDs are random in [1, 2^53] (xoshiro256**
 * seeded from getrandom); the generator state lives in the router. */
#ifndef MB_ID_H
#define MB_ID_H

#include <stdbool.h>
#include <stdint.h>

#define MB_ID_MAX (1ULL << 53)

struct mb_idgen {
    uint64_t s[4];
};

/* Seeds from the OS; with seed != 0, deterministically (tests). */
void mb_idgen_init(struct mb_idgen *g, uint64_t seed);
uint64_t mb_idgen_next(struct mb_idgen *g); /* uniform in [1, 2^53] */
uint64_t mb_idgen_u64(struct mb_idgen *g);  /* 64 random bits */

static inline bool mb_id_valid(int64_t v) { return v >= 1 && (uint64_t)v <= MB_ID_MAX; }

#endif
