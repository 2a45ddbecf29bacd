/* WAMP URI validation: one pass over the bytes, components checked as they end. */
#include "mb_uri.h"

#include <string.h>

static bool loose_char(unsigned char c)
{
    /* \s in the spec's regex: space, \t \n \v \f \r */
    return c != '.' && c != '#' && c != ' ' && (c < '\t' || c > '\r');
}

static bool strict_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

bool mb_uri_valid(const char *s, size_t len, enum mb_uri_rule rule, bool allow_empty)
{
    if (len == 0)
        return false;
    size_t comp = 0; /* length of the current component */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (comp == 0 && !allow_empty)
                return false;
            comp = 0;
            continue;
        }
        if (rule == MB_URI_STRICT ? !strict_char(c) : !loose_char(c))
            return false;
        comp++;
    }
    return comp > 0 || allow_empty;
}

bool mb_uri_reserved(const char *s, size_t len)
{
    return len >= 5 && memcmp(s, "wamp.", 5) == 0;
}
