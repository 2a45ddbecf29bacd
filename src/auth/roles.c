/* Static roles: see mb_roles.h for the contract.
 *
 * A compiled role owns a copy of its rules (one array, and one block for the name and every
 * URI) and, per action, two matchers whose values are the rules deciding that action: `fixed`
 * holds the exact and prefix rules, `wild` the wildcard rules. mb_matcher_best on `fixed`
 * gives the exact rule, else the longest prefix ("" included: the matcher probes length 0);
 * only when neither matched is `wild` asked, so its own precedence (concrete before wildcard
 * at the first component two patterns differ) applies among wildcard rules alone.
 *
 * Two things keep the wildcard step honest without allocating:
 * - A pattern request ("com..tick") has empty components, which mb_matcher_best never
 *   matches (a called URI has none). Here an empty component of the request must be matched
 *   by an empty component of a rule, as moonbar.acl does: the request is rewritten on the
 *   stack with each empty component replaced by a filler longer than any component of the
 *   role's wildcard rules, which therefore only a rule's wildcard can match.
 * - mb_matcher_best allocates scratch memory for URIs past MB_MATCH_STACK_COMPONENTS or
 *   MB_MATCH_STACK_COMPONENT. Such URIs (and rewrites that do not fit the stack buffer) are
 *   checked by a scan of the action's wildcard rules with the same precedence: linear in the
 *   number of rules, for URIs no client sends in practice. */
#include "mb_roles.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb_map.h"

#define ACT_ALL (MB_ACT_BIT(MB_ACT_COUNT) - 1u)
#define REWRITE_STACK 1024 /* a rewritten pattern request longer than this is scanned */
#define FILLER_CHAR '#'    /* readable in a debugger; any byte would do */

struct rule {
    const char *uri; /* in the role's string block */
    size_t len;
    size_t num; /* 1-based position in the role's config, for messages */
    enum mb_match_policy match;
    unsigned allow, deny;
    int disclose;
};

struct mb_role {
    const char *name; /* in strings */
    struct rule *rules;
    size_t nrules;
    char *strings;                         /* the name and every rule's URI, NUL-terminated */
    struct mb_matcher fixed[MB_ACT_COUNT]; /* exact and prefix rules deciding the action */
    struct mb_matcher wild[MB_ACT_COUNT];  /* wildcard rules deciding the action */
    size_t wild_min[MB_ACT_COUNT], wild_max[MB_ACT_COUNT]; /* their component counts */
    size_t filler;                         /* longer than any component of a wildcard rule */
    bool everything;
};

struct mb_roles {
    struct mb_role *roles;
    size_t n;
    struct mb_map by_name; /* name → role */
};

static const char *const ACTION_NAMES[MB_ACT_COUNT] = { "call", "register", "publish", "subscribe" };

int mb_action_parse(const char *s)
{
    for (int a = 0; s && a < MB_ACT_COUNT; a++)
        if (strcmp(s, ACTION_NAMES[a]) == 0)
            return a;
    return -1;
}

const char *mb_action_name(enum mb_action a)
{
    return (unsigned)a < MB_ACT_COUNT ? ACTION_NAMES[a] : "unknown";
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- wildcard rules ------------------------------------------------------------------- */

static size_t components(const char *s, size_t len)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += s[i] == '.';
    return n;
}

static size_t longest_component(const char *s, size_t len)
{
    size_t longest = 0, run = 0;
    for (size_t i = 0; i < len; i++) {
        run = s[i] == '.' ? 0 : run + 1;
        if (run > longest)
            longest = run;
    }
    return longest;
}

/* The end of the component starting at i (the index of its dot, or len). */
static size_t comp_end(const char *s, size_t len, size_t i)
{
    while (i < len && s[i] != '.')
        i++;
    return i;
}

/* Whether wildcard pattern p covers the request uri: as many components, each empty in p or
 * equal to uri's (an empty component of uri, in a pattern request, only an empty one of p). */
static bool wild_covers(const char *p, size_t plen, const char *uri, size_t len)
{
    size_t i = 0, j = 0;
    for (;;) {
        size_t pe = comp_end(p, plen, i), ue = comp_end(uri, len, j);
        if (pe > i && (pe - i != ue - j || memcmp(p + i, uri + j, pe - i) != 0))
            return false;
        if (pe == plen || ue == len)
            return pe == plen && ue == len;
        i = pe + 1;
        j = ue + 1;
    }
}

/* Whether wildcard pattern a goes before b, both covering one URI (so as many components,
 * equal where both are concrete): at the first component where one is empty and the other
 * not, the concrete one — the order in which mb_matcher_best walks its trie. */
static bool wild_before(const struct rule *a, const struct rule *b)
{
    size_t i = 0, j = 0;
    for (;;) {
        size_t ae = comp_end(a->uri, a->len, i), be = comp_end(b->uri, b->len, j);
        if ((ae == i) != (be == j))
            return ae > i;
        if (ae == a->len || be == b->len)
            return false;
        i = ae + 1;
        j = be + 1;
    }
}

static const struct rule *wild_scan(const struct mb_role *role, enum mb_action action, const char *uri,
                                    size_t len)
{
    const struct rule *best = NULL;
    for (size_t k = 0; k < role->nrules; k++) {
        const struct rule *r = &role->rules[k];
        if (r->match == MB_MATCH_WILDCARD && ((r->allow | r->deny) & MB_ACT_BIT(action)) &&
            wild_covers(r->uri, r->len, uri, len) && (!best || wild_before(r, best)))
            best = r;
    }
    return best;
}

/* The wildcard rule deciding action on uri, or NULL. Allocates nothing. */
static const struct rule *wild_best(const struct mb_role *role, enum mb_action action, const char *uri,
                                    size_t len)
{
    const struct mb_matcher *m = &role->wild[action];
    if (m->count[MB_MATCH_WILDCARD] == 0)
        return NULL;
    size_t comps = 1, empties = 0, longest = 0, run = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && uri[i] != '.') {
            run++;
            continue;
        }
        empties += run == 0;
        longest = run > longest ? run : longest;
        comps += i < len;
        run = 0;
    }
    if (comps < role->wild_min[action] || comps > role->wild_max[action])
        return NULL; /* a wildcard rule matches URIs of as many components as it has */
    if (comps > MB_MATCH_STACK_COMPONENTS || longest > MB_MATCH_STACK_COMPONENT)
        return wild_scan(role, action, uri, len);
    enum mb_match_policy p;
    if (empties == 0)
        return mb_matcher_best(m, uri, len, &p);
    if (role->filler > MB_MATCH_STACK_COMPONENT || len + empties * role->filler > REWRITE_STACK)
        return wild_scan(role, action, uri, len);
    char buf[REWRITE_STACK];
    size_t n = 0;
    for (size_t i = 0; i <= len; i++) {
        bool boundary = i == len || uri[i] == '.';
        if (boundary && (i == 0 || uri[i - 1] == '.')) {
            memset(buf + n, FILLER_CHAR, role->filler);
            n += role->filler;
        }
        if (i < len)
            buf[n++] = uri[i];
    }
    return mb_matcher_best(m, buf, n, &p);
}

/* ---- building ------------------------------------------------------------------------- */

static void role_free(struct mb_role *r)
{
    for (int a = 0; a < MB_ACT_COUNT; a++) {
        mb_matcher_free(&r->fixed[a]);
        mb_matcher_free(&r->wild[a]);
    }
    free(r->rules);
    free(r->strings);
    memset(r, 0, sizeof *r);
}

/* Compiles config c (the pos-th role, 0-based) into r. On failure r is left for role_free. */
static int role_build(struct mb_role *r, const struct mb_role_config *c, size_t pos, char *err, size_t errlen)
{
    for (int a = 0; a < MB_ACT_COUNT; a++) {
        mb_matcher_init(&r->fixed[a]);
        mb_matcher_init(&r->wild[a]);
    }
    if (!c->name)
        return fail(err, errlen, "role %zu has no name", pos + 1);
    if (c->nrules && !c->rules)
        return fail(err, errlen, "role '%s' has %zu rules but no rule list", c->name, c->nrules);
    size_t bytes = strlen(c->name) + 1;
    for (size_t j = 0; j < c->nrules; j++) {
        const struct mb_rule_config *rc = &c->rules[j];
        if (!rc->uri)
            return fail(err, errlen, "role '%s': rule %zu has no uri", c->name, j + 1);
        if ((unsigned)rc->match > MB_MATCH_WILDCARD)
            return fail(err, errlen, "role '%s': rule %zu: match %d is not exact, prefix or wildcard", c->name,
                        j + 1, (int)rc->match);
        for (int a = 0; a < MB_ACT_COUNT; a++)
            if (rc->allow & rc->deny & MB_ACT_BIT(a))
                return fail(err, errlen, "role '%s': rule %zu both allows and denies '%s'", c->name, j + 1,
                            ACTION_NAMES[a]);
        bytes += strlen(rc->uri) + 1;
    }
    if (!(r->strings = malloc(bytes)) || (c->nrules && !(r->rules = calloc(c->nrules, sizeof *r->rules))))
        return fail(err, errlen, "out of memory");
    char *s = r->strings;
    size_t n = strlen(c->name) + 1;
    memcpy(s, c->name, n);
    r->name = s;
    s += n;
    r->nrules = c->nrules;

    unsigned allow_all = 0; /* actions some prefix "" rule allows */
    bool denies = false;
    for (size_t j = 0; j < c->nrules; j++) {
        const struct mb_rule_config *rc = &c->rules[j];
        struct rule *rule = &r->rules[j];
        rule->len = strlen(rc->uri);
        memcpy(s, rc->uri, rule->len + 1);
        rule->uri = s;
        s += rule->len + 1;
        rule->num = j + 1;
        rule->match = rc->match;
        rule->allow = rc->allow & ACT_ALL;
        rule->deny = rc->deny & ACT_ALL;
        rule->disclose = rc->disclose;
        if (rule->match == MB_MATCH_PREFIX && rule->len == 0)
            allow_all |= rule->allow;
        denies |= rule->deny != 0;

        size_t comps = rule->match == MB_MATCH_WILDCARD ? components(rule->uri, rule->len) : 0;
        for (int a = 0; a < MB_ACT_COUNT; a++) {
            if (!((rule->allow | rule->deny) & MB_ACT_BIT(a)))
                continue;
            struct mb_matcher *m = rule->match == MB_MATCH_WILDCARD ? &r->wild[a] : &r->fixed[a];
            const struct rule *prev = mb_matcher_find(m, rule->match, rule->uri, rule->len);
            if (prev)
                return fail(err, errlen, "role '%s': rules %zu and %zu both decide '%s' for %s '%s'", r->name,
                            prev->num, rule->num, ACTION_NAMES[a], mb_match_policy_name(rule->match), rule->uri);
            if (mb_matcher_add(m, rule->match, rule->uri, rule->len, rule) < 0)
                return fail(err, errlen, "out of memory");
            if (rule->match != MB_MATCH_WILDCARD)
                continue;
            if (m->count[MB_MATCH_WILDCARD] == 1 || comps < r->wild_min[a])
                r->wild_min[a] = comps;
            if (comps > r->wild_max[a])
                r->wild_max[a] = comps;
            size_t longest = longest_component(rule->uri, rule->len);
            if (longest >= r->filler)
                r->filler = longest + 1;
        }
    }
    r->everything = allow_all == ACT_ALL && !denies;
    return 0;
}

struct mb_roles *mb_roles_build(const struct mb_role_config *roles, size_t n, char *err, size_t errlen)
{
    struct mb_roles *rs = calloc(1, sizeof *rs);
    if (!rs) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    if (n && !roles) {
        fail(err, errlen, "%zu roles but no role list", n);
        goto fail;
    }
    if (n && !(rs->roles = calloc(n, sizeof *rs->roles))) {
        fail(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        struct mb_role *r = &rs->roles[i];
        rs->n = i + 1; /* freed with the others if it fails half built */
        if (role_build(r, &roles[i], i, err, errlen) < 0)
            goto fail;
        size_t nlen = strlen(r->name);
        if (mb_map_get_str(&rs->by_name, r->name, nlen)) {
            fail(err, errlen, "role '%s' is listed twice", r->name);
            goto fail;
        }
        if (mb_map_put_str(&rs->by_name, r->name, nlen, r) < 0) {
            fail(err, errlen, "out of memory");
            goto fail;
        }
    }
    return rs;
fail:
    mb_roles_free(rs);
    return NULL;
}

void mb_roles_free(struct mb_roles *roles)
{
    if (!roles)
        return;
    for (size_t i = 0; i < roles->n; i++)
        role_free(&roles->roles[i]);
    free(roles->roles);
    mb_map_free(&roles->by_name);
    free(roles);
}

/* ---- checks --------------------------------------------------------------------------- */

const struct mb_role *mb_roles_find(const struct mb_roles *roles, const char *name)
{
    if (!roles || !name)
        return NULL;
    return mb_map_get_str(&roles->by_name, name, strlen(name));
}

size_t mb_roles_count(const struct mb_roles *roles)
{
    return roles ? roles->n : 0;
}

enum mb_rule_decision mb_role_check(const struct mb_role *role, enum mb_action action, const char *uri,
                                    size_t len, int *disclose)
{
    if (!role || (unsigned)action >= MB_ACT_COUNT)
        return MB_RULE_NONE;
    if (!uri) {
        if (len)
            return MB_RULE_NONE;
        uri = ""; /* maps tell string keys from IDs by a non-NULL key */
    }
    enum mb_match_policy p;
    const struct rule *r = mb_matcher_best(&role->fixed[action], uri, len, &p);
    if (!r)
        r = wild_best(role, action, uri, len);
    if (!r)
        return MB_RULE_NONE;
    if (!(r->allow & MB_ACT_BIT(action)))
        return MB_RULE_DENY;
    if (disclose)
        *disclose = r->disclose;
    return MB_RULE_ALLOW;
}

bool mb_role_allows_everything(const struct mb_role *role)
{
    return role && role->everything;
}

/* ---- pattern requests ------------------------------------------------------------------ */

/* Whether some URI (no empty component) that wildcard pattern w matches starts with d. */
static bool prefix_meets_pattern(const char *d, size_t dlen, const char *w, size_t wlen)
{
    size_t i = 0, j = 0;
    for (;;) {
        size_t de = comp_end(d, dlen, i), we = comp_end(w, wlen, j);
        bool last = de == dlen; /* d's last piece may stop inside a component */
        if (!last) {
            if (de == i) /* an empty component of d: no URI has one */
                return false;
            if (we > j && (we - j != de - i || memcmp(w + j, d + i, de - i) != 0))
                return false;
        } else {
            return we == j || (de - i <= we - j && memcmp(w + j, d + i, de - i) == 0);
        }
        if (we == wlen)
            return false; /* d has more components than w's URIs */
        i = de + 1;
        j = we + 1;
    }
}

/* Whether wildcard patterns a and b match a common URI: as many components, equal where both
 * are concrete. */
static bool patterns_meet(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0, j = 0;
    for (;;) {
        size_t ae = comp_end(a, alen, i), be = comp_end(b, blen, j);
        if (ae > i && be > j && (ae - i != be - j || memcmp(a + i, b + j, ae - i) != 0))
            return false;
        if (ae == alen || be == blen)
            return ae == alen && be == blen;
        i = ae + 1;
        j = be + 1;
    }
}

static bool decides(const struct rule *r, enum mb_action action)
{
    return ((r->allow | r->deny) & MB_ACT_BIT(action)) != 0;
}

enum mb_rule_decision mb_role_check_pattern(const struct mb_role *role, enum mb_action action,
                                            enum mb_match_policy match, const char *pat, size_t len,
                                            int *disclose, char *why, size_t whylen)
{
    if (why && whylen)
        why[0] = '\0';
    if (!role || (unsigned)action >= MB_ACT_COUNT)
        return MB_RULE_NONE;
    if (!pat) {
        if (len)
            return MB_RULE_NONE;
        pat = "";
    }
    size_t lead = len; /* a wildcard pattern's text before its first empty component */
    if (match == MB_MATCH_WILDCARD) {
        bool empty = false;
        for (size_t i = 0; i <= len && !empty; i++)
            if ((i == len || pat[i] == '.') && (i == 0 || pat[i - 1] == '.')) {
                lead = i;
                empty = true;
            }
        if (!empty) /* no empty component: one URI, checked as such */
            return mb_role_check(role, action, pat, len, disclose);
    } else if (match != MB_MATCH_PREFIX) {
        return mb_role_check(role, action, pat, len, disclose);
    }
    /* 1. the most specific rule covering every URI the pattern matches */
    const struct rule *win = NULL;
    for (size_t k = 0; k < role->nrules; k++) {
        const struct rule *r = &role->rules[k];
        if (!decides(r, action) || r->match != MB_MATCH_PREFIX || r->len > lead || memcmp(r->uri, pat, r->len) != 0)
            continue;
        if (!win || r->len > win->len)
            win = r;
    }
    if (!win && match == MB_MATCH_WILDCARD)
        for (size_t k = 0; k < role->nrules; k++) {
            const struct rule *r = &role->rules[k];
            if (decides(r, action) && r->match == MB_MATCH_WILDCARD && wild_covers(r->uri, r->len, pat, len) &&
                (!win || wild_before(r, win)))
                win = r;
        }
    if (!win)
        return MB_RULE_NONE;
    if (!(win->allow & MB_ACT_BIT(action))) {
        if (why && whylen)
            snprintf(why, whylen, "rule %zu of role %s denies it", win->num, role->name);
        return MB_RULE_DENY;
    }
    /* 2. no rule that denies the action may win for a URI the pattern matches */
    for (size_t k = 0; k < role->nrules; k++) {
        const struct rule *r = &role->rules[k];
        if (r == win || !(r->deny & MB_ACT_BIT(action)))
            continue;
        bool wins;
        if (match == MB_MATCH_PREFIX) /* exact and longer prefix rules inside it; wildcards never win */
            wins = r->match != MB_MATCH_WILDCARD && r->len >= len && memcmp(r->uri, pat, len) == 0;
        else if (r->match == MB_MATCH_EXACT)
            wins = mb_match_one(MB_MATCH_WILDCARD, pat, len, r->uri, r->len);
        else if (r->match == MB_MATCH_PREFIX)
            wins = (win->match == MB_MATCH_WILDCARD || r->len > win->len) && prefix_meets_pattern(r->uri, r->len, pat, len);
        else
            wins = win->match == MB_MATCH_WILDCARD && wild_before(r, win) && patterns_meet(r->uri, r->len, pat, len);
        if (wins) {
            if (why && whylen)
                snprintf(why, whylen, "the pattern covers %s '%s', which rule %zu of role %s denies",
                         mb_match_policy_name(r->match), r->uri, r->num, role->name);
            return MB_RULE_DENY;
        }
    }
    if (disclose)
        *disclose = win->disclose;
    return MB_RULE_ALLOW;
}
