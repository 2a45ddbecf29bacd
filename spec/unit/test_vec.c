/* mb_vec: the ordered pointer array (push, remove keeping order, contains). */
#include "unit.h"

#include "mb_vec.h"

static int order_is(const struct mb_vec *v, int *base, const int *want, size_t n)
{
    if (v->len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (v->items[i] != &base[want[i]])
            return 0;
    return 1;
}

TEST(push_keeps_insertion_order)
{
    struct mb_vec v = { 0 };
    int x[100] = { 0 };
    for (int i = 0; i < 100; i++)
        REQUIRE(mb_vec_push(&v, &x[i]) == 0);
    CHECK_EQ_INT(v.len, 100);
    CHECK(v.cap >= 100);
    int wrong = 0;
    for (int i = 0; i < 100; i++)
        if (v.items[i] != &x[i])
            wrong++;
    CHECK_EQ_INT(wrong, 0);
    mb_vec_free(&v);
}

TEST(remove_keeps_the_order_of_the_rest)
{
    struct mb_vec v = { 0 };
    int x[6] = { 0 };
    for (int i = 0; i < 6; i++)
        REQUIRE(mb_vec_push(&v, &x[i]) == 0);
    CHECK(mb_vec_remove(&v, &x[2])); /* middle */
    CHECK(order_is(&v, x, (int[]){ 0, 1, 3, 4, 5 }, 5));
    CHECK(mb_vec_remove(&v, &x[0])); /* first */
    CHECK(order_is(&v, x, (int[]){ 1, 3, 4, 5 }, 4));
    CHECK(mb_vec_remove(&v, &x[5])); /* last */
    CHECK(order_is(&v, x, (int[]){ 1, 3, 4 }, 3));
    CHECK(mb_vec_push(&v, &x[0]) == 0); /* pushed again: goes last */
    CHECK(order_is(&v, x, (int[]){ 1, 3, 4, 0 }, 4));
    CHECK(mb_vec_remove(&v, &x[1]));
    CHECK(mb_vec_remove(&v, &x[3]));
    CHECK(mb_vec_remove(&v, &x[4]));
    CHECK(mb_vec_remove(&v, &x[0]));
    CHECK_EQ_INT(v.len, 0);
    mb_vec_free(&v);
}

TEST(remove_takes_only_the_first_occurrence)
{
    struct mb_vec v = { 0 };
    int x[3] = { 0 };
    REQUIRE(mb_vec_push(&v, &x[0]) == 0);
    REQUIRE(mb_vec_push(&v, &x[1]) == 0);
    REQUIRE(mb_vec_push(&v, &x[0]) == 0);
    REQUIRE(mb_vec_push(&v, &x[2]) == 0);
    CHECK(mb_vec_remove(&v, &x[0]));
    CHECK(order_is(&v, x, (int[]){ 1, 0, 2 }, 3));
    CHECK(mb_vec_contains(&v, &x[0]));
    CHECK(mb_vec_remove(&v, &x[0]));
    CHECK(!mb_vec_contains(&v, &x[0]));
    CHECK(order_is(&v, x, (int[]){ 1, 2 }, 2));
    mb_vec_free(&v);
}

TEST(remove_of_absent_returns_false_and_changes_nothing)
{
    struct mb_vec v = { 0 };
    int x[3] = { 0 };
    CHECK(!mb_vec_remove(&v, &x[0])); /* empty, never allocated */
    CHECK(!mb_vec_remove(&v, NULL));
    REQUIRE(mb_vec_push(&v, &x[0]) == 0);
    REQUIRE(mb_vec_push(&v, &x[1]) == 0);
    CHECK(!mb_vec_remove(&v, &x[2]));
    CHECK(!mb_vec_remove(&v, NULL));
    CHECK(order_is(&v, x, (int[]){ 0, 1 }, 2));
    CHECK(mb_vec_remove(&v, &x[1]));
    CHECK(!mb_vec_remove(&v, &x[1])); /* already removed */
    CHECK(order_is(&v, x, (int[]){ 0 }, 1));
    mb_vec_free(&v);
}

TEST(contains_finds_exactly_the_pushed_pointers)
{
    struct mb_vec v = { 0 };
    int x[4] = { 0 };
    CHECK(!mb_vec_contains(&v, &x[0]));
    REQUIRE(mb_vec_push(&v, &x[1]) == 0);
    REQUIRE(mb_vec_push(&v, &x[3]) == 0);
    CHECK(!mb_vec_contains(&v, &x[0]));
    CHECK(mb_vec_contains(&v, &x[1]));
    CHECK(!mb_vec_contains(&v, &x[2]));
    CHECK(mb_vec_contains(&v, &x[3]));
    CHECK(!mb_vec_contains(&v, NULL));
    REQUIRE(mb_vec_push(&v, NULL) == 0); /* NULL is a pointer like any other */
    CHECK(mb_vec_contains(&v, NULL));
    CHECK(mb_vec_remove(&v, NULL));
    CHECK(!mb_vec_contains(&v, NULL));
    mb_vec_free(&v);
}

TEST(free_leaves_an_empty_reusable_vec)
{
    struct mb_vec v = { 0 };
    int x = 0;
    REQUIRE(mb_vec_push(&v, &x) == 0);
    mb_vec_free(&v);
    CHECK(v.items == NULL && v.len == 0 && v.cap == 0);
    REQUIRE(mb_vec_push(&v, &x) == 0);
    CHECK(mb_vec_contains(&v, &x));
    mb_vec_free(&v);
}

UNIT_MAIN()
