/* Linear probing over a power-of-two table; grows at 3/4 occupancy (tombstones included). */
#include "mb_map.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Tables of a million entries are probed at random: on 4 KiB pages nearly every lookup also
 * misses the TLB. From this size on, slots come from their own mapping with transparent huge
 * pages asked for (where the kernel allows them). */
#define BIG_TABLE ((size_t)1 << 21)

static struct mb_map_slot *alloc_slots(size_t n)
{
    size_t bytes = n * sizeof(struct mb_map_slot);
    if (bytes < BIG_TABLE)
        return calloc(n, sizeof(struct mb_map_slot));
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE); /* a hint: ignored where THP is off */
#endif
    return p;
}

static void free_slots(struct mb_map_slot *slots, size_t n)
{
    if (n * sizeof(struct mb_map_slot) < BIG_TABLE)
        free(slots);
    else
        munmap(slots, n * sizeof(struct mb_map_slot));
}

#define EMPTY 0
#define TOMB 1

static uint64_t fix_hash(uint64_t h)
{
    return h < 2 ? h + 2 : h;
}

static uint64_t hash_str(const char *s, size_t len)
{
    uint64_t h = mb_hash_init(); /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = mb_hash_step(h, (unsigned char)s[i]);
    return mb_hash_final(h);
}

static uint64_t hash_id(uint64_t x)
{
    x ^= x >> 33; /* murmur3 finalizer */
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return fix_hash(x);
}

static struct mb_map_slot *find(const struct mb_map *m, uint64_t h, const char *key, uint64_t klen)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct mb_map_slot *s = &m->slots[i];
        if (s->hash == EMPTY)
            return NULL;
        if (s->hash == h && s->klen == klen &&
            (key == NULL ? s->key == NULL : (s->key && memcmp(s->key, key, klen) == 0)))
            return s;
    }
}

static int grow(struct mb_map *m)
{
    size_t ncap = m->cap ? m->cap : 8;
    while (m->len * 2 >= ncap) /* after rehash, at most half full */
        ncap *= 2;
    struct mb_map_slot *ns = alloc_slots(ncap);
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        struct mb_map_slot *s = &m->slots[i];
        if (s->hash < 2)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].hash != EMPTY)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free_slots(m->slots, m->cap);
    m->slots = ns;
    m->cap = ncap;
    m->used = m->len;
    return 0;
}

static int put(struct mb_map *m, uint64_t h, const char *key, uint64_t klen, void *val)
{
    struct mb_map_slot *s = find(m, h, key, klen);
    if (s) {
        s->val = val;
        s->key = key;
        return 0;
    }
    if ((m->used + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return -1;
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].hash >= 2)
        i = (i + 1) & mask;
    if (m->slots[i].hash == EMPTY)
        m->used++;
    m->slots[i] = (struct mb_map_slot){ h, key, klen, val };
    m->len++;
    return 0;
}

static void *del(struct mb_map *m, struct mb_map_slot *s)
{
    if (!s)
        return NULL;
    void *v = s->val;
    s->hash = TOMB;
    s->key = NULL;
    s->val = NULL;
    m->len--;
    /* A tombstone that ends a probe run (the next slot is empty) is on no other key's path:
     * it and the tombstones just before it become empty again. Under churn (calls in flight
     * come and go) tombstones would otherwise fill the table, lengthen every miss and force a
     * rehash every few dozen inserts. Nothing moves, so iterating stays safe. */
    size_t mask = m->cap - 1, i = (size_t)(s - m->slots);
    if (m->slots[(i + 1) & mask].hash != EMPTY)
        return v;
    while (m->slots[i].hash == TOMB) {
        m->slots[i].hash = EMPTY;
        m->used--;
        i = (i - 1) & mask;
    }
    return v;
}

void mb_map_free(struct mb_map *m)
{
    free_slots(m->slots, m->cap);
    memset(m, 0, sizeof *m);
}

void *mb_map_get_str_hashed(const struct mb_map *m, const char *key, size_t len, uint64_t hash)
{
    struct mb_map_slot *s = find(m, hash, key, len);
    return s ? s->val : NULL;
}

void *mb_map_get_str(const struct mb_map *m, const char *key, size_t len)
{
    struct mb_map_slot *s = find(m, hash_str(key, len), key, len);
    return s ? s->val : NULL;
}

int mb_map_put_str(struct mb_map *m, const char *key, size_t len, void *val)
{
    return put(m, hash_str(key, len), key, len, val);
}

void *mb_map_del_str(struct mb_map *m, const char *key, size_t len)
{
    return del(m, find(m, hash_str(key, len), key, len));
}

void *mb_map_get_id(const struct mb_map *m, uint64_t id)
{
    struct mb_map_slot *s = find(m, hash_id(id), NULL, id);
    return s ? s->val : NULL;
}

int mb_map_put_id(struct mb_map *m, uint64_t id, void *val)
{
    return put(m, hash_id(id), NULL, id, val);
}

void *mb_map_del_id(struct mb_map *m, uint64_t id)
{
    return del(m, find(m, hash_id(id), NULL, id));
}

void *mb_map_next(const struct mb_map *m, size_t *it)
{
    while (*it < m->cap) {
        struct mb_map_slot *s = &m->slots[(*it)++];
        if (s->hash >= 2)
            return s->val;
    }
    return NULL;
}
