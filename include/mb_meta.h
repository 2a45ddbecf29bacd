/* mb_meta: the WAMP meta API of a realm. Meta procedures (wamp.session.*, wamp.registration.*,
 * wamp.subscription.*, testaments) are answered by the dealer in C, after authorization like any
 * call; meta events (on_join, on_leave, on_create, on_subscribe, ...) are published by the router
 * into the realm's broker, so they reach pattern subscriptions and Lua subscribers alike. */
#ifndef MB_META_H
#define MB_META_H

#include "mb_session.h"

/* Answers m if it calls a meta procedure; false if it is not one (route it normally). */
bool mb_meta_call(struct mb_session *s, const struct mb_msg *m);

void mb_meta_on_join(struct mb_session *s);
void mb_meta_on_leave(struct mb_realm *realm, const struct mb_session *s);
void mb_meta_subscription(struct mb_session *s, const struct mb_subscription *sub, const char *event);
void mb_meta_registration(struct mb_session *s, const struct mb_registration *reg, const char *event);
/* Publishes s's testaments (detached, then destroyed) and frees them. */
void mb_meta_testaments(struct mb_session *s);
void mb_meta_free_testaments(struct mb_session *s);

#endif
