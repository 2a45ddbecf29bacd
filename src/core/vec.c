#include "mb_vec.h"

#include <stdlib.h>
#include <string.h>

int mb_vec_push(struct mb_vec *v, void *p)
{
    if (v->len == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 4;
        void **n = realloc(v->items, ncap * sizeof *n);
        if (!n)
            return -1;
        v->items = n;
        v->cap = ncap;
    }
    v->items[v->len++] = p;
    return 0;
}

bool mb_vec_remove(struct mb_vec *v, const void *p)
{
    for (size_t i = 0; i < v->len; i++) {
        if (v->items[i] == p) {
            memmove(&v->items[i], &v->items[i + 1], (v->len - i - 1) * sizeof *v->items);
            v->len--;
            return true;
        }
    }
    return false;
}

bool mb_vec_contains(const struct mb_vec *v, const void *p)
{
    for (size_t i = 0; i < v->len; i++)
        if (v->items[i] == p)
            return true;
    return false;
}

void mb_vec_free(struct mb_vec *v)
{
    free(v->items);
    memset(v, 0, sizeof *v);
}
