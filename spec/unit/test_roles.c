/* mb_roles: a realm's static roles, compiled (src/auth/roles.c), against the contract in
 * mb_roles.h: per action, exact beats the longest prefix beats wildcards (the concrete one at
 * the first component they differ); a rule that does not list an action leaves it to less
 * specific rules; pattern requests are checked by their pattern string; odd configs are
 * refused with a message, never a crash; a generated role of 1000 rules and a fixed-seed
 * property test against a brute-force reference; mb_role_check allocates nothing.
 *
 * MB_UNIT_SMALL=1 shrinks the property test (for valgrind). */
#include "unit.h"

#include <stdbool.h>
#include <stdint.h>

#include "mb_roles.h"

#define CALL MB_ACT_BIT(MB_ACT_CALL)
#define REG MB_ACT_BIT(MB_ACT_REGISTER)
#define PUB MB_ACT_BIT(MB_ACT_PUBLISH)
#define SUB MB_ACT_BIT(MB_ACT_SUBSCRIBE)
#define ALL (CALL | REG | PUB | SUB)

#define E MB_MATCH_EXACT
#define P MB_MATCH_PREFIX
#define W MB_MATCH_WILDCARD

#define ALLOWED MB_RULE_ALLOW
#define DENIED MB_RULE_DENY
#define NONE MB_RULE_NONE

#define N_(a) (sizeof(a) / sizeof((a)[0]))

/* A rule config as the loader makes it (mb_roles_build copies it: literals are fine here). */
#define RULE(u, m, a, d) { .uri = (char *)(u), .match = (m), .allow = (a), .deny = (d), .disclose = -1 }

static bool small_run(void)
{
    const char *s = getenv("MB_UNIT_SMALL");
    return s && *s && strcmp(s, "0") != 0;
}

static const char *dname(enum mb_rule_decision d)
{
    return d == ALLOWED ? "ALLOW" : d == DENIED ? "DENY" : d == NONE ? "NONE" : "?";
}

/* ---- counting allocations -------------------------------------------------------------------
 * glibc lets a program replace malloc (its manual, "Replacing malloc"): these forward to the
 * allocator glibc keeps under __libc_* and count, so a test can say that a call allocated
 * nothing. Valgrind still sees every block (it replaces the __libc_* entry points too);
 * AddressSanitizer has an allocator of its own, so under it nothing is replaced. */
#if defined(__SANITIZE_ADDRESS__)
#define UNIT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define UNIT_SANITIZED 1
#endif
#endif
#if defined(__GLIBC__) && !defined(UNIT_SANITIZED)
#define COUNTS_ALLOCATIONS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static size_t allocations;
void *malloc(size_t n)
{
    allocations++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size)
{
    allocations++;
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n)
{
    allocations++;
    return __libc_realloc(p, n);
}
void free(void *p)
{
    __libc_free(p);
}
#else
#define COUNTS_ALLOCATIONS 0
static size_t allocations;
#endif

/* ---- one role -------------------------------------------------------------------------------- */

struct fixture {
    struct mb_roles *roles;
    const struct mb_role *role; /* "user" */
    char err[256];
};

static bool fixture_build(struct fixture *f, const struct mb_rule_config *rules, size_t n)
{
    struct mb_role_config cfg = { .name = "user", .rules = (struct mb_rule_config *)rules, .nrules = n };
    f->err[0] = 0;
    f->roles = mb_roles_build(&cfg, 1, f->err, sizeof f->err);
    f->role = mb_roles_find(f->roles, "user");
    if (!f->roles)
        printf("# mb_roles_build: %s\n", f->err);
    return f->roles && f->role;
}

static void fixture_free(struct fixture *f)
{
    mb_roles_free(f->roles);
    memset(f, 0, sizeof *f);
}

/* BUILD(f, RULE(...), RULE(...)): the role "user" with those rules; false if it failed. */
#define BUILD(f, ...)                                                                          \
    fixture_build(&(f), (struct mb_rule_config[]){ __VA_ARGS__ },                              \
                  sizeof((struct mb_rule_config[]){ __VA_ARGS__ }) / sizeof(struct mb_rule_config))

static void check_dec(const char *file, int line, const struct mb_role *role, enum mb_action a, const char *uri,
                      size_t len, enum mb_rule_decision want)
{
    int d = -7;
    enum mb_rule_decision got = mb_role_check(role, a, uri, len, &d);
    if (got != want)
        unit_fail(file, line, "%s '%.60s': %s, expected %s", mb_action_name(a), uri ? uri : "(NULL)", dname(got),
                  dname(want));
    else if (got != ALLOWED && d != -7)
        unit_fail(file, line, "%s '%.60s': %s wrote disclose", mb_action_name(a), uri ? uri : "(NULL)", dname(got));
}

/* CHECK_DEC(role, action, uri, want): the decision for a NUL-terminated uri. */
#define CHECK_DEC(role, a, uri, want) check_dec(__FILE__, __LINE__, (role), (a), (uri), strlen(uri), (want))

static const enum mb_action ACTIONS[] = { MB_ACT_CALL, MB_ACT_REGISTER, MB_ACT_PUBLISH, MB_ACT_SUBSCRIBE };

/* ---- names ----------------------------------------------------------------------------------- */

TEST(action_names_parse_and_print)
{
    for (size_t i = 0; i < N_(ACTIONS); i++)
        CHECK_EQ_INT(mb_action_parse(mb_action_name(ACTIONS[i])), ACTIONS[i]);
    CHECK_EQ_STR(mb_action_name(MB_ACT_CALL), "call");
    CHECK_EQ_STR(mb_action_name(MB_ACT_REGISTER), "register");
    CHECK_EQ_STR(mb_action_name(MB_ACT_PUBLISH), "publish");
    CHECK_EQ_STR(mb_action_name(MB_ACT_SUBSCRIBE), "subscribe");
    CHECK_EQ_INT(mb_action_parse("pubish"), -1);
    CHECK_EQ_INT(mb_action_parse("Call"), -1);
    CHECK_EQ_INT(mb_action_parse("*"), -1);
    CHECK_EQ_INT(mb_action_parse(""), -1);
    CHECK_EQ_INT(mb_action_parse(NULL), -1);
    CHECK(mb_action_name(MB_ACT_COUNT) != NULL);
}

/* ---- the precedence matrix ------------------------------------------------------------------- */

TEST(each_action_is_allowed_or_denied_by_an_exact_prefix_or_wildcard_rule)
{
    static const struct {
        enum mb_match_policy m;
        const char *rule, *hit, *miss;
    } pol[] = {
        { E, "com.example.chat", "com.example.chat", "com.example.chat.x" },
        { P, "com.example.", "com.example.chat.room1", "com.examples" },
        { W, "com..chat", "com.example.chat", "com.example.chat.x" },
    };
    for (size_t i = 0; i < N_(ACTIONS); i++)
        for (size_t k = 0; k < N_(pol); k++)
            for (int allow = 0; allow < 2; allow++) {
                enum mb_action a = ACTIONS[i];
                unsigned bit = MB_ACT_BIT(a);
                struct fixture f;
                REQUIRE(BUILD(f, RULE(pol[k].rule, pol[k].m, allow ? bit : 0, allow ? 0 : bit)));
                CHECK_DEC(f.role, a, pol[k].hit, allow ? ALLOWED : DENIED);
                CHECK_DEC(f.role, a, pol[k].miss, NONE);
                for (size_t j = 0; j < N_(ACTIONS); j++)
                    if (j != i)
                        CHECK_DEC(f.role, ACTIONS[j], pol[k].hit, NONE);
                fixture_free(&f);
            }
}

/* Two rules for one action, one more specific; in both config orders, and both ways round
 * (the specific one allows and the other denies, then the reverse). */
static void check_specific_wins(const char *file, int line, const char *spec_uri, enum mb_match_policy spec_m,
                                const char *gen_uri, enum mb_match_policy gen_m, const char *both,
                                const char *only_general)
{
    for (size_t i = 0; i < N_(ACTIONS); i++)
        for (int flip = 0; flip < 2; flip++)
            for (int order = 0; order < 2; order++) {
                enum mb_action a = ACTIONS[i];
                unsigned bit = MB_ACT_BIT(a);
                struct mb_rule_config s = RULE(spec_uri, spec_m, flip ? 0 : bit, flip ? bit : 0);
                struct mb_rule_config g = RULE(gen_uri, gen_m, flip ? bit : 0, flip ? 0 : bit);
                struct mb_rule_config rules[2] = { order ? g : s, order ? s : g };
                struct fixture f;
                if (!fixture_build(&f, rules, 2)) {
                    unit_fail(file, line, "build failed: %s", f.err);
                    fixture_free(&f);
                    return;
                }
                check_dec(file, line, f.role, a, both, strlen(both), flip ? DENIED : ALLOWED);
                if (only_general)
                    check_dec(file, line, f.role, a, only_general, strlen(only_general), flip ? ALLOWED : DENIED);
                fixture_free(&f);
            }
}

TEST(exact_beats_a_prefix_that_decides_otherwise_both_ways)
{
    check_specific_wins(__FILE__, __LINE__, "com.a.b", E, "com.a.", P, "com.a.b", "com.a.c");
    check_specific_wins(__FILE__, __LINE__, "com.a.b", E, "com.a.b", P, "com.a.b", "com.a.b.c");
    check_specific_wins(__FILE__, __LINE__, "com.a.b", E, "", P, "com.a.b", "org.x");
}

TEST(exact_beats_a_wildcard_that_decides_otherwise_both_ways)
{
    check_specific_wins(__FILE__, __LINE__, "com.a.b", E, "com..b", W, "com.a.b", "com.x.b");
    check_specific_wins(__FILE__, __LINE__, "com.a.b", E, "com.a.b", W, "com.a.b", NULL);
}

TEST(longer_prefix_beats_shorter_both_ways)
{
    check_specific_wins(__FILE__, __LINE__, "com.a.", P, "com.", P, "com.a.x", "com.b.x");
    check_specific_wins(__FILE__, __LINE__, "com.a", P, "com.", P, "com.apple", "com.b");
    check_specific_wins(__FILE__, __LINE__, "c", P, "", P, "com", "org");
    /* three levels: each decides its own band */
    struct fixture f;
    REQUIRE(BUILD(f, RULE("", P, CALL, 0), RULE("com.", P, 0, CALL), RULE("com.open.", P, CALL, 0),
                  RULE("com.open.secret.", P, 0, CALL)));
    CHECK_DEC(f.role, MB_ACT_CALL, "org.x", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_CALL, "com.x", DENIED);
    CHECK_DEC(f.role, MB_ACT_CALL, "com.open.x", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_CALL, "com.open.secret.x", DENIED);
    CHECK_DEC(f.role, MB_ACT_CALL, "com.open.secret", ALLOWED); /* "com.open.secret." is longer */
    fixture_free(&f);
}

TEST(prefix_beats_a_wildcard_both_ways)
{
    /* (a URI a wildcard matches is matched by a prefix of its leading concrete part, so no
     * URI is decided by the wildcard alone here) */
    check_specific_wins(__FILE__, __LINE__, "com.a.", P, "com.a.", W, "com.a.b", NULL);
    check_specific_wins(__FILE__, __LINE__, "com.", P, "com.a.b", W, "com.a.b", NULL);
    check_specific_wins(__FILE__, __LINE__, "", P, "..", W, "com.a.b", NULL);
}

TEST(an_exact_rule_says_nothing_about_longer_or_shorter_uris)
{
    struct fixture f;
    REQUIRE(BUILD(f, RULE("com.a", E, ALL, 0)));
    for (size_t i = 0; i < N_(ACTIONS); i++) {
        CHECK_DEC(f.role, ACTIONS[i], "com.a", ALLOWED);
        CHECK_DEC(f.role, ACTIONS[i], "com.a.b", NONE);
        CHECK_DEC(f.role, ACTIONS[i], "com.ab", NONE);
        CHECK_DEC(f.role, ACTIONS[i], "com.", NONE);
        CHECK_DEC(f.role, ACTIONS[i], "com", NONE);
    }
    fixture_free(&f);
    /* and a prefix deny around it still decides the longer ones */
    REQUIRE(BUILD(f, RULE("com.a", E, CALL, 0), RULE("com.", P, 0, CALL)));
    CHECK_DEC(f.role, MB_ACT_CALL, "com.a", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_CALL, "com.a.b", DENIED);
    fixture_free(&f);
}

TEST(a_rule_that_does_not_list_an_action_leaves_it_to_less_specific_rules)
{
    struct fixture f;
    REQUIRE(BUILD(f, RULE("com.example.", P, CALL | SUB, 0), RULE("com.example.chat", E, PUB, 0)));
    CHECK_DEC(f.role, MB_ACT_CALL, "com.example.chat", ALLOWED); /* by the prefix */
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com.example.chat", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_PUBLISH, "com.example.chat", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_PUBLISH, "com.example.other", NONE);
    CHECK_DEC(f.role, MB_ACT_REGISTER, "com.example.chat", NONE);
    fixture_free(&f);
    /* the same with deny, and across all three policies */
    REQUIRE(BUILD(f, RULE("com..chat", W, ALL, 0), RULE("com.", P, 0, REG | PUB), RULE("com.x.chat", E, 0, CALL)));
    CHECK_DEC(f.role, MB_ACT_CALL, "com.x.chat", DENIED);       /* exact */
    CHECK_DEC(f.role, MB_ACT_REGISTER, "com.x.chat", DENIED);   /* exact is silent: prefix */
    CHECK_DEC(f.role, MB_ACT_PUBLISH, "com.x.chat", DENIED);    /* prefix */
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com.x.chat", ALLOWED); /* both silent: wildcard */
    CHECK_DEC(f.role, MB_ACT_CALL, "com.y.chat", ALLOWED);      /* wildcard */
    fixture_free(&f);
}

TEST(one_rule_may_allow_some_actions_and_deny_others)
{
    struct fixture f;
    REQUIRE(BUILD(f, RULE("com.svc", E, CALL | SUB, REG | PUB)));
    CHECK_DEC(f.role, MB_ACT_CALL, "com.svc", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com.svc", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_REGISTER, "com.svc", DENIED);
    CHECK_DEC(f.role, MB_ACT_PUBLISH, "com.svc", DENIED);
    fixture_free(&f);
}

TEST(among_wildcards_the_concrete_one_at_the_first_differing_component_wins)
{
    /* "a.b." vs "a..c": they differ first at component 2, where "a.b." is concrete */
    check_specific_wins(__FILE__, __LINE__, "a.b.", W, "a..c", W, "a.b.c", "a.x.c");
    /* "a..c" vs ".b.c": component 1 */
    check_specific_wins(__FILE__, __LINE__, "a..c", W, ".b.c", W, "a.b.c", "x.b.c");
    /* the first difference decides, whatever comes after: "a.." beats "..c" on "a.b.c" */
    check_specific_wins(__FILE__, __LINE__, "a..", W, "..c", W, "a.b.c", "x.b.c");
    /* more concrete components later do not help ".b.c" against "a..": */
    check_specific_wins(__FILE__, __LINE__, "a...", W, ".b.c.d", W, "a.b.c.d", "x.b.c.d");
    /* a wildcard rule without empty components is a concrete pattern of the wildcard tier */
    check_specific_wins(__FILE__, __LINE__, "a.b.c", W, "a..c", W, "a.b.c", "a.x.c");
    /* patterns of other lengths never compete */
    struct fixture f;
    REQUIRE(BUILD(f, RULE("a.", W, CALL, 0), RULE("a..", W, 0, CALL), RULE("", W, 0, CALL)));
    CHECK_DEC(f.role, MB_ACT_CALL, "a.b", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_CALL, "a.b.c", DENIED);
    CHECK_DEC(f.role, MB_ACT_CALL, "a", DENIED); /* "" is one empty component: any one-component URI */
    CHECK_DEC(f.role, MB_ACT_CALL, "a.b.c.d", NONE);
    CHECK_DEC(f.role, MB_ACT_CALL, "b.c", NONE);
    fixture_free(&f);
}

/* ---- the empty prefix, the empty URI, odd URIs ------------------------------------------------ */

TEST(the_prefix_empty_string_catches_every_uri)
{
    static const char *const uris[] = { "", "x", "com.example.add", "com..tick", ".", "a.", ".a", "with space",
                                        "\xff\xfe", "wamp.session.get" };
    struct fixture f;
    REQUIRE(BUILD(f, RULE("", P, ALL, 0)));
    for (size_t i = 0; i < N_(ACTIONS); i++)
        for (size_t k = 0; k < N_(uris); k++)
            CHECK_DEC(f.role, ACTIONS[i], uris[k], ALLOWED);
    check_dec(__FILE__, __LINE__, f.role, MB_ACT_CALL, NULL, 0, ALLOWED); /* NULL, 0: the empty URI */
    check_dec(__FILE__, __LINE__, f.role, MB_ACT_CALL, "a\0b", 3, ALLOWED);
    fixture_free(&f);
    /* it is the shortest prefix: every other prefix and exact rule beats it, it beats wildcards */
    REQUIRE(BUILD(f, RULE("", P, 0, ALL), RULE("com.", P, CALL, 0), RULE("com.x", E, SUB, 0),
                  RULE("..", W, PUB, 0)));
    CHECK_DEC(f.role, MB_ACT_CALL, "com.y", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_CALL, "org.y", DENIED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com.x", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com.y", DENIED);
    CHECK_DEC(f.role, MB_ACT_PUBLISH, "a.b.c", DENIED);
    fixture_free(&f);
}

TEST(an_empty_exact_rule_matches_only_the_empty_uri)
{
    struct fixture f;
    REQUIRE(BUILD(f, RULE("", E, CALL, SUB), RULE("a", E, PUB, 0)));
    CHECK_DEC(f.role, MB_ACT_CALL, "", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "", DENIED);
    check_dec(__FILE__, __LINE__, f.role, MB_ACT_CALL, NULL, 0, ALLOWED);
    check_dec(__FILE__, __LINE__, f.role, MB_ACT_CALL, NULL, 3, NONE); /* no bytes to read */
    CHECK_DEC(f.role, MB_ACT_CALL, "a", NONE);
    CHECK_DEC(f.role, MB_ACT_CALL, ".", NONE);
    CHECK_DEC(f.role, MB_ACT_PUBLISH, "", NONE);
    fixture_free(&f);
}

TEST(uris_are_bytes_of_the_given_length)
{
    struct fixture f;
    REQUIRE(BUILD(f, RULE("com", E, CALL, 0), RULE("com", P, SUB, 0), RULE("com..x", W, PUB, 0)));
    check_dec(__FILE__, __LINE__, f.role, MB_ACT_CALL, "com\0x", 5, NONE);
    check_dec(__FILE__, __LINE__, f.role, MB_ACT_CALL, "comx", 3, ALLOWED); /* only 3 bytes are the URI */
    check_dec(__FILE__, __LINE__, f.role, MB_ACT_SUBSCRIBE, "com\0x", 5, ALLOWED);
    check_dec(__FILE__, __LINE__, f.role, MB_ACT_PUBLISH, "com.\0.x", 7, ALLOWED);
    check_dec(__FILE__, __LINE__, f.role, MB_ACT_PUBLISH, "com.\xc3\xa9.x", 8, ALLOWED);
    CHECK_DEC(f.role, MB_ACT_PUBLISH, "com.a..x", NONE);
    fixture_free(&f);
}

/* A pattern request is checked by its string: "com..tick" of a wildcard SUBSCRIBE is matched
 * by exact "com..tick", by prefix "com.", and by a wildcard rule whose empty components cover
 * its empty ones (as moonbar.acl does); a rule's concrete component never covers an empty one. */
TEST(a_pattern_request_is_checked_by_its_pattern_string)
{
    struct fixture f;
    REQUIRE(BUILD(f, RULE("com..tick", W, SUB, 0), RULE("com.x.tick", W, 0, SUB), RULE("org.", P, SUB, 0),
                  RULE("net..a", E, 0, SUB), RULE("net..", W, SUB, 0)));
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com..tick", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com.x.tick", DENIED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com.y.tick", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "org.", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "org..x", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "net..a", DENIED);  /* exact */
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "net..b", ALLOWED); /* "net.." covers it */
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "net...", NONE);     /* four components */
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com.", NONE);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com..", NONE);
    fixture_free(&f);
    /* precedence among wildcards holds for pattern requests too */
    REQUIRE(BUILD(f, RULE("com..tick", W, 0, SUB), RULE("com..", W, SUB, 0), RULE("..", W, 0, SUB)));
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com..tick", DENIED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com..tock", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "..", DENIED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com..", ALLOWED);
    fixture_free(&f);
    /* a rule component with the filler's byte does not confuse it */
    REQUIRE(BUILD(f, RULE("a.#", W, 0, SUB), RULE("a.##", W, 0, SUB), RULE("a.", W, SUB, 0)));
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "a.", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "a.#", DENIED);
    fixture_free(&f);
}

static void check_pat(const char *file, int line, const struct mb_role *role, enum mb_match_policy m, const char *pat,
                      enum mb_rule_decision want, const char *why_has)
{
    char why[200];
    enum mb_rule_decision got = mb_role_check_pattern(role, MB_ACT_SUBSCRIBE, m, pat, strlen(pat), NULL, why, sizeof why);
    if (got != want)
        unit_fail(file, line, "%s '%s': %s, expected %s (%s)", mb_match_policy_name(m), pat, dname(got), dname(want), why);
    else if (why_has && !strstr(why, why_has))
        unit_fail(file, line, "%s '%s': why \"%s\" lacks \"%s\"", mb_match_policy_name(m), pat, why, why_has);
}
#define CHECK_PAT(role, m, pat, want, why_has) check_pat(__FILE__, __LINE__, (role), (m), (pat), (want), (why_has))

TEST(a_pattern_request_is_allowed_only_when_every_uri_it_matches_is)
{
    struct fixture f;
    REQUIRE(BUILD(f, RULE("", P, SUB, 0), RULE("q.closed", E, 0, SUB), RULE("q.secret.", P, 0, SUB),
                  RULE("r..x", W, 0, SUB), RULE("s.", P, 0, SUB), RULE("s.open.", P, SUB, 0), RULE("t..", W, SUB, 0),
                  RULE("t.a.", P, 0, SUB), RULE("t..b", W, 0, SUB), RULE("u..v", W, SUB, 0), RULE("u.", W, 0, SUB)));
    /* prefix patterns */
    CHECK_PAT(f.role, P, "a.", ALLOWED, NULL);
    CHECK_PAT(f.role, P, "q.clo", DENIED, "exact 'q.closed'");   /* stepping around the exact deny */
    CHECK_PAT(f.role, P, "q.closed", DENIED, "exact 'q.closed'");
    CHECK_PAT(f.role, P, "q.closedx", ALLOWED, NULL);
    CHECK_PAT(f.role, P, "q.sec", DENIED, "prefix 'q.secret.'");
    CHECK_PAT(f.role, P, "q.secret.a", DENIED, "rule 3");       /* inside the deny prefix: it covers it */
    CHECK_PAT(f.role, P, "r.", ALLOWED, NULL);                   /* a wildcard never beats the "" prefix */
    CHECK_PAT(f.role, P, "s.", DENIED, "rule 5");
    CHECK_PAT(f.role, P, "s.open.x", ALLOWED, NULL);
    /* wildcard patterns, covered by the "" prefix */
    CHECK_PAT(f.role, W, ".closed", DENIED, "exact 'q.closed'");
    CHECK_PAT(f.role, W, "q.", DENIED, "exact 'q.closed'");    /* q.<any>: q.closed among them */
    CHECK_PAT(f.role, W, "r..x", ALLOWED, NULL);                /* the "" prefix beats wildcard rule 4 */
    CHECK_PAT(f.role, W, "s..x", DENIED, "rule 5");             /* the longest prefix covering it denies */
    CHECK_PAT(f.role, W, "s.open..", ALLOWED, NULL);
    CHECK_PAT(f.role, W, "t.a.", DENIED, "rule 8");
    CHECK_PAT(f.role, W, "t..c", DENIED, "prefix 't.a.'");      /* t.a.c is denied by rule 8 */
    CHECK_PAT(f.role, W, "u..w", ALLOWED, NULL);
    CHECK_PAT(f.role, E, "q.closed", DENIED, NULL);             /* exact: mb_role_check */
    CHECK_PAT(f.role, W, "q.closed", DENIED, NULL);             /* no empty component: one URI */
    fixture_free(&f);
    /* wildcard patterns covered by wildcard rules */
    REQUIRE(BUILD(f, RULE("v..x", W, SUB, 0), RULE("v.a.x", E, 0, SUB), RULE("v..y", W, SUB, 0), RULE("v.b.", P, 0, SUB),
                  RULE("..y", W, 0, SUB), RULE("w..z", W, SUB, 0), RULE(".k.z", W, 0, SUB), RULE("w.k.", W, 0, SUB)));
    CHECK_PAT(f.role, W, "v..x", DENIED, "exact 'v.a.x'");
    CHECK_PAT(f.role, W, "v..y", DENIED, "prefix 'v.b.'");      /* a prefix beats the wildcard that allows */
    CHECK_PAT(f.role, W, "w..z", DENIED, "wildcard 'w.k.'");    /* w.k.z: w.k. goes before w..z */
    CHECK_PAT(f.role, W, ".k.z", DENIED, "rule 7");
    CHECK_PAT(f.role, W, "x..", NONE, NULL);
    CHECK_PAT(f.role, P, "v.", NONE, NULL);                     /* a wildcard rule covers no prefix pattern */
    CHECK_PAT(f.role, P, "v.a.x", NONE, NULL);                  /* nor does an exact rule */
    fixture_free(&f);
    REQUIRE(BUILD(f, RULE("w..z", W, SUB, 0), RULE(".k.z", W, 0, SUB)));
    CHECK_PAT(f.role, W, "w..z", ALLOWED, NULL);                /* .k.z never wins inside w..z */
    fixture_free(&f);
}

TEST(nothing_matching_gives_none)
{
    struct fixture f;
    REQUIRE(BUILD(f, RULE("com.a", E, ALL, 0), RULE("com.b.", P, 0, ALL), RULE("com..c", W, ALL, 0)));
    for (size_t i = 0; i < N_(ACTIONS); i++) {
        CHECK_DEC(f.role, ACTIONS[i], "org.a", NONE);
        CHECK_DEC(f.role, ACTIONS[i], "com.b", NONE);
        CHECK_DEC(f.role, ACTIONS[i], "com.x.d", NONE);
        CHECK_DEC(f.role, ACTIONS[i], "", NONE);
    }
    fixture_free(&f);
    /* a role without rules, and a rule that decides no action */
    REQUIRE(BUILD(f, RULE("", P, 0, 0)));
    CHECK_DEC(f.role, MB_ACT_CALL, "x", NONE);
    CHECK(!mb_role_allows_everything(f.role));
    fixture_free(&f);
    struct mb_role_config empty = { .name = "nobody" };
    char err[128];
    struct mb_roles *rs = mb_roles_build(&empty, 1, err, sizeof err);
    REQUIRE(rs);
    CHECK_DEC(mb_roles_find(rs, "nobody"), MB_ACT_CALL, "x", NONE);
    mb_roles_free(rs);
}

TEST(disclose_of_the_winning_allow_rule_is_passed_through)
{
    struct mb_rule_config rules[] = { RULE("a", E, CALL | PUB, 0), RULE("b", E, CALL | PUB, 0),
                                      RULE("c", E, CALL | PUB, 0), RULE("", P, 0, CALL) };
    rules[0].disclose = -1;
    rules[1].disclose = 0;
    rules[2].disclose = 1;
    rules[3].disclose = 1;
    struct fixture f;
    REQUIRE(fixture_build(&f, rules, N_(rules)));
    const char *uris[] = { "a", "b", "c" };
    for (int k = 0; k < 3; k++) {
        int d = 42;
        CHECK_EQ_INT(mb_role_check(f.role, MB_ACT_PUBLISH, uris[k], 1, &d), ALLOWED);
        CHECK_EQ_INT(d, k - 1);
        d = 42;
        CHECK_EQ_INT(mb_role_check(f.role, MB_ACT_CALL, uris[k], 1, &d), ALLOWED);
        CHECK_EQ_INT(d, k - 1);
    }
    int d = 42;
    CHECK_EQ_INT(mb_role_check(f.role, MB_ACT_CALL, "z", 1, &d), DENIED);
    CHECK_EQ_INT(d, 42); /* only ALLOW writes it */
    CHECK_EQ_INT(mb_role_check(f.role, MB_ACT_CALL, "c", 1, NULL), ALLOWED);
    fixture_free(&f);
}

/* ---- roles ------------------------------------------------------------------------------------ */

TEST(roles_are_found_by_name_and_an_unknown_role_is_null)
{
    struct mb_rule_config r1[] = { RULE("a", E, CALL, 0) }, r2[] = { RULE("a", E, 0, CALL) };
    struct mb_role_config cfg[] = { { .name = "admin", .rules = r1, .nrules = 1 },
                                    { .name = "anonymous", .rules = r2, .nrules = 1 },
                                    { .name = "", .rules = NULL, .nrules = 0 } };
    char err[128];
    struct mb_roles *rs = mb_roles_build(cfg, N_(cfg), err, sizeof err);
    REQUIRE(rs);
    CHECK_EQ_INT(mb_roles_count(rs), 3);
    const struct mb_role *admin = mb_roles_find(rs, "admin"), *anon = mb_roles_find(rs, "anonymous");
    REQUIRE(admin && anon && admin != anon);
    CHECK_DEC(admin, MB_ACT_CALL, "a", ALLOWED);
    CHECK_DEC(anon, MB_ACT_CALL, "a", DENIED);
    CHECK(mb_roles_find(rs, "") != NULL);
    CHECK(mb_roles_find(rs, "Admin") == NULL);
    CHECK(mb_roles_find(rs, "admi") == NULL);
    CHECK(mb_roles_find(rs, "trusted") == NULL);
    CHECK(mb_roles_find(rs, NULL) == NULL);
    CHECK(mb_roles_find(NULL, "admin") == NULL);
    CHECK_EQ_INT(mb_roles_count(NULL), 0);
    mb_roles_free(rs);
    mb_roles_free(NULL);
    rs = mb_roles_build(NULL, 0, err, sizeof err);
    REQUIRE(rs);
    CHECK_EQ_INT(mb_roles_count(rs), 0);
    CHECK(mb_roles_find(rs, "admin") == NULL);
    mb_roles_free(rs);
}

TEST(configs_may_be_freed_after_building)
{
    char uri[] = "com.example.add", name[] = "user";
    struct mb_rule_config *rules = malloc(sizeof *rules);
    REQUIRE(rules);
    *rules = (struct mb_rule_config)RULE(uri, P, CALL, 0);
    struct mb_role_config cfg = { .name = name, .rules = rules, .nrules = 1 };
    char err[128];
    struct mb_roles *rs = mb_roles_build(&cfg, 1, err, sizeof err);
    free(rules);
    memset(uri, 'x', sizeof uri - 1);
    memset(name, 'x', sizeof name - 1);
    REQUIRE(rs);
    const struct mb_role *r = mb_roles_find(rs, "user");
    CHECK(r != NULL);
    CHECK_DEC(r, MB_ACT_CALL, "com.example.add.x", ALLOWED);
    CHECK_DEC(r, MB_ACT_CALL, "xxxxxxxxxxxxxxx", NONE);
    mb_roles_free(rs);
}

TEST(check_of_a_null_role_or_an_unknown_action_is_none)
{
    int d = 5;
    CHECK_EQ_INT(mb_role_check(NULL, MB_ACT_CALL, "a", 1, &d), NONE);
    CHECK_EQ_INT(d, 5);
    CHECK_EQ_INT(mb_role_check(NULL, MB_ACT_CALL, NULL, 0, NULL), NONE);
    struct fixture f;
    REQUIRE(BUILD(f, RULE("", P, ALL, 0)));
    CHECK_EQ_INT(mb_role_check(f.role, MB_ACT_COUNT, "a", 1, &d), NONE);
    CHECK_EQ_INT(mb_role_check(f.role, (enum mb_action)-1, "a", 1, &d), NONE);
    fixture_free(&f);
    CHECK(!mb_role_allows_everything(NULL));
}

/* ---- refused configs -------------------------------------------------------------------------- */

static void check_refused(const char *file, int line, const struct mb_role_config *cfg, size_t n,
                          const char *want)
{
    char err[256] = "";
    struct mb_roles *rs = mb_roles_build(cfg, n, err, sizeof err);
    if (rs) {
        unit_fail(file, line, "built, expected \"%s\"", want);
        mb_roles_free(rs);
    } else if (strcmp(err, want) != 0) {
        unit_fail(file, line, "message \"%s\", expected \"%s\"", err, want);
    }
}

/* CHECK_REFUSED(message, RULE(...), ...): the role "user" with those rules is refused so. */
#define CHECK_REFUSED(want, ...)                                                               \
    check_refused(__FILE__, __LINE__,                                                          \
                  &(struct mb_role_config){                                                    \
                      .name = "user",                                                          \
                      .rules = (struct mb_rule_config[]){ __VA_ARGS__ },                       \
                      .nrules = sizeof((struct mb_rule_config[]){ __VA_ARGS__ }) /             \
                                sizeof(struct mb_rule_config) },                               \
                  1, (want))

TEST(a_duplicate_rule_is_refused_naming_both_rules_the_action_and_the_pattern)
{
    CHECK_REFUSED("role 'user': rules 2 and 5 both decide 'call' for exact 'com.example.chat'",
                  RULE("com.example.", P, CALL, 0), RULE("com.example.chat", E, CALL, 0),
                  RULE("com.example.chat", P, CALL, 0), RULE("com.example.chat", W, CALL, 0),
                  RULE("com.example.chat", E, 0, CALL));
    CHECK_REFUSED("role 'user': rules 1 and 2 both decide 'publish' for prefix ''", RULE("", P, CALL | PUB, 0),
                  RULE("", P, SUB | PUB, 0));
    CHECK_REFUSED("role 'user': rules 1 and 3 both decide 'subscribe' for wildcard 'a..b'",
                  RULE("a..b", W, SUB, 0), RULE("a..b", E, SUB, 0), RULE("a..b", W, 0, SUB));
    CHECK_REFUSED("role 'user': rules 1 and 2 both decide 'register' for exact ''", RULE("", E, REG, 0),
                  RULE("", E, REG, 0));
    /* the same URI and match for other actions, or another match, is no duplicate */
    struct fixture f;
    REQUIRE(BUILD(f, RULE("a", E, CALL, 0), RULE("a", E, 0, PUB), RULE("a", P, CALL, 0), RULE("a", W, CALL, 0),
                  RULE("a", E, SUB | REG, 0)));
    CHECK_DEC(f.role, MB_ACT_CALL, "a", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_PUBLISH, "a", DENIED);
    CHECK_DEC(f.role, MB_ACT_REGISTER, "a", ALLOWED);
    fixture_free(&f);
}

TEST(odd_configs_are_refused_with_a_message_never_a_crash)
{
    char err[256];
    struct mb_rule_config nouri[] = { RULE("a", E, CALL, 0), { .uri = NULL, .allow = CALL } };
    struct mb_rule_config badmatch[] = { RULE("a", (enum mb_match_policy)7, CALL, 0) };
    struct mb_rule_config both[] = { RULE("a", E, CALL | PUB, PUB) };
    struct {
        struct mb_role_config cfg[2];
        size_t n;
        const char *want;
    } cases[] = {
        { { { .name = NULL } }, 1, "role 1 has no name" },
        { { { .name = "a" }, { .name = NULL } }, 2, "role 2 has no name" },
        { { { .name = "user", .rules = NULL, .nrules = 2 } }, 1, "role 'user' has 2 rules but no rule list" },
        { { { .name = "user", .rules = nouri, .nrules = 2 } }, 1, "role 'user': rule 2 has no uri" },
        { { { .name = "user", .rules = badmatch, .nrules = 1 } }, 1,
          "role 'user': rule 1: match 7 is not exact, prefix or wildcard" },
        { { { .name = "user", .rules = both, .nrules = 1 } }, 1,
          "role 'user': rule 1 both allows and denies 'publish'" },
        { { { .name = "user" }, { .name = "user" } }, 2, "role 'user' is listed twice" },
    };
    for (size_t i = 0; i < N_(cases); i++)
        check_refused(__FILE__, __LINE__, cases[i].cfg, cases[i].n, cases[i].want);
    check_refused(__FILE__, __LINE__, NULL, 3, "3 roles but no role list");
    /* no room for the message, or none at all: still refused, no crash */
    struct mb_role_config noname = { .name = NULL };
    CHECK(mb_roles_build(&noname, 1, NULL, 0) == NULL);
    CHECK(mb_roles_build(&noname, 1, err, 0) == NULL);
    err[0] = 'x';
    CHECK(mb_roles_build(&noname, 1, err, 1) == NULL);
    CHECK_EQ_INT(err[0], 0);
    /* unknown action bits are ignored */
    struct fixture f;
    REQUIRE(BUILD(f, RULE("a", E, CALL | 0x30u, 0x100u)));
    CHECK_DEC(f.role, MB_ACT_CALL, "a", ALLOWED);
    CHECK_DEC(f.role, MB_ACT_PUBLISH, "a", NONE);
    fixture_free(&f);
}

/* ---- all permissions -------------------------------------------------------------------------- */

TEST(allows_everything_only_with_prefix_empty_allowing_all_and_no_deny)
{
    static const struct {
        struct mb_rule_config rules[3];
        size_t n;
        bool want;
    } cases[] = {
        { { RULE("", P, ALL, 0) }, 1, true },
        { { RULE("", P, ALL, 0), RULE("com.", P, CALL, 0), RULE("x", E, ALL, 0) }, 3, true },
        /* split over two rules for "" it is still every action on every URI */
        { { RULE("", P, CALL | REG, 0), RULE("", P, PUB | SUB, 0) }, 2, true },
        { { RULE("", P, ALL, 0), RULE("com.secret", E, 0, CALL) }, 2, false },
        { { RULE("", P, CALL | REG | PUB, 0) }, 1, false },
        { { RULE("", P, CALL | REG | PUB, 0), RULE("com.", P, SUB, 0) }, 2, false },
        { { RULE("", E, ALL, 0) }, 1, false },
        { { RULE("", W, ALL, 0) }, 1, false },
        { { RULE(".", W, ALL, 0), RULE("com.", P, ALL, 0) }, 2, false },
        { { RULE("", P, 0, ALL) }, 1, false },
    };
    for (size_t i = 0; i < N_(cases); i++) {
        struct fixture f;
        REQUIRE(fixture_build(&f, cases[i].rules, cases[i].n));
        if (mb_role_allows_everything(f.role) != cases[i].want)
            unit_fail(__FILE__, __LINE__, "case %zu: allows everything is %s", i, cases[i].want ? "false" : "true");
        fixture_free(&f);
    }
}

/* ---- long URIs: past the matcher's stack bounds ------------------------------------------------ */

/* "com.<fill repeated past the matcher's stack key>.x", malloc'd */
static char *long_middle(char fill)
{
    size_t cl = MB_MATCH_STACK_COMPONENT + 50;
    char *s = malloc(cl + 7);
    if (s) {
        memcpy(s, "com.", 4);
        memset(s + 4, fill, cl);
        memcpy(s + 4 + cl, ".x", 3);
    }
    return s;
}

TEST(uris_past_the_matchers_stack_bounds_keep_the_precedence)
{
    /* more components than the matcher splits on the stack */
    size_t nc = MB_MATCH_STACK_COMPONENTS + 6;
    char *uri = malloc(2 * nc), *w1 = malloc(2 * nc), *w2 = malloc(2 * nc);
    REQUIRE(uri && w1 && w2);
    size_t n = 0, n1 = 0, n2 = 0;
    for (size_t i = 0; i < nc; i++) {
        if (i) {
            uri[n++] = '.';
            w1[n1++] = '.';
            w2[n2++] = '.';
        }
        uri[n++] = 'a';
        if (i != 10) /* w1: a wildcard at component 10 */
            w1[n1++] = 'a';
        if (i != 3) /* w2: a wildcard at component 3, so w1 wins */
            w2[n2++] = 'a';
    }
    uri[n] = w1[n1] = w2[n2] = 0;
    struct fixture f;
    REQUIRE(BUILD(f, RULE(w1, W, CALL, 0), RULE(w2, W, 0, CALL)));
    CHECK_DEC(f.role, MB_ACT_CALL, uri, ALLOWED); /* both cover it; w1 is concrete at 3 */
    uri[20] = 'b';                                /* component 10: only w1 covers it */
    CHECK_DEC(f.role, MB_ACT_CALL, uri, ALLOWED);
    uri[6] = 'b'; /* component 3 as well: neither */
    CHECK_DEC(f.role, MB_ACT_CALL, uri, NONE);
    uri[20] = 'a'; /* only component 3: only w2 */
    CHECK_DEC(f.role, MB_ACT_CALL, uri, DENIED);
    fixture_free(&f);
    free(uri);
    free(w1);
    free(w2);

    /* a component longer than the matcher's stack key, at a node with several concrete edges */
    char *lb = long_middle('b'), *lc = long_middle('c'), *ld = long_middle('d');
    REQUIRE(lb && lc && ld);
    REQUIRE(BUILD(f, RULE("com..x", W, SUB, 0), RULE(lb, W, 0, SUB), RULE(lc, W, 0, SUB)));
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, lb, DENIED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, lc, DENIED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, ld, ALLOWED);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com..x", ALLOWED); /* filler too long for the stack: scanned */
    fixture_free(&f);
    free(lb);
    free(lc);
    free(ld);
}

/* ---- a role of 1000 rules ------------------------------------------------------------------- */

TEST(a_role_of_a_thousand_generated_rules_gives_the_right_answers)
{
    /* For service i: exact "com.svc<i>.run" allows call when i is even, denies it when odd;
     * prefix "com.svc<i>." allows subscribe and denies call; wildcard "com.svc<i>..tick"
     * allows publish; plus one wildcard "com...tick" that denies publish. 333 services. */
    enum { NSVC = 333 };
    struct mb_rule_config *rules = calloc(3 * NSVC + 1, sizeof *rules);
    char (*uris)[40] = calloc(3 * NSVC + 1, sizeof *uris);
    REQUIRE(rules && uris);
    size_t n = 0;
    for (int i = 0; i < NSVC; i++) {
        snprintf(uris[n], sizeof uris[n], "com.svc%d.run", i);
        rules[n] = (struct mb_rule_config)RULE(uris[n], E, i % 2 ? 0 : CALL, i % 2 ? CALL : 0);
        n++;
        snprintf(uris[n], sizeof uris[n], "com.svc%d.", i);
        rules[n] = (struct mb_rule_config)RULE(uris[n], P, SUB, CALL);
        n++;
        snprintf(uris[n], sizeof uris[n], "com.svc%d..tick", i);
        rules[n] = (struct mb_rule_config)RULE(uris[n], W, PUB, 0);
        n++;
    }
    snprintf(uris[n], sizeof uris[n], "com...tick");
    rules[n] = (struct mb_rule_config)RULE(uris[n], W, 0, PUB);
    n++;
    struct fixture f;
    bool built = fixture_build(&f, rules, n);
    free(rules);
    free(uris);
    REQUIRE(built);
    char u[64];
    for (int i = 0; i < NSVC; i++) {
        snprintf(u, sizeof u, "com.svc%d.run", i);
        CHECK_DEC(f.role, MB_ACT_CALL, u, i % 2 ? DENIED : ALLOWED);
        CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, u, ALLOWED);
        CHECK_DEC(f.role, MB_ACT_REGISTER, u, NONE);
        snprintf(u, sizeof u, "com.svc%d.other", i);
        CHECK_DEC(f.role, MB_ACT_CALL, u, DENIED);
        snprintf(u, sizeof u, "com.svc%d.eu.tick", i);
        CHECK_DEC(f.role, MB_ACT_PUBLISH, u, ALLOWED);
        snprintf(u, sizeof u, "com.svc%d..tick", i); /* a pattern request */
        CHECK_DEC(f.role, MB_ACT_PUBLISH, u, ALLOWED);
        snprintf(u, sizeof u, "com.svc%dx.eu.tick", i);
        CHECK_DEC(f.role, MB_ACT_PUBLISH, u, DENIED);
    }
    CHECK_DEC(f.role, MB_ACT_CALL, "com.svc333.run", NONE);
    CHECK_DEC(f.role, MB_ACT_SUBSCRIBE, "com.svc3", NONE);
    fixture_free(&f);
}

/* ---- property test against a brute-force reference ------------------------------------------- */

static uint64_t rng_state;

static uint32_t rng(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

#define MAXC 80 /* components per URI in the generator */

struct comps {
    size_t n;
    size_t start[MAXC + 1], len[MAXC + 1];
};

static void ref_split(const char *s, size_t len, struct comps *c)
{
    c->n = 0;
    size_t st = 0;
    for (size_t i = 0; i <= len; i++)
        if (i == len || s[i] == '.') {
            if (c->n <= MAXC) {
                c->start[c->n] = st;
                c->len[c->n] = i - st;
            }
            c->n++;
            st = i + 1;
        }
}

/* Written from the contract, apart from roles.c: covers = as many components, each empty in
 * the rule or byte-equal; order = compare the rules' shapes ('c' concrete < 'w' wildcard). */
static bool ref_covers(const char *p, const char *uri, size_t len)
{
    struct comps a, b;
    ref_split(p, strlen(p), &a);
    ref_split(uri, len, &b);
    if (a.n != b.n || a.n > MAXC)
        return false;
    for (size_t i = 0; i < a.n; i++)
        if (a.len[i] && (a.len[i] != b.len[i] || memcmp(p + a.start[i], uri + b.start[i], a.len[i]) != 0))
            return false;
    return true;
}

static void ref_shape(const char *p, char *out)
{
    struct comps a;
    ref_split(p, strlen(p), &a);
    for (size_t i = 0; i < a.n && i < MAXC; i++)
        out[i] = a.len[i] ? 'c' : 'w';
    out[a.n < MAXC ? a.n : MAXC] = 0;
}

static const struct mb_rule_config *ref_best(const struct mb_rule_config *rules, size_t n, enum mb_action a,
                                             const char *uri, size_t len)
{
    const struct mb_rule_config *ex = NULL, *pre = NULL, *wild = NULL;
    char ws[MAXC + 1], rs[MAXC + 1];
    for (size_t i = 0; i < n; i++) {
        const struct mb_rule_config *r = &rules[i];
        if (!((r->allow | r->deny) & MB_ACT_BIT(a)))
            continue;
        size_t rl = strlen(r->uri);
        if (r->match == E && rl == len && memcmp(r->uri, uri, len) == 0)
            ex = r;
        else if (r->match == P && rl <= len && memcmp(r->uri, uri, rl) == 0 && (!pre || rl > strlen(pre->uri)))
            pre = r;
        else if (r->match == W && ref_covers(r->uri, uri, len)) {
            ref_shape(r->uri, rs);
            if (!wild || strcmp(rs, ws) < 0) {
                wild = r;
                memcpy(ws, rs, sizeof ws);
            }
        }
    }
    return ex ? ex : pre ? pre : wild;
}

/* A URI from a few stems: each component of the stem kept or replaced from the alphabet. */
struct gen {
    const char *const *alpha;
    size_t nalpha;
    size_t depth_min, depth_max;
    unsigned mutate; /* a component is replaced with probability 1/mutate */
    char stems[8][MAXC];
};

static size_t gen_uri(const struct gen *g, char *out, size_t cap)
{
    const char *stem = g->stems[rng() % 8];
    size_t depth = g->depth_min + rng() % (g->depth_max - g->depth_min + 1), n = 0;
    for (size_t i = 0; i < depth; i++) {
        size_t k = rng() % g->mutate ? (size_t)stem[i] : rng() % g->nalpha;
        const char *c = g->alpha[k];
        size_t cl = strlen(c);
        if (n + cl + 2 >= cap)
            break;
        if (i)
            out[n++] = '.';
        memcpy(out + n, c, cl);
        n += cl;
    }
    out[n] = 0;
    return n;
}

/* Blanks each component with probability 1/den (a wildcard pattern); returns the new length. */
static size_t blank(char *s, unsigned den)
{
    size_t o = 0, n = strlen(s);
    for (size_t i = 0; i <= n;) {
        size_t e = i;
        while (e < n && s[e] != '.')
            e++;
        bool keep = rng() % den != 0;
        if (keep) {
            memmove(s + o, s + i, e - i);
            o += e - i;
        }
        if (e < n)
            s[o++] = '.';
        i = e + 1;
    }
    s[o] = 0;
    return o;
}

static void property_run(const char *file, int line, const struct gen *g0, size_t nrules, size_t nqueries,
                         uint64_t seed)
{
    struct gen g = *g0;
    rng_state = seed;
    for (int s = 0; s < 8; s++)
        for (size_t i = 0; i < MAXC; i++)
            g.stems[s][i] = (char)(rng() % g.nalpha);
    enum { CAP = 64 * 1024 };
    struct mb_rule_config *rules = calloc(nrules, sizeof *rules);
    char *q = malloc(CAP);
    if (!rules || !q) {
        unit_fail(file, line, "out of memory");
        free(rules);
        free(q);
        return;
    }
    size_t n = 0;
    for (size_t tries = 0; n < nrules && tries < nrules * 10; tries++) {
        struct mb_rule_config r = { .match = (enum mb_match_policy)(rng() % 3), .disclose = (int)(rng() % 3) - 1 };
        gen_uri(&g, q, CAP);
        size_t ql = strlen(q);
        if (r.match == P) /* cut in its second half: short prefixes would decide everything */
            q[ql - rng() % (ql / 2 + 1)] = 0;
        else if (r.match == W)
            blank(q, 3);
        unsigned decided = 1 + rng() % ALL; /* a non-empty set, split between allow and deny */
        r.allow = decided & rng();
        r.deny = decided & ~r.allow;
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++)
            dup = rules[i].match == r.match && ((rules[i].allow | rules[i].deny) & decided) &&
                  strcmp(rules[i].uri, q) == 0;
        if (dup)
            continue;
        r.uri = strdup(q);
        if (!r.uri)
            break;
        rules[n++] = r;
    }
    struct fixture f;
    if (!fixture_build(&f, rules, n)) {
        unit_fail(file, line, "build failed: %s", f.err);
    } else {
        size_t fails = 0, decided = 0;
        for (size_t k = 0; k < nqueries && fails < 10; k++) {
            size_t len = gen_uri(&g, q, CAP);
            unsigned kind = rng() % 8;
            if (kind == 0)
                len = blank(q, 3); /* a wildcard pattern request */
            else if (kind == 1)
                q[len = rng() % (len + 1)] = 0; /* a prefix pattern request */
            for (size_t i = 0; i < N_(ACTIONS); i++) {
                const struct mb_rule_config *want = ref_best(rules, n, ACTIONS[i], q, len);
                enum mb_rule_decision wd = !want ? NONE : want->allow & MB_ACT_BIT(ACTIONS[i]) ? ALLOWED : DENIED;
                int d = -7;
                enum mb_rule_decision got = mb_role_check(f.role, ACTIONS[i], q, len, &d);
                decided += wd != NONE;
                if (got != wd || (got == ALLOWED && d != want->disclose)) {
                    fails++;
                    unit_fail(file, line, "seed %llu: %s '%.80s': %s (disclose %d), expected %s by %s '%.60s'",
                              (unsigned long long)seed, mb_action_name(ACTIONS[i]), q, dname(got), d, dname(wd),
                              want ? mb_match_policy_name(want->match) : "-", want ? want->uri : "");
                }
            }
        }
        if (decided < nqueries / 2)
            unit_fail(file, line, "the generator decided only %zu of %zu checks", decided, nqueries * 4);
    }
    fixture_free(&f);
    for (size_t i = 0; i < n; i++)
        free(rules[i].uri);
    free(rules);
    free(q);
}

static const char *const SHORT_ALPHA[] = { "a", "b", "c", "d", "e", "f", "g", "h",
                                           "i", "j", "k", "l", "m", "n", "o", "p" };

/* every component longer than the matcher's stack key: the scan path */
static char long_comp[4][MB_MATCH_STACK_COMPONENT + 4];
static const char *const LONG_ALPHA[] = { long_comp[0], long_comp[1], long_comp[2], long_comp[3] };
static char mid_comp[4][101];
static const char *const MID_ALPHA[] = { mid_comp[0], mid_comp[1], mid_comp[2], mid_comp[3] };

TEST(property_checks_agree_with_a_brute_force_reference)
{
    size_t nq = small_run() ? 300 : 3000;
    for (int i = 0; i < 4; i++) {
        memset(long_comp[i], 'a' + i, sizeof long_comp[i] - 1);
        long_comp[i][sizeof long_comp[i] - 1] = 0;
    }
    for (int i = 0; i < 4; i++) {
        memset(mid_comp[i], 'a' + i, sizeof mid_comp[i] - 1);
        mid_comp[i][sizeof mid_comp[i] - 1] = 0;
    }
    /* the matcher's trie, pattern requests rewritten on the stack */
    struct gen shallow = { .alpha = SHORT_ALPHA, .nalpha = 4, .depth_min = 1, .depth_max = 4, .mutate = 4 };
    /* the same, for a role of 1000 rules: a larger space */
    struct gen big = { .alpha = SHORT_ALPHA, .nalpha = 16, .depth_min = 1, .depth_max = 5, .mutate = 3 };
    /* around the matcher's component bound: trie below, scan above */
    struct gen deep = { .alpha = SHORT_ALPHA, .nalpha = 2, .depth_min = MB_MATCH_STACK_COMPONENTS - 1,
                        .depth_max = MB_MATCH_STACK_COMPONENTS + 2, .mutate = 100 };
    /* components past the matcher's stack key: scan */
    struct gen wide = { .alpha = LONG_ALPHA, .nalpha = 4, .depth_min = 1, .depth_max = 3, .mutate = 4 };
    /* pattern requests whose rewrite may not fit the stack buffer: trie or scan */
    struct gen medium = { .alpha = MID_ALPHA, .nalpha = 4, .depth_min = 1, .depth_max = 10, .mutate = 6 };
    for (uint64_t seed = 1; seed <= 3; seed++) {
        property_run(__FILE__, __LINE__, &shallow, 40, nq, seed);
        property_run(__FILE__, __LINE__, &big, 1000, nq, seed + 100);
        property_run(__FILE__, __LINE__, &deep, 200, nq / 3, seed + 200);
        property_run(__FILE__, __LINE__, &wide, 200, nq / 3, seed + 300);
        property_run(__FILE__, __LINE__, &medium, 200, nq / 3, seed + 400);
    }
}

/* ---- no allocation on the hot path ------------------------------------------------------------ */

TEST(check_allocates_nothing)
{
    if (!COUNTS_ALLOCATIONS) {
        printf("# allocations not counted on this libc\n");
        return;
    }
    static char longc[MB_MATCH_STACK_COMPONENT + 20], deepu[400];
    memset(longc, 'q', sizeof longc - 1);
    for (size_t i = 0; i < 100; i++)
        memcpy(deepu + 2 * i, "a.", 2);
    deepu[199] = 0;
    struct fixture f;
    REQUIRE(BUILD(f, RULE("com.", P, CALL, 0), RULE("com.a", E, 0, CALL), RULE("com..x", W, SUB, 0),
                  RULE("com.y.x", W, 0, SUB), RULE("com.z.x", W, 0, SUB), RULE("", P, 0, PUB),
                  RULE(deepu, W, REG, 0)));
    char uri[sizeof longc + 16];
    snprintf(uri, sizeof uri, "com.%s.x", longc);
    const char *uris[] = { "com.a", "com.b", "com.y.x", "com.q.x", "com..x", "", "org.x", uri, deepu };
    size_t before = allocations;
    int d;
    enum mb_rule_decision got[N_(uris)][N_(ACTIONS)];
    for (size_t k = 0; k < N_(uris); k++)
        for (size_t i = 0; i < N_(ACTIONS); i++)
            got[k][i] = mb_role_check(f.role, ACTIONS[i], uris[k], strlen(uris[k]), &d);
    size_t used = allocations - before;
    CHECK_EQ_INT(used, 0);
    CHECK_EQ_INT(got[0][MB_ACT_CALL], DENIED);
    CHECK_EQ_INT(got[4][MB_ACT_SUBSCRIBE], ALLOWED);
    CHECK_EQ_INT(got[7][MB_ACT_SUBSCRIBE], ALLOWED);
    CHECK_EQ_INT(got[8][MB_ACT_REGISTER], ALLOWED);
    CHECK_EQ_INT(got[8][MB_ACT_PUBLISH], DENIED);
    fixture_free(&f);
}

UNIT_MAIN()
