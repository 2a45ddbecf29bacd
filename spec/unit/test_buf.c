/* mb_buf: the byte queue with headroom (append, consume, reserve/commit, compaction, growth,
 * shrink). */
#include "unit.h"

#include <stdint.h>

#include "mb_buf.h"

static int headroom_ok(const struct mb_buf *b)
{
    return b->mem != NULL && mb_buf_data(b) - b->mem >= MB_BUF_HEADROOM;
}

/* Fills p with n bytes of a pattern that depends on the position in the whole stream. */
static void pattern(unsigned char *p, size_t n, size_t pos)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((pos + i) * 2654435761u >> 13);
}

TEST(append_then_consume_keeps_bytes_in_order)
{
    struct mb_buf b = { 0 };
    CHECK_EQ_INT(mb_buf_append(&b, "hello ", 6), 0);
    CHECK_EQ_INT(mb_buf_append(&b, "world", 5), 0);
    CHECK_EQ_INT(b.len, 11);
    CHECK(memcmp(mb_buf_data(&b), "hello world", 11) == 0);
    mb_buf_consume(&b, 6);
    CHECK_EQ_INT(b.len, 5);
    CHECK(memcmp(mb_buf_data(&b), "world", 5) == 0);
    CHECK_EQ_INT(mb_buf_append(&b, "!", 1), 0);
    CHECK(memcmp(mb_buf_data(&b), "world!", 6) == 0);
    mb_buf_consume(&b, 6);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(b.head, 0);
    mb_buf_free(&b);
}

TEST(reserve_and_commit_add_bytes_at_the_tail)
{
    struct mb_buf b = { 0 };
    CHECK_EQ_INT(mb_buf_append(&b, "ab", 2), 0);
    char *p = mb_buf_reserve(&b, 3);
    REQUIRE(p);
    CHECK(p == mb_buf_data(&b) + 2);
    CHECK_EQ_INT(b.len, 2); /* reserving queues nothing */
    memcpy(p, "cde", 3);
    mb_buf_commit(&b, 2); /* only part of what was reserved */
    CHECK_EQ_INT(b.len, 4);
    CHECK(memcmp(mb_buf_data(&b), "abcd", 4) == 0);
    p = mb_buf_reserve(&b, 1);
    REQUIRE(p);
    *p = 'X';
    mb_buf_commit(&b, 1);
    CHECK(memcmp(mb_buf_data(&b), "abcdX", 5) == 0);
    mb_buf_free(&b);
}

TEST(headroom_is_kept_before_the_data)
{
    struct mb_buf b = { 0 };
    unsigned char chunk[1500];
    size_t pos = 0;
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)(i * 37 % 1500) + 1;
        pattern(chunk, n, pos);
        pos += n;
        REQUIRE(mb_buf_append(&b, chunk, n) == 0);
        CHECK(headroom_ok(&b));
        mb_buf_consume(&b, (size_t)(i * 53 % 1600));
        if (b.mem)
            CHECK(headroom_ok(&b));
        if (i % 100 == 99) {
            char *r = mb_buf_reserve(&b, 10000);
            REQUIRE(r);
            CHECK(headroom_ok(&b));
            CHECK(r - b.mem >= MB_BUF_HEADROOM);
        }
    }
    /* the headroom bytes are writable without touching the data */
    REQUIRE(mb_buf_append(&b, "xyz", 3) == 0);
    char *d = mb_buf_data(&b);
    memset(d - MB_BUF_HEADROOM, 0xAA, MB_BUF_HEADROOM);
    CHECK(memcmp(d + b.len - 3, "xyz", 3) == 0);
    mb_buf_free(&b);
}

TEST(compaction_moves_data_to_the_front_when_head_passes_half)
{
    struct mb_buf b = { 0 };
    unsigned char chunk[4096];
    pattern(chunk, sizeof chunk, 0);
    REQUIRE(mb_buf_append(&b, chunk, 4096) == 0);
    REQUIRE(b.cap == 4096); /* the first allocation is 4096 bytes */
    char *mem = b.mem;
    mb_buf_consume(&b, 3000); /* head 3000 > cap/2, 1096 queued */
    CHECK_EQ_INT(b.head, 3000);
    char *p = mb_buf_reserve(&b, 2000); /* fits once the consumed bytes are dropped */
    REQUIRE(p);
    CHECK(b.mem == mem); /* same memory: compacted, not reallocated */
    CHECK_EQ_INT(b.cap, 4096);
    CHECK_EQ_INT(b.head, 0);
    CHECK_EQ_INT(b.len, 1096);
    CHECK(memcmp(mb_buf_data(&b), chunk + 3000, 1096) == 0);
    CHECK(p == mb_buf_data(&b) + 1096);
    memcpy(p, chunk, 2000);
    mb_buf_commit(&b, 2000);
    CHECK(memcmp(mb_buf_data(&b) + 1096, chunk, 2000) == 0);
    mb_buf_free(&b);
}

TEST(reserve_that_fits_after_the_tail_does_not_move_data)
{
    struct mb_buf b = { 0 };
    REQUIRE(mb_buf_append(&b, "0123456789", 10) == 0);
    mb_buf_consume(&b, 4);
    char *data = mb_buf_data(&b);
    char *p = mb_buf_reserve(&b, 100);
    REQUIRE(p);
    CHECK(mb_buf_data(&b) == data);
    CHECK_EQ_INT(b.head, 4);
    CHECK(memcmp(mb_buf_data(&b), "456789", 6) == 0);
    mb_buf_free(&b);
}

TEST(growth_keeps_content)
{
    struct mb_buf b = { 0 };
    unsigned char chunk[3000];
    size_t pos = 0;
    for (int i = 0; i < 100; i++) { /* 300 KB */
        pattern(chunk, sizeof chunk, pos);
        pos += sizeof chunk;
        REQUIRE(mb_buf_append(&b, chunk, sizeof chunk) == 0);
        CHECK(b.head + b.len <= b.cap);
    }
    CHECK_EQ_INT(b.len, 300000);
    CHECK(b.cap >= 300000);
    CHECK((b.cap & (b.cap - 1)) == 0); /* doubled from 4096 */
    unsigned char *want = malloc(pos);
    REQUIRE(want);
    pattern(want, pos, 0);
    CHECK(memcmp(mb_buf_data(&b), want, pos) == 0);
    free(want);
    mb_buf_free(&b);
}

TEST(growth_with_consumed_head_keeps_content)
{
    struct mb_buf b = { 0 };
    unsigned char big[20000];
    pattern(big, sizeof big, 0);
    REQUIRE(mb_buf_append(&b, big, 1000) == 0);
    mb_buf_consume(&b, 700);
    REQUIRE(mb_buf_append(&b, big + 1000, 19000) == 0); /* forces a new allocation */
    CHECK_EQ_INT(b.head, 0);
    CHECK_EQ_INT(b.len, 19300);
    CHECK(b.cap >= 19300);
    CHECK(memcmp(mb_buf_data(&b), big + 700, 19300) == 0);
    CHECK(headroom_ok(&b));
    mb_buf_free(&b);
}

TEST(consume_more_than_queued_empties_the_buffer)
{
    struct mb_buf b = { 0 };
    REQUIRE(mb_buf_append(&b, "abc", 3) == 0);
    mb_buf_consume(&b, 1);
    mb_buf_consume(&b, 100);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(b.head, 0);
    REQUIRE(mb_buf_append(&b, "z", 1) == 0);
    CHECK(*mb_buf_data(&b) == 'z');
    mb_buf_free(&b);
}

TEST(reset_empties_but_keeps_memory)
{
    struct mb_buf b = { 0 };
    REQUIRE(mb_buf_append(&b, "abcdef", 6) == 0);
    mb_buf_consume(&b, 2);
    char *mem = b.mem;
    size_t cap = b.cap;
    mb_buf_reset(&b);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(b.head, 0);
    CHECK(b.mem == mem);
    CHECK_EQ_INT(b.cap, cap);
    mb_buf_free(&b);
}

TEST(shrink_drops_memory_only_when_empty_and_over_keep)
{
    struct mb_buf b = { 0 };
    unsigned char chunk[10000];
    pattern(chunk, sizeof chunk, 0);
    REQUIRE(mb_buf_append(&b, chunk, sizeof chunk) == 0);
    char *mem = b.mem;
    size_t cap = b.cap;

    mb_buf_shrink(&b, 0); /* not empty: kept */
    CHECK(b.mem == mem);
    CHECK_EQ_INT(b.cap, cap);
    CHECK(memcmp(mb_buf_data(&b), chunk, sizeof chunk) == 0);

    mb_buf_consume(&b, sizeof chunk - 1);
    mb_buf_shrink(&b, 0); /* one byte left: kept */
    CHECK(b.mem == mem);
    CHECK_EQ_INT(b.len, 1);

    mb_buf_consume(&b, 1);
    mb_buf_shrink(&b, cap); /* empty, but not larger than keep: kept */
    CHECK(b.mem == mem);
    CHECK_EQ_INT(b.cap, cap);

    mb_buf_shrink(&b, 4096); /* empty and larger than keep: dropped */
    CHECK(b.mem == NULL);
    CHECK_EQ_INT(b.cap, 0);
    CHECK_EQ_INT(b.head, 0);
    CHECK_EQ_INT(b.len, 0);

    /* and usable again */
    REQUIRE(mb_buf_append(&b, "again", 5) == 0);
    CHECK(memcmp(mb_buf_data(&b), "again", 5) == 0);
    CHECK(headroom_ok(&b));
    mb_buf_free(&b);
}

TEST(free_leaves_an_empty_reusable_buffer)
{
    struct mb_buf b = { 0 };
    REQUIRE(mb_buf_append(&b, "x", 1) == 0);
    mb_buf_free(&b);
    CHECK(b.mem == NULL);
    CHECK_EQ_INT(b.cap, 0);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(b.head, 0);
    mb_buf_free(&b); /* twice is harmless */
    REQUIRE(mb_buf_append(&b, "y", 1) == 0);
    CHECK(*mb_buf_data(&b) == 'y');
    mb_buf_free(&b);
}

/* xorshift for the random sequence (reproducible) */
static uint32_t rng_state = 0x12345678u;
static uint32_t rnd(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

TEST(queue_accounting_matches_a_reference_over_a_random_sequence)
{
    struct mb_buf b = { 0 };
    /* reference: every byte ever appended, and how many were consumed */
    size_t refcap = 1 << 20, in = 0, out = 0;
    unsigned char *ref = malloc(refcap);
    unsigned char chunk[5000];
    REQUIRE(ref);
    int mismatches = 0;
    for (int op = 0; op < 6000; op++) {
        uint32_t r = rnd();
        size_t n = rnd() % (r % 4 == 0 ? 5000 : 300);
        if (r % 3 != 0) { /* append (by either path) */
            pattern(chunk, n, in);
            if (in + n > refcap) { /* keep the reference small: drop what was consumed */
                memmove(ref, ref + out, in - out);
                in -= out;
                out = 0;
            }
            REQUIRE(in + n <= refcap);
            if (r % 2) {
                REQUIRE(mb_buf_append(&b, chunk, n) == 0);
            } else {
                char *p = mb_buf_reserve(&b, n + 7); /* reserve more than is committed */
                REQUIRE(p);
                memcpy(p, chunk, n);
                mb_buf_commit(&b, n);
            }
            memcpy(ref + in, chunk, n);
            in += n;
        } else { /* consume: twice as much, so the queue keeps coming back to empty */
            n *= 2;
            mb_buf_consume(&b, n);
            out += n < in - out ? n : in - out;
        }
        if (b.len != in - out || b.head + b.len > b.cap ||
            (b.len && memcmp(mb_buf_data(&b), ref + out, b.len) != 0) ||
            (b.mem && !headroom_ok(&b))) {
            if (mismatches++ < 5)
                unit_fail(__FILE__, __LINE__, "op %d: len %zu, expected %zu", op, b.len, in - out);
        }
    }
    CHECK_EQ_INT(mismatches, 0);
    free(ref);
    mb_buf_free(&b);
}

UNIT_MAIN()
