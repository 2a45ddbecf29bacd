/* URI matcher: see mb_match.h for the structure and its costs. */
#include "mb_match.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MAX_STACK_COMPONENTS MB_MATCH_STACK_COMPONENTS
#define EDGE_KEY_STACK (sizeof(struct mb_wnode *) + MB_MATCH_STACK_COMPONENT) /* parent, component */

struct mb_wnode {
    struct mb_wnode *parent;
    struct mb_wnode *wild; /* child for an empty component */
    void *value;           /* a pattern ends here */
    uint32_t refs;         /* patterns ending at or passing through this node */
    uint32_t kids;         /* concrete children (in the edge map): none, no lookup */
    struct mb_wnode *kid;  /* its first concrete child while it has only that one (else NULL):
                            * compared directly, without a probe of the large edge map */
    uint32_t klen;
    bool is_wild;          /* this node is its parent's wildcard child */
    char key[];            /* edge key: parent pointer, then the component's bytes */
};

int mb_match_policy_parse(const char *s, size_t len)
{
    if (len == 5 && memcmp(s, "exact", 5) == 0)
        return MB_MATCH_EXACT;
    if (len == 6 && memcmp(s, "prefix", 6) == 0)
        return MB_MATCH_PREFIX;
    if (len == 8 && memcmp(s, "wildcard", 8) == 0)
        return MB_MATCH_WILDCARD;
    return -1;
}

const char *mb_match_policy_name(enum mb_match_policy p)
{
    return p == MB_MATCH_PREFIX ? "prefix" : p == MB_MATCH_WILDCARD ? "wildcard" : "exact";
}

void mb_matcher_init(struct mb_matcher *m)
{
    memset(m, 0, sizeof *m);
}

static void filter_free(uint64_t *f, unsigned log2);

static void free_wild_chain(struct mb_wnode *w)
{
    while (w) {
        struct mb_wnode *next = w->wild;
        free(w);
        w = next;
    }
}

void mb_matcher_free(struct mb_matcher *m)
{
    /* Concrete nodes are all in the edge map. Every wildcard node is on exactly one chain of
     * ->wild links that starts at a concrete node or at the root. */
    struct mb_wnode *n;
    for (size_t it = 0; (n = mb_map_next(&m->edges, &it));)
        free_wild_chain(n->wild);
    if (m->root) {
        free_wild_chain(m->root->wild);
        free(m->root);
    }
    for (size_t it = 0; (n = mb_map_next(&m->edges, &it));)
        free(n);
    mb_map_free(&m->edges);
    mb_map_free(&m->exact);
    mb_map_free(&m->prefix);
    free(m->prefix_lens);
    filter_free(m->prefix_filter, m->prefix_filter_log2);
    memset(m, 0, sizeof *m);
}

/* ---- components ---------------------------------------------------------------------- */

struct comps {
    const char *uri;
    uint32_t (*span)[2]; /* start, length */
    size_t n;
    uint32_t stack[MAX_STACK_COMPONENTS][2];
};

static int split(struct comps *c, const char *uri, size_t len)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += uri[i] == '.';
    c->uri = uri;
    c->n = n;
    c->span = n <= MAX_STACK_COMPONENTS ? c->stack : malloc(n * sizeof *c->span);
    if (!c->span)
        return -1;
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || uri[i] == '.') {
            c->span[k][0] = (uint32_t)start;
            c->span[k][1] = (uint32_t)(i - start);
            k++;
            start = i + 1;
        }
    }
    return 0;
}

static void comps_free(struct comps *c)
{
    if (c->span != c->stack)
        free(c->span);
}

/* ---- the wildcard trie ---------------------------------------------------------------- */

/* Concrete child of parent for component comp, or NULL. */
static struct mb_wnode *edge(const struct mb_matcher *m, const struct mb_wnode *parent, const char *comp,
                             size_t clen)
{
    if (parent->kids == 0)
        return NULL;
    const struct mb_wnode *k = parent->kid;
    if (k && parent->kids == 1) /* the only child: its key says yes or no */
        return k->klen == sizeof parent + clen && memcmp(k->key + sizeof parent, comp, clen) == 0
                   ? (struct mb_wnode *)k : NULL;
    char stack[EDGE_KEY_STACK];
    size_t klen = sizeof parent + clen;
    char *key = klen <= sizeof stack ? stack : malloc(klen);
    if (!key)
        return NULL;
    memcpy(key, &parent, sizeof parent);
    memcpy(key + sizeof parent, comp, clen);
    struct mb_wnode *n = mb_map_get_str(&m->edges, key, klen);
    if (key != stack)
        free(key);
    return n;
}

static struct mb_wnode *new_node(struct mb_wnode *parent, const char *comp, size_t clen, bool wild)
{
    size_t klen = wild ? 0 : sizeof parent + clen;
    struct mb_wnode *n = calloc(1, sizeof *n + klen);
    if (!n)
        return NULL;
    n->parent = parent;
    n->is_wild = wild;
    n->klen = (uint32_t)klen;
    if (!wild) {
        memcpy(n->key, &parent, sizeof parent);
        memcpy(n->key + sizeof parent, comp, clen);
    }
    return n;
}

/* The node for a pattern; with create, the missing nodes are made (refs not touched). */
static struct mb_wnode *walk_pattern(struct mb_matcher *m, const struct comps *c, bool create)
{
    if (!m->root && (!create || !(m->root = calloc(1, sizeof *m->root))))
        return NULL;
    struct mb_wnode *n = m->root;
    for (size_t i = 0; i < c->n; i++) {
        const char *comp = c->uri + c->span[i][0];
        size_t clen = c->span[i][1];
        struct mb_wnode *next = clen == 0 ? n->wild : edge(m, n, comp, clen);
        if (!next) {
            if (!create || !(next = new_node(n, comp, clen, clen == 0)))
                return NULL;
            if (clen == 0) {
                n->wild = next;
            } else if (mb_map_put_str(&m->edges, next->key, next->klen, next) < 0) {
                free(next);
                return NULL;
            } else {
                n->kid = n->kids++ == 0 ? next : NULL;
            }
        }
        n = next;
    }
    return n;
}

/* Drops one reference along the path from n up, freeing nodes no pattern uses any more. */
static void release_path(struct mb_matcher *m, struct mb_wnode *n)
{
    while (n && n != m->root) {
        struct mb_wnode *parent = n->parent;
        if (--n->refs == 0) {
            if (n->is_wild) {
                parent->wild = NULL;
            } else {
                mb_map_del_str(&m->edges, n->key, n->klen);
                parent->kids--;
                if (parent->kid == n)
                    parent->kid = NULL;
            }
            free(n);
        }
        n = parent;
    }
}

static int wild_add(struct mb_matcher *m, const char *uri, size_t len, void *value)
{
    struct comps c;
    if (split(&c, uri, len) < 0)
        return -1;
    struct mb_wnode *n = walk_pattern(m, &c, true);
    comps_free(&c);
    if (!n)
        return -1; /* nodes made on the way stay with refs 0: harmless, reused later */
    n->value = value;
    for (struct mb_wnode *p = n; p && p != m->root; p = p->parent)
        p->refs++;
    return 0;
}

static struct mb_wnode *wild_find(const struct mb_matcher *m, const char *uri, size_t len)
{
    struct comps c;
    if (split(&c, uri, len) < 0)
        return NULL;
    struct mb_wnode *n = walk_pattern((struct mb_matcher *)m, &c, false);
    comps_free(&c);
    return n && n->value ? n : NULL;
}

struct each_ctx {
    const struct mb_matcher *m;
    const struct comps *c;
    mb_match_fn fn;
    void *ctx;
};

static void wild_each(const struct each_ctx *e, const struct mb_wnode *n, size_t i)
{
    if (i == e->c->n) {
        if (n->value)
            e->fn(n->value, MB_MATCH_WILDCARD, e->ctx);
        return;
    }
    size_t clen = e->c->span[i][1];
    if (clen > 0) {
        const struct mb_wnode *next = edge(e->m, n, e->c->uri + e->c->span[i][0], clen);
        if (next)
            wild_each(e, next, i + 1);
        if (n->wild)
            wild_each(e, n->wild, i + 1);
    }
}

/* Concrete edges first: the first complete match is the spec's best. */
static void *wild_best(const struct mb_matcher *m, const struct comps *c, const struct mb_wnode *n, size_t i)
{
    if (i == c->n)
        return n->value;
    size_t clen = c->span[i][1];
    if (clen == 0)
        return NULL; /* a called URI has no empty component */
    const struct mb_wnode *next = edge(m, n, c->uri + c->span[i][0], clen);
    void *v = next ? wild_best(m, c, next, i + 1) : NULL;
    if (!v && n->wild)
        v = wild_best(m, c, n->wild, i + 1);
    return v;
}

/* ---- prefixes ------------------------------------------------------------------------- */

static int prefix_count(struct mb_matcher *m, size_t len, int delta)
{
    if (len >= m->prefix_lens_cap) {
        if (delta < 0)
            return 0;
        size_t ncap = m->prefix_lens_cap ? m->prefix_lens_cap : 64;
        while (ncap <= len)
            ncap *= 2;
        uint32_t *n = realloc(m->prefix_lens, ncap * sizeof *n);
        if (!n)
            return -1;
        memset(n + m->prefix_lens_cap, 0, (ncap - m->prefix_lens_cap) * sizeof *n);
        m->prefix_lens = n;
        m->prefix_lens_cap = ncap;
    }
    m->prefix_lens[len] = (uint32_t)((int64_t)m->prefix_lens[len] + delta);
    return 0;
}

/* Filters of 2 MiB and more (a million patterns) get their own mapping on a huge page: every
 * probe is random, and on 4 KiB pages most would also miss the TLB. */
#define FILTER_HUGE ((size_t)2 << 20)

static uint64_t *filter_alloc(unsigned log2)
{
    size_t bytes = ((size_t)1 << log2) / 8;
    if (bytes < FILTER_HUGE)
        return calloc(bytes, 1);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

static void filter_free(uint64_t *f, unsigned log2)
{
    size_t bytes = ((size_t)1 << log2) / 8;
    if (f && bytes >= FILTER_HUGE)
        munmap(f, bytes);
    else
        free(f);
}

static size_t filter_bit(const struct mb_matcher *m, uint64_t h)
{
    return (size_t)((h * 0x9E3779B97F4A7C15ULL) >> (64 - m->prefix_filter_log2));
}

static bool filter_has(const struct mb_matcher *m, uint64_t h)
{
    size_t b = filter_bit(m, h);
    return (m->prefix_filter[b >> 6] >> (b & 63)) & 1;
}

/* Sets h's bit; first resizes (rebuilding from the table, to 16 or more bits per pattern)
 * when the filter is under 8 bits per pattern. -1 when out of memory. */
static int filter_add(struct mb_matcher *m, uint64_t h)
{
    size_t want = m->count[MB_MATCH_PREFIX] + 1;
    if (!m->prefix_filter || (want << 3) > ((size_t)1 << m->prefix_filter_log2)) {
        unsigned lg = 12;
        while (((size_t)1 << lg) < (want << 4))
            lg++;
        uint64_t *f = filter_alloc(lg);
        if (!f)
            return -1;
        filter_free(m->prefix_filter, m->prefix_filter_log2);
        m->prefix_filter = f;
        m->prefix_filter_log2 = lg;
        for (size_t i = 0; i < m->prefix.cap; i++)
            if (m->prefix.slots[i].hash >= 2) {
                size_t b = filter_bit(m, m->prefix.slots[i].hash);
                f[b >> 6] |= 1ULL << (b & 63);
            }
    }
    size_t b = filter_bit(m, h);
    m->prefix_filter[b >> 6] |= 1ULL << (b & 63);
    return 0;
}

static uint64_t prefix_hash(const char *uri, size_t len)
{
    uint64_t h = mb_hash_init();
    for (size_t i = 0; i < len; i++)
        h = mb_hash_step(h, (unsigned char)uri[i]);
    return mb_hash_final(h);
}

/* ---- public API ----------------------------------------------------------------------- */

int mb_matcher_add(struct mb_matcher *m, enum mb_match_policy p, const char *uri, size_t len, void *value)
{
    int rc;
    switch (p) {
    case MB_MATCH_EXACT:
        rc = mb_map_put_str(&m->exact, uri, len, value);
        break;
    case MB_MATCH_PREFIX:
        rc = filter_add(m, prefix_hash(uri, len));
        if (rc == 0)
            rc = prefix_count(m, len, +1);
        if (rc == 0 && (rc = mb_map_put_str(&m->prefix, uri, len, value)) < 0)
            prefix_count(m, len, -1);
        break;
    default:
        rc = wild_add(m, uri, len, value);
        break;
    }
    if (rc == 0)
        m->count[p]++;
    return rc;
}

void *mb_matcher_find(const struct mb_matcher *m, enum mb_match_policy p, const char *uri, size_t len)
{
    switch (p) {
    case MB_MATCH_EXACT:
        return mb_map_get_str(&m->exact, uri, len);
    case MB_MATCH_PREFIX:
        return mb_map_get_str(&m->prefix, uri, len);
    default: {
        struct mb_wnode *n = wild_find(m, uri, len);
        return n ? n->value : NULL;
    }
    }
}

void *mb_matcher_remove(struct mb_matcher *m, enum mb_match_policy p, const char *uri, size_t len)
{
    void *v;
    switch (p) {
    case MB_MATCH_EXACT:
        v = mb_map_del_str(&m->exact, uri, len);
        break;
    case MB_MATCH_PREFIX:
        v = mb_map_del_str(&m->prefix, uri, len);
        if (v)
            prefix_count(m, len, -1);
        break;
    default: {
        struct mb_wnode *n = wild_find(m, uri, len);
        v = n ? n->value : NULL;
        if (n) {
            n->value = NULL;
            release_path(m, n);
        }
        break;
    }
    }
    if (v)
        m->count[p]--;
    return v;
}

void mb_matcher_each(const struct mb_matcher *m, const char *uri, size_t len, mb_match_fn fn, void *ctx)
{
    void *v;
    if (m->count[MB_MATCH_EXACT] && (v = mb_map_get_str(&m->exact, uri, len)))
        fn(v, MB_MATCH_EXACT, ctx);
    if (m->count[MB_MATCH_PREFIX]) {
        uint64_t h = mb_hash_init();
        size_t maxl = len < m->prefix_lens_cap ? len : m->prefix_lens_cap - 1;
        for (size_t l = 0; l <= maxl; l++) { /* l = 0: the empty prefix matches everything */
            if (l > 0)
                h = mb_hash_step(h, (unsigned char)uri[l - 1]);
            if (m->prefix_lens[l] && filter_has(m, mb_hash_final(h)) &&
                (v = mb_map_get_str_hashed(&m->prefix, uri, l, mb_hash_final(h))))
                fn(v, MB_MATCH_PREFIX, ctx);
        }
    }
    if (m->count[MB_MATCH_WILDCARD] && m->root) {
        struct comps c;
        if (split(&c, uri, len) < 0)
            return;
        struct each_ctx e = { m, &c, fn, ctx };
        wild_each(&e, m->root, 0);
        comps_free(&c);
    }
}

void *mb_matcher_best(const struct mb_matcher *m, const char *uri, size_t len, enum mb_match_policy *policy)
{
    void *v;
    if (m->count[MB_MATCH_EXACT] && (v = mb_map_get_str(&m->exact, uri, len))) {
        *policy = MB_MATCH_EXACT;
        return v;
    }
    if (m->count[MB_MATCH_PREFIX]) {
        void *best = NULL;
        uint64_t h = mb_hash_init();
        size_t maxl = len < m->prefix_lens_cap ? len : m->prefix_lens_cap - 1;
        for (size_t l = 0; l <= maxl; l++) {
            if (l > 0)
                h = mb_hash_step(h, (unsigned char)uri[l - 1]);
            if (m->prefix_lens[l] && filter_has(m, mb_hash_final(h)) &&
                (v = mb_map_get_str_hashed(&m->prefix, uri, l, mb_hash_final(h))))
                best = v; /* longer ones come later */
        }
        if (best) {
            *policy = MB_MATCH_PREFIX;
            return best;
        }
    }
    if (m->count[MB_MATCH_WILDCARD] && m->root) {
        struct comps c;
        if (split(&c, uri, len) < 0)
            return NULL;
        v = wild_best(m, &c, m->root, 0);
        comps_free(&c);
        if (v) {
            *policy = MB_MATCH_WILDCARD;
            return v;
        }
    }
    return NULL;
}

bool mb_match_one(enum mb_match_policy p, const char *pattern, size_t plen, const char *uri, size_t len)
{
    if (p == MB_MATCH_EXACT)
        return plen == len && memcmp(pattern, uri, len) == 0;
    if (p == MB_MATCH_PREFIX)
        return plen <= len && memcmp(pattern, uri, plen) == 0;
    /* wildcard: the same number of components, each equal or matched by an empty one (which
     * matches exactly one non-empty component) */
    size_t i = 0, j = 0;
    for (;;) {
        size_t pe = i, ue = j;
        while (pe < plen && pattern[pe] != '.')
            pe++;
        while (ue < len && uri[ue] != '.')
            ue++;
        if (pe == i) {
            if (ue == j)
                return false;
        } else if (pe - i != ue - j || memcmp(pattern + i, uri + j, pe - i) != 0) {
            return false;
        }
        bool pend = pe >= plen, uend = ue >= len;
        if (pend || uend)
            return pend && uend;
        i = pe + 1;
        j = ue + 1;
    }
}
