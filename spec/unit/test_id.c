/* mb_id: random WAMP IDs in [1, 2^53] from xoshiro256**, and the ID range check. */
#include "unit.h"

#include <stdint.h>

#include "mb_id.h"

#define DRAWS 1000000

TEST(million_draws_stay_in_one_to_two_to_the_53)
{
    struct mb_idgen g;
    mb_idgen_init(&g, 0);
    uint64_t lo = UINT64_MAX, hi = 0;
    long bad = 0;
    for (long i = 0; i < DRAWS; i++) {
        uint64_t v = mb_idgen_next(&g);
        if (v < 1 || v > MB_ID_MAX)
            bad++;
        if (v < lo)
            lo = v;
        if (v > hi)
            hi = v;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(lo >= 1);
    CHECK(hi <= MB_ID_MAX);
    /* a million uniform draws spread over the whole range */
    CHECK(lo < MB_ID_MAX / 1000);
    CHECK(hi > MB_ID_MAX - MB_ID_MAX / 1000);
}

TEST(every_draw_is_a_valid_id)
{
    struct mb_idgen g;
    mb_idgen_init(&g, 12345);
    long bad = 0;
    for (long i = 0; i < DRAWS; i++)
        if (!mb_id_valid((int64_t)mb_idgen_next(&g)))
            bad++;
    CHECK_EQ_INT(bad, 0);
}

TEST(seeded_generators_are_deterministic)
{
    struct mb_idgen a, b, c;
    mb_idgen_init(&a, 42);
    mb_idgen_init(&b, 42);
    mb_idgen_init(&c, 43);
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = mb_idgen_next(&a), y = mb_idgen_next(&b), z = mb_idgen_next(&c);
        same_ab += x == y;
        same_ac += x == z;
    }
    CHECK_EQ_INT(same_ab, 1000);
    CHECK_EQ_INT(same_ac, 0);

    /* re-seeding restarts the sequence */
    mb_idgen_init(&a, 42);
    mb_idgen_init(&b, 42);
    for (int i = 0; i < 10; i++)
        mb_idgen_u64(&a);
    mb_idgen_init(&a, 42);
    CHECK(mb_idgen_u64(&a) == mb_idgen_u64(&b));
}

TEST(os_seeded_generators_differ)
{
    struct mb_idgen a, b;
    mb_idgen_init(&a, 0);
    mb_idgen_init(&b, 0);
    CHECK(memcmp(a.s, b.s, sizeof a.s) != 0);
    int same = 0;
    for (int i = 0; i < 100; i++)
        same += mb_idgen_next(&a) == mb_idgen_next(&b);
    CHECK_EQ_INT(same, 0);
}

TEST(state_is_never_all_zero_after_seeding)
{
    /* xoshiro's one fixed point is the all-zero state; no seed may lead there */
    uint64_t seeds[] = { 1, 2, 42, UINT64_MAX, 0x9e3779b97f4a7c15ULL };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        struct mb_idgen g;
        mb_idgen_init(&g, seeds[i]);
        CHECK((g.s[0] | g.s[1] | g.s[2] | g.s[3]) != 0);
    }
}

TEST(ids_are_roughly_uniform)
{
    struct mb_idgen g;
    mb_idgen_init(&g, 7);
    long top = 0, low = 0, mid = 0;
    for (long i = 0; i < DRAWS; i++) {
        uint64_t v = mb_idgen_next(&g) - 1; /* 53 random bits */
        top += (long)((v >> 52) & 1);
        mid += (long)((v >> 26) & 1);
        low += (long)(v & 1);
    }
    /* binomial(1e6, 1/2): sd = 500, allow 10 sd */
    CHECK(top > DRAWS / 2 - 5000 && top < DRAWS / 2 + 5000);
    CHECK(mid > DRAWS / 2 - 5000 && mid < DRAWS / 2 + 5000);
    CHECK(low > DRAWS / 2 - 5000 && low < DRAWS / 2 + 5000);
    if (!(top > DRAWS / 2 - 5000 && top < DRAWS / 2 + 5000))
        printf("# top bit set %ld times of %d\n", top, DRAWS);
}

TEST(u64_uses_all_64_bits)
{
    struct mb_idgen g;
    mb_idgen_init(&g, 99);
    uint64_t any = 0, all = UINT64_MAX;
    for (int i = 0; i < 1000; i++) {
        uint64_t v = mb_idgen_u64(&g);
        any |= v;
        all &= v;
    }
    CHECK(any == UINT64_MAX);
    CHECK(all == 0);
}

/* Reference xoshiro256** (Blackman & Vigna) with splitmix64 seeding, written from the paper. */
static uint64_t ref_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t ref_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t ref_next(uint64_t s[4])
{
    const uint64_t result = ref_rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ref_rotl(s[3], 45);
    return result;
}

TEST(generator_is_xoshiro256starstar_seeded_by_splitmix64)
{
    uint64_t seed = 2024, s[4];
    for (int i = 0; i < 4; i++)
        s[i] = ref_splitmix64(&seed);
    struct mb_idgen g;
    mb_idgen_init(&g, 2024);
    int same = 0;
    for (int i = 0; i < 1000; i++)
        same += mb_idgen_u64(&g) == ref_next(s);
    CHECK_EQ_INT(same, 1000);
    /* next() is the top 53 bits plus one */
    uint64_t r = ref_next(s);
    CHECK(mb_idgen_next(&g) == (r >> 11) + 1);
}

TEST(id_valid_bounds)
{
    CHECK(!mb_id_valid(0));
    CHECK(mb_id_valid(1));
    CHECK(mb_id_valid(2));
    CHECK(!mb_id_valid(-1));
    CHECK(mb_id_valid((int64_t)MB_ID_MAX));
    CHECK(mb_id_valid((int64_t)MB_ID_MAX - 1));
    CHECK(!mb_id_valid((int64_t)MB_ID_MAX + 1));
    CHECK(!mb_id_valid(INT64_MAX));
    CHECK(!mb_id_valid(INT64_MIN));
    CHECK(!mb_id_valid(-(int64_t)MB_ID_MAX));
    CHECK_EQ_INT(MB_ID_MAX, 9007199254740992LL);
}

UNIT_MAIN()
