/* unit.h: a tiny header-only test runner for moonbar's C unit tests.
 *
 *   #include "unit.h"
 *   TEST(map_keeps_every_entry) { CHECK(1 + 1 == 2); CHECK_EQ_STR("a", "a"); }
 *   UNIT_MAIN()
 *
 * TEST(name) defines a test and registers it (a constructor adds it to a static table);
 * tests run in the order they appear in the file. A failed CHECK prints
 * "file:line: what failed", marks the test failed and carries on; REQUIRE does the same and
 * then leaves the test (use it where going on would dereference garbage).
 * The runner prints "ok - name" / "not ok - name" per test, then one line
 * "N passed, N failed", and exits 1 if any test failed. Include it from one file only. */
#ifndef UNIT_H
#define UNIT_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNIT_MAX_TESTS 512

struct unit_test {
    const char *name;
    void (*fn)(void);
    int line;
};

static struct unit_test unit_tests[UNIT_MAX_TESTS];
static int unit_ntests;
static int unit_cur_failed; /* set by a failed check in the running test */

static inline void unit_register(const char *name, void (*fn)(void), int line)
{
    if (unit_ntests >= UNIT_MAX_TESTS) {
        fprintf(stderr, "unit.h: more than %d tests, raise UNIT_MAX_TESTS\n", UNIT_MAX_TESTS);
        exit(2);
    }
    unit_tests[unit_ntests++] = (struct unit_test){ name, fn, line };
}

static inline void unit_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void unit_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stdout, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    unit_cur_failed = 1;
}

static inline const char *unit_str(const char *s) { return s ? s : "(NULL)"; }

#define TEST(name)                                                           \
    static void unit_test_##name(void);                                      \
    __attribute__((constructor)) static void unit_register_##name(void)      \
    {                                                                        \
        unit_register(#name, unit_test_##name, __LINE__);                    \
    }                                                                        \
    static void unit_test_##name(void)

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            unit_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);        \
    } while (0)

/* Like CHECK, but leaves the test when cond is false. */
#define REQUIRE(cond)                                                        \
    do {                                                                     \
        if (!(cond)) {                                                       \
            unit_fail(__FILE__, __LINE__, "REQUIRE(%s) failed", #cond);      \
            return;                                                          \
        }                                                                    \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                   \
    do {                                                                     \
        long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);        \
        if (unit_a_ != unit_b_)                                              \
            unit_fail(__FILE__, __LINE__, "CHECK_EQ_INT(%s, %s) failed: %lld != %lld", \
                      #a, #b, unit_a_, unit_b_);                             \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                   \
    do {                                                                     \
        const char *unit_a_ = (a), *unit_b_ = (b);                           \
        if ((unit_a_ == NULL || unit_b_ == NULL) ? unit_a_ != unit_b_        \
                                                 : strcmp(unit_a_, unit_b_) != 0) \
            unit_fail(__FILE__, __LINE__, "CHECK_EQ_STR(%s, %s) failed: \"%s\" != \"%s\"", \
                      #a, #b, unit_str(unit_a_), unit_str(unit_b_));         \
    } while (0)

/* s contains sub (both NUL-terminated). */
#define CHECK_HAS_STR(s, sub)                                                \
    do {                                                                     \
        const char *unit_s_ = (s), *unit_sub_ = (sub);                       \
        if (unit_s_ == NULL || strstr(unit_s_, unit_sub_) == NULL)           \
            unit_fail(__FILE__, __LINE__, "CHECK_HAS_STR(%s, %s) failed: \"%s\" lacks \"%s\"", \
                      #s, #sub, unit_str(unit_s_), unit_sub_);               \
    } while (0)

static inline int unit_by_line(const void *a, const void *b)
{
    const struct unit_test *x = a, *y = b;
    return (x->line > y->line) - (x->line < y->line);
}

static inline int unit_run(void)
{
    int passed = 0, failed = 0;
    qsort(unit_tests, (size_t)unit_ntests, sizeof unit_tests[0], unit_by_line);
    for (int i = 0; i < unit_ntests; i++) {
        unit_cur_failed = 0;
        unit_tests[i].fn();
        if (unit_cur_failed) {
            failed++;
            printf("not ok - %s\n", unit_tests[i].name);
        } else {
            passed++;
            printf("ok - %s\n", unit_tests[i].name);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

#define UNIT_MAIN() \
    int main(void) { return unit_run(); }

#endif
