/* mb_dealer: registrations and calls of one realm: exact, prefix and wildcard registrations,
 * shared registrations (single, roundrobin, random, first, last).
 * A call in flight is an mb_invocation owned by its callee session and indexed by its caller
 * session; the Advanced Profile's call canceling, call timeouts, progressive results and
 * invocations, caller identification and payload pass-through mode act on it. */
#ifndef MB_DEALER_H
#define MB_DEALER_H

#include "mb_session.h"

void mb_dealer_register(struct mb_session *s, const struct mb_msg *m);
void mb_dealer_unregister(struct mb_session *s, const struct mb_msg *m);
void mb_dealer_call(struct mb_session *s, const struct mb_msg *m);
/* CANCEL [49, CALL.Request, Options]: modes skip, kill, killnowait (the default). */
void mb_dealer_cancel(struct mb_session *s, const struct mb_msg *m);
void mb_dealer_yield(struct mb_session *s, const struct mb_msg *m);
void mb_dealer_error(struct mb_session *s, const struct mb_msg *m);
/* Removes s from reg's callees (wamp.registration.remove_callee); deletes reg if s was the last.
 * Calls already sent to s still get their answers. */
void mb_dealer_drop(struct mb_session *s, struct mb_registration *reg);
/* Removes s's registrations, answers every caller still waiting on s, and interrupts
 * (killnowait) the callees of s's own calls still in flight. */
void mb_dealer_remove_session(struct mb_session *s);
void mb_dealer_free(struct mb_dealer *d);
/* Router tick: answers wamp.error.timeout to calls past their CALL.Options.timeout (and
 * INTERRUPTs, mode killnowait, callees that announced call_canceling). */
void mb_dealer_expire(struct mb_router *r, uint64_t now_ms);

#endif
