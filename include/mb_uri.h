/* mb_uri: WAMP URI rules (pure, no allocation).
 * loose:  ^([^\s.#]+\.)*([^\s.#]+)$       (nexus, Bondy default)
 * strict: ^([0-9a-z_]+\.)*([0-9a-z_]+)$   (Crossbar default)
 * Patterns (match=prefix/wildcard, from M2) may have empty components. */
#ifndef MB_URI_H
#define MB_URI_H

#include <stdbool.h>
#include <stddef.h>

enum mb_uri_rule { MB_URI_LOOSE, MB_URI_STRICT };

/* true if s[0..len) is a valid URI under rule; empty components allowed only if allow_empty. */
bool mb_uri_valid(const char *s, size_t len, enum mb_uri_rule rule, bool allow_empty);

/* true if the URI lies in the router's reserved "wamp." namespace. */
bool mb_uri_reserved(const char *s, size_t len);

#endif
