/* mb_broker: subscriptions and publications of one realm: exact, prefix and wildcard
 * subscriptions (mb_match), one subscription per (topic, policy) shared by its subscribers;
 * EVENT serialized once per subscription and the same bytes written to every subscriber. */
#ifndef MB_BROKER_H
#define MB_BROKER_H

#include "mb_session.h"

void mb_broker_subscribe(struct mb_session *s, const struct mb_msg *m);
void mb_broker_unsubscribe(struct mb_session *s, const struct mb_msg *m);
void mb_broker_publish(struct mb_session *s, const struct mb_msg *m);
/* Delivers an event on uri to every matching subscription (not to publisher if exclude_me;
 * publisher may be NULL for the router's own events). args/kwargs are borrowed. Returns the
 * publication ID. */
uint64_t mb_broker_dispatch(struct mb_realm *realm, struct mb_router *r, struct mb_session *publisher,
                            const char *uri, size_t len, json_t *args, json_t *kwargs, bool exclude_me);
/* Removes s from sub (wamp.subscription.remove_subscriber); deletes sub if s was the last. */
void mb_broker_drop(struct mb_session *s, struct mb_subscription *sub);
/* Removes s from every subscription it is in (the session leaves). */
void mb_broker_remove_session(struct mb_session *s);
void mb_broker_free(struct mb_broker *b);

#endif
