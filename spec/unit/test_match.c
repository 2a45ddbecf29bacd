/* mb_match: the URI matcher (exact / prefix / wildcard patterns; every match for pub/sub, the one
 * best match for RPC), checked against the spec's rules: tables of hand-picked cases, removal,
 * a fixed-seed property test against a brute-force reference, and a scale run.
 *
 * MB_UNIT_SMALL=1 shrinks the property and scale tests (for valgrind);
 * MB_MATCH_SEED=<n> replays the property test with another seed. */
#include "unit.h"

#include <stdbool.h>
#include <stdint.h>

#include "mb_match.h"

static bool small_run(void)
{
    const char *s = getenv("MB_UNIT_SMALL");
    return s && *s && strcmp(s, "0") != 0;
}

/* ---- collecting what mb_matcher_each reports ---------------------------------------------- */

struct hits {
    size_t n, cap;
    void **v;
    enum mb_match_policy *p;
};

static void hits_add(void *value, enum mb_match_policy p, void *ctx)
{
    struct hits *h = ctx;
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 16;
        void **nv = realloc(h->v, ncap * sizeof *nv);
        if (nv)
            h->v = nv;
        enum mb_match_policy *np = realloc(h->p, ncap * sizeof *np);
        if (np)
            h->p = np;
        if (!nv || !np) {
            fprintf(stderr, "test_match: out of memory\n");
            exit(2);
        }
        h->cap = ncap;
    }
    h->v[h->n] = value;
    h->p[h->n] = p;
    h->n++;
}

static void hits_free(struct hits *h)
{
    free(h->v);
    free(h->p);
    memset(h, 0, sizeof *h);
}

static void each(const struct mb_matcher *m, const char *uri, size_t len, struct hits *h)
{
    h->n = 0;
    mb_matcher_each(m, uri, len, hits_add, h);
}

static void each_s(const struct mb_matcher *m, const char *uri, struct hits *h)
{
    each(m, uri, strlen(uri), h);
}

static void *best_s(const struct mb_matcher *m, const char *uri, enum mb_match_policy *p)
{
    return mb_matcher_best(m, uri, strlen(uri), p);
}

/* ---- tables ---------------------------------------------------------------------------------- */

/* One registration or subscription; its address is the value stored in the matcher. */
struct pat {
    enum mb_match_policy p;
    const char *uri;
    int id; /* unique within a table, > 0 */
};

#define E MB_MATCH_EXACT
#define P MB_MATCH_PREFIX
#define W MB_MATCH_WILDCARD
#define MAXHITS 16

struct tcase {
    const char *uri;
    int each[MAXHITS]; /* ids of every pattern that matches, 0-terminated, any order */
    int best;          /* id of the RPC winner, 0 for none */
};

static const char *pname(enum mb_match_policy p)
{
    return mb_match_policy_name(p);
}

static void fmt_ids(char *buf, size_t cap, const int *ids, size_t n)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "{");
    for (size_t i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%d", i ? "," : "", ids[i]);
    if (o < cap)
        snprintf(buf + o, cap - o, "}");
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Checks each() and best() for one URI (uri_len bytes) against the expectations: each() reports
 * exactly the ids of want_each, each once, with its own policy, exact then prefixes (shortest
 * first) then wildcards; best() returns want_best (0: none) and reports its policy. */
static void check_case(const char *file, int line, const struct mb_matcher *m, const struct pat *pats,
                       size_t npats, const char *uri, size_t uri_len, const int *want_each, int want_best)
{
    char shown[64];
    snprintf(shown, sizeof shown, "%.40s%s", uri, uri_len > 40 ? "..." : "");

    /* each: the set of ids, every one once, with its own policy, in the documented order */
    struct hits h = { 0 };
    each(m, uri, uri_len, &h);
    int got[256], want[MAXHITS];
    size_t ngot = 0, nwant = 0;
    while (nwant < MAXHITS && want_each[nwant])
        nwant++;
    memcpy(want, want_each, nwant * sizeof *want);
    int last_policy = -1;
    size_t last_prefix_len = 0;
    for (size_t i = 0; i < h.n; i++) {
        const struct pat *pt = h.v[i];
        if (pt < pats || pt >= pats + npats) {
            unit_fail(file, line, "each(\"%s\"): reported a value that is no pattern of the table", shown);
            hits_free(&h);
            return;
        }
        if (h.p[i] != pt->p)
            unit_fail(file, line, "each(\"%s\"): pattern %d (%s \"%s\") reported with policy %s", shown, pt->id,
                      pname(pt->p), pt->uri, pname(h.p[i]));
        if ((int)h.p[i] < last_policy)
            unit_fail(file, line, "each(\"%s\"): %s pattern %d reported after a %s one", shown, pname(h.p[i]),
                      pt->id, pname((enum mb_match_policy)last_policy));
        if (h.p[i] == MB_MATCH_PREFIX) {
            if (strlen(pt->uri) < last_prefix_len)
                unit_fail(file, line, "each(\"%s\"): prefix %d reported after a longer prefix", shown, pt->id);
            last_prefix_len = strlen(pt->uri);
        }
        last_policy = (int)h.p[i];
        if (ngot < 256)
            got[ngot++] = pt->id;
    }
    hits_free(&h);
    qsort(got, ngot, sizeof *got, cmp_int);
    qsort(want, nwant, sizeof *want, cmp_int);
    bool same = ngot == nwant;
    for (size_t i = 0; same && i < ngot; i++)
        same = got[i] == want[i];
    if (!same) {
        char a[256], b[256];
        fmt_ids(a, sizeof a, want, nwant);
        fmt_ids(b, sizeof b, got, ngot);
        unit_fail(file, line, "each(\"%s\"): expected %s, got %s", shown, a, b);
    }

    /* best: the winner and the policy it reports */
    enum mb_match_policy bp = (enum mb_match_policy)-1;
    const struct pat *b = mb_matcher_best(m, uri, uri_len, &bp);
    if (want_best == 0) {
        if (b)
            unit_fail(file, line, "best(\"%s\"): expected no match, got %d (%s \"%s\")", shown, b->id,
                      pname(b->p), b->uri);
        return;
    }
    const struct pat *wb = NULL;
    for (size_t i = 0; i < npats; i++)
        if (pats[i].id == want_best)
            wb = &pats[i];
    if (!wb) {
        unit_fail(file, line, "table error: no pattern %d", want_best);
        return;
    }
    if (b != wb)
        unit_fail(file, line, "best(\"%s\"): expected %d (%s \"%s\"), got %d%s%s%s", shown, wb->id, pname(wb->p),
                  wb->uri, b ? b->id : 0, b ? " (" : " (none)", b ? pname(b->p) : "", b ? ")" : "");
    else if (bp != wb->p)
        unit_fail(file, line, "best(\"%s\"): right pattern %d but reported policy %s, not %s", shown, wb->id,
                  pname(bp), pname(wb->p));
}

static int add_table(struct mb_matcher *m, const struct pat *pats, size_t npats)
{
    int fails = 0;
    for (size_t i = 0; i < npats; i++)
        if (mb_matcher_add(m, pats[i].p, pats[i].uri, strlen(pats[i].uri), (void *)&pats[i]) != 0)
            fails++;
    return fails;
}

static int remove_table(struct mb_matcher *m, const struct pat *pats, size_t npats)
{
    int fails = 0;
    for (size_t i = 0; i < npats; i++)
        if (mb_matcher_remove(m, pats[i].p, pats[i].uri, strlen(pats[i].uri)) != &pats[i])
            fails++;
    return fails;
}

#define N_(a) (sizeof(a) / sizeof((a)[0]))

/* Adds the patterns, checks every case, removes everything, frees. */
#define RUN_TABLE(pats, cases)                                                                    \
    do {                                                                                          \
        struct mb_matcher m_;                                                                     \
        mb_matcher_init(&m_);                                                                     \
        CHECK_EQ_INT(add_table(&m_, pats, N_(pats)), 0);                                          \
        for (size_t c_ = 0; c_ < N_(cases); c_++)                                                 \
            check_case(__FILE__, __LINE__, &m_, pats, N_(pats), cases[c_].uri, strlen(cases[c_].uri), \
                       cases[c_].each, cases[c_].best);                                          \
        CHECK_EQ_INT(remove_table(&m_, pats, N_(pats)), 0);                                       \
        CHECK(m_.count[0] == 0 && m_.count[1] == 0 && m_.count[2] == 0);                          \
        CHECK_EQ_INT(m_.edges.len, 0);                                                            \
        mb_matcher_free(&m_);                                                                     \
    } while (0)

TEST(policy_names_parse_and_print)
{
    CHECK_EQ_INT(mb_match_policy_parse("exact", 5), MB_MATCH_EXACT);
    CHECK_EQ_INT(mb_match_policy_parse("prefix", 6), MB_MATCH_PREFIX);
    CHECK_EQ_INT(mb_match_policy_parse("wildcard", 8), MB_MATCH_WILDCARD);
    CHECK_EQ_INT(mb_match_policy_parse("prefixes", 6), MB_MATCH_PREFIX); /* length-bounded */
    CHECK_EQ_INT(mb_match_policy_parse("prefix", 5), -1);
    CHECK_EQ_INT(mb_match_policy_parse("Exact", 5), -1);
    CHECK_EQ_INT(mb_match_policy_parse("", 0), -1);
    CHECK_EQ_STR(mb_match_policy_name(MB_MATCH_EXACT), "exact");
    CHECK_EQ_STR(mb_match_policy_name(MB_MATCH_PREFIX), "prefix");
    CHECK_EQ_STR(mb_match_policy_name(MB_MATCH_WILDCARD), "wildcard");
}

TEST(empty_matcher_matches_nothing_and_frees_cleanly)
{
    struct mb_matcher m;
    mb_matcher_init(&m);
    struct hits h = { 0 };
    each_s(&m, "a.b.c", &h);
    CHECK_EQ_INT(h.n, 0);
    each(&m, "", 0, &h);
    CHECK_EQ_INT(h.n, 0);
    enum mb_match_policy p;
    CHECK(best_s(&m, "a.b.c", &p) == NULL);
    CHECK(mb_matcher_find(&m, MB_MATCH_WILDCARD, "a..c", 4) == NULL);
    CHECK(mb_matcher_remove(&m, MB_MATCH_WILDCARD, "a..c", 4) == NULL);
    CHECK(mb_matcher_remove(&m, MB_MATCH_PREFIX, "a", 1) == NULL);
    CHECK(mb_matcher_remove(&m, MB_MATCH_EXACT, "a", 1) == NULL);
    hits_free(&h);
    mb_matcher_free(&m);
    mb_matcher_free(&m); /* free leaves an empty matcher: freeing again is harmless */
}

/* The WAMP spec's example for pattern-based registrations, as the spec prints it
 * (its pattern 5 is 'a1.b2.c33..e5' and its fifth call 'a1.b2.c33.d4.e5'). */
TEST(spec_example_exact_then_longest_prefix_then_wildcard_by_concrete_runs)
{
    static const struct pat pats[] = {
        { E, "a1.b2.c3.d4.e55", 1 }, { P, "a1.b2.c3", 2 },          { P, "a1.b2.c3.d4", 3 },
        { W, "a1.b2..d4.e5", 4 },    { W, "a1.b2.c33..e5", 5 },     { W, "a1.b2..d4.e5..g7", 6 },
        { W, "a1.b2..d4..f6.g7", 7 },
    };
    static const struct tcase cases[] = {
        { "a1.b2.c3.d4.e55", { 1, 2, 3 }, 1 },
        { "a1.b2.c3.d98.e74", { 2 }, 2 },
        { "a1.b2.c3.d4.e325", { 2, 3 }, 3 },
        { "a1.b2.c55.d4.e5", { 4 }, 4 },
        { "a1.b2.c33.d4.e5", { 2, 4, 5 }, 2 }, /* 'a1.b2.c3' is a string prefix of 'a1.b2.c33' */
        { "a1.b2.c88.d4.e5.f6.g7", { 6, 7 }, 6 },
        { "a2.b2.c2.d2.e2", { 0 }, 0 },
    };
    RUN_TABLE(pats, cases);
}

/* The same example without the prefix 'a1.b2.c3' that, as a plain string prefix, also covers
 * 'a1.b2.c33...': here the spec's stated winners hold call for call. */
TEST(spec_example_without_string_prefix_overlap_gives_the_spec_winners)
{
    static const struct pat pats[] = {
        { E, "a1.b2.c3.d4.e55", 1 }, { P, "a1.b2.c3.", 2 },         { P, "a1.b2.c3.d4", 3 },
        { W, "a1.b2..d4.e5", 4 },    { W, "a1.b2.c33..e5", 5 },     { W, "a1.b2..d4.e5..g7", 6 },
        { W, "a1.b2..d4..f6.g7", 7 },
    };
    static const struct tcase cases[] = {
        { "a1.b2.c3.d4.e55", { 1, 2, 3 }, 1 },
        { "a1.b2.c3.d98.e74", { 2 }, 2 },
        { "a1.b2.c3.d4.e325", { 2, 3 }, 3 },
        { "a1.b2.c55.d4.e5", { 4 }, 4 },
        { "a1.b2.c33.d4.e5", { 4, 5 }, 5 },
        { "a1.b2.c88.d4.e5.f6.g7", { 6, 7 }, 6 },
        { "a2.b2.c2.d2.e2", { 0 }, 0 },
    };
    RUN_TABLE(pats, cases);
}

/* The example with 'a1.b2.c3..e5' (a common misquotation): the call 'a1.b2.c3.d4.e5' is then
 * covered by the prefixes 'a1.b2.c3' and 'a1.b2.c3.d4', and a prefix beats any wildcard. */
TEST(any_prefix_beats_every_wildcard)
{
    static const struct pat pats[] = {
        { E, "a1.b2.c3.d4.e55", 1 }, { P, "a1.b2.c3", 2 },          { P, "a1.b2.c3.d4", 3 },
        { W, "a1.b2..d4.e5", 4 },    { W, "a1.b2.c3..e5", 5 },      { W, "a1.b2..d4.e5..g7", 6 },
        { W, "a1.b2..d4..f6.g7", 7 },
    };
    static const struct tcase cases[] = {
        { "a1.b2.c3.d4.e5", { 2, 3, 4, 5 }, 3 },
        { "a1.b2.c55.d4.e5", { 4 }, 4 },
        { "a1.b2.c88.d4.e5.f6.g7", { 6, 7 }, 6 },
    };
    RUN_TABLE(pats, cases);

    /* and without prefixes the wildcard with the longer first concrete run wins */
    static const struct pat wild[] = {
        { W, "a1.b2..d4.e5", 4 }, { W, "a1.b2.c3..e5", 5 }, { W, "a1.b2..d4.e5..g7", 6 }, { W, "a1.b2..d4..f6.g7", 7 },
    };
    static const struct tcase wcases[] = {
        { "a1.b2.c3.d4.e5", { 4, 5 }, 5 },
        { "a1.b2.c55.d4.e5", { 4 }, 4 },
        { "a1.b2.c88.d4.e5.f6.g7", { 6, 7 }, 6 },
        { "a1.b2.c88.d4.x.f6.g7", { 7 }, 7 },
        { "a1.b2.c3.d4.e5.f6.g7", { 6, 7 }, 6 },
    };
    RUN_TABLE(wild, wcases);
}

TEST(wildcard_winner_is_concrete_at_the_first_differing_position)
{
    static const struct pat pats[] = {
        { W, "...", 1 },     /* W W W W */
        { W, "a...", 2 },    /* C W W W */
        { W, "a..c.", 3 },   /* C W C W */
        { W, "a...d", 4 },   /* C W W C */
        { W, "a..c.d", 5 },  /* C W C C */
        { W, ".b.c.d", 6 },  /* W C C C */
        { W, "a.b..", 7 },   /* C C W W */
        { W, "a.b...x", 8 }, /* 5 components: never for 4-component URIs */
    };
    static const struct tcase cases[] = {
        { "a.b.c.d", { 1, 2, 3, 4, 5, 6, 7 }, 7 }, /* longest first run (a.b) */
        { "a.z.c.d", { 1, 2, 3, 4, 5 }, 5 },       /* first run a, then c.d beats c, beats d */
        { "a.z.c.q", { 1, 2, 3 }, 3 },
        { "a.z.y.d", { 1, 2, 4 }, 4 },
        { "q.b.c.d", { 1, 6 }, 6 },
        { "q.r.s.t", { 1 }, 1 },
        { "a.b.c", { 0 }, 0 },   /* component counts must be equal */
        { "a.b.c.d.x", { 8 }, 8 },
        { "a.b.c.d.e", { 0 }, 0 },
    };
    RUN_TABLE(pats, cases);
}

/* The seed's examples (WAMP spec sections on pattern-based subscriptions). */
TEST(seed_examples_prefix_and_wildcard_subscriptions)
{
    static const struct pat pats[] = {
        { P, "debut.du.nom.du.topic", 1 },
        { W, "nom.du.topic..general", 2 },
        { P, "chess.game.", 3 },
        { P, "com.myapp.topic.emergency", 4 },
        { W, "com.myapp..userevent", 5 },
    };
    static const struct tcase cases[] = {
        { "debut.du.nom.du.topic.genial", { 1 }, 1 },
        { "debut.du.nom.du.topic", { 1 }, 1 },
        { "debut.du.nom.du.topi", { 0 }, 0 },
        { "nom.du.topic.moins.general", { 2 }, 2 },
        { "nom.du.topic.general", { 0 }, 0 },
        { "nom.du.topic.moins.plus.general", { 0 }, 0 },
        { "chess.game.42.move", { 3 }, 3 },
        { "chess.game.", { 3 }, 3 },
        { "chess.game", { 0 }, 0 },
        { "chess.games.1", { 0 }, 0 }, /* the trailing dot bounds the component */
        { "com.myapp.topic.emergency.11", { 4 }, 4 },
        { "com.myapp.topic.emergency-low", { 4 }, 4 },
        { "com.myapp.topic.emergency", { 4 }, 4 },
        { "com.myapp.topic.emerge", { 0 }, 0 },
        { "com.myapp.foo.userevent", { 5 }, 5 },
        { "com.myapp.bar.userevent", { 5 }, 5 },
        { "com.myapp.a.b.userevent", { 0 }, 0 },
        { "com.myapp.userevent", { 0 }, 0 },
    };
    RUN_TABLE(pats, cases);
}

TEST(empty_components_in_wildcards_match_exactly_one_nonempty_component)
{
    static const struct pat pats[] = {
        { W, "a..c", 1 },
        { W, "", 2 },    /* one wildcard component: any one-component URI */
        { W, ".", 3 },   /* two wildcard components */
        { E, "a..c", 4 }, /* an exact pattern with an empty component is just a string */
        { P, "a.", 5 },
    };
    static const struct tcase cases[] = {
        { "a.b.c", { 1, 5 }, 5 }, /* '.' has 2 components, 'a.b.c' 3 */
        { "a.c", { 3, 5 }, 5 },
        { "a.b.x.c", { 5 }, 5 },
        { "x", { 2 }, 2 },
        { "x.y", { 3 }, 3 },
        { "a..c", { 4, 5 }, 4 }, /* a URI's empty component is matched by no wildcard */
        { "", { 0 }, 0 },        /* nor is the empty URI */
        { ".", { 0 }, 0 },
        { "a.", { 5 }, 5 },
    };
    RUN_TABLE(pats, cases);
}

TEST(leading_trailing_and_consecutive_wildcards)
{
    static const struct pat pats[] = {
        { W, "..c", 1 }, { W, "a..", 2 }, { W, "a...d", 3 }, { W, "..", 4 }, { W, "a.b.c", 5 },
    };
    static const struct tcase cases[] = {
        { "a.b.c", { 1, 2, 4, 5 }, 5 },
        { "x.y.c", { 1, 4 }, 1 },
        { "a.y.z", { 2, 4 }, 2 },
        { "a.x.c", { 1, 2, 4 }, 2 }, /* C W W beats W W C */
        { "a.b.c.d", { 3 }, 3 },
        { "a.b.x.y.d", { 0 }, 0 },
        { "a.b.d", { 2, 4 }, 2 },
        { "c", { 0 }, 0 },
        { "x.c", { 0 }, 0 },
        { "a.b", { 0 }, 0 },
        { "a.b.c.", { 0 }, 0 }, /* empty last component of the URI */
        { ".b.c", { 0 }, 0 },
    };
    RUN_TABLE(pats, cases);
}

TEST(unicode_components_are_matched_as_utf8_bytes)
{
    static const struct pat pats[] = {
        { E, "caf\xc3\xa9.\xe2\x98\x83", 1 },                    /* café.☃ */
        { P, "caf\xc3", 2 },                                    /* cuts é in half: bytes */
        { W, "caf\xc3\xa9..\xe6\x9d\xb1\xe4\xba\xac", 3 },       /* café..東京 */
        { W, ".\xf0\x9f\x98\x80", 4 },                          /* .😀 */
        { P, "\xe6\x9d\xb1\xe4\xba\xac.", 5 },                  /* 東京. */
    };
    static const struct tcase cases[] = {
        { "caf\xc3\xa9.\xe2\x98\x83", { 1, 2 }, 1 },
        { "caf\xc3\xa9.\xe2\x98\x83.\xe6\x9d\xb1\xe4\xba\xac", { 2, 3 }, 2 },
        { "cafe.\xe2\x98\x83.\xe6\x9d\xb1\xe4\xba\xac", { 0 }, 0 },
        { "x.\xf0\x9f\x98\x80", { 4 }, 4 },
        { "\xe6\x9d\xb1\xe4\xba\xac.\xf0\x9f\x98\x80", { 4, 5 }, 5 },
        { "\xe6\x9d\xb1\xe4\xba\xac.\xf0\x9f\x98\x81", { 5 }, 5 }, /* 😁 differs in the last byte */
        { "x.\xf0\x9f\x98", { 0 }, 0 },
    };
    RUN_TABLE(pats, cases);
}

/* Exact, prefix and wildcard registrations of one string are three independent entries. */
TEST(same_string_as_exact_prefix_and_wildcard_is_three_entries)
{
    static const struct pat pats[] = {
        { E, "a.b.c", 1 }, { P, "a.b.c", 2 }, { W, "a.b.c", 3 },
        { E, "a..c", 4 },  { P, "a..c", 5 },  { W, "a..c", 6 },
    };
    static const struct tcase cases[] = {
        { "a.b.c", { 1, 2, 3, 6 }, 1 },
        { "a.b.cd", { 2 }, 2 },
        { "a..c", { 4, 5 }, 4 },
        { "a..cd", { 5 }, 5 },
        { "a.x.c", { 6 }, 6 },
    };
    RUN_TABLE(pats, cases);

    struct mb_matcher m;
    mb_matcher_init(&m);
    CHECK_EQ_INT(add_table(&m, pats, N_(pats)), 0);
    CHECK(mb_matcher_find(&m, E, "a.b.c", 5) == &pats[0]);
    CHECK(mb_matcher_find(&m, P, "a.b.c", 5) == &pats[1]);
    CHECK(mb_matcher_find(&m, W, "a.b.c", 5) == &pats[2]);
    CHECK(mb_matcher_find(&m, W, "a..c", 4) == &pats[5]);
    /* removing one policy leaves the others: best falls back exact -> prefix -> wildcard */
    enum mb_match_policy p;
    CHECK(mb_matcher_remove(&m, E, "a.b.c", 5) == &pats[0]);
    CHECK(best_s(&m, "a.b.c", &p) == &pats[1] && p == P);
    CHECK(mb_matcher_remove(&m, P, "a.b.c", 5) == &pats[1]);
    CHECK(best_s(&m, "a.b.c", &p) == &pats[2] && p == W);
    CHECK(mb_matcher_remove(&m, W, "a.b.c", 5) == &pats[2]);
    CHECK(best_s(&m, "a.b.c", &p) == &pats[5] && p == W);
    CHECK(mb_matcher_find(&m, E, "a..c", 4) == &pats[3]);
    CHECK(mb_matcher_find(&m, P, "a..c", 4) == &pats[4]);
    mb_matcher_free(&m); /* with patterns still in: no leak either */
}

/* Every matching pattern is reported once by each(), whatever its policy, however many. */
TEST(each_reports_every_matching_pattern_once)
{
    static const struct pat pats[] = {
        { E, "a.b.c.d", 1 },  { P, "a", 2 },      { P, "a.", 3 },       { P, "a.b", 4 },    { P, "a.b.c.d", 5 },
        { P, "a.b.c.de", 6 }, { W, "a.b.c.d", 7 }, { W, "...", 8 },      { W, "a...", 9 },   { W, ".b..", 10 },
        { W, "..c.", 11 },    { W, "...d", 12 },  { W, "a.b.c.", 13 },  { W, "a..c.d", 14 }, { W, ".b.c.d", 15 },
        { E, "a.b.c", 16 },
    };
    static const struct tcase cases[] = {
        { "a.b.c.d", { 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15 }, 1 },
        { "a.b.c.dd", { 2, 3, 4, 5, 8, 9, 10, 11, 13 }, 5 },
        { "a.b.c.de", { 2, 3, 4, 5, 6, 8, 9, 10, 11, 13 }, 6 },
        { "x.b.c.d", { 8, 10, 11, 12, 15 }, 15 },
        { "a.x.c.d", { 2, 3, 8, 9, 11, 12, 14 }, 3 },
        { "a.b.c", { 2, 3, 4, 16 }, 16 },
    };
    RUN_TABLE(pats, cases);
}

/* 10 000 components: exact, prefix and wildcard patterns of the same length. */
TEST(very_long_uri_of_ten_thousand_components)
{
    enum { NC = 10000 };
    size_t len = (size_t)NC * 2 - 1; /* "c.c.c...c" */
    char *uri = malloc(len + 1), *wild = malloc(len + 1), *other = malloc(len + 1), *shorter = malloc(len + 1);
    REQUIRE(uri && wild && other && shorter);
    for (size_t i = 0; i < len; i++) {
        uri[i] = (i & 1) ? '.' : 'c';
        wild[i] = (i & 1) ? '.' : ((i / 2) % 2 ? '\0' : 'c'); /* every other component empty */
    }
    uri[len] = '\0';
    /* compact wild: drop the NUL placeholders, i.e. "c..c..c" */
    size_t wl = 0;
    for (size_t i = 0; i < len; i++)
        if (wild[i])
            wild[wl++] = wild[i];
    wild[wl] = '\0';
    memcpy(other, uri, len + 1);
    other[len - 1] = 'x'; /* last component differs */
    memcpy(shorter, uri, len - 2);
    shorter[len - 2] = '\0'; /* 9 999 components */

    const struct pat pats[] = {
        { E, uri, 1 }, { P, uri, 2 }, { W, wild, 3 }, { P, "c.c", 4 }, { W, uri, 5 },
    };
    struct mb_matcher m;
    mb_matcher_init(&m);
    CHECK_EQ_INT(add_table(&m, pats, N_(pats)), 0);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), uri, len, (int[]){ 1, 2, 3, 4, 5, 0 }, 1);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), other, len, (int[]){ 3, 4, 0 }, 4);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), shorter, len - 2, (int[]){ 4, 0 }, 4);
    CHECK(mb_matcher_remove(&m, P, "c.c", 3) == &pats[3]);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), other, len, (int[]){ 3, 0 }, 3);
    CHECK(mb_matcher_remove(&m, E, uri, len) == &pats[0]);
    CHECK(mb_matcher_remove(&m, P, uri, len) == &pats[1]);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), uri, len, (int[]){ 3, 5, 0 }, 5);
    CHECK(mb_matcher_remove(&m, W, uri, len) == &pats[4]);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), uri, len, (int[]){ 3, 0 }, 3);
    CHECK(mb_matcher_remove(&m, W, wild, wl) == &pats[2]);
    CHECK_EQ_INT(m.edges.len, 0);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), uri, len, (int[]){ 0 }, 0);
    mb_matcher_free(&m);
    free(uri);
    free(wild);
    free(other);
    free(shorter);
}

/* One component of 100 KB (longer than any stack buffer for edge keys). */
TEST(very_long_single_component_of_100kb)
{
    enum { L = 100 * 1024 };
    char *big = malloc(L + 1), *big2 = malloc(L + 1), *wild = malloc(L + 3), *uri3 = malloc(L + 3);
    REQUIRE(big && big2 && wild && uri3);
    for (size_t i = 0; i < L; i++)
        big[i] = (char)('a' + i % 26);
    big[L] = '\0';
    memcpy(big2, big, L + 1);
    big2[L - 1] = '#'; /* differs in its last byte */
    memcpy(wild, big, L);
    memcpy(wild + L, ".", 2); /* "big." : big, then one wildcard component */
    memcpy(uri3, big, L);
    memcpy(uri3 + L, ".x", 3); /* "big.x" */

    const struct pat pats[] = {
        { E, big, 1 }, { P, big, 2 }, { W, big, 3 }, { W, "", 4 }, { P, "abc", 5 }, { W, wild, 6 },
    };
    struct mb_matcher m;
    mb_matcher_init(&m);
    CHECK_EQ_INT(add_table(&m, pats, N_(pats)), 0);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), big, L, (int[]){ 1, 2, 3, 4, 5, 0 }, 1);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), big2, L, (int[]){ 4, 5, 0 }, 5);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), uri3, L + 2, (int[]){ 2, 5, 6, 0 }, 2);
    CHECK(mb_matcher_find(&m, W, big2, L) == NULL);
    CHECK(mb_matcher_remove(&m, W, big2, L) == NULL);
    CHECK_EQ_INT(remove_table(&m, pats, N_(pats)), 0);
    CHECK_EQ_INT(m.edges.len, 0);
    mb_matcher_free(&m);
    free(big);
    free(big2);
    free(wild);
    free(uri3);
}

/* A prefix pattern "" is a string prefix of every URI. The router never adds one (mb_uri_valid
 * refuses empty URIs), but the matcher must be consistent: refuse it, or match it everywhere. */
TEST(empty_prefix_pattern_is_refused_or_matches_every_uri)
{
    static const struct pat pats[] = { { P, "", 1 }, { E, "", 2 }, { W, "", 3 } };
    struct mb_matcher m;
    mb_matcher_init(&m);
    int rc = mb_matcher_add(&m, P, "", 0, (void *)&pats[0]);
    if (rc == 0) {
        CHECK(mb_matcher_find(&m, P, "", 0) == &pats[0]);
        check_case(__FILE__, __LINE__, &m, pats, 1, "a.b", 3, (int[]){ 1, 0 }, 1);
        check_case(__FILE__, __LINE__, &m, pats, 1, "x", 1, (int[]){ 1, 0 }, 1);
        check_case(__FILE__, __LINE__, &m, pats, 1, "", 0, (int[]){ 1, 0 }, 1);
        CHECK(mb_matcher_remove(&m, P, "", 0) == &pats[0]);
    } else {
        CHECK(mb_matcher_find(&m, P, "", 0) == NULL);
        CHECK_EQ_INT(m.count[P], 0);
    }
    /* the exact "" matches only the empty URI; the wildcard "" any one non-empty component */
    CHECK_EQ_INT(mb_matcher_add(&m, E, "", 0, (void *)&pats[1]), 0);
    CHECK_EQ_INT(mb_matcher_add(&m, W, "", 0, (void *)&pats[2]), 0);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "", 0, (int[]){ 2, 0 }, 2);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "x", 1, (int[]){ 3, 0 }, 3);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "x.y", 3, (int[]){ 0 }, 0);
    mb_matcher_free(&m);
}

/* ---- removal --------------------------------------------------------------------------------- */

TEST(add_remove_readd_for_every_policy)
{
    int v1 = 1, v2 = 2;
    static const char *uris[3] = { "a.b.c", "a.b", "a..c" };
    for (int p = 0; p < 3; p++) {
        struct mb_matcher m;
        mb_matcher_init(&m);
        const char *u = uris[p];
        const char *call = "a.b.c";
        enum mb_match_policy bp;
        CHECK_EQ_INT(mb_matcher_add(&m, (enum mb_match_policy)p, u, strlen(u), &v1), 0);
        CHECK(mb_matcher_find(&m, (enum mb_match_policy)p, u, strlen(u)) == &v1);
        CHECK(best_s(&m, call, &bp) == &v1 && bp == (enum mb_match_policy)p);
        CHECK(mb_matcher_remove(&m, (enum mb_match_policy)p, u, strlen(u)) == &v1);
        CHECK(mb_matcher_find(&m, (enum mb_match_policy)p, u, strlen(u)) == NULL);
        CHECK(best_s(&m, call, &bp) == NULL);
        CHECK(mb_matcher_remove(&m, (enum mb_match_policy)p, u, strlen(u)) == NULL);
        CHECK_EQ_INT(m.count[p], 0);
        CHECK_EQ_INT(mb_matcher_add(&m, (enum mb_match_policy)p, u, strlen(u), &v2), 0);
        CHECK(mb_matcher_find(&m, (enum mb_match_policy)p, u, strlen(u)) == &v2);
        CHECK(best_s(&m, call, &bp) == &v2 && bp == (enum mb_match_policy)p);
        struct hits h = { 0 };
        each_s(&m, call, &h);
        CHECK(h.n == 1 && h.v[0] == &v2);
        hits_free(&h);
        CHECK_EQ_INT(m.count[p], 1);
        CHECK(mb_matcher_remove(&m, (enum mb_match_policy)p, u, strlen(u)) == &v2);
        mb_matcher_free(&m);
    }
}

TEST(removing_a_wildcard_that_shares_trie_nodes_leaves_the_others_matching)
{
    static const struct pat pats[] = {
        { W, "a..c", 1 }, { W, "a..d", 2 }, { W, "a.b.c", 3 }, { W, "a..", 4 }, { W, "a..c.d", 5 },
        { W, "a.", 6 },   { W, "a", 7 },    { W, "..c", 8 },
    };
    struct mb_matcher m;
    mb_matcher_init(&m);
    REQUIRE(add_table(&m, pats, N_(pats)) == 0);
    size_t edges_before = m.edges.len;
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.x.c", 5, (int[]){ 1, 4, 8, 0 }, 1);

    CHECK(mb_matcher_remove(&m, W, "a..c", 4) == &pats[0]);
    CHECK(mb_matcher_find(&m, W, "a..c", 4) == NULL);
    CHECK_EQ_INT(m.edges.len, edges_before); /* every node of a..c is still used by a..c.d */
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.x.c", 5, (int[]){ 4, 8, 0 }, 4);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.x.d", 5, (int[]){ 2, 4, 0 }, 2);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.b.c", 5, (int[]){ 3, 4, 8, 0 }, 3);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.x.c.d", 7, (int[]){ 5, 0 }, 5);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.x", 3, (int[]){ 6, 0 }, 6);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a", 1, (int[]){ 7, 0 }, 7);

    /* remove the long one that passed through: its own nodes go, the shared ones stay */
    CHECK(mb_matcher_remove(&m, W, "a..c.d", 6) == &pats[4]);
    CHECK(m.edges.len < edges_before);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.x.c.d", 7, (int[]){ 0 }, 0);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.x.d", 5, (int[]){ 2, 4, 0 }, 2);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.x.y", 5, (int[]){ 4, 0 }, 4);

    /* a pattern that is an inner node of others */
    CHECK(mb_matcher_remove(&m, W, "a.", 2) == &pats[5]);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.x", 3, (int[]){ 0 }, 0);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.x.d", 5, (int[]){ 2, 4, 0 }, 2);
    CHECK(mb_matcher_remove(&m, W, "a", 1) == &pats[6]);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a", 1, (int[]){ 0 }, 0);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.b.c", 5, (int[]){ 3, 4, 8, 0 }, 3);

    /* re-adding a removed pattern over existing nodes */
    CHECK_EQ_INT(mb_matcher_add(&m, W, "a..c", 4, (void *)&pats[0]), 0);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.x.c", 5, (int[]){ 1, 4, 8, 0 }, 1);

    CHECK(mb_matcher_remove(&m, W, "a..c", 4) == &pats[0]);
    CHECK(mb_matcher_remove(&m, W, "a..d", 4) == &pats[1]);
    CHECK(mb_matcher_remove(&m, W, "a.b.c", 5) == &pats[2]);
    CHECK(mb_matcher_remove(&m, W, "a..", 3) == &pats[3]);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "x.y.c", 5, (int[]){ 8, 0 }, 8);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.b.c", 5, (int[]){ 8, 0 }, 8);
    CHECK(mb_matcher_remove(&m, W, "..c", 3) == &pats[7]);
    CHECK_EQ_INT(m.count[W], 0);
    CHECK_EQ_INT(m.edges.len, 0);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.b.c", 5, (int[]){ 0 }, 0);
    mb_matcher_free(&m);
}

TEST(removing_an_absent_pattern_returns_null_and_changes_nothing)
{
    static const struct pat pats[] = {
        { W, "a..c.d", 1 }, { E, "a.b", 2 }, { P, "a.b.", 3 }, { W, "x", 4 },
    };
    struct mb_matcher m;
    mb_matcher_init(&m);
    REQUIRE(add_table(&m, pats, N_(pats)) == 0);
    size_t edges = m.edges.len, c0 = m.count[0], c1 = m.count[1], c2 = m.count[2];
    /* inner nodes of a wildcard pattern, a longer path, a sibling, the wrong policy */
    static const struct {
        enum mb_match_policy p;
        const char *u;
    } absent[] = {
        { W, "a" },    { W, "a." },    { W, "a..c" },  { W, "a..c.d.e" }, { W, "a..c.x" }, { W, "a.b.c.d" },
        { W, "" },     { W, "a.b" },   { E, "a..c.d" }, { P, "a..c.d" },  { E, "a.b." },   { P, "a.b" },
        { E, "a.bb" }, { P, "a.b.c" }, { P, "a" },     { E, "" },         { P, "" },       { W, "x." },
        { W, ".x" },   { E, "x" },
    };
    for (size_t i = 0; i < N_(absent); i++) {
        if (mb_matcher_remove(&m, absent[i].p, absent[i].u, strlen(absent[i].u)) != NULL)
            unit_fail(__FILE__, __LINE__, "remove(%s \"%s\") of an absent pattern returned a value",
                      pname(absent[i].p), absent[i].u);
        if (mb_matcher_find(&m, absent[i].p, absent[i].u, strlen(absent[i].u)) != NULL)
            unit_fail(__FILE__, __LINE__, "find(%s \"%s\") of an absent pattern returned a value",
                      pname(absent[i].p), absent[i].u);
    }
    CHECK_EQ_INT(m.edges.len, edges);
    CHECK(m.count[0] == c0 && m.count[1] == c1 && m.count[2] == c2);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.z.c.d", 7, (int[]){ 1, 0 }, 1);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.b", 3, (int[]){ 2, 0 }, 2);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "a.b.c.d", 7, (int[]){ 1, 3, 0 }, 3);
    check_case(__FILE__, __LINE__, &m, pats, N_(pats), "x", 1, (int[]){ 4, 0 }, 4);
    for (size_t i = 0; i < N_(pats); i++)
        CHECK(mb_matcher_find(&m, pats[i].p, pats[i].uri, strlen(pats[i].uri)) == &pats[i]);
    CHECK_EQ_INT(remove_table(&m, pats, N_(pats)), 0);
    for (size_t i = 0; i < N_(pats); i++)
        CHECK(mb_matcher_find(&m, pats[i].p, pats[i].uri, strlen(pats[i].uri)) == NULL);
    CHECK_EQ_INT(remove_table(&m, pats, N_(pats)), (int)N_(pats)); /* all absent now */
    mb_matcher_free(&m);
}

/* Everything added then everything removed leaves an empty structure (valgrind: no leak). */
TEST(removing_all_patterns_then_free_leaks_nothing)
{
    enum { N = 2000 };
    char(*s)[32] = calloc(N, sizeof *s);
    REQUIRE(s);
    int fails = 0;
    struct mb_matcher m;
    mb_matcher_init(&m);
    for (int i = 0; i < N; i++) {
        enum mb_match_policy p = (enum mb_match_policy)(i % 3);
        snprintf(s[i], sizeof s[i], i % 6 < 3 ? "r.%d..%d" : "r..%d.%d.", i % 7, i);
        if (mb_matcher_add(&m, p, s[i], strlen(s[i]), s[i]) != 0)
            fails++;
    }
    CHECK_EQ_INT(fails, 0);
    CHECK(m.edges.len > 0);
    for (int i = N - 1; i >= 0; i -= 2) /* every other one, from the end */
        if (mb_matcher_remove(&m, (enum mb_match_policy)(i % 3), s[i], strlen(s[i])) != s[i])
            fails++;
    for (int i = 0; i < N; i += 2)
        if (mb_matcher_remove(&m, (enum mb_match_policy)(i % 3), s[i], strlen(s[i])) != s[i])
            fails++;
    CHECK_EQ_INT(fails, 0);
    CHECK(m.count[0] == 0 && m.count[1] == 0 && m.count[2] == 0);
    CHECK_EQ_INT(m.edges.len, 0);
    CHECK_EQ_INT(m.exact.len, 0);
    CHECK_EQ_INT(m.prefix.len, 0);
    struct hits h = { 0 };
    each_s(&m, "r.1.x.1", &h);
    CHECK_EQ_INT(h.n, 0);
    hits_free(&h);
    mb_matcher_free(&m);
    free(s);
}

/* ---- property test against a brute-force reference ------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned rnd(unsigned n)
{
    return (unsigned)(rng() % n);
}

static const char *const ALPHA[] = { "a", "b", "c", "ab" };

struct rpat {
    enum mb_match_policy p;
    char s[40];
    size_t len;
    bool live;
};

/* Components of s[0..len): start offsets and lengths; returns the count. */
static size_t split_ref(const char *s, size_t len, size_t *start, size_t *clen, size_t max)
{
    size_t n = 0, b = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (n < max) {
                start[n] = b;
                clen[n] = i - b;
            }
            n++;
            b = i + 1;
        }
    }
    return n;
}

/* The spec's rules applied literally. */
static bool ref_matches(const struct rpat *pt, const char *u, size_t ulen)
{
    switch (pt->p) {
    case MB_MATCH_EXACT:
        return pt->len == ulen && memcmp(pt->s, u, ulen) == 0;
    case MB_MATCH_PREFIX:
        return pt->len <= ulen && memcmp(pt->s, u, pt->len) == 0;
    default: {
        size_t ps[16], pl[16], us[16], ul[16];
        size_t pn = split_ref(pt->s, pt->len, ps, pl, 16), un = split_ref(u, ulen, us, ul, 16);
        if (pn != un || pn > 16)
            return false;
        for (size_t i = 0; i < pn; i++) {
            if (ul[i] == 0)
                return false; /* a wildcard matches one NON-empty component; concrete ones are non-empty */
            if (pl[i] != 0 && (pl[i] != ul[i] || memcmp(pt->s + ps[i], u + us[i], pl[i]) != 0))
                return false;
        }
        return true;
    }
    }
}

/* >0 if wildcard pattern a beats b: concrete where the other is a wildcard, at the first difference
 * of their concrete/wildcard vectors (both match the same URI, so they have as many components). */
static int ref_wild_cmp(const struct rpat *a, const struct rpat *b)
{
    size_t as[16], al[16], bs[16], bl[16];
    size_t an = split_ref(a->s, a->len, as, al, 16), bn = split_ref(b->s, b->len, bs, bl, 16);
    for (size_t i = 0; i < an && i < bn; i++) {
        bool aw = al[i] == 0, bw = bl[i] == 0;
        if (aw != bw)
            return aw ? -1 : 1;
    }
    return 0;
}

static const struct rpat *ref_best(const struct rpat *pats, size_t n, const char *u, size_t ulen,
                                   bool *ambiguous)
{
    const struct rpat *best = NULL;
    *ambiguous = false;
    for (size_t i = 0; i < n; i++)
        if (pats[i].live && pats[i].p == MB_MATCH_EXACT && ref_matches(&pats[i], u, ulen))
            return &pats[i];
    for (size_t i = 0; i < n; i++)
        if (pats[i].live && pats[i].p == MB_MATCH_PREFIX && ref_matches(&pats[i], u, ulen) &&
            (!best || pats[i].len > best->len))
            best = &pats[i];
    if (best)
        return best;
    for (size_t i = 0; i < n; i++) {
        if (!pats[i].live || pats[i].p != MB_MATCH_WILDCARD || !ref_matches(&pats[i], u, ulen))
            continue;
        int c = best ? ref_wild_cmp(&pats[i], best) : 1;
        if (c == 0)
            *ambiguous = true; /* cannot happen for distinct patterns: reported as a test bug */
        if (c > 0)
            best = &pats[i];
    }
    return best;
}

static void gen_components(char *buf, size_t cap, unsigned ncomp, unsigned empty_pct)
{
    size_t o = 0;
    for (unsigned i = 0; i < ncomp; i++) {
        const char *c = rnd(100) < empty_pct ? "" : ALPHA[rnd(4)];
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? "." : "", c);
    }
}

/* mix: 0 uniform policies, 1 wildcards only, 2 mostly wildcards (so that wildcard winners
 * are picked among many candidates, not hidden behind a prefix) */
static void gen_pattern(struct rpat *pt, int mix)
{
    unsigned r = rnd(10);
    pt->p = mix == 0 ? (enum mb_match_policy)rnd(3)
            : mix == 1 ? MB_MATCH_WILDCARD
                       : (r == 0 ? MB_MATCH_EXACT : r == 1 ? MB_MATCH_PREFIX : MB_MATCH_WILDCARD);
    unsigned nc = 1 + rnd(5);
    switch (pt->p) {
    case MB_MATCH_WILDCARD:
        gen_components(pt->s, sizeof pt->s, nc, 40);
        break;
    case MB_MATCH_EXACT:
        gen_components(pt->s, sizeof pt->s, nc, 3);
        break;
    default: {
        gen_components(pt->s, sizeof pt->s, nc, 3);
        size_t l = strlen(pt->s);
        unsigned v = rnd(3);
        if (v == 1 && l + 1 < sizeof pt->s) { /* component-bounded: trailing dot */
            pt->s[l] = '.';
            pt->s[l + 1] = '\0';
        } else if (v == 2 && l > 1) { /* cuts a component: "a.a" covers "a.ab" */
            pt->s[l - 1] = '\0';
        }
        break;
    }
    }
    pt->len = strlen(pt->s);
    pt->live = false;
    if (pt->p == MB_MATCH_PREFIX && pt->len == 0)
        gen_pattern(pt, mix); /* the empty prefix has its own test */
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return (x > y) - (x < y);
}

struct prop {
    uint64_t seed;
    int set, round;
    int failures;
};

static void prop_fail(struct prop *pr, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void prop_fail(struct prop *pr, int line, const char *fmt, ...)
{
    if (pr->failures++ >= 12)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    unit_fail(__FILE__, line, "property (MB_MATCH_SEED=%llu set %d round %d): %s", (unsigned long long)pr->seed,
              pr->set, pr->round, msg);
}

static void prop_check_uri(struct prop *pr, const struct mb_matcher *m, const struct rpat *pats, size_t n,
                           const char *u, struct hits *h, void **want, size_t *wantn_out)
{
    size_t ulen = strlen(u), wn = 0;
    for (size_t i = 0; i < n; i++)
        if (pats[i].live && ref_matches(&pats[i], u, ulen))
            want[wn++] = (void *)&pats[i];
    *wantn_out = wn;

    each(m, u, ulen, h);
    for (size_t i = 0; i < h->n; i++) {
        const struct rpat *pt = h->v[i];
        if (pt < pats || pt >= pats + n) {
            prop_fail(pr, __LINE__, "each(\"%s\") reported a foreign value", u);
            return;
        }
        if (h->p[i] != pt->p)
            prop_fail(pr, __LINE__, "each(\"%s\") reported %s \"%s\" as %s", u, pname(pt->p), pt->s,
                      pname(h->p[i]));
    }
    qsort(h->v, h->n, sizeof *h->v, cmp_ptr);
    qsort(want, wn, sizeof *want, cmp_ptr);
    for (size_t i = 1; i < h->n; i++)
        if (h->v[i] == h->v[i - 1])
            prop_fail(pr, __LINE__, "each(\"%s\") reported %s \"%s\" twice", u, pname(((struct rpat *)h->v[i])->p),
                      ((struct rpat *)h->v[i])->s);
    size_t i = 0, j = 0;
    while (i < wn || j < h->n) {
        if (j >= h->n || (i < wn && cmp_ptr(&want[i], &h->v[j]) < 0)) {
            const struct rpat *pt = want[i++];
            prop_fail(pr, __LINE__, "each(\"%s\") missed %s \"%s\"", u, pname(pt->p), pt->s);
        } else if (i >= wn || cmp_ptr(&want[i], &h->v[j]) > 0) {
            const struct rpat *pt = h->v[j++];
            prop_fail(pr, __LINE__, "each(\"%s\") reported %s \"%s\", which does not match", u, pname(pt->p), pt->s);
        } else {
            i++;
            j++;
        }
    }

    bool amb;
    const struct rpat *rb = ref_best(pats, n, u, ulen, &amb);
    if (amb)
        prop_fail(pr, __LINE__, "reference: two wildcard winners for \"%s\" (test bug)", u);
    enum mb_match_policy bp = (enum mb_match_policy)-1;
    const struct rpat *b = mb_matcher_best(m, u, ulen, &bp);
    if (b != rb)
        prop_fail(pr, __LINE__, "best(\"%s\"): expected %s \"%s\", got %s \"%s\"", u, rb ? pname(rb->p) : "none",
                  rb ? rb->s : "", b ? pname(b->p) : "none", b ? b->s : "");
    else if (b && bp != b->p)
        prop_fail(pr, __LINE__, "best(\"%s\"): reported policy %s for %s \"%s\"", u, pname(bp), pname(b->p), b->s);
}

TEST(property_each_and_best_agree_with_brute_force_reference)
{
    const bool small = small_run();
    const int nsets = small ? 3 : 12;
    const int rounds = small ? 4 : 8;
    const int uris_per_round = small ? 300 : 800; /* 6 400 URIs per set */
    enum { NPAT = 300 };
    uint64_t seed = 0x6d6f6f6e62617231ULL; /* "moonbar1" */
    const char *env = getenv("MB_MATCH_SEED");
    if (env && *env)
        seed = strtoull(env, NULL, 0);

    struct rpat *pats = calloc(NPAT, sizeof *pats);
    void **want = calloc(NPAT, sizeof *want);
    REQUIRE(pats && want);
    struct hits h = { 0 };
    struct prop pr = { seed, 0, 0, 0 };
    size_t total_uris = 0, total_hits = 0, best_by[4] = { 0 }, contested = 0;

    for (int set = 0; set < nsets && pr.failures == 0; set++) {
        rng_state = seed ^ ((uint64_t)set * 0x2545f4914f6cdd1dULL);
        pr.set = set;
        pr.round = -1;
        /* distinct (policy, string) pairs */
        size_t n = 0;
        while (n < NPAT) {
            gen_pattern(&pats[n], set % 3);
            bool dup = false;
            for (size_t k = 0; k < n && !dup; k++)
                dup = pats[k].p == pats[n].p && pats[k].len == pats[n].len && memcmp(pats[k].s, pats[n].s, pats[n].len) == 0;
            if (!dup)
                n++;
        }
        struct mb_matcher m;
        mb_matcher_init(&m);
        for (size_t k = 0; k < n; k++) {
            if (rnd(10) < 2)
                continue; /* some start absent */
            if (mb_matcher_add(&m, pats[k].p, pats[k].s, pats[k].len, &pats[k]) != 0)
                prop_fail(&pr, __LINE__, "add(%s \"%s\") failed", pname(pats[k].p), pats[k].s);
            pats[k].live = true;
        }
        for (int round = 0; round < rounds; round++) {
            pr.round = round;
            for (int q = 0; q < uris_per_round; q++) {
                char u[64];
                gen_components(u, sizeof u, 1 + rnd(5), rnd(10) == 0 ? 15 : 0);
                size_t wn;
                prop_check_uri(&pr, &m, pats, n, u, &h, want, &wn);
                total_uris++;
                total_hits += wn;
                bool amb;
                const struct rpat *rb = ref_best(pats, n, u, strlen(u), &amb);
                best_by[rb ? rb->p : 3]++;
                size_t nw = 0;
                for (size_t k = 0; k < wn; k++)
                    nw += ((const struct rpat *)want[k])->p == MB_MATCH_WILDCARD;
                if (rb && rb->p == MB_MATCH_WILDCARD && nw >= 2)
                    contested++;
            }
            /* random removals, re-adds and removals of absent patterns */
            int ops = 20 + (int)rnd(60);
            for (int o = 0; o < ops; o++) {
                struct rpat *pt = &pats[rnd((unsigned)n)];
                void *got = mb_matcher_remove(&m, pt->p, pt->s, pt->len);
                if (pt->live) {
                    if (got != pt)
                        prop_fail(&pr, __LINE__, "remove(%s \"%s\") returned %p, not its value", pname(pt->p), pt->s, got);
                    pt->live = false;
                    if (mb_matcher_find(&m, pt->p, pt->s, pt->len) != NULL)
                        prop_fail(&pr, __LINE__, "find(%s \"%s\") after remove is not NULL", pname(pt->p), pt->s);
                    if (rnd(4) == 0) { /* sometimes straight back */
                        if (mb_matcher_add(&m, pt->p, pt->s, pt->len, pt) != 0)
                            prop_fail(&pr, __LINE__, "re-add(%s \"%s\") failed", pname(pt->p), pt->s);
                        pt->live = true;
                    }
                } else {
                    if (got != NULL)
                        prop_fail(&pr, __LINE__, "remove(%s \"%s\") of an absent pattern returned %p", pname(pt->p),
                                  pt->s, got);
                    if (mb_matcher_add(&m, pt->p, pt->s, pt->len, pt) != 0)
                        prop_fail(&pr, __LINE__, "add(%s \"%s\") failed", pname(pt->p), pt->s);
                    pt->live = true;
                }
            }
            /* find() agrees with the live set */
            for (size_t k = 0; k < n; k++)
                if (mb_matcher_find(&m, pats[k].p, pats[k].s, pats[k].len) != (pats[k].live ? &pats[k] : NULL))
                    prop_fail(&pr, __LINE__, "find(%s \"%s\") disagrees with the live set", pname(pats[k].p),
                              pats[k].s);
            size_t live[3] = { 0 };
            for (size_t k = 0; k < n; k++)
                live[pats[k].p] += pats[k].live;
            if (m.count[0] != live[0] || m.count[1] != live[1] || m.count[2] != live[2])
                prop_fail(&pr, __LINE__, "counts %zu/%zu/%zu, live %zu/%zu/%zu", m.count[0], m.count[1], m.count[2],
                          live[0], live[1], live[2]);
        }
        /* tear down: remove every live pattern, the structure ends empty */
        for (size_t k = 0; k < n; k++)
            if (pats[k].live && mb_matcher_remove(&m, pats[k].p, pats[k].s, pats[k].len) != &pats[k])
                prop_fail(&pr, __LINE__, "final remove(%s \"%s\") failed", pname(pats[k].p), pats[k].s);
        if (m.edges.len != 0)
            prop_fail(&pr, __LINE__, "%zu trie edges left after removing every pattern", m.edges.len);
        mb_matcher_free(&m);
    }
    /* the generator really exercises every rule */
    CHECK(total_hits > total_uris);
    CHECK(best_by[MB_MATCH_EXACT] > 0 && best_by[MB_MATCH_PREFIX] > 0 && best_by[MB_MATCH_WILDCARD] > 0 && best_by[3] > 0);
    CHECK(contested > 0);
    if (pr.failures)
        printf("# property test failed with MB_MATCH_SEED=%llu (%d failures)\n", (unsigned long long)seed, pr.failures);
    printf("# property: %zu URIs, %zu matches; best exact %zu, prefix %zu, wildcard %zu (%zu among several), "
           "none %zu\n", total_uris, total_hits, best_by[0], best_by[1], best_by[2], contested, best_by[3]);
    hits_free(&h);
    free(want);
    free(pats);
}

/* ---- scale sanity (not timing) --------------------------------------------------------------- */

TEST(scale_two_hundred_thousand_patterns_per_policy)
{
    const size_t N = small_run() ? 20000 : 200000;
    enum { SL = 28 };
    char *buf = malloc(N * 3 * SL);
    REQUIRE(buf);
    char *ex = buf, *pre = buf + N * SL, *wi = buf + 2 * N * SL;
    struct mb_matcher m;
    mb_matcher_init(&m);
    int fails = 0;
    for (size_t i = 0; i < N; i++) {
        snprintf(ex + i * SL, SL, "e.%zu.x", i);
        snprintf(pre + i * SL, SL, "p.%zu.", i);
        snprintf(wi + i * SL, SL, "w.%zu..%zu", i % 1000, i);
        fails += mb_matcher_add(&m, E, ex + i * SL, strlen(ex + i * SL), ex + i * SL) != 0;
        fails += mb_matcher_add(&m, P, pre + i * SL, strlen(pre + i * SL), pre + i * SL) != 0;
        fails += mb_matcher_add(&m, W, wi + i * SL, strlen(wi + i * SL), wi + i * SL) != 0;
    }
    CHECK_EQ_INT(fails, 0);
    CHECK(m.count[0] == N && m.count[1] == N && m.count[2] == N);

    enum mb_match_policy p;
    size_t k = N - 7;
    char u[64];
    snprintf(u, sizeof u, "e.%zu.x", k);
    CHECK(best_s(&m, u, &p) == ex + k * SL && p == E);
    snprintf(u, sizeof u, "e.%zu.y", k);
    CHECK(best_s(&m, u, &p) == NULL);
    snprintf(u, sizeof u, "p.%zu.anything.else", k);
    CHECK(best_s(&m, u, &p) == pre + k * SL && p == P);
    snprintf(u, sizeof u, "p.%zu", k);
    CHECK(best_s(&m, u, &p) == NULL);
    snprintf(u, sizeof u, "w.%zu.zz.%zu", k % 1000, k);
    CHECK(best_s(&m, u, &p) == wi + k * SL && p == W);
    snprintf(u, sizeof u, "w.%zu.zz.%zu", (k + 1) % 1000, k);
    CHECK(best_s(&m, u, &p) == NULL);
    struct hits h = { 0 };
    snprintf(u, sizeof u, "p.1.x");
    each_s(&m, u, &h);
    CHECK(h.n == 1 && h.v[0] == pre + 1 * SL);
    snprintf(u, sizeof u, "w.5.q.5");
    each_s(&m, u, &h);
    CHECK(h.n == 1 && h.v[0] == wi + 5 * SL);
    hits_free(&h);

    for (size_t i = 0; i < N; i++) {
        fails += mb_matcher_remove(&m, E, ex + i * SL, strlen(ex + i * SL)) != ex + i * SL;
        fails += mb_matcher_remove(&m, P, pre + i * SL, strlen(pre + i * SL)) != pre + i * SL;
        fails += mb_matcher_remove(&m, W, wi + i * SL, strlen(wi + i * SL)) != wi + i * SL;
    }
    CHECK_EQ_INT(fails, 0);
    CHECK(m.count[0] == 0 && m.count[1] == 0 && m.count[2] == 0);
    CHECK_EQ_INT(m.edges.len, 0);
    snprintf(u, sizeof u, "w.5.q.5");
    CHECK(best_s(&m, u, &p) == NULL);
    mb_matcher_free(&m);
    free(buf);
}

static void one_found(void *value, enum mb_match_policy p, void *ctx)
{
    (void)p;
    *(void **)ctx = value;
}

TEST(one_pattern_matches_like_the_matcher)
{
    /* mb_match_one against the matcher itself, on the spec's examples */
    const char *uris[] = { "a.b.c", "a.c", "a.b.x.c", "a.b", "com.myapp.topic.emergency.11",
                           "com.myapp.topic.emergency-low", "com.myapp.topic.emergency", "x..", "a" };
    const struct { enum mb_match_policy p; const char *pat; } pats[] = {
        { MB_MATCH_EXACT, "a.b.c" }, { MB_MATCH_PREFIX, "com.myapp.topic.emergency" }, { MB_MATCH_PREFIX, "a." },
        { MB_MATCH_WILDCARD, "a..c" }, { MB_MATCH_WILDCARD, "..c" }, { MB_MATCH_WILDCARD, "a.." },
        { MB_MATCH_WILDCARD, "a...c" }, { MB_MATCH_WILDCARD, "." }, { MB_MATCH_WILDCARD, "a.b" },
    };
    for (size_t j = 0; j < sizeof pats / sizeof pats[0]; j++) {
        struct mb_matcher m;
        mb_matcher_init(&m);
        CHECK(mb_matcher_add(&m, pats[j].p, pats[j].pat, strlen(pats[j].pat), (void *)pats[j].pat) == 0);
        for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
            void *found = NULL;
            mb_matcher_each(&m, uris[i], strlen(uris[i]), one_found, &found);
            bool one = mb_match_one(pats[j].p, pats[j].pat, strlen(pats[j].pat), uris[i], strlen(uris[i]));
            if (one != (found != NULL))
                printf("# %s %s vs %s: one %d, matcher %d\n", mb_match_policy_name(pats[j].p), pats[j].pat,
                       uris[i], one, found != NULL);
            CHECK(one == (found != NULL));
        }
        mb_matcher_free(&m);
    }
}

UNIT_MAIN()
