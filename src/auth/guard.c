/* The brute-force guard: failed authentications counted per peer address (brute_force in the
 * config). After free_failures failures, that address's HELLOs are held before they are
 * answered, delay doubling per failure up to max_delay (successes too: the time tells nothing);
 * after lockout_after failures it is refused at once for lockout seconds. An address without a
 * failure for forget_after seconds is forgotten. At most max_addresses are tracked: when full,
 * the entry seen longest ago goes first (an attacker with many addresses costs bounded memory). */
#include "mb_auth.h"
#include "mb_log.h"
#include "mb_router.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    unsigned failures;
    uint64_t last_ms;      /* the last failure */
    uint64_t locked_until; /* ms, or 0 */
    char addr[];
};

struct mb_guard {
    struct mb_map by_addr; /* address → struct entry */
    size_t n;
    uint64_t last_sweep; /* ms: swept once a second, not every tick */
};

struct mb_guard *mb_guard_new(void)
{
    return calloc(1, sizeof(struct mb_guard));
}

void mb_guard_free(struct mb_guard *g)
{
    if (!g)
        return;
    struct entry *e;
    for (size_t it = 0; (e = mb_map_next(&g->by_addr, &it));)
        free(e);
    mb_map_free(&g->by_addr);
    free(g);
}

static struct entry *find(struct mb_router *r, const char *addr)
{
    return r->guard ? mb_map_get_str(&r->guard->by_addr, addr, strlen(addr)) : NULL;
}

static void drop(struct mb_guard *g, struct entry *e)
{
    mb_map_del_str(&g->by_addr, e->addr, strlen(e->addr));
    g->n--;
    free(e);
}

int mb_guard_locked(struct mb_router *r, const char *addr, uint64_t now_ms)
{
    struct entry *e = find(r, addr);
    if (!e || e->locked_until <= now_ms)
        return 0;
    return (int)((e->locked_until - now_ms + 999) / 1000);
}

double mb_guard_delay(struct mb_router *r, const char *addr, uint64_t now_ms)
{
    const struct mb_brute_force_config *b = &r->cfg->brute_force;
    struct entry *e = find(r, addr);
    (void)now_ms;
    if (!e || e->failures < b->free_failures || b->delay <= 0)
        return 0;
    double d = b->delay * pow(2, e->failures - b->free_failures);
    return d < b->max_delay ? d : b->max_delay;
}

void mb_guard_failed(struct mb_router *r, const char *addr, uint64_t now_ms)
{
    const struct mb_brute_force_config *b = &r->cfg->brute_force;
    struct mb_guard *g = r->guard;
    if (!g)
        return;
    struct entry *e = find(r, addr);
    if (!e) {
        if (g->n >= b->max_addresses) { /* full: the oldest goes */
            struct entry *oldest = NULL, *x;
            for (size_t it = 0; (x = mb_map_next(&g->by_addr, &it));)
                if (!oldest || x->last_ms < oldest->last_ms)
                    oldest = x;
            if (oldest) {
                drop(g, oldest);
                r->auth_stats.guard_evicted++;
            }
        }
        size_t n = strlen(addr);
        e = calloc(1, sizeof *e + n + 1);
        if (!e)
            return;
        memcpy(e->addr, addr, n + 1);
        if (mb_map_put_str(&g->by_addr, e->addr, n, e) < 0) {
            free(e);
            return;
        }
        g->n++;
    }
    e->failures++;
    e->last_ms = now_ms;
    if (b->lockout_after && e->failures >= b->lockout_after && e->locked_until <= now_ms) {
        e->locked_until = now_ms + (uint64_t)(b->lockout * 1000);
        mb_warn(&r->log, "address %s locked out for %g s after %u failed authentications", addr, b->lockout,
                e->failures);
    }
}

/* Forgets addresses quiet for forget_after, and lockouts that ended (their count restarts). */
void mb_guard_sweep(struct mb_router *r, uint64_t now_ms)
{
    struct mb_guard *g = r->guard;
    if (!g || g->n == 0 || now_ms - g->last_sweep < 1000)
        return;
    g->last_sweep = now_ms;
    uint64_t forget = (uint64_t)(r->cfg->brute_force.forget_after * 1000);
    struct entry *e;
    for (size_t it = 0; (e = mb_map_next(&g->by_addr, &it));) {
        if (e->locked_until && e->locked_until <= now_ms) {
            e->locked_until = 0;
            e->failures = 0;
        }
        if (!e->locked_until && now_ms - e->last_ms >= forget)
            drop(g, e); /* deleting the current entry keeps the iteration valid (mb_map.h) */
    }
}
