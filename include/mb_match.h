/* mb_match: the URI matcher behind the broker and the dealer (pure: no I/O, no router).
 *
 * Patterns of three policies map to a value (a subscription or a registration):
 *   exact     a hash map;
 *   prefix    a hash map of the pattern strings plus a count of patterns per length: a URI of
 *             n bytes is matched by hashing its prefixes in one pass and probing only the
 *             lengths some pattern has (cost O(n), whatever the number of patterns);
 *   wildcard  a trie over URI components whose edges live in one hash map keyed by
 *             (parent node, component); an empty component is the node's wildcard child.
 *             Matching walks the URI's components, following the concrete edge and the
 *             wildcard edge (cost bounded by the URI, not by the number of patterns).
 * Pattern strings are borrowed: the caller keeps them alive while they are added. */
#ifndef MB_MATCH_H
#define MB_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb_map.h"

enum mb_match_policy { MB_MATCH_EXACT, MB_MATCH_PREFIX, MB_MATCH_WILDCARD };

/* "exact" | "prefix" | "wildcard" → policy; -1 if unknown. */
int mb_match_policy_parse(const char *s, size_t len);
const char *mb_match_policy_name(enum mb_match_policy p);

struct mb_wnode;

struct mb_matcher {
    struct mb_map exact;
    struct mb_map prefix;
    uint32_t *prefix_lens; /* prefix_lens[n]: prefix patterns of n bytes */
    size_t prefix_lens_cap;
    /* One bit per hashed prefix pattern, 8 to 32 bits per pattern: a probe for a prefix
     * length that has patterns, but not this one, usually stops here instead of missing the
     * cache in a large table. Bits of removed patterns stay set until the next resize. */
    uint64_t *prefix_filter;
    unsigned prefix_filter_log2;
    struct mb_map edges; /* wildcard trie edges */
    struct mb_wnode *root;
    size_t count[3];
};

void mb_matcher_init(struct mb_matcher *m);
void mb_matcher_free(struct mb_matcher *m); /* values are the caller's */

/* Adds pattern → value; the pattern must not be present. 0, or -1 on allocation failure. */
int mb_matcher_add(struct mb_matcher *m, enum mb_match_policy p, const char *uri, size_t len, void *value);
/* The value stored for exactly this pattern, or NULL. */
void *mb_matcher_find(const struct mb_matcher *m, enum mb_match_policy p, const char *uri, size_t len);
/* Removes the pattern; returns its value or NULL. */
void *mb_matcher_remove(struct mb_matcher *m, enum mb_match_policy p, const char *uri, size_t len);

/* Whether the one pattern (policy p) matches the concrete uri: the rules the matcher applies,
 * for a single pattern (retained events and history rules). */
bool mb_match_one(enum mb_match_policy p, const char *pattern, size_t plen, const char *uri, size_t len);

/* Pub/sub: calls fn for every pattern matching uri: exact, then every prefix (shortest first),
 * then every wildcard pattern. */
typedef void (*mb_match_fn)(void *value, enum mb_match_policy p, void *ctx);
void mb_matcher_each(const struct mb_matcher *m, const char *uri, size_t len, mb_match_fn fn, void *ctx);

/* RPC: the one pattern a call to uri goes to: exact, else the longest prefix, else the wildcard
 * pattern that is concrete where the others are wildcards at the first position they differ
 * (the spec's "longest portion of URI components before each wildcard"). NULL if none. */
void *mb_matcher_best(const struct mb_matcher *m, const char *uri, size_t len, enum mb_match_policy *policy);

/* mb_matcher_each and mb_matcher_best work on the stack for a URI of at most
 * MB_MATCH_STACK_COMPONENTS components, none longer than MB_MATCH_STACK_COMPONENT bytes. Past
 * either bound the wildcard walk takes scratch memory from malloc, and if that fails it
 * reports no wildcard match. Callers that must not allocate (static roles) check first. */
#define MB_MATCH_STACK_COMPONENTS 64
#define MB_MATCH_STACK_COMPONENT 248

#endif
