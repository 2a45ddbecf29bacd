/* mb_history: events the broker keeps after their publication: the retained event of a topic
 * (PUBLISH.Options.retain) and the event history of a realm's configured topics
 * (realms[i].history, served by wamp.subscription.get_events). A kept event holds its payload
 * as the bytes it was published with (never decoded on the publish path), its Details
 * (publisher disclosure, ppt_*) and the receiver filters of its publication.
 * History rings live in memory (authoritative, bounded by each rule's limit); dirty rings are
 * written to the router's store on the tick, at most once a second, and at shutdown, and read
 * back at start. Uses the broker's session/subscription types; knows nothing of sockets. */
#ifndef MB_HISTORY_H
#define MB_HISTORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "mb_router.h"

struct mb_session;
struct mb_msg;

/* The receiver filters of a publication (PUBLISH.Options, Advanced Profile black- and
 * whitelisting): each a JSON list borrowed from the Options (or a kept event), or NULL. */
struct mb_filters {
    json_t *eligible, *exclude;                   /* session IDs */
    json_t *eligible_authid, *exclude_authid;     /* strings */
    json_t *eligible_authrole, *exclude_authrole; /* strings */
};

/* Reads the six lists from dict (borrowed); returns true if any is present. */
bool mb_filters_get(struct mb_filters *f, json_t *dict);
/* Whether t passes every filter (session lists, authid lists, authrole lists). */
bool mb_filters_pass(const struct mb_filters *f, const struct mb_session *t);
/* Same without the session ID lists (history: its readers are later sessions). */
bool mb_filters_pass_identity(const struct mb_filters *f, const struct mb_session *t);

struct mb_kept_event {
    uint64_t publication;
    uint64_t timestamp; /* wall-clock ms */
    uint64_t publisher; /* exclude_me: the publisher's session, which does not get it (0: none) */
    char *topic;
    size_t topic_len;
    json_t *details;    /* publisher*, ppt_*: never topic nor retained (added per delivery); or NULL */
    json_t *filters;    /* {"eligible": [...], ...}: the publication's lists, or NULL */
    char *tail;         /* ",Arguments[,ArgumentsKw]" as published, "" if none (NUL-terminated) */
    size_t tail_len;
};

/* A kept copy of a publication: tail is m->tail when m was scanned, else args/kwargs are
 * serialized. details and filters are referenced (json_incref). NULL when out of memory. */
struct mb_kept_event *mb_kept_new(uint64_t publication, const char *topic, size_t topic_len, json_t *details,
                                  const struct mb_filters *f, uint64_t publisher, const struct mb_msg *m,
                                  json_t *args, json_t *kwargs);
void mb_kept_free(struct mb_kept_event *e);
/* Whether t would have received e (its filters and exclude_me). */
bool mb_kept_eligible(const struct mb_kept_event *e, const struct mb_session *t);
/* Sends e to t as an EVENT of subscription sub (Details: e's, plus topic for a pattern
 * subscription, plus retained: true if retained). */
void mb_kept_send(const struct mb_kept_event *e, struct mb_session *t, const struct mb_subscription *sub,
                  bool retained);

/* ---- history ---- */

struct mb_history_ring {
    char *uri;
    size_t uri_len;
    enum mb_match_policy match;
    size_t limit;
    struct mb_kept_event **ev; /* ring of limit slots */
    size_t head, len;          /* oldest at head */
    bool dirty;                /* changed since it was last written to the store */
    char *store_key;           /* its key in the store's collection, or NULL: not persisted */
};

struct mb_history {
    struct mb_history_ring *rings;
    size_t nrings;
    uint64_t last_flush; /* ms */
};

/* Builds a realm's rings from its config (rc borrowed). 0, or -1 when out of memory. */
int mb_history_init(struct mb_history *h, const struct mb_realm_config *rc);
void mb_history_free(struct mb_history *h);
/* The publication went out: keeps it in every ring whose rule matches its topic, unless it
 * carried session ID filters (the spec: those are not stored). Cheap when no rule exists. */
void mb_history_record(struct mb_realm *realm, struct mb_router *r, uint64_t publication, const char *topic,
                       size_t topic_len, json_t *details, const struct mb_filters *f, const struct mb_msg *m,
                       json_t *args, json_t *kwargs);
/* Reads the realm's rings from the store (at start, synchronously). */
void mb_history_load(struct mb_realm *realm, struct mb_router *r);
/* Writes dirty rings to the store: at most once a second unless force (shutdown). */
void mb_history_flush(struct mb_realm *realm, struct mb_router *r, bool force);

/* wamp.subscription.get_events for caller on sub: the list of event records, or NULL when no
 * history rule covers the subscription (with why). args/kwargs are the CALL's. On a bad
 * argument returns NULL and sets *bad (why holds the message). */
json_t *mb_history_get_events(struct mb_realm *realm, const struct mb_session *caller,
                              const struct mb_subscription *sub, json_t *args, json_t *kwargs, bool *bad,
                              char *why, size_t whylen);

#endif
