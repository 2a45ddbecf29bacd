/* mb_map: open-addressing hash map from a key to a void pointer.
 * Two key kinds share one implementation: strings (bytes, length) whose memory is owned by the
 * caller and must outlive the entry (usually the value holds it), and 64-bit IDs.
 * Deleting leaves a tombstone (cleared again when it ends a probe run) and never moves an
 * entry, so deleting the current entry while iterating is safe; inserting while iterating is not. */
#ifndef MB_MAP_H
#define MB_MAP_H

#include <stddef.h>
#include <stdint.h>

struct mb_map_slot {
    uint64_t hash;   /* 0: empty, 1: tombstone */
    const char *key; /* string key, NULL for ID maps */
    uint64_t klen;   /* string length, or the ID itself */
    void *val;
};

struct mb_map {
    struct mb_map_slot *slots;
    size_t cap;  /* power of two, or 0 */
    size_t len;  /* live entries */
    size_t used; /* live entries + tombstones */
};

void mb_map_free(struct mb_map *m);

/* The string hash, exposed so that callers can hash every prefix of a string in one pass
 * (prefix matching): h = mb_hash_init(); h = mb_hash_step(h, byte)...; mb_hash_final(h). */
static inline uint64_t mb_hash_init(void) { return 1469598103934665603ULL; }
static inline uint64_t mb_hash_step(uint64_t h, unsigned char c) { return (h ^ c) * 1099511628211ULL; }
static inline uint64_t mb_hash_final(uint64_t h) { return h < 2 ? h + 2 : h; }
/* Lookup with a hash computed as above. */
void *mb_map_get_str_hashed(const struct mb_map *m, const char *key, size_t len, uint64_t hash);

void *mb_map_get_str(const struct mb_map *m, const char *key, size_t len);
/* Returns 0, or -1 on allocation failure. Replaces the value of an existing key. */
int mb_map_put_str(struct mb_map *m, const char *key, size_t len, void *val);
void *mb_map_del_str(struct mb_map *m, const char *key, size_t len);

void *mb_map_get_id(const struct mb_map *m, uint64_t id);
int mb_map_put_id(struct mb_map *m, uint64_t id, void *val);
void *mb_map_del_id(struct mb_map *m, uint64_t id);

/* Iteration: for (size_t it = 0; (v = mb_map_next(m, &it)); ) ... */
void *mb_map_next(const struct mb_map *m, size_t *it);

#endif
