/* mb_wamp: validation of decoded client messages (mb_msg_parse), message names, reason URIs. */
#include "unit.h"

#include "mb_wamp.h"

/* Decodes text (any JSON value); NULL if it is not JSON. */
static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j)
        printf("# json_loads(%s): %s\n", text, e.text);
    return j;
}

/* Parses text; returns mb_msg_parse's result, leaves the error in err. */
static int parse_text(const char *text, char *err, size_t errlen)
{
    json_t *j = load(text);
    struct mb_msg m;
    err[0] = '\0';
    int rc = mb_msg_parse(j, &m, err, errlen);
    json_decref(j);
    return rc;
}

/* Checks that text is rejected with an error naming each of the given words. */
#define REJECTS(text, ...)                                                           \
    do {                                                                             \
        char err_[256];                                                              \
        const char *words_[] = { __VA_ARGS__ };                                      \
        if (parse_text(text, err_, sizeof err_) != -1) {                             \
            unit_fail(__FILE__, __LINE__, "%s accepted", text);                      \
            break;                                                                   \
        }                                                                            \
        for (size_t w_ = 0; w_ < sizeof words_ / sizeof words_[0]; w_++)             \
            if (!strstr(err_, words_[w_]))                                           \
                unit_fail(__FILE__, __LINE__, "%s: error \"%s\" lacks \"%s\"", text, \
                          err_, words_[w_]);                                         \
    } while (0)

#define ACCEPTS(text)                                                                \
    do {                                                                             \
        char err_[256];                                                              \
        if (parse_text(text, err_, sizeof err_) != 0)                                \
            unit_fail(__FILE__, __LINE__, "%s rejected: %s", text, err_);            \
    } while (0)

/* ---- every client message kind, with its fields ---- */

TEST(hello_gives_realm_and_details)
{
    json_t *j = load("[1, \"realm1\", {\"roles\": {\"caller\": {}}, \"authid\": \"joe\"}]");
    struct mb_msg m;
    char err[256] = "";
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_INT(m.type, MB_HELLO);
    CHECK_EQ_INT(m.request, 0);
    CHECK_EQ_INT(m.id, 0);
    CHECK_EQ_STR(m.uri, "realm1");
    CHECK_EQ_INT(m.uri_len, 6);
    CHECK(m.dict == json_array_get(j, 2));
    CHECK(json_is_object(json_object_get(m.dict, "roles")));
    CHECK(m.args == NULL && m.kwargs == NULL);
    json_decref(j);
}

TEST(abort_and_goodbye_give_details_and_reason)
{
    struct mb_msg m;
    char err[256];
    json_t *j = load("[3, {\"message\": \"bye\"}, \"wamp.error.no_such_realm\"]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.type, MB_ABORT);
    CHECK_EQ_STR(m.uri, "wamp.error.no_such_realm");
    CHECK_EQ_STR(json_string_value(json_object_get(m.dict, "message")), "bye");
    json_decref(j);

    j = load("[6, {}, \"wamp.close.normal\"]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.type, MB_GOODBYE);
    CHECK_EQ_STR(m.uri, "wamp.close.normal");
    CHECK_EQ_INT(m.uri_len, strlen("wamp.close.normal"));
    CHECK(json_is_object(m.dict) && json_object_size(m.dict) == 0);
    json_decref(j);
}

TEST(authenticate_gives_signature_and_extra)
{
    struct mb_msg m;
    char err[256];
    json_t *j = load("[5, \"s3cret\", {\"k\": 1}]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.type, MB_AUTHENTICATE);
    CHECK_EQ_STR(m.uri, "s3cret");
    CHECK(m.dict == json_array_get(j, 2));
    json_decref(j);
}

TEST(error_from_callee_gives_request_type_request_uri_args_and_kwargs)
{
    struct mb_msg m;
    char err[256];
    json_t *j = load("[8, 68, 123, {\"d\": 1}, \"com.myapp.error\", [1, 2], {\"k\": \"v\"}]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.type, MB_ERROR);
    CHECK_EQ_INT(m.id, MB_INVOCATION);
    CHECK_EQ_INT(m.request, 123);
    CHECK(m.dict == json_array_get(j, 3));
    CHECK_EQ_STR(m.uri, "com.myapp.error");
    CHECK(m.args == json_array_get(j, 5));
    CHECK(m.kwargs == json_array_get(j, 6));
    json_decref(j);

    j = load("[8, 68, 5, {}, \"e\"]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.request, 5);
    CHECK(m.args == NULL && m.kwargs == NULL);
    json_decref(j);

    j = load("[8, 68, 5, {}, \"e\", []]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK(json_is_array(m.args) && m.kwargs == NULL);
    json_decref(j);
}

TEST(publish_gives_request_options_topic_and_optional_payload)
{
    struct mb_msg m;
    char err[256];
    json_t *j = load("[16, 1, {\"acknowledge\": true}, \"com.myapp.topic\"]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.type, MB_PUBLISH);
    CHECK_EQ_INT(m.request, 1);
    CHECK(json_is_true(json_object_get(m.dict, "acknowledge")));
    CHECK_EQ_STR(m.uri, "com.myapp.topic");
    CHECK(m.args == NULL && m.kwargs == NULL);
    json_decref(j);

    j = load("[16, 2, {}, \"t\", [1, \"two\"]]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK(m.args == json_array_get(j, 4));
    CHECK_EQ_INT(json_array_size(m.args), 2);
    CHECK(m.kwargs == NULL);
    json_decref(j);

    j = load("[16, 3, {}, \"t\", [], {\"a\": 1}]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK(m.args == json_array_get(j, 4));
    CHECK(m.kwargs == json_array_get(j, 5));
    json_decref(j);
}

TEST(subscribe_and_register_give_request_options_and_uri)
{
    struct mb_msg m;
    char err[256];
    json_t *j = load("[32, 7, {\"match\": \"prefix\"}, \"com.myapp\"]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.type, MB_SUBSCRIBE);
    CHECK_EQ_INT(m.request, 7);
    CHECK_EQ_STR(json_string_value(json_object_get(m.dict, "match")), "prefix");
    CHECK_EQ_STR(m.uri, "com.myapp");
    json_decref(j);

    j = load("[64, 12, {}, \"com.myapp.add\"]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.type, MB_REGISTER);
    CHECK_EQ_INT(m.request, 12);
    CHECK_EQ_STR(m.uri, "com.myapp.add");
    json_decref(j);
}

TEST(unsubscribe_and_unregister_give_request_and_target_id)
{
    struct mb_msg m;
    char err[256];
    json_t *j = load("[34, 8, 9]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.type, MB_UNSUBSCRIBE);
    CHECK_EQ_INT(m.request, 8);
    CHECK_EQ_INT(m.id, 9);
    CHECK(m.uri == NULL && m.dict == NULL);
    json_decref(j);

    j = load("[66, 13, 9007199254740992]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.type, MB_UNREGISTER);
    CHECK_EQ_INT(m.request, 13);
    CHECK(m.id == 9007199254740992ULL);
    json_decref(j);
}

TEST(call_gives_request_options_procedure_args_and_kwargs)
{
    struct mb_msg m;
    char err[256];
    json_t *j = load("[48, 10, {\"timeout\": 100}, \"com.myapp.add\", [1, 2], {\"x\": true}]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.type, MB_CALL);
    CHECK_EQ_INT(m.request, 10);
    CHECK_EQ_INT(json_integer_value(json_object_get(m.dict, "timeout")), 100);
    CHECK_EQ_STR(m.uri, "com.myapp.add");
    CHECK(m.args == json_array_get(j, 4));
    CHECK(m.kwargs == json_array_get(j, 5));
    json_decref(j);
}

TEST(cancel_gives_request_and_options)
{
    struct mb_msg m;
    char err[256];
    json_t *j = load("[49, 11, {\"mode\": \"kill\"}]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.type, MB_CANCEL);
    CHECK_EQ_INT(m.request, 11);
    CHECK_EQ_STR(json_string_value(json_object_get(m.dict, "mode")), "kill");
    CHECK(m.uri == NULL && m.args == NULL);
    json_decref(j);
}

TEST(yield_gives_request_options_args_and_kwargs)
{
    struct mb_msg m;
    char err[256];
    json_t *j = load("[70, 15, {}, [\"r\"], {\"x\": 1}]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.type, MB_YIELD);
    CHECK_EQ_INT(m.request, 15);
    CHECK(m.args == json_array_get(j, 3));
    CHECK(m.kwargs == json_array_get(j, 4));
    json_decref(j);

    j = load("[70, 16, {}]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK(m.args == NULL && m.kwargs == NULL);
    json_decref(j);
}

TEST(uri_bytes_with_embedded_nul_keep_their_length)
{
    /* the length comes from JSON, not strlen: a \u0000 is kept (the URI check rejects it later) */
    json_error_t e;
    json_t *j = json_loads("[32, 1, {}, \"a\\u0000b\"]", JSON_ALLOW_NUL, &e);
    struct mb_msg m;
    char err[256];
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.uri_len, 3);
    json_decref(j);
}

/* ---- rejections, each naming the problem ---- */

TEST(non_array_message_is_rejected)
{
    REJECTS("{\"a\": 1}", "JSON array", "object");
    REJECTS("5", "JSON array", "scalar");
    REJECTS("\"hello\"", "JSON array");
    REJECTS("null", "JSON array");
    char err[256];
    struct mb_msg m;
    CHECK_EQ_INT(mb_msg_parse(NULL, &m, err, sizeof err), -1);
    CHECK_HAS_STR(err, "JSON array");
}

TEST(empty_array_is_rejected)
{
    REJECTS("[]", "empty array");
}

TEST(non_integer_message_code_is_rejected)
{
    REJECTS("[\"1\", \"realm1\", {}]", "code must be an integer");
    REJECTS("[1.0, \"realm1\", {}]", "code must be an integer");
    REJECTS("[null]", "code must be an integer");
    REJECTS("[[1]]", "code must be an integer");
}

TEST(unknown_message_code_is_rejected)
{
    REJECTS("[999]", "unknown message code", "999");
    REJECTS("[999, 1, {}, \"x\"]", "unknown message code 999");
    REJECTS("[0]", "unknown message code 0");
    REJECTS("[-1]", "unknown message code -1");
    REJECTS("[7]", "unknown message code 7");
    REJECTS("[256]", "unknown message code 256");
    REJECTS("[4294967297]", "unknown message code 4294967297");
}

TEST(router_only_messages_are_rejected_by_name)
{
    REJECTS("[2, 1, {}]", "WELCOME", "not a message a client sends");
    REJECTS("[36, 1, 2, {}]", "EVENT", "not a message a client sends");
    REJECTS("[50, 1, {}]", "RESULT", "not a message a client sends");
    REJECTS("[68, 1, 2, {}]", "INVOCATION", "not a message a client sends");
    REJECTS("[4, \"ticket\", {}]", "CHALLENGE", "not a message a client sends");
    REJECTS("[17, 1, 2]", "PUBLISHED", "not a message a client sends");
    REJECTS("[33, 1, 2]", "SUBSCRIBED", "not a message a client sends");
    REJECTS("[35, 1]", "UNSUBSCRIBED", "not a message a client sends");
    REJECTS("[65, 1, 2]", "REGISTERED", "not a message a client sends");
    REJECTS("[67, 1]", "UNREGISTERED", "not a message a client sends");
    REJECTS("[69, 1, {}]", "INTERRUPT", "not a message a client sends");
}

TEST(wrong_element_counts_are_rejected)
{
    REJECTS("[1, \"realm1\"]", "HELLO", "3 elements", "got 2");
    REJECTS("[1, \"realm1\", {\"roles\": {\"caller\": {}}}, 4]", "HELLO", "got 4");
    REJECTS("[6, {}]", "GOODBYE", "3 elements");
    REJECTS("[32, 1, {}]", "SUBSCRIBE", "4 elements", "got 3");
    REJECTS("[32, 1, {}, \"t\", []]", "SUBSCRIBE", "got 5");
    REJECTS("[34, 1]", "UNSUBSCRIBE", "3 elements");
    REJECTS("[34, 1, 2, 3]", "UNSUBSCRIBE", "got 4");
    REJECTS("[16, 1, {}]", "PUBLISH", "4 to 6 elements", "got 3");
    REJECTS("[16, 1, {}, \"t\", [], {}, 7]", "PUBLISH", "4 to 6", "got 7");
    REJECTS("[48, 1, {}]", "CALL", "4 to 6");
    REJECTS("[49, 1]", "CANCEL", "3 elements");
    REJECTS("[64, 1, {}]", "REGISTER", "4 elements");
    REJECTS("[66, 1]", "UNREGISTER", "3 elements");
    REJECTS("[70, 1]", "YIELD", "3 to 5", "got 2");
    REJECTS("[70, 1, {}, [], {}, 1]", "YIELD", "got 6");
    REJECTS("[8, 68, 1, {}]", "ERROR", "5 to 7", "got 4");
    REJECTS("[8, 68, 1, {}, \"e\", [], {}, 1]", "ERROR", "got 8");
}

TEST(field_of_the_wrong_type_is_rejected_by_name)
{
    REJECTS("[32, \"x\", {}, \"t\"]", "SUBSCRIBE.Request", "integer");
    REJECTS("[32, 1, {}, 5]", "SUBSCRIBE.Topic must be a string");
    REJECTS("[1, 7, {\"roles\": {\"caller\": {}}}]", "HELLO.Realm must be a string");
    REJECTS("[48, 1, {}, null]", "CALL.Procedure must be a string");
    REJECTS("[6, {}, 1]", "GOODBYE.Reason must be a string");
    REJECTS("[34, 1, \"2\"]", "UNSUBSCRIBE.Subscription", "integer");
    REJECTS("[8, \"68\", 1, {}, \"e\"]", "ERROR.Request type", "integer");
}

TEST(request_id_out_of_range_is_rejected)
{
    REJECTS("[48, 0, {}, \"p\"]", "Request", "[1, 2^53]", "got 0");
    REJECTS("[48, -1, {}, \"p\"]", "Request", "got -1");
    REJECTS("[48, 9007199254740993, {}, \"p\"]", "Request", "got 9007199254740993");
    REJECTS("[48, 9223372036854775807, {}, \"p\"]", "Request");
    REJECTS("[48, 1.5, {}, \"p\"]", "Request", "integer");
    REJECTS("[48, 1.0, {}, \"p\"]", "Request", "integer");
    REJECTS("[48, \"1\", {}, \"p\"]", "Request", "integer");
    REJECTS("[16, 0, {}, \"t\"]", "PUBLISH.Request");
    REJECTS("[70, -5, {}]", "YIELD.Request");
    REJECTS("[8, 68, 0, {}, \"e\"]", "ERROR.Request");
}

TEST(target_id_out_of_range_is_rejected)
{
    REJECTS("[34, 1, 0]", "UNSUBSCRIBE.Subscription", "got 0");
    REJECTS("[34, 1, 9007199254740993]", "Subscription");
    REJECTS("[66, 1, -3]", "UNREGISTER.Registration", "got -3");
    REJECTS("[66, 1, 2.5]", "Registration", "integer");
}

TEST(largest_id_two_to_the_53_is_accepted)
{
    ACCEPTS("[48, 9007199254740992, {}, \"p\"]");
    ACCEPTS("[34, 9007199254740992, 9007199254740992]");
    ACCEPTS("[48, 1, {}, \"p\"]");
    struct mb_msg m;
    char err[256];
    json_t *j = load("[70, 9007199254740992, {}]");
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, sizeof err), 0);
    CHECK(m.request == (1ULL << 53));
    json_decref(j);
}

TEST(options_or_details_not_a_dict_is_rejected)
{
    REJECTS("[48, 1, [], \"p\"]", "CALL.Options must be a dict");
    REJECTS("[32, 1, null, \"t\"]", "SUBSCRIBE.Options must be a dict");
    REJECTS("[16, 1, \"x\", \"t\"]", "PUBLISH.Options must be a dict");
    REJECTS("[49, 1, 5]", "CANCEL.Options must be a dict");
    REJECTS("[70, 1, []]", "YIELD.Options must be a dict");
    REJECTS("[1, \"realm1\", []]", "HELLO.Details must be a dict");
    REJECTS("[6, [], \"wamp.close.normal\"]", "GOODBYE.Details must be a dict");
    REJECTS("[8, 68, 1, [], \"e\"]", "ERROR.Details must be a dict");
}

TEST(arguments_not_a_list_is_rejected)
{
    REJECTS("[48, 1, {}, \"p\", {}]", "CALL.Arguments must be a list");
    REJECTS("[16, 1, {}, \"t\", \"a\"]", "PUBLISH.Arguments must be a list");
    REJECTS("[70, 1, {}, null]", "YIELD.Arguments must be a list");
    REJECTS("[8, 68, 1, {}, \"e\", 5]", "ERROR.Arguments must be a list");
}

TEST(arguments_kw_not_a_dict_is_rejected)
{
    REJECTS("[48, 1, {}, \"p\", [], []]", "CALL.ArgumentsKw must be a dict");
    REJECTS("[16, 1, {}, \"t\", [], null]", "PUBLISH.ArgumentsKw must be a dict");
    REJECTS("[70, 1, {}, [], 1]", "YIELD.ArgumentsKw must be a dict");
    REJECTS("[8, 68, 1, {}, \"e\", [], \"k\"]", "ERROR.ArgumentsKw must be a dict");
}

TEST(error_is_only_accepted_for_invocation)
{
    REJECTS("[8, 48, 1, {}, \"e\"]", "request type 48", "INVOCATION");
    REJECTS("[8, 32, 1, {}, \"e\"]", "request type 32");
    REJECTS("[8, 0, 1, {}, \"e\"]", "request type 0");
    REJECTS("[8, -68, 1, {}, \"e\"]", "request type -68");
    ACCEPTS("[8, 68, 1, {}, \"e\"]");
}

TEST(hello_without_roles_is_rejected)
{
    REJECTS("[1, \"realm1\", {}]", "roles", "non-empty dict");
    REJECTS("[1, \"realm1\", {\"roles\": {}}]", "roles", "non-empty dict");
    REJECTS("[1, \"realm1\", {\"roles\": [\"caller\"]}]", "roles");
    REJECTS("[1, \"realm1\", {\"roles\": null}]", "roles");
    REJECTS("[1, \"realm1\", {\"authid\": \"x\"}]", "roles");
    ACCEPTS("[1, \"realm1\", {\"roles\": {\"subscriber\": {}}}]");
}

TEST(error_text_is_truncated_to_the_buffer)
{
    char err[16];
    memset(err, 'X', sizeof err);
    json_t *j = load("[32, 1, {}, \"t\", []]");
    struct mb_msg m;
    REQUIRE(j);
    CHECK_EQ_INT(mb_msg_parse(j, &m, err, 8), -1);
    CHECK_EQ_INT(strlen(err), 7);
    CHECK(err[8] == 'X'); /* nothing written past errlen */
    json_decref(j);
}

/* ---- names and reasons ---- */

TEST(message_names_cover_every_code)
{
    CHECK_EQ_STR(mb_msg_name(MB_HELLO), "HELLO");
    CHECK_EQ_STR(mb_msg_name(MB_SUBSCRIBE), "SUBSCRIBE");
    CHECK_EQ_STR(mb_msg_name(MB_INVOCATION), "INVOCATION");
    CHECK_EQ_STR(mb_msg_name(MB_YIELD), "YIELD");
    CHECK(mb_msg_name(0) == NULL);
    CHECK(mb_msg_name(7) == NULL);
    CHECK(mb_msg_name(999) == NULL);
    CHECK(mb_msg_name(-1) == NULL);
}

TEST(reason_uris_come_from_the_table)
{
    CHECK_EQ_STR(mb_reason_uri(MB_R_NO_SUCH_REALM), "wamp.error.no_such_realm");
    CHECK_EQ_STR(mb_reason_uri(MB_R_PROTOCOL_VIOLATION), "wamp.error.protocol_violation");
    CHECK_EQ_STR(mb_reason_uri(MB_R_NO_SUCH_PROCEDURE), "wamp.error.no_such_procedure");
    CHECK_EQ_STR(mb_reason_uri(MB_R_INVALID_URI), "wamp.error.invalid_uri");
    CHECK_EQ_STR(mb_reason_uri(MB_R_CANCELED), "wamp.error.canceled");
    CHECK_EQ_STR(mb_reason_uri(MB_R_NO_SUCH_SESSION), "wamp.error.no_such_session");
    CHECK_EQ_STR(mb_reason_uri(MB_R_SYSTEM_SHUTDOWN), "wamp.close.system_shutdown");
    CHECK_EQ_STR(mb_reason_uri(MB_R_GOODBYE_AND_OUT), "wamp.close.goodbye_and_out");
    CHECK_EQ_STR(mb_reason_uri(MB_R_CLOSE_NORMAL), "wamp.close.normal");
    for (int r = 0; r < MB_R__COUNT; r++) {
        const char *u = mb_reason_uri((enum mb_reason)r);
        CHECK(u != NULL && strncmp(u, "wamp.", 5) == 0);
    }
    CHECK_EQ_STR(mb_reason_uri(MB_R__COUNT), "wamp.error.runtime_error");
    CHECK_EQ_STR(mb_reason_uri((enum mb_reason)-1), "wamp.error.runtime_error");
}

UNIT_MAIN()
