/* Shared by every libFuzzer harness of spec/fuzz: the helpers they all check with.
 *
 *   ASSERT(c)   when c is false, prints "file:line: c" and aborts (libFuzzer keeps the input
 *               as a crash); unlike assert(), never compiled out.
 *   fz_veq(a,b) jansson value equality, json_equal's, but with NUL in object keys included
 *               (MessagePack and CBOR keys may hold NUL; json_equal looks keys up
 *               NUL-terminated). NULL is equal to nothing. Reals compare with ==, as
 *               json_equal does. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#define ASSERT(c)                                                            \
    do {                                                                     \
        if (!(c)) {                                                          \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);          \
            abort();                                                         \
        }                                                                    \
    } while (0)

static inline int fz_veq(json_t *a, json_t *b)
{
    if (!a || !b || json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_object(a)) {
        const char *k;
        size_t kl;
        json_t *v;
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_keylen_foreach(a, k, kl, v) {
            if (!fz_veq(v, json_object_getn(b, k, kl)))
                return 0;
        }
        return 1;
    }
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!fz_veq(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    return json_equal(a, b);
}

#endif
