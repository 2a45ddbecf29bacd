/* mb_broker: subscriptions and publications of one realm: exact, prefix and wildcard
 * subscriptions (mb_match), one subscription per (topic, policy) shared by its subscribers;
 * EVENT serialized once per subscription and the same bytes written to every subscriber. */
#ifndef MB_BROKER_H
#define MB_BROKER_H

#include "mb_session.h"

void mb_broker_subscribe(struct mb_session *s, const struct mb_msg *m);
void mb_broker_unsubscribe(struct mb_session *s, const struct mb_msg *m);
void mb_broker_publish(struct mb_session *s, const struct mb_msg *m);
/* Removes s from every subscription it is in (the session leaves). */
void mb_broker_remove_session(struct mb_session *s);
void mb_broker_free(struct mb_broker *b);

#endif
