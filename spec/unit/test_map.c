/* mb_map: string- and ID-keyed open-addressing maps (put/get/del, replace, growth, tombstones,
 * iteration). */
#include "unit.h"

#include <stdint.h>

#include "mb_map.h"

#define MANY 100000

/* A value that knows its key, so an iteration can delete what it visits. */
struct item {
    char key[24];
    size_t klen;
    uint64_t id;
    int seen;
};

static struct item *make_items(size_t n)
{
    struct item *it = calloc(n, sizeof *it);
    if (!it)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        it[i].klen = (size_t)snprintf(it[i].key, sizeof it[i].key, "com.key.%zu", i);
        it[i].id = i * 2654435761u + 1; /* spread-out IDs */
    }
    return it;
}

static int map_invariants(const struct mb_map *m)
{
    return (m->cap == 0 || (m->cap & (m->cap - 1)) == 0) && m->len <= m->used &&
           m->used * 4 <= m->cap * 3;
}

TEST(empty_map_finds_nothing)
{
    struct mb_map m = { 0 };
    CHECK(mb_map_get_str(&m, "a", 1) == NULL);
    CHECK(mb_map_del_str(&m, "a", 1) == NULL);
    CHECK(mb_map_get_id(&m, 1) == NULL);
    CHECK(mb_map_del_id(&m, 1) == NULL);
    size_t it = 0;
    CHECK(mb_map_next(&m, &it) == NULL);
    mb_map_free(&m);
}

TEST(string_map_put_get_del)
{
    struct mb_map m = { 0 };
    int a = 1, b = 2;
    CHECK_EQ_INT(mb_map_put_str(&m, "alpha", 5, &a), 0);
    CHECK_EQ_INT(mb_map_put_str(&m, "beta", 4, &b), 0);
    CHECK_EQ_INT(m.len, 2);
    CHECK(mb_map_get_str(&m, "alpha", 5) == &a);
    CHECK(mb_map_get_str(&m, "beta", 4) == &b);
    CHECK(mb_map_get_str(&m, "gamma", 5) == NULL);
    CHECK(mb_map_del_str(&m, "alpha", 5) == &a);
    CHECK_EQ_INT(m.len, 1);
    CHECK(mb_map_get_str(&m, "alpha", 5) == NULL);
    CHECK(mb_map_del_str(&m, "alpha", 5) == NULL); /* already gone */
    CHECK(mb_map_get_str(&m, "beta", 4) == &b);
    mb_map_free(&m);
    CHECK(m.slots == NULL && m.cap == 0 && m.len == 0 && m.used == 0);
}

TEST(string_lookup_compares_bytes_not_pointers)
{
    struct mb_map m = { 0 };
    int v = 1;
    char k1[] = "topic", k2[] = "topic";
    CHECK_EQ_INT(mb_map_put_str(&m, k1, 5, &v), 0);
    CHECK(mb_map_get_str(&m, k2, 5) == &v);
    mb_map_free(&m);
}

TEST(put_of_existing_key_replaces_value_and_key_memory)
{
    struct mb_map m = { 0 };
    int a = 1, b = 2;
    char *k1 = strdup("com.myapp.topic");
    char *k2 = strdup("com.myapp.topic");
    REQUIRE(k1 && k2);
    CHECK_EQ_INT(mb_map_put_str(&m, k1, strlen(k1), &a), 0);
    CHECK_EQ_INT(mb_map_put_str(&m, k2, strlen(k2), &b), 0);
    CHECK_EQ_INT(m.len, 1);
    /* the map now points at k2: k1 may go (valgrind sees any read of freed k1) */
    free(k1);
    CHECK(mb_map_get_str(&m, "com.myapp.topic", 15) == &b);
    size_t it = 0;
    CHECK(mb_map_next(&m, &it) == &b);
    CHECK(mb_map_next(&m, &it) == NULL);
    mb_map_free(&m);
    free(k2);

    struct mb_map ids = { 0 };
    CHECK_EQ_INT(mb_map_put_id(&ids, 77, &a), 0);
    CHECK_EQ_INT(mb_map_put_id(&ids, 77, &b), 0);
    CHECK_EQ_INT(ids.len, 1);
    CHECK(mb_map_get_id(&ids, 77) == &b);
    mb_map_free(&ids);
}

TEST(id_map_put_get_del_including_edge_ids)
{
    struct mb_map m = { 0 };
    int v[5];
    uint64_t ids[5] = { 1, 2, 1ULL << 53, 0, UINT64_MAX };
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(mb_map_put_id(&m, ids[i], &v[i]), 0);
    CHECK_EQ_INT(m.len, 5);
    for (int i = 0; i < 5; i++)
        CHECK(mb_map_get_id(&m, ids[i]) == &v[i]);
    CHECK(mb_map_get_id(&m, 3) == NULL);
    CHECK(mb_map_del_id(&m, 1ULL << 53) == &v[2]);
    CHECK(mb_map_get_id(&m, 1ULL << 53) == NULL);
    CHECK(mb_map_get_id(&m, 1) == &v[0]);
    CHECK(mb_map_get_id(&m, UINT64_MAX) == &v[4]);
    CHECK_EQ_INT(m.len, 4);
    mb_map_free(&m);
}

TEST(many_string_entries_survive_growth)
{
    struct mb_map m = { 0 };
    struct item *it = make_items(MANY);
    REQUIRE(it);
    int fails = 0;
    for (size_t i = 0; i < MANY; i++) {
        if (mb_map_put_str(&m, it[i].key, it[i].klen, &it[i]) != 0)
            fails++;
        if ((i & 1023) == 0 && !map_invariants(&m))
            fails++;
    }
    CHECK_EQ_INT(fails, 0);
    CHECK_EQ_INT(m.len, MANY);
    CHECK(map_invariants(&m));
    CHECK(m.cap >= MANY);
    int wrong = 0;
    for (size_t i = 0; i < MANY; i++)
        if (mb_map_get_str(&m, it[i].key, it[i].klen) != &it[i])
            wrong++;
    CHECK_EQ_INT(wrong, 0);
    CHECK(mb_map_get_str(&m, "com.key.100000", 14) == NULL);
    mb_map_free(&m);
    free(it);
}

TEST(many_id_entries_survive_growth)
{
    struct mb_map m = { 0 };
    struct item *it = make_items(MANY);
    REQUIRE(it);
    int fails = 0;
    for (size_t i = 0; i < MANY; i++)
        if (mb_map_put_id(&m, it[i].id, &it[i]) != 0)
            fails++;
    /* sequential IDs too, in the same map */
    for (uint64_t i = 1; i <= 1000; i++)
        if (mb_map_put_id(&m, (1ULL << 53) - i, &it[i]) != 0)
            fails++;
    CHECK_EQ_INT(fails, 0);
    CHECK_EQ_INT(m.len, MANY + 1000);
    CHECK(map_invariants(&m));
    int wrong = 0;
    for (size_t i = 0; i < MANY; i++)
        if (mb_map_get_id(&m, it[i].id) != &it[i])
            wrong++;
    for (uint64_t i = 1; i <= 1000; i++)
        if (mb_map_get_id(&m, (1ULL << 53) - i) != &it[i])
            wrong++;
    CHECK_EQ_INT(wrong, 0);
    mb_map_free(&m);
    free(it);
}

TEST(tombstones_keep_lookups_right_after_delete_and_reinsert)
{
    struct mb_map s = { 0 }, d = { 0 };
    struct item *it = make_items(MANY);
    REQUIRE(it);
    for (size_t i = 0; i < MANY; i++) {
        REQUIRE(mb_map_put_str(&s, it[i].key, it[i].klen, &it[i]) == 0);
        REQUIRE(mb_map_put_id(&d, it[i].id, &it[i]) == 0);
    }
    int wrong = 0;
    for (size_t i = 0; i < MANY; i += 2) {
        if (mb_map_del_str(&s, it[i].key, it[i].klen) != &it[i])
            wrong++;
        if (mb_map_del_id(&d, it[i].id) != &it[i])
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(s.len, MANY / 2);
    CHECK_EQ_INT(d.len, MANY / 2);
    for (size_t i = 0; i < MANY; i++) {
        void *want = (i % 2) ? &it[i] : NULL;
        if (mb_map_get_str(&s, it[i].key, it[i].klen) != want)
            wrong++;
        if (mb_map_get_id(&d, it[i].id) != want)
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
    /* reinsert the deleted half with other values (the next item) */
    for (size_t i = 0; i < MANY; i += 2) {
        REQUIRE(mb_map_put_str(&s, it[i].key, it[i].klen, &it[i + 1]) == 0);
        REQUIRE(mb_map_put_id(&d, it[i].id, &it[i + 1]) == 0);
    }
    CHECK_EQ_INT(s.len, MANY);
    CHECK_EQ_INT(d.len, MANY);
    CHECK(map_invariants(&s));
    CHECK(map_invariants(&d));
    for (size_t i = 0; i < MANY; i++) {
        void *want = (i % 2) ? &it[i] : &it[i + 1];
        if (mb_map_get_str(&s, it[i].key, it[i].klen) != want)
            wrong++;
        if (mb_map_get_id(&d, it[i].id) != want)
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
    mb_map_free(&s);
    mb_map_free(&d);
    free(it);
}

TEST(churn_reuses_tombstones_without_growing)
{
    /* a few live entries, many inserts and deletes: the table is rehashed in place, not grown */
    struct mb_map m = { 0 };
    struct item *it = make_items(MANY);
    REQUIRE(it);
    int wrong = 0;
    for (size_t i = 0; i < MANY; i++) {
        REQUIRE(mb_map_put_id(&m, it[i].id, &it[i]) == 0);
        if (i >= 8 && mb_map_del_id(&m, it[i - 8].id) != &it[i - 8])
            wrong++;
        if (m.len > 9)
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(m.len, 8);
    CHECK(m.cap <= 64);
    CHECK(map_invariants(&m));
    for (size_t i = MANY - 8; i < MANY; i++)
        CHECK(mb_map_get_id(&m, it[i].id) == &it[i]);
    CHECK(mb_map_get_id(&m, it[MANY - 9].id) == NULL);
    mb_map_free(&m);
    free(it);
}

TEST(deleting_the_end_of_a_probe_run_clears_its_tombstones)
{
    /* calls in flight come and go: after each delete that ends a run no tombstone stays, so
     * the table never fills with them (no rehash, short misses); lookups stay right */
    struct mb_map m = { 0 };
    struct item *it = make_items(MANY);
    REQUIRE(it);
    int wrong = 0;
    double used = 0;
    for (size_t i = 0; i < MANY; i++) {
        REQUIRE(mb_map_put_id(&m, it[i].id, &it[i]) == 0);
        if (i >= 16 && mb_map_del_id(&m, it[i - 16].id) != &it[i - 16])
            wrong++;
        used += (double)m.used;
    }
    CHECK_EQ_INT(wrong, 0);
    /* 16 live in 64 slots: without clearing, used climbs from 16 to 48 before each rehash
     * (32 on average); with it, it stays near the live count */
    CHECK(used / MANY < 27);
    for (size_t i = MANY - 16; i < MANY; i++)
        if (mb_map_get_id(&m, it[i].id) != &it[i])
            wrong++;
    CHECK_EQ_INT(wrong, 0);
    while (m.len) /* deleting everything leaves an empty table: every slot is empty again */
        for (size_t i = MANY - 16; i < MANY; i++)
            mb_map_del_id(&m, it[i].id);
    CHECK_EQ_INT(m.used, 0);
    CHECK(map_invariants(&m));
    mb_map_free(&m);
    free(it);
}

TEST(iteration_visits_every_live_entry_exactly_once)
{
    struct mb_map m = { 0 };
    enum { N = 5000 };
    struct item *it = make_items(N);
    REQUIRE(it);
    for (size_t i = 0; i < N; i++)
        REQUIRE(mb_map_put_str(&m, it[i].key, it[i].klen, &it[i]) == 0);
    for (size_t i = 0; i < N; i += 3) /* leave tombstones for the iterator to skip */
        REQUIRE(mb_map_del_str(&m, it[i].key, it[i].klen) == &it[i]);
    size_t visits = 0, pos = 0;
    struct item *v;
    while ((v = mb_map_next(&m, &pos))) {
        v->seen++;
        visits++;
    }
    CHECK_EQ_INT(visits, m.len);
    int wrong = 0;
    for (size_t i = 0; i < N; i++)
        if (it[i].seen != (i % 3 ? 1 : 0))
            wrong++;
    CHECK_EQ_INT(wrong, 0);
    CHECK(mb_map_next(&m, &pos) == NULL); /* stays at the end */
    mb_map_free(&m);
    free(it);
}

TEST(deleting_the_current_entry_while_iterating_is_safe)
{
    struct mb_map s = { 0 }, d = { 0 };
    enum { N = 3000 };
    struct item *it = make_items(N);
    REQUIRE(it);
    for (size_t i = 0; i < N; i++) {
        REQUIRE(mb_map_put_str(&s, it[i].key, it[i].klen, &it[i]) == 0);
        REQUIRE(mb_map_put_id(&d, it[i].id, &it[i]) == 0);
    }
    size_t pos = 0, visits = 0;
    struct item *v;
    int wrong = 0;
    while ((v = mb_map_next(&s, &pos))) {
        v->seen++;
        visits++;
        if ((v - it) % 2 == 0 && mb_map_del_str(&s, v->key, v->klen) != v)
            wrong++;
    }
    CHECK_EQ_INT(visits, N);
    CHECK_EQ_INT(s.len, N / 2);
    /* the ID map: delete everything as it is visited */
    pos = 0;
    while ((v = mb_map_next(&d, &pos))) {
        v->seen++;
        if (mb_map_del_id(&d, v->id) != v)
            wrong++;
    }
    CHECK_EQ_INT(d.len, 0);
    for (size_t i = 0; i < N; i++) {
        if (it[i].seen != 2)
            wrong++;
        if ((mb_map_get_str(&s, it[i].key, it[i].klen) != NULL) != (i % 2 == 1))
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
    mb_map_free(&s);
    mb_map_free(&d);
    free(it);
}

TEST(keys_with_nul_bytes_are_distinct)
{
    struct mb_map m = { 0 };
    int v[6];
    const char *k[6] = { "a\0b", "a\0c", "a", "a\0", "\0", "" };
    size_t kl[6] = { 3, 3, 1, 2, 1, 0 };
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(mb_map_put_str(&m, k[i], kl[i], &v[i]), 0);
    CHECK_EQ_INT(m.len, 6);
    for (int i = 0; i < 6; i++)
        CHECK(mb_map_get_str(&m, k[i], kl[i]) == &v[i]);
    CHECK(mb_map_get_str(&m, "a\0b\0", 4) == NULL);
    CHECK(mb_map_del_str(&m, "a\0", 2) == &v[3]);
    CHECK(mb_map_get_str(&m, "a", 1) == &v[2]);
    CHECK(mb_map_get_str(&m, "a\0b", 3) == &v[0]);
    mb_map_free(&m);
}

TEST(keys_sharing_a_prefix_with_different_lengths_are_distinct)
{
    struct mb_map m = { 0 };
    const char *text = "com.myapp.topic.emergency";
    size_t n = strlen(text);
    int v[32];
    for (size_t i = 0; i <= n; i++) /* "", "c", "co", ..., the whole text */
        REQUIRE(mb_map_put_str(&m, text, i, &v[i]) == 0);
    CHECK_EQ_INT(m.len, n + 1);
    int wrong = 0;
    for (size_t i = 0; i <= n; i++)
        if (mb_map_get_str(&m, text, i) != &v[i])
            wrong++;
    CHECK_EQ_INT(wrong, 0);
    CHECK(mb_map_get_str(&m, "com.myapp.topic.emergency-low", 29) == NULL);
    CHECK(mb_map_del_str(&m, text, 3) == &v[3]);
    CHECK(mb_map_get_str(&m, text, 3) == NULL);
    CHECK(mb_map_get_str(&m, text, 4) == &v[4]);
    CHECK(mb_map_get_str(&m, text, 2) == &v[2]);
    mb_map_free(&m);
}

UNIT_MAIN()
