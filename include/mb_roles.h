/* mb_roles: a realm's static roles (realms[i].roles in the config), compiled for checks in C on
 * every SUBSCRIBE, PUBLISH, REGISTER and CALL (pure: no router, no I/O, no Lua).
 *
 * A role is a list of rules { uri, match, allow = {actions}, deny = {actions}, disclose }.
 * For one action and one URI (a pattern request: see mb_role_check_pattern), the rules of the role that decide that action (list it in allow or deny) are matched
 * with the spec's routing precedence, as a CALL picks its registration: an exact rule beats the
 * longest matching prefix rule, which beats wildcard rules (among wildcards: the one concrete
 * where the others are wildcards, at the first component they differ; an empty component of a
 * wildcard rule covers any one component of the request, an empty one of a pattern request
 * included, as in moonbar.acl: rule "com..tick" covers a SUBSCRIBE to "com..tick").
 * The winning rule decides: allow or deny. No rule deciding the action matches: MB_RULE_NONE (the realm's Lua
 * authorizer decides when there is one, else the request is denied).
 * The lookup costs what mb_matcher_best costs: bounded by the URI, not by the number of rules
 * (save URIs past the matcher's stack bounds, MB_MATCH_STACK_*: their wildcard step scans the
 * role's wildcard rules rather than allocate). */
#ifndef MB_ROLES_H
#define MB_ROLES_H

#include <stdbool.h>
#include <stddef.h>

#include "mb_match.h"

enum mb_action { MB_ACT_CALL, MB_ACT_REGISTER, MB_ACT_PUBLISH, MB_ACT_SUBSCRIBE, MB_ACT_COUNT };
#define MB_ACT_BIT(a) (1u << (a))

/* "call" | "register" | "publish" | "subscribe" → action; -1 if unknown. */
int mb_action_parse(const char *s);
const char *mb_action_name(enum mb_action a);

/* One rule as the config loader read it (realms[i].roles.<name>[j]). */
struct mb_rule_config {
    char *uri;                  /* "" with match prefix: every URI */
    enum mb_match_policy match; /* exact by default */
    unsigned allow, deny;       /* MB_ACT_BIT sets; disjoint, not both empty */
    int disclose;               /* -1: absent; 0: false; 1: true (for call and publish) */
};
struct mb_role_config {
    char *name;
    struct mb_rule_config *rules;
    size_t nrules;
};

enum mb_rule_decision { MB_RULE_NONE, MB_RULE_ALLOW, MB_RULE_DENY };

struct mb_role;  /* one compiled role */
struct mb_roles; /* a realm's compiled roles */

/* Compiles n roles. NULL with a message in err (out of memory, or two rules of one role with
 * the same uri and match that both decide an action: "role 'user': rules 2 and 5 both decide
 * 'call' for exact 'com.example.chat'"). The configs are copied: they may be freed after. */
struct mb_roles *mb_roles_build(const struct mb_role_config *roles, size_t n, char *err, size_t errlen);
void mb_roles_free(struct mb_roles *roles);
/* The role named name, or NULL (a role the config does not list). */
const struct mb_role *mb_roles_find(const struct mb_roles *roles, const char *name);
size_t mb_roles_count(const struct mb_roles *roles);
/* The decision of role for action on uri (len bytes). On ALLOW, *disclose gets the winning
 * rule's disclose (-1, 0, 1); disclose may be NULL. role NULL: MB_RULE_NONE. Allocates nothing. */
enum mb_rule_decision mb_role_check(const struct mb_role *role, enum mb_action action, const char *uri,
                                    size_t len, int *disclose);
/* A pattern request (SUBSCRIBE or REGISTER with match prefix or wildcard) is allowed only when
 * every URI it can match would be: (1) the most specific rule deciding the action that covers
 * them all decides — for a prefix pattern the longest prefix rule its string starts with; for a
 * wildcard pattern that prefix rule for its text before the first empty component, else the
 * first wildcard rule (as above) covering it; exact rules cover no pattern; none: NONE — and
 * (2) when that rule allows, no rule denying the action may win for one of those URIs (an exact
 * or longer prefix rule inside the pattern; for a wildcard pattern, an exact rule it matches, a
 * prefix rule some of its URIs start with, or a wildcard rule before the winner that meets it):
 * else DENY, with why naming that rule. A wildcard pattern without an empty component, or match
 * exact, is mb_role_check. Scans the role's rules: patterns are rare, calls are not. */
enum mb_rule_decision mb_role_check_pattern(const struct mb_role *role, enum mb_action action,
                                            enum mb_match_policy match, const char *pat, size_t len,
                                            int *disclose, char *why, size_t whylen);

/* Whether the role allows every action on every URI (prefix "" allowing all four actions, in one
 * rule or several, and no deny rule anywhere): --check-config's "all permissions" warning. */
bool mb_role_allows_everything(const struct mb_role *role);

#endif
