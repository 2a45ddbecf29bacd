/* mb_vec: a growable array of pointers that keeps insertion order
 * (registration order matters for the first/last invocation policies). */
#ifndef MB_VEC_H
#define MB_VEC_H

#include <stdbool.h>
#include <stddef.h>

struct mb_vec {
    void **items;
    size_t len, cap;
};

int mb_vec_push(struct mb_vec *v, void *p); /* 0, or -1 on allocation failure */
bool mb_vec_remove(struct mb_vec *v, const void *p); /* first occurrence, order kept */
bool mb_vec_contains(const struct mb_vec *v, const void *p);
void mb_vec_free(struct mb_vec *v);

#endif
