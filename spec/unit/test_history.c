/* mb_history as plain function calls: rings keep the newest events of the topics their rule
 * matches, publications with session lists are not kept, get_events picks the rule that
 * covers a subscription, filters by the caller's identity, orders and limits. */
#include "unit.h"

#include "mb_history.h"
#include "mb_session.h"

#include <stdlib.h>
#include <string.h>

struct fixture {
    struct mb_router r;
    struct mb_realm realm;
    struct mb_history h;
    struct mb_history_config rules[2];
    struct mb_realm_config rc;
};

static void setup(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    f->rules[0] = (struct mb_history_config){ .uri = "chat.", .match = MB_MATCH_PREFIX, .limit = 3 };
    f->rules[1] = (struct mb_history_config){ .uri = "com.x.y", .match = MB_MATCH_EXACT, .limit = 10 };
    f->rc = (struct mb_realm_config){ .name = "realm1", .history = f->rules, .nhistory = 2 };
    f->realm.name = "realm1";
    f->realm.history = &f->h;
    REQUIRE(mb_history_init(&f->h, &f->rc) == 0);
}

static void publish(struct fixture *f, uint64_t id, const char *topic, int n, json_t *options)
{
    json_t *args = json_pack("[i]", n);
    struct mb_filters flt;
    bool any = options && mb_filters_get(&flt, options);
    mb_history_record(&f->realm, &f->r, id, topic, strlen(topic), NULL, any ? &flt : NULL, NULL, args, NULL);
    json_decref(args);
}

/* The args[0] of get_events' records, as a string "1,2,3" (or "none" for NULL). */
static void events(struct fixture *f, const struct mb_session *caller, const char *uri, enum mb_match_policy match,
                   json_t *args, json_t *kwargs, char *out, size_t n)
{
    struct mb_subscription sub = { .id = 77, .uri = (char *)uri, .uri_len = strlen(uri), .match = match };
    bool bad;
    char why[200];
    json_t *list = mb_history_get_events(&f->realm, caller, &sub, args, kwargs, &bad, why, sizeof why);
    size_t i, l = 0;
    json_t *e;
    out[0] = '\0';
    if (!list) {
        if (bad)
            snprintf(out, n, "bad: %.150s", why);
        else
            snprintf(out, n, "none");
        return;
    }
    json_array_foreach (list, i, e)
        l += (size_t)snprintf(out + l, n - l, "%s%d", i ? "," : "",
                              (int)json_integer_value(json_array_get(json_object_get(e, "args"), 0)));
    json_decref(list);
}

TEST(rings_keep_the_newest_events_of_their_topics)
{
    struct fixture f;
    setup(&f);
    struct mb_session caller = { .authid = "ann", .authrole = "user" };
    char got[200];
    for (int i = 1; i <= 5; i++)
        publish(&f, (uint64_t)i, i % 2 ? "chat.a" : "chat.b", i, NULL);
    publish(&f, 6, "com.x.y", 6, NULL);
    publish(&f, 7, "com.x.y.z", 7, NULL); /* no rule */
    events(&f, &caller, "chat.", MB_MATCH_PREFIX, NULL, NULL, got, sizeof got);
    CHECK_EQ_STR(got, "3,4,5");
    events(&f, &caller, "chat.a", MB_MATCH_EXACT, NULL, NULL, got, sizeof got);
    CHECK_EQ_STR(got, "3,5");
    events(&f, &caller, "com.x.y", MB_MATCH_EXACT, NULL, NULL, got, sizeof got);
    CHECK_EQ_STR(got, "6");
    events(&f, &caller, "com.x.", MB_MATCH_PREFIX, NULL, NULL, got, sizeof got);
    CHECK_EQ_STR(got, "none"); /* wider than the exact rule */
    events(&f, &caller, "chat..b", MB_MATCH_WILDCARD, NULL, NULL, got, sizeof got);
    CHECK_EQ_STR(got, ""); /* covered by the prefix rule; no topic of three components yet */
    publish(&f, 8, "chat.x.b", 8, NULL);
    events(&f, &caller, "chat..b", MB_MATCH_WILDCARD, NULL, NULL, got, sizeof got);
    CHECK_EQ_STR(got, "8");
    mb_history_free(&f.h);
}

TEST(order_limit_and_the_crossbar_form)
{
    struct fixture f;
    setup(&f);
    struct mb_session caller = { .authid = "ann", .authrole = "user" };
    char got[200];
    for (int i = 1; i <= 6; i++)
        publish(&f, (uint64_t)i, "com.x.y", i, NULL);
    json_t *pos = json_pack("[ii]", 77, 2), *kw = json_pack("{si}", "limit", 2);
    json_t *rev = json_pack("{sisb}", "limit", 2, "reverse", 1), *after = json_pack("{si}", "after_publication", 4);
    events(&f, &caller, "com.x.y", MB_MATCH_EXACT, pos, NULL, got, sizeof got);
    CHECK_EQ_STR(got, "6,5");
    events(&f, &caller, "com.x.y", MB_MATCH_EXACT, NULL, kw, got, sizeof got);
    CHECK_EQ_STR(got, "1,2");
    events(&f, &caller, "com.x.y", MB_MATCH_EXACT, NULL, rev, got, sizeof got);
    CHECK_EQ_STR(got, "6,5");
    events(&f, &caller, "com.x.y", MB_MATCH_EXACT, NULL, after, got, sizeof got);
    CHECK_EQ_STR(got, "5,6");
    json_t *bad = json_pack("{si}", "limit", 0);
    events(&f, &caller, "com.x.y", MB_MATCH_EXACT, NULL, bad, got, sizeof got);
    CHECK_EQ_STR(got, "bad: limit must be a positive integer");
    json_decref(pos);
    json_decref(kw);
    json_decref(rev);
    json_decref(after);
    json_decref(bad);
    mb_history_free(&f.h);
}

TEST(identity_filters_apply_and_session_lists_are_not_kept)
{
    struct fixture f;
    setup(&f);
    struct mb_session ann = { .id = 1, .authid = "ann", .authrole = "user" };
    struct mb_session cat = { .id = 2, .authid = "cat", .authrole = "admin" };
    char got[200];
    json_t *admins = json_pack("{s[s]}", "eligible_authrole", "admin");
    json_t *not_ann = json_pack("{s[s]}", "exclude_authid", "ann");
    json_t *by_session = json_pack("{s[i]}", "eligible", 1);
    publish(&f, 1, "com.x.y", 1, NULL);
    publish(&f, 2, "com.x.y", 2, admins);
    publish(&f, 3, "com.x.y", 3, not_ann);
    publish(&f, 4, "com.x.y", 4, by_session);
    events(&f, &ann, "com.x.y", MB_MATCH_EXACT, NULL, NULL, got, sizeof got);
    CHECK_EQ_STR(got, "1");
    events(&f, &cat, "com.x.y", MB_MATCH_EXACT, NULL, NULL, got, sizeof got);
    CHECK_EQ_STR(got, "1,2,3");
    json_decref(admins);
    json_decref(not_ann);
    json_decref(by_session);
    mb_history_free(&f.h);
}

TEST(filters_combine)
{
    struct mb_session ann = { .id = 1, .authid = "ann", .authrole = "user" };
    json_t *o = json_pack("{s[ii]s[s]s[s]}", "eligible", 1, 2, "eligible_authrole", "user", "exclude_authid", "bob");
    struct mb_filters f;
    CHECK(mb_filters_get(&f, o));
    CHECK(mb_filters_pass(&f, &ann));
    ann.authid = "bob";
    CHECK(!mb_filters_pass(&f, &ann));
    ann.authid = "ann";
    ann.id = 3;
    CHECK(!mb_filters_pass(&f, &ann));
    CHECK(mb_filters_pass_identity(&f, &ann));
    json_t *none = json_object();
    CHECK(!mb_filters_get(&f, none));
    json_decref(o);
    json_decref(none);
}

UNIT_MAIN()
