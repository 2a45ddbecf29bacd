/* mb_config: built-in defaults, and loading Lua config files written to a temporary folder. */
#include "unit.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mb_config.h"
#include "mb_log.h"

#define DEFAULT_WEB_ROOT "/default/www"

/* One config file in its own temporary folder, loaded over the defaults. */
struct fx {
    char dir[64];
    char path[128];
    struct mb_config cfg;
    char err[1024];
    int rc;
};

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Writes text as DIR/config.lua and loads it; returns 0 if the fixture is set up. */
static int fx_load(struct fx *f, const char *text)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/mb-unit-config-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/config.lua", f->dir);
    if (write_file(f->path, text) < 0)
        return -1;
    if (mb_config_defaults(&f->cfg, DEFAULT_WEB_ROOT) < 0)
        return -1;
    f->rc = mb_config_load(&f->cfg, f->path, f->err, sizeof f->err);
    return 0;
}

static void fx_done(struct fx *f)
{
    mb_config_free(&f->cfg);
    if (f->path[0])
        unlink(f->path);
    if (f->dir[0])
        rmdir(f->dir);
}

/* Loads text and checks it is accepted. */
#define LOADS(f, text)                                                                   \
    do {                                                                                 \
        REQUIRE(fx_load((f), (text)) == 0);                                              \
        if ((f)->rc != 0)                                                                \
            unit_fail(__FILE__, __LINE__, "config rejected: %s", (f)->err);              \
    } while (0)

/* Loads text, checks it is rejected with an error naming the file and each given word. */
#define FAILS_WITH(text, ...)                                                            \
    do {                                                                                 \
        struct fx fx_;                                                                   \
        const char *words_[] = { __VA_ARGS__ };                                          \
        if (fx_load(&fx_, (text)) < 0) {                                                 \
            unit_fail(__FILE__, __LINE__, "cannot set up the config file");              \
            fx_done(&fx_);                                                               \
            break;                                                                       \
        }                                                                                \
        if (fx_.rc != -1)                                                                \
            unit_fail(__FILE__, __LINE__, "config accepted:\n%s", (text));               \
        else if (!strstr(fx_.err, fx_.path))                                             \
            unit_fail(__FILE__, __LINE__, "error \"%s\" lacks the file name", fx_.err);  \
        for (size_t w_ = 0; fx_.rc == -1 && w_ < sizeof words_ / sizeof words_[0]; w_++) \
            if (!strstr(fx_.err, words_[w_]))                                            \
                unit_fail(__FILE__, __LINE__, "error \"%s\" lacks \"%s\"", fx_.err,      \
                          words_[w_]);                                                   \
        fx_done(&fx_);                                                                   \
    } while (0)

/* err contains "PATH:LINE:" */
static int names_line(const struct fx *f, int line)
{
    char want[160];
    snprintf(want, sizeof want, "%s:%d:", f->path, line);
    return strstr(f->err, want) != NULL;
}

/* ---- defaults ---- */

TEST(defaults_are_realm1_on_localhost_8080_ws)
{
    struct mb_config c;
    REQUIRE(mb_config_defaults(&c, DEFAULT_WEB_ROOT) == 0);
    CHECK_EQ_INT(c.log_level, MB_LOG_INFO);
    CHECK(c.ws_enabled);
    CHECK_EQ_STR(c.ws_host, "127.0.0.1");
    CHECK_EQ_INT(c.ws_port, 8080);
    CHECK_EQ_STR(c.ws_path, "/ws");
    CHECK_EQ_STR(c.web_root, DEFAULT_WEB_ROOT);
    CHECK(!c.raw_enabled);
    CHECK_EQ_STR(c.raw_host, "127.0.0.1");
    CHECK_EQ_INT(c.raw_port, 8081);
    REQUIRE(c.nrealms == 1);
    CHECK_EQ_STR(c.realms[0].name, "realm1");
    CHECK_EQ_INT(c.realms[0].uri_rule, MB_URI_LOOSE);
    CHECK_EQ_INT(c.max_message_size, 1048576);
    CHECK_EQ_INT(c.max_queue_bytes, 4194304);
    CHECK(c.slow_consumer_timeout == 10.0);
    CHECK(c.shutdown_grace == 0.5);
    mb_config_free(&c);
    CHECK(c.ws_host == NULL && c.realms == NULL && c.nrealms == 0);
}

TEST(defaults_without_web_root_serve_no_files)
{
    struct mb_config c;
    REQUIRE(mb_config_defaults(&c, NULL) == 0);
    CHECK(c.web_root == NULL);
    mb_config_free(&c);
}

/* ---- valid files ---- */

TEST(full_config_sets_every_key)
{
    struct fx f;
    LOADS(&f, "return {\n"
              "  log_level = \"debug\",\n"
              "  websocket = {\n"
              "    host = \"0.0.0.0\", port = 9000,\n"
              "    path = \"/wamp\",\n"
              "    web_root = \"/srv/www\",\n"
              "  },\n"
              "  rawsocket = { host = \"::1\", port = 9001 },\n"
              "  realms = {\n"
              "    { name = \"realm1\", uri_check = \"loose\" },\n"
              "    { name = \"com.example.strict\", uri_check = \"strict\" },\n"
              "    { name = \"plain\" },\n"
              "  },\n"
              "  limits = {\n"
              "    max_message_size = 65536,\n"
              "    max_queue_bytes = 2048,\n"
              "    slow_consumer_timeout = 2.5,\n"
              "    shutdown_grace = 1,\n"
              "  },\n"
              "}\n");
    CHECK_EQ_INT(f.cfg.log_level, MB_LOG_DEBUG);
    CHECK(f.cfg.ws_enabled);
    CHECK_EQ_STR(f.cfg.ws_host, "0.0.0.0");
    CHECK_EQ_INT(f.cfg.ws_port, 9000);
    CHECK_EQ_STR(f.cfg.ws_path, "/wamp");
    CHECK_EQ_STR(f.cfg.web_root, "/srv/www");
    CHECK(f.cfg.raw_enabled);
    CHECK_EQ_STR(f.cfg.raw_host, "::1");
    CHECK_EQ_INT(f.cfg.raw_port, 9001);
    CHECK_EQ_INT(f.cfg.nrealms, 3);
    if (f.cfg.nrealms == 3) {
        CHECK_EQ_STR(f.cfg.realms[0].name, "realm1");
        CHECK_EQ_INT(f.cfg.realms[0].uri_rule, MB_URI_LOOSE);
        CHECK_EQ_STR(f.cfg.realms[1].name, "com.example.strict");
        CHECK_EQ_INT(f.cfg.realms[1].uri_rule, MB_URI_STRICT);
        CHECK_EQ_STR(f.cfg.realms[2].name, "plain");
        CHECK_EQ_INT(f.cfg.realms[2].uri_rule, MB_URI_LOOSE);
    }
    CHECK_EQ_INT(f.cfg.max_message_size, 65536);
    CHECK_EQ_INT(f.cfg.max_queue_bytes, 2048);
    CHECK(f.cfg.slow_consumer_timeout == 2.5);
    CHECK(f.cfg.shutdown_grace == 1.0);
    fx_done(&f);
}

TEST(example_config_from_the_docs_loads)
{
    struct fx f;
    LOADS(&f, "return {\n"
              "  log_level = \"info\",                 -- \"error\" | \"warn\" | \"info\" | \"debug\" | \"trace\"\n"
              "  websocket = {                       -- omit or false to disable\n"
              "    host = \"127.0.0.1\", port = 8080,  -- port 0: the OS picks one (logged)\n"
              "    path = \"/ws\",                     -- WAMP WebSocket endpoint\n"
              "    web_root = \"www\",                 -- static files served on the same port; false: none\n"
              "  },\n"
              "  rawsocket = { host = \"127.0.0.1\", port = 8081 },  -- omit or false to disable\n"
              "  realms = {\n"
              "    { name = \"realm1\", uri_check = \"loose\" },       -- \"loose\" (default) | \"strict\"\n"
              "  },\n"
              "  limits = {\n"
              "    max_message_size = 1048576,       -- bytes, incoming, both transports\n"
              "    max_queue_bytes = 4194304,        -- outbound queue per session (soft limit, see below)\n"
              "    slow_consumer_timeout = 10,       -- seconds a session may stay over max_queue_bytes\n"
              "  },\n"
              "}\n");
    char want[160];
    snprintf(want, sizeof want, "%s/www", f.dir);
    CHECK_EQ_INT(f.cfg.log_level, MB_LOG_INFO);
    CHECK(f.cfg.ws_enabled && f.cfg.raw_enabled);
    CHECK_EQ_INT(f.cfg.ws_port, 8080);
    CHECK_EQ_INT(f.cfg.raw_port, 8081);
    CHECK_EQ_STR(f.cfg.ws_path, "/ws");
    CHECK_EQ_STR(f.cfg.web_root, want);
    CHECK_EQ_INT(f.cfg.nrealms, 1);
    CHECK_EQ_INT(f.cfg.max_message_size, 1048576);
    CHECK(f.cfg.slow_consumer_timeout == 10.0);
    fx_done(&f);
}

TEST(empty_table_keeps_the_defaults)
{
    struct fx f;
    LOADS(&f, "return {}\n");
    CHECK(f.cfg.ws_enabled && !f.cfg.raw_enabled);
    CHECK_EQ_INT(f.cfg.ws_port, 8080);
    CHECK_EQ_STR(f.cfg.web_root, DEFAULT_WEB_ROOT);
    CHECK_EQ_INT(f.cfg.nrealms, 1);
    fx_done(&f);
}

TEST(rawsocket_false_disables_it_and_true_enables_the_defaults)
{
    struct fx f;
    LOADS(&f, "return { rawsocket = false }\n");
    CHECK(!f.cfg.raw_enabled);
    CHECK(f.cfg.ws_enabled);
    fx_done(&f);

    LOADS(&f, "return { rawsocket = true }\n");
    CHECK(f.cfg.raw_enabled);
    CHECK_EQ_STR(f.cfg.raw_host, "127.0.0.1");
    CHECK_EQ_INT(f.cfg.raw_port, 8081);
    fx_done(&f);

    LOADS(&f, "return { websocket = false, rawsocket = { port = 0 } }\n");
    CHECK(!f.cfg.ws_enabled);
    CHECK(f.cfg.raw_enabled);
    CHECK_EQ_INT(f.cfg.raw_port, 0);
    fx_done(&f);
}

TEST(websocket_compression_key_reaches_its_listener)
{
    struct fx f;
    LOADS(&f, "return { websocket = { port = 0, compression = true } }\n");
    REQUIRE(f.cfg.nlisteners >= 1);
    CHECK(f.cfg.listeners[0].kind == MB_LISTEN_WEBSOCKET);
    CHECK(f.cfg.listeners[0].compression);
    fx_done(&f);
    LOADS(&f, "return { websocket = { port = 0 } }\n");
    CHECK(!f.cfg.listeners[0].compression);
    fx_done(&f);
    FAILS_WITH("return { websocket = { compression = 1 } }\n", "websocket.compression", "true or false");
}

TEST(port_bounds_zero_and_65535_are_accepted)
{
    struct fx f;
    LOADS(&f, "return { websocket = { port = 0 }, rawsocket = { port = 65535 } }\n");
    CHECK_EQ_INT(f.cfg.ws_port, 0);
    CHECK_EQ_INT(f.cfg.raw_port, 65535);
    fx_done(&f);
}

TEST(relative_web_root_is_resolved_against_the_config_folder)
{
    struct fx f;
    char want[160];
    LOADS(&f, "return { websocket = { web_root = \"www\" } }\n");
    snprintf(want, sizeof want, "%s/www", f.dir);
    CHECK_EQ_STR(f.cfg.web_root, want);
    fx_done(&f);

    LOADS(&f, "return { websocket = { web_root = \"static/site\" } }\n");
    snprintf(want, sizeof want, "%s/static/site", f.dir);
    CHECK_EQ_STR(f.cfg.web_root, want);
    fx_done(&f);

    LOADS(&f, "return { websocket = { web_root = \"/abs/www\" } }\n");
    CHECK_EQ_STR(f.cfg.web_root, "/abs/www");
    fx_done(&f);

    LOADS(&f, "return { websocket = { web_root = false } }\n");
    CHECK(f.cfg.web_root == NULL);
    fx_done(&f);
}

TEST(relative_config_path_resolves_web_root_against_the_current_folder)
{
    struct fx f;
    char cwd[4096];
    REQUIRE(getcwd(cwd, sizeof cwd));
    LOADS(&f, "return {}\n");
    REQUIRE(chdir(f.dir) == 0);
    struct mb_config c;
    REQUIRE(mb_config_defaults(&c, NULL) == 0);
    REQUIRE(write_file("rel.lua", "return { websocket = { web_root = \"www\" } }\n") == 0);
    char err[512] = "";
    CHECK_EQ_INT(mb_config_load(&c, "rel.lua", err, sizeof err), 0);
    CHECK_EQ_STR(c.web_root, "./www");
    mb_config_free(&c);
    unlink("rel.lua");
    CHECK(chdir(cwd) == 0);
    fx_done(&f);
}

TEST(config_in_the_root_folder_resolves_web_root_against_root)
{
    /* "/moonbar.lua" with web_root = "www" means "/www", not "www" relative to wherever
     * moonbar happens to run. */
    char path[64];
    snprintf(path, sizeof path, "/mb-unit-config-%ld.lua", (long)getpid());
    if (write_file(path, "return { websocket = { web_root = \"www\" } }\n") < 0) {
        printf("# cannot write %s (not root?): nothing checked\n", path);
        return;
    }
    struct mb_config c;
    char err[512] = "";
    REQUIRE(mb_config_defaults(&c, NULL) == 0);
    int rc = mb_config_load(&c, path, err, sizeof err);
    unlink(path);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(c.web_root, "/www");
    mb_config_free(&c);
}

TEST(log_level_names_are_parsed)
{
    const char *names[] = { "error", "warn", "info", "debug", "trace" };
    for (int i = 0; i < 5; i++) {
        char text[64];
        struct fx f;
        snprintf(text, sizeof text, "return { log_level = \"%s\" }\n", names[i]);
        LOADS(&f, text);
        CHECK_EQ_INT(f.cfg.log_level, i);
        fx_done(&f);
    }
    CHECK_EQ_INT(mb_log_level_parse("trace"), MB_LOG_TRACE);
    CHECK_EQ_INT(mb_log_level_parse("TRACE"), -1);
    CHECK_EQ_INT(mb_log_level_parse(""), -1);
}

/* ---- errors ---- */

TEST(syntax_error_names_the_file_and_line)
{
    struct fx f;
    REQUIRE(fx_load(&f, "return {\n"
                        "  log_level = \"info\",\n"
                        "  realms = { { name = \"realm1\" },, },\n"
                        "}\n") == 0);
    CHECK_EQ_INT(f.rc, -1);
    CHECK_HAS_STR(f.err, f.path);
    CHECK_HAS_STR(f.err, ":3:");
    CHECK(names_line(&f, 3));
    fx_done(&f);
}

TEST(runtime_error_names_the_file_and_line)
{
    struct fx f;
    REQUIRE(fx_load(&f, "local x = 1\n"
                        "error(\"boom\")\n"
                        "return {}\n") == 0);
    CHECK_EQ_INT(f.rc, -1);
    CHECK(names_line(&f, 2));
    CHECK_HAS_STR(f.err, "boom");
    fx_done(&f);
}

TEST(error_raised_with_a_non_string_value_still_names_the_file)
{
    /* error({}) / error() leave a non-string on the stack: the message must still say which
     * file failed (today err is "(null)": snprintf("%s", NULL)) */
    struct fx f;
    REQUIRE(fx_load(&f, "error({})\n") == 0);
    CHECK_EQ_INT(f.rc, -1);
    CHECK_HAS_STR(f.err, f.path);
    fx_done(&f);

    REQUIRE(fx_load(&f, "error()\n") == 0);
    CHECK_EQ_INT(f.rc, -1);
    CHECK_HAS_STR(f.err, f.path);
    fx_done(&f);
}

TEST(wrong_type_names_the_key_path_and_line)
{
    struct fx f;
    REQUIRE(fx_load(&f, "return {\n"
                        "  websocket = { port = \"x\" },\n"
                        "}\n") == 0);
    CHECK_EQ_INT(f.rc, -1);
    CHECK_HAS_STR(f.err, "websocket.port");
    CHECK_HAS_STR(f.err, "must be a number");
    CHECK_HAS_STR(f.err, "string");
    CHECK(names_line(&f, 2));
    fx_done(&f);
}

TEST(wrong_type_line_is_the_line_of_that_key_not_of_a_namesake)
{
    /* rawsocket.port comes first; the error is about websocket.port on line 3 */
    struct fx f;
    REQUIRE(fx_load(&f, "return {\n"
                        "  rawsocket = { port = 8081 },\n"
                        "  websocket = { port = \"x\" },\n"
                        "}\n") == 0);
    CHECK_EQ_INT(f.rc, -1);
    CHECK_HAS_STR(f.err, "websocket.port");
    if (!names_line(&f, 3))
        unit_fail(__FILE__, __LINE__, "error \"%s\" does not point at line 3", f.err);
    fx_done(&f);
}

TEST(other_wrong_types_are_named)
{
    FAILS_WITH("return { log_level = 3 }\n", "log_level", "must be a string", "number");
    FAILS_WITH("return { websocket = { host = 1 } }\n", "websocket.host", "must be a string");
    FAILS_WITH("return { websocket = { path = {} } }\n", "websocket.path", "must be a string");
    FAILS_WITH("return { websocket = { web_root = 5 } }\n", "websocket.web_root", "path or false");
    FAILS_WITH("return { websocket = { web_root = true } }\n", "websocket.web_root");
    FAILS_WITH("return { websocket = { port = 80.5 } }\n", "websocket.port", "integer");
    FAILS_WITH("return { rawsocket = { port = true } }\n", "rawsocket.port", "must be a number");
    FAILS_WITH("return { websocket = 5 }\n", "websocket", "must be a table (or false)");
    FAILS_WITH("return { rawsocket = \"yes\" }\n", "rawsocket", "must be a table");
    FAILS_WITH("return { limits = 1 }\n", "limits", "must be a table");
    FAILS_WITH("return { limits = { slow_consumer_timeout = \"10\" } }\n",
               "limits.slow_consumer_timeout", "must be a number");
    FAILS_WITH("return { limits = { max_message_size = 1500.5 } }\n", "limits.max_message_size",
               "integer");
    FAILS_WITH("return { realms = \"realm1\" }\n", "realms", "must be a list of tables");
    FAILS_WITH("return { realms = { \"realm1\" } }\n", "realms[1]", "must be a table");
    FAILS_WITH("return { realms = { { name = 1 } } }\n", "realms[1].name", "must be a string");
}

TEST(unknown_key_is_named_with_its_line)
{
    struct fx f;
    REQUIRE(fx_load(&f, "return {\n"
                        "  log_level = \"info\",\n"
                        "  colour = \"blue\",\n"
                        "}\n") == 0);
    CHECK_EQ_INT(f.rc, -1);
    CHECK_HAS_STR(f.err, "colour");
    CHECK_HAS_STR(f.err, "not a known setting");
    CHECK(names_line(&f, 3));
    fx_done(&f);

    FAILS_WITH("return { websocket = { prot = 80 } }\n", "websocket.prot", "not a known setting");
    FAILS_WITH("return { rawsocket = { path = \"/ws\" } }\n", "rawsocket.path",
               "not a known setting");
    FAILS_WITH("return { realms = { { name = \"r\", nmae = \"s\" } } }\n", "realms[1].nmae",
               "not a known setting");
    FAILS_WITH("return { limits = { max_msg = 1 } }\n", "limits.max_msg", "not a known setting");
    FAILS_WITH("return { 1 }\n", "not a name");
}

TEST(port_out_of_range_is_rejected)
{
    FAILS_WITH("return { websocket = { port = 65536 } }\n", "websocket.port", "between 0 and 65535",
               "65536");
    FAILS_WITH("return { websocket = { port = -1 } }\n", "websocket.port", "between 0 and 65535");
    FAILS_WITH("return { rawsocket = { port = 100000 } }\n", "rawsocket.port", "between");
}

TEST(limits_out_of_range_are_rejected)
{
    FAILS_WITH("return { limits = { max_message_size = 10 } }\n", "limits.max_message_size",
               "between");
    FAILS_WITH("return { limits = { max_message_size = 16777217 } }\n", "limits.max_message_size");
    FAILS_WITH("return { limits = { max_queue_bytes = 100 } }\n", "limits.max_queue_bytes");
    FAILS_WITH("return { limits = { slow_consumer_timeout = 0 } }\n",
               "limits.slow_consumer_timeout");
    FAILS_WITH("return { limits = { shutdown_grace = -1 } }\n", "limits.shutdown_grace");
    FAILS_WITH("return { limits = { shutdown_grace = 11 } }\n", "limits.shutdown_grace");
    FAILS_WITH("return { limits = { busy_poll_us = -1 } }\n", "limits.busy_poll_us");
    FAILS_WITH("return { limits = { busy_poll_us = 10001 } }\n", "limits.busy_poll_us");
    FAILS_WITH("return { limits = { busy_poll_us = 2.5 } }\n", "limits.busy_poll_us");
}

TEST(busy_poll_defaults_to_50_us_and_0_turns_it_off)
{
    struct fx f;
    LOADS(&f, "return {}\n");
    CHECK(f.cfg.busy_poll_us == 50);
    fx_done(&f);
    LOADS(&f, "return { limits = { ping_interval = 5 } }\n");
    CHECK(f.cfg.busy_poll_us == 50);
    fx_done(&f);
    LOADS(&f, "return { limits = { busy_poll_us = 0 } }\n");
    CHECK(f.cfg.busy_poll_us == 0);
    fx_done(&f);
}

TEST(resource_limits_have_defaults_and_load)
{
    struct fx f;
    LOADS(&f, "return {}\n");
    CHECK(f.cfg.max_connections == 100000);
    CHECK(f.cfg.max_connections_per_address == 1000);
    CHECK(f.cfg.max_sessions_per_realm == 100000);
    CHECK(f.cfg.max_subscriptions_per_session == 10000);
    CHECK(f.cfg.max_registrations_per_session == 10000);
    CHECK(f.cfg.max_calls_per_caller == 1000);
    CHECK(f.cfg.max_invocations_per_callee == 1000);
    CHECK(f.cfg.max_message_rate == 0);
    CHECK(f.cfg.max_message_burst == 0);
    CHECK(f.cfg.hello_timeout == 10);
    CHECK(f.cfg.realms[0].max_sessions == 0);
    fx_done(&f);
    LOADS(&f, "return { limits = { max_connections = 5, max_connections_per_address = 2,\n"
              " max_sessions_per_realm = 3, max_subscriptions_per_session = 4,\n"
              " max_registrations_per_session = 6, max_calls_per_caller = 7,\n"
              " max_invocations_per_callee = 8, max_message_rate = 50, max_message_burst = 10,\n"
              " hello_timeout = 0.5 }, realms = { { name = \"r\", max_sessions = 9 } } }\n");
    CHECK(f.cfg.max_connections == 5);
    CHECK(f.cfg.max_connections_per_address == 2);
    CHECK(f.cfg.max_sessions_per_realm == 3);
    CHECK(f.cfg.max_subscriptions_per_session == 4);
    CHECK(f.cfg.max_registrations_per_session == 6);
    CHECK(f.cfg.max_calls_per_caller == 7);
    CHECK(f.cfg.max_invocations_per_callee == 8);
    CHECK(f.cfg.max_message_rate == 50);
    CHECK(f.cfg.max_message_burst == 10);
    CHECK(f.cfg.hello_timeout == 0.5);
    CHECK(f.cfg.realms[0].max_sessions == 9);
    fx_done(&f);
}

TEST(resource_limits_of_the_wrong_type_or_range_are_rejected)
{
    FAILS_WITH("return { limits = { max_connections = 0 } }\n", "limits.max_connections", "between");
    FAILS_WITH("return { limits = { max_connections = \"10\" } }\n", "limits.max_connections", "must be a number");
    FAILS_WITH("return { limits = { max_connections_per_address = 2.5 } }\n", "limits.max_connections_per_address",
               "integer");
    FAILS_WITH("return { limits = { max_sessions_per_realm = -1 } }\n", "limits.max_sessions_per_realm");
    FAILS_WITH("return { limits = { max_subscriptions_per_session = 0 } }\n", "limits.max_subscriptions_per_session");
    FAILS_WITH("return { limits = { max_registrations_per_session = true } }\n",
               "limits.max_registrations_per_session", "must be a number");
    FAILS_WITH("return { limits = { max_calls_per_caller = 0 } }\n", "limits.max_calls_per_caller");
    FAILS_WITH("return { limits = { max_invocations_per_callee = 1e12 } }\n", "limits.max_invocations_per_callee");
    FAILS_WITH("return { limits = { max_message_rate = -1 } }\n", "limits.max_message_rate");
    FAILS_WITH("return { limits = { max_message_rate = 0/0 } }\n", "limits.max_message_rate");
    FAILS_WITH("return { limits = { max_message_burst = 0.5 } }\n", "limits.max_message_burst", "at least 1");
    FAILS_WITH("return { limits = { hello_timeout = 0 } }\n", "limits.hello_timeout");
    FAILS_WITH("return { limits = { hello_timeout = \"1\" } }\n", "limits.hello_timeout", "must be a number");
    FAILS_WITH("return { realms = { { name = \"r\", max_sessions = 0 } } }\n", "realms[1].max_sessions");
    FAILS_WITH("return { limits = { socket_send_buffer = 100 } }\n", "limits.socket_send_buffer", "at least 4096");
    FAILS_WITH("return { limits = { socket_send_buffer = 1073741824 } }\n", "limits.socket_send_buffer", "between");
    FAILS_WITH("return { limits = { socket_send_buffer = 8192.5 } }\n", "limits.socket_send_buffer", "integer");
    FAILS_WITH("return { realms = { { name = \"r\", max_sessions = \"x\" } } }\n", "realms[1].max_sessions",
               "must be a number");
}

TEST(limits_that_are_not_a_number_are_rejected)
{
    /* 0/0 is NaN: every range comparison is false, so a plain "v < min || v > max" lets it in */
    FAILS_WITH("return { limits = { slow_consumer_timeout = 0/0 } }\n",
               "limits.slow_consumer_timeout");
    FAILS_WITH("return { limits = { shutdown_grace = 0/0 } }\n", "limits.shutdown_grace");
}

TEST(uri_check_must_be_loose_or_strict)
{
    FAILS_WITH("return { realms = { { name = \"realm1\", uri_check = \"weird\" } } }\n",
               "realms[1].uri_check", "loose", "strict", "weird");
    FAILS_WITH("return { realms = { { name = \"realm1\", uri_check = 1 } } }\n",
               "realms[1].uri_check", "must be a string");
}

TEST(realms_must_be_a_non_empty_list_of_named_realms)
{
    FAILS_WITH("return { realms = {} }\n", "realms", "at least one realm");
    FAILS_WITH("return { realms = { { uri_check = \"strict\" } } }\n", "realms[1].name",
               "is required");
    FAILS_WITH("return { realms = { { name = \"a\" }, { name = \"b c\" } } }\n", "realms[2].name",
               "not a valid URI");
    FAILS_WITH("return { realms = { { name = \"\" } } }\n", "realms[1].name", "not a valid URI");
}

TEST(file_returning_a_number_is_rejected)
{
    FAILS_WITH("return 42\n", "must return a table", "number");
    FAILS_WITH("local x = 1\n", "must return a table", "nil");
    FAILS_WITH("return \"config\"\n", "must return a table", "string");
}

TEST(disabling_both_listeners_is_rejected)
{
    FAILS_WITH("return { websocket = false }\n", "no listener");
    FAILS_WITH("return { websocket = false, rawsocket = false }\n", "nothing to listen on");
}

TEST(websocket_path_must_start_with_a_slash)
{
    FAILS_WITH("return { websocket = { path = \"ws\" } }\n", "websocket.path", "'/'");
    FAILS_WITH("return { websocket = { path = \"\" } }\n", "websocket.path");
}

TEST(unknown_log_level_is_rejected)
{
    FAILS_WITH("return { log_level = \"loud\" }\n", "log_level", "error, warn, info, debug, trace");
}

TEST(store_defaults_to_data_moonbar_db_beside_the_config_and_1024_mb)
{
    struct mb_config c;
    REQUIRE(mb_config_defaults(&c, NULL) == 0);
    CHECK_EQ_STR(c.store_path, "data/moonbar.db"); /* no config file: ./data/moonbar.db */
    CHECK_EQ_INT(c.store_max_size_mb, 1024);
    mb_config_free(&c);
    struct fx f;
    char want[160];
    LOADS(&f, "return {}\n");
    snprintf(want, sizeof want, "%s/data/moonbar.db", f.dir);
    CHECK_EQ_STR(f.cfg.store_path, want);
    fx_done(&f);
}

TEST(store_path_is_resolved_against_the_config_folder_and_max_size_is_read)
{
    struct fx f;
    char want[160];
    LOADS(&f, "return { store = { path = \"db/games.db\", max_size_mb = 5 } }\n");
    snprintf(want, sizeof want, "%s/db/games.db", f.dir);
    CHECK_EQ_STR(f.cfg.store_path, want);
    CHECK_EQ_INT(f.cfg.store_max_size_mb, 5);
    fx_done(&f);
    LOADS(&f, "return { store = { path = \"/abs/x.db\" } }\n");
    CHECK_EQ_STR(f.cfg.store_path, "/abs/x.db");
    CHECK_EQ_INT(f.cfg.store_max_size_mb, 1024);
    fx_done(&f);
}

TEST(store_keys_are_checked_like_every_other_key)
{
    FAILS_WITH("return { store = { pth = \"x.db\" } }\n", "store.pth", "not a known setting");
    FAILS_WITH("return { store = { path = 3 } }\n", "store.path", "must be a string");
    FAILS_WITH("return { store = { path = \"\" } }\n", "store.path", "empty");
    FAILS_WITH("return { store = { max_size_mb = 0 } }\n", "store.max_size_mb", "between");
    FAILS_WITH("return { store = { max_size_mb = 1.5 } }\n", "store.max_size_mb", "integer");
    FAILS_WITH("return { store = { max_size_mb = \"big\" } }\n", "store.max_size_mb", "must be a number");
    FAILS_WITH("return { store = \"x.db\" }\n", "store", "must be a table");
    FAILS_WITH("return { store = true }\n", "store", "must be a table");
}

TEST(missing_file_is_an_error_naming_it)
{
    struct mb_config c;
    char err[512] = "";
    REQUIRE(mb_config_defaults(&c, NULL) == 0);
    CHECK_EQ_INT(mb_config_load(&c, "/nonexistent/mb-unit/config.lua", err, sizeof err), -1);
    CHECK_HAS_STR(err, "/nonexistent/mb-unit/config.lua");
    mb_config_free(&c);
}

/* Runs mb_config_load on text in a child process; returns the child's wait status.
 * The child exits 0 when the load returned -1 with an error naming the file, 1 otherwise. */
static int load_in_child(const char *text)
{
    struct fx f;
    memset(&f, 0, sizeof f);
    snprintf(f.dir, sizeof f.dir, "/tmp/mb-unit-config-XXXXXX");
    if (!mkdtemp(f.dir))
        return -1;
    snprintf(f.path, sizeof f.path, "%s/config.lua", f.dir);
    if (write_file(f.path, text) < 0) {
        rmdir(f.dir);
        return -1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) /* Lua's PANIC line */
            _exit(3);
        if (mb_config_defaults(&f.cfg, NULL) < 0)
            _exit(3);
        int rc = mb_config_load(&f.cfg, f.path, f.err, sizeof f.err);
        int ok = rc == -1 && strstr(f.err, f.path) != NULL;
        mb_config_free(&f.cfg);
        _exit(ok ? 0 : 1);
    }
    int status = -1;
    if (pid > 0)
        waitpid(pid, &status, 0);
    unlink(f.path);
    rmdir(f.dir);
    return status;
}

TEST(config_whose_metamethods_raise_is_an_error_not_a_crash)
{
    /* The loader reads the returned table with lua_getfield / luaL_len outside any protected
     * call: an __index or __len that raises makes Lua panic and abort the process. */
    const char *texts[] = {
        "return setmetatable({}, { __index = function() error(\"no such key\") end })\n",
        "return { realms = setmetatable({}, { __len = function() return 1.5 end }) }\n",
        "return { websocket = setmetatable({}, { __index = function(t, k) error(k) end }) }\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int st = load_in_child(texts[i]);
        if (st == -1)
            unit_fail(__FILE__, __LINE__, "cannot run the child");
        else if (WIFSIGNALED(st))
            unit_fail(__FILE__, __LINE__, "mb_config_load killed by signal %d (%s) on:\n%s",
                      WTERMSIG(st), WTERMSIG(st) == SIGABRT ? "Lua panic, abort()" : "crash",
                      texts[i]);
        else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            unit_fail(__FILE__, __LINE__, "no error naming the file (child status %d) on:\n%s",
                      WIFEXITED(st) ? WEXITSTATUS(st) : -1, texts[i]);
    }
}

TEST(failed_load_leaves_a_config_that_frees_cleanly)
{
    /* valgrind checks these: partial realms, replaced strings */
    FAILS_WITH("return { websocket = { host = \"h\", port = \"x\" } }\n", "websocket.port");
    FAILS_WITH("return { realms = { { name = \"a\" }, { name = \"b\", uri_check = \"x\" } } }\n",
               "realms[2].uri_check");
    FAILS_WITH("return { realms = { { name = \"a\" }, 5 } }\n", "realms[2]");
    FAILS_WITH("return { websocket = { path = \"/p\", web_root = \"w\" }, colour = 1 }\n", "colour");
}

TEST(config_code_that_never_ends_or_eats_memory_is_an_error_naming_the_file)
{
    /* --check-config on a file of unknown origin: bounded in instructions and memory */
    FAILS_WITH("while true do end\nreturn {}\n", "runs too long");
    FAILS_WITH("local t = {}\nfor i = 1, 1e9 do t[i] = i end\nreturn t\n", "memory");
    FAILS_WITH("return { x = string.rep(\"x\", 1e8) }\n", "memory");
    FAILS_WITH("return { x = string.rep(\"x\", 1e10) }\n", "string");
    FAILS_WITH("return setmetatable({}, { __index = function() while true do end end })\n", "runs too long");
    FAILS_WITH("local co = coroutine.wrap(function() while true do end end)\nco()\nreturn {}\n", "runs too long");
    /* errors Lua raises without a position still name the file */
    char deep[700];
    snprintf(deep, sizeof deep, "return %0*d", 300, 0);
    memset(deep + 7, '{', 300);
    FAILS_WITH(deep, "overflow");
    FAILS_WITH("error(\"no position\", 0)\n", "no position");
    /* a secret file that never ends */
    FAILS_WITH("return { realms = { { name = \"r\", auth = { ticket = { users = { joe = {\n"
               "  role = \"u\", ticket = { file = \"/dev/zero\" } } } } } } } }\n",
               "realms[1].auth.ticket.users.joe.ticket", "/dev/zero");
}

TEST(config_text_loads_from_memory_with_its_own_limits_and_sandbox)
{
    struct mb_config cfg;
    char err[512];
    REQUIRE(mb_config_defaults(&cfg, NULL) == 0);
    const char *text = "return { websocket = { port = 9001, web_root = \"www\" },\n"
                       "  limits = { max_queue_bytes = os.execute and 1024 or 2048 } }\n";
    struct mb_config_limits lim = { .memory = 1 << 20, .instructions = 100000, .sandbox = true };
    if (mb_config_load_text(&cfg, "/etc/mb/c.lua", text, strlen(text), &lim, err, sizeof err) != 0)
        unit_fail(__FILE__, __LINE__, "config rejected: %s", err);
    CHECK_EQ_INT(cfg.listeners[0].port, 9001);
    CHECK_EQ_STR(cfg.listeners[0].web_root, "/etc/mb/www");
    CHECK_EQ_INT(cfg.max_queue_bytes, 2048); /* no os.execute in the sandbox */
    mb_config_free(&cfg);
    REQUIRE(mb_config_defaults(&cfg, NULL) == 0);
    const char *loop = "local n = 0\nfor i = 1, 1e6 do n = n + i end\nreturn {}\n";
    CHECK_EQ_INT(mb_config_load_text(&cfg, "/etc/mb/c.lua", loop, strlen(loop), &lim, err, sizeof err), -1);
    CHECK(strstr(err, "/etc/mb/c.lua:2:") && strstr(err, "runs too long"));
    mb_config_free(&cfg);
    REQUIRE(mb_config_defaults(&cfg, NULL) == 0);
    CHECK_EQ_INT(mb_config_load_text(&cfg, "/etc/mb/c.lua", loop, strlen(loop), NULL, err, sizeof err), 0);
    mb_config_free(&cfg);
}

/* ---- listeners ---- */

TEST(defaults_have_one_websocket_listener_like_the_websocket_key)
{
    struct mb_config c;
    REQUIRE(mb_config_defaults(&c, DEFAULT_WEB_ROOT) == 0);
    REQUIRE(c.nlisteners == 1);
    CHECK_EQ_INT(c.listeners[0].kind, MB_LISTEN_WEBSOCKET);
    CHECK_EQ_STR(c.listeners[0].host, "127.0.0.1");
    CHECK_EQ_INT(c.listeners[0].port, 8080);
    CHECK_EQ_STR(c.listeners[0].path, "/ws");
    CHECK_EQ_STR(c.listeners[0].web_root, DEFAULT_WEB_ROOT);
    CHECK(c.listeners[0].unix_path == NULL && c.listeners[0].tls.cert == NULL);
    CHECK_EQ_INT(c.listeners[0].max_message_size, 1048576);
    mb_config_free(&c);
}

TEST(websocket_and_rawsocket_keys_come_first_then_the_listeners_in_order)
{
    struct fx f;
    LOADS(&f, "return {\n"
              "  websocket = { port = 9000 },\n"
              "  rawsocket = { host = \"::1\", port = 9001 },\n"
              "  realms = { { name = \"a\" }, { name = \"b\" } },\n"
              "  limits = { max_message_size = 4096 },\n"
              "  listeners = {\n"
              "    { type = \"rawsocket\", unix = \"run/mb.sock\", mode = \"0600\", realms = { \"b\" },\n"
              "      max_connections = 5, handshake_timeout = 2.5 },\n"
              "    { type = \"websocket\", host = \"0.0.0.0\", port = 0, path = \"/wamp\", web_root = \"www\",\n"
              "      compression = true, tls = { cert = \"c.pem\", key = \"/k.pem\", ca = \"ca.pem\" },\n"
              "      max_message_size = 65536 },\n"
              "    { type = \"rawsocket\", port = 7000, mode = nil },\n"
              "  },\n"
              "}\n");
    REQUIRE(f.cfg.nlisteners == 5);
    const struct mb_listener_config *l = f.cfg.listeners;
    CHECK_EQ_INT(l[0].kind, MB_LISTEN_WEBSOCKET);
    CHECK_EQ_INT(l[0].port, 9000);
    CHECK_EQ_INT(l[0].max_message_size, 4096);
    CHECK_EQ_INT(l[1].kind, MB_LISTEN_RAWSOCKET);
    CHECK_EQ_STR(l[1].host, "::1");
    CHECK_EQ_INT(l[1].port, 9001);
    CHECK_EQ_INT(l[2].kind, MB_LISTEN_RAWSOCKET);
    char want[256];
    snprintf(want, sizeof want, "%s/run/mb.sock", f.dir);
    CHECK_EQ_STR(l[2].unix_path, want);
    CHECK(l[2].host == NULL);
    CHECK_EQ_INT(l[2].unix_mode, 0600);
    REQUIRE(l[2].nrealms == 1);
    CHECK_EQ_STR(l[2].realms[0], "b");
    CHECK_EQ_INT(l[2].max_connections, 5);
    CHECK(l[2].handshake_timeout == 2.5);
    CHECK_EQ_INT(l[2].max_message_size, 4096);
    CHECK_EQ_INT(l[3].kind, MB_LISTEN_WEBSOCKET);
    CHECK_EQ_STR(l[3].host, "0.0.0.0");
    CHECK_EQ_STR(l[3].path, "/wamp");
    snprintf(want, sizeof want, "%s/www", f.dir);
    CHECK_EQ_STR(l[3].web_root, want);
    CHECK(l[3].compression);
    snprintf(want, sizeof want, "%s/c.pem", f.dir);
    CHECK_EQ_STR(l[3].tls.cert, want);
    CHECK_EQ_STR(l[3].tls.key, "/k.pem");
    snprintf(want, sizeof want, "%s/ca.pem", f.dir);
    CHECK_EQ_STR(l[3].tls.ca, want);
    CHECK_EQ_INT(l[3].max_message_size, 65536);
    CHECK(l[3].nrealms == 0);
    CHECK_EQ_STR(l[4].host, "127.0.0.1");
    CHECK_EQ_INT(l[4].port, 7000);
    CHECK(l[4].handshake_timeout == 0 && l[4].max_connections == 0);
    fx_done(&f);
}

TEST(a_listeners_list_without_the_websocket_key_has_no_default_websocket)
{
    struct fx f;
    LOADS(&f, "return { listeners = { { type = \"rawsocket\", port = 0, mode = nil } } }\n");
    REQUIRE(f.cfg.nlisteners == 1);
    CHECK_EQ_INT(f.cfg.listeners[0].kind, MB_LISTEN_RAWSOCKET);
    CHECK(!f.cfg.ws_enabled);
    fx_done(&f);
    LOADS(&f, "return { listeners = { { type = \"rawsocket\", unix = \"/tmp/x.sock\", mode = 384 } } }\n");
    REQUIRE(f.cfg.nlisteners == 1);
    CHECK_EQ_INT(f.cfg.listeners[0].unix_mode, 0600);
    fx_done(&f);
    FAILS_WITH("return { websocket = false, listeners = {} }\n", "no listener");
}

TEST(listener_keys_are_checked_with_their_path)
{
    FAILS_WITH("return { listeners = 5 }\n", "listeners", "must be a list");
    FAILS_WITH("return { listeners = { 5 } }\n", "listeners[1]", "must be a table");
    FAILS_WITH("return { listeners = { { port = 1 } } }\n", "listeners[1].type", "required");
    FAILS_WITH("return { listeners = { { type = \"mqtt\", port = 1 } } }\n", "listeners[1].type",
               "\"websocket\" or \"rawsocket\"");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, colour = 2 } } }\n",
               "listeners[1].colour", "not a known setting");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\" } } }\n", "listeners[1].port", "required");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", host = \"::\" } } }\n", "listeners[1].port");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 70000 } } }\n", "listeners[1].port", "between");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = \"80\" } } }\n", "listeners[1].port",
               "must be a number");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, unix = \"/s\" } } }\n",
               "listeners[1].unix", "host or port");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", host = \"h\", unix = \"/s\" } } }\n",
               "listeners[1].unix", "host or port");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", unix = 5 } } }\n", "listeners[1].unix", "string");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, mode = \"0600\" } } }\n",
               "listeners[1].mode", "Unix");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", unix = \"/s\", mode = \"0698\" } } }\n",
               "listeners[1].mode", "octal");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", unix = \"/s\", mode = \"1777\" } } }\n",
               "listeners[1].mode", "octal");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", unix = \"/s\", mode = 1000 } } }\n",
               "listeners[1].mode");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", unix = \"/s\", mode = true } } }\n",
               "listeners[1].mode");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, path = \"/ws\" } } }\n",
               "listeners[1].path", "only for a websocket");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, web_root = \"w\" } } }\n",
               "listeners[1].web_root", "only for a websocket");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, compression = true } } }\n",
               "listeners[1].compression", "only for a websocket");
    FAILS_WITH("return { listeners = { { type = \"websocket\", port = 1, path = \"ws\" } } }\n",
               "listeners[1].path", "'/'");
    FAILS_WITH("return { listeners = { { type = \"websocket\", port = 1, web_root = 3 } } }\n",
               "listeners[1].web_root", "path or false");
    FAILS_WITH("return { listeners = { { type = \"websocket\", port = 1, compression = \"yes\" } } }\n",
               "listeners[1].compression", "true or false");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, tls = \"c.pem\" } } }\n",
               "listeners[1].tls", "must be a table");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, tls = { cert = \"c\" } } } }\n",
               "listeners[1].tls.key", "required");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, tls = { key = \"k\" } } } }\n",
               "listeners[1].tls.cert", "required");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, tls = { cert = \"c\", key = \"k\", crl = 1 } } } }\n",
               "listeners[1].tls.crl", "not a known setting");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, realms = { \"nope\" } } } }\n",
               "listeners[1].realms", "'nope'", "not a configured realm");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, realms = \"realm1\" } } }\n",
               "listeners[1].realms", "list");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, realms = { 1 } } } }\n",
               "listeners[1].realms", "names");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, realms = {} } } }\n",
               "listeners[1].realms", "at least one");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, max_message_size = 10 } } }\n",
               "listeners[1].max_message_size", "between");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, max_connections = -1 } } }\n",
               "listeners[1].max_connections", "between");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, max_connections = 1.5 } } }\n",
               "listeners[1].max_connections", "integer");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1, handshake_timeout = 0 } } }\n",
               "listeners[1].handshake_timeout", "between");
    FAILS_WITH("return { listeners = { { type = \"rawsocket\", port = 1 }, { type = \"rawsocket\" } } }\n",
               "listeners[2].port");
}

/* ---- realms[i].auth, roles, brute_force (M10) ---- */

static const char *const PUBKEY = "545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122";

static const struct mb_auth_user *user_of(const struct mb_realm_config *rc, int m, const char *authid)
{
    for (size_t i = 0; i < rc->auth.method[m].nusers; i++)
        if (strcmp(rc->auth.method[m].users[i].authid, authid) == 0)
            return &rc->auth.method[m].users[i];
    return NULL;
}

TEST(auth_section_loads_every_method_with_its_users)
{
    struct fx f;
    char text[2048];
    snprintf(text, sizeof text,
             "return { realms = { { name = 'realm1', auth = {\n"
             "  anonymous = { role = 'guest' },\n"
             "  ticket = { users = { alice = { ticket = 'a-t', role = 'admin' } } },\n"
             "  wampcra = { users = { bob = { secret = 'b-s', role = 'user' },\n"
             "                        dave = { secret = 'KEY', salt = 'salt', iterations = 10, keylen = 16, role = 'user' } } },\n"
             "  cryptosign = { users = { carol = { pubkeys = { '%s' }, role = 'user' } } } },\n"
             "  roles = { admin = { { uri = '', match = 'prefix', allow = '*', disclose = true } },\n"
             "            user = { { uri = 'com.', match = 'prefix', allow = { 'call', 'subscribe' } },\n"
             "                     { uri = 'com.x', deny = { 'publish' } } },\n"
             "            guest = { { uri = 'com..tick', match = 'wildcard', allow = 'subscribe' } } } } } }\n",
             PUBKEY);
    LOADS(&f, text);
    const struct mb_realm_config *rc = &f.cfg.realms[0];
    CHECK(rc->auth.present);
    CHECK(rc->auth.method[MB_AUTH_ANONYMOUS].enabled);
    CHECK_EQ_STR(rc->auth.anonymous_role, "guest");
    const struct mb_auth_user *a = user_of(rc, MB_AUTH_TICKET, "alice");
    REQUIRE(a);
    CHECK_EQ_STR(a->secret, "a-t");
    CHECK_EQ_STR(a->role, "admin");
    CHECK(a->secret_in_clear);
    const struct mb_auth_user *d = user_of(rc, MB_AUTH_WAMPCRA, "dave");
    REQUIRE(d);
    CHECK_EQ_STR(d->salt, "salt");
    CHECK(d->iterations == 10 && d->keylen == 16);
    const struct mb_auth_user *b = user_of(rc, MB_AUTH_WAMPCRA, "bob");
    REQUIRE(b);
    CHECK(b->salt == NULL);
    const struct mb_auth_user *c = user_of(rc, MB_AUTH_CRYPTOSIGN, "carol");
    REQUIRE(c);
    CHECK(c->npubkeys == 1 && c->pubkeys[0][0] == 0x54 && c->pubkeys[0][31] == 0x22);
    CHECK(rc->has_roles && rc->nroles == 3);
    fx_done(&f);
}

TEST(without_an_auth_section_nothing_is_present)
{
    struct fx f;
    LOADS(&f, "return { realms = { { name = 'realm1' } } }");
    CHECK(!f.cfg.realms[0].auth.present);
    CHECK(!f.cfg.realms[0].has_roles);
    CHECK(f.cfg.brute_force.free_failures == 5 && f.cfg.brute_force.lockout_after == 10);
    CHECK(f.cfg.auth_timeout == 10);
    fx_done(&f);
}

TEST(secrets_come_from_files_and_environment_variables)
{
    struct fx f;
    char dir[64] = "/tmp/mb-unit-secret-XXXXXX", path[128], text[1024];
    REQUIRE(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ticket.txt", dir);
    REQUIRE(write_file(path, "from-a-file\n") == 0);
    setenv("MB_UNIT_SECRET", "from-the-env", 1);
    snprintf(text, sizeof text,
             "return { realms = { { name = 'realm1', auth = {\n"
             "  ticket = { users = { a = { ticket = { file = '%s' }, role = 'r' } } },\n"
             "  wampcra = { users = { b = { secret = { env = 'MB_UNIT_SECRET' }, role = 'r' } } } } } } }\n", path);
    LOADS(&f, text);
    const struct mb_auth_user *a = user_of(&f.cfg.realms[0], MB_AUTH_TICKET, "a");
    const struct mb_auth_user *b = user_of(&f.cfg.realms[0], MB_AUTH_WAMPCRA, "b");
    REQUIRE(a && b);
    CHECK_EQ_STR(a->secret, "from-a-file"); /* the trailing newline dropped */
    CHECK(a->secret_len == 11 && !a->secret_in_clear);
    CHECK_EQ_STR(b->secret, "from-the-env");
    CHECK(!b->secret_in_clear);
    fx_done(&f);
    unsetenv("MB_UNIT_SECRET");
    FAILS_WITH("return { realms = { { name = 'r', auth = { ticket = { users = { a = { ticket = { env = 'MB_UNIT_UNSET_X' }, role = 'r' } } } } } } }",
               "MB_UNIT_UNSET_X", "not set");
    FAILS_WITH("return { realms = { { name = 'r', auth = { ticket = { users = { a = { ticket = { file = '/nonexistent/t' }, role = 'r' } } } } } } }",
               "/nonexistent/t", "cannot be read");
    FAILS_WITH("return { realms = { { name = 'r', auth = { ticket = { users = { a = { ticket = { file = 'x', env = 'y' }, role = 'r' } } } } } } }",
               "ticket");
    unlink(path);
    rmdir(dir);
}

TEST(bad_auth_sections_are_refused_naming_the_key)
{
    FAILS_WITH("return { realms = { { name = 'r', auth = 5 } } }", "auth", "must be a table");
    FAILS_WITH("return { realms = { { name = 'r', auth = { scram = true } } } }", "scram", "not a known setting");
    FAILS_WITH("return { realms = { { name = 'r', auth = { ticket = { users = { a = { ticket = 't' } } } } } } }",
               "users.a", "role", "required");
    FAILS_WITH("return { realms = { { name = 'r', auth = { ticket = { users = { a = { role = 'x' } } } } } } }",
               "ticket", "required");
    FAILS_WITH("return { realms = { { name = 'r', auth = { ticket = { users = { a = { ticket = '', role = 'x' } } } } } } }",
               "empty");
    FAILS_WITH("return { realms = { { name = 'r', auth = { wampcra = { users = { b = { secret = 's', iterations = 5, role = 'x' } } } } } } }",
               "salt", "required");
    FAILS_WITH("return { realms = { { name = 'r', auth = { wampcra = { users = { b = { secret = 's', salt = 's', keylen = 0, role = 'x' } } } } } } }",
               "keylen");
    FAILS_WITH("return { realms = { { name = 'r', auth = { cryptosign = { users = { c = { pubkeys = { 'abcd' }, role = 'x' } } } } } } }",
               "pubkeys", "64 hex");
    FAILS_WITH("return { realms = { { name = 'r', auth = { cryptosign = { users = { c = { role = 'x' } } } } } } }",
               "pubkeys", "required");
    FAILS_WITH("return { realms = { { name = 'r', auth = { ticket = { users = { a = { ticket = 't', role = 'x', tiket = 1 } } } } } } }",
               "tiket");
    FAILS_WITH("return { realms = { { name = 'r', auth = { ticket = { users = { 't' } } } } } }", "authid");
}

TEST(bad_roles_are_refused_naming_the_rule)
{
    FAILS_WITH("return { realms = { { name = 'r', roles = { u = { { uri = 'a', allow = { 'pubish' } } } } } } }",
               "roles.u[1].allow", "pubish");
    FAILS_WITH("return { realms = { { name = 'r', roles = { u = { { uri = 'a' } } } } } }", "roles.u[1]", "allows and denies nothing");
    FAILS_WITH("return { realms = { { name = 'r', roles = { u = { { uri = 'a', allow = 'call', deny = 'call' } } } } } }",
               "both allows and denies call");
    FAILS_WITH("return { realms = { { name = 'r', roles = { u = { { uri = 'a', match = 'glob', allow = '*' } } } } } }",
               "match");
    FAILS_WITH("return { realms = { { name = 'r', roles = { u = { { uri = 'a..b', allow = '*' } } } } } }", "not a valid URI");
    FAILS_WITH("return { realms = { { name = 'r', roles = { u = { { allow = '*' } } } } } }", "uri", "required");
    FAILS_WITH("return { realms = { { name = 'r', roles = { u = { { uri = 'a', allow = '*', when = 1 } } } } } }", "when");
    FAILS_WITH("return { realms = { { name = 'r', roles = { u = { { uri = 'a', allow = 'call' }, { uri = 'a', allow = 'call' } } } } } }",
               "rules 1 and 2");
    /* with roles, every role a user or anonymous gets must exist */
    FAILS_WITH("return { realms = { { name = 'r', auth = { ticket = { users = { a = { ticket = 't', role = 'admn' } } } },\n"
               "  roles = { admin = { { uri = '', match = 'prefix', allow = '*' } } } } } }",
               "users.a", "admn", "not one of");
    FAILS_WITH("return { realms = { { name = 'r', auth = { anonymous = true },\n"
               "  roles = { admin = { { uri = '', match = 'prefix', allow = '*' } } } } } }",
               "anonymous", "not one of");
}

TEST(brute_force_section_is_read_and_checked)
{
    struct fx f;
    LOADS(&f, "return { brute_force = { free_failures = 2, delay = 0.5, max_delay = 4, lockout_after = 0, lockout = 5,"
              " forget_after = 30, max_addresses = 100 }, limits = { auth_timeout = 3 } }");
    const struct mb_brute_force_config *b = &f.cfg.brute_force;
    CHECK(b->free_failures == 2 && b->delay == 0.5 && b->max_delay == 4 && b->lockout_after == 0);
    CHECK(b->lockout == 5 && b->forget_after == 30 && b->max_addresses == 100);
    CHECK(f.cfg.auth_timeout == 3);
    fx_done(&f);
    FAILS_WITH("return { brute_force = { delay = 2, max_delay = 1 } }", "max_delay");
    FAILS_WITH("return { brute_force = { lockdown = 1 } }", "lockdown");
    FAILS_WITH("return { brute_force = true }", "brute_force");
}

static void count_warning(void *ctx, const char *line)
{
    (void)line;
    ++*(int *)ctx;
}

TEST(check_config_warns_about_open_realms_on_public_listeners_and_secrets_in_clear)
{
    struct fx f;
    int n = 0;
    LOADS(&f, "return { websocket = { host = '0.0.0.0', port = 0 } }");
    CHECK(mb_config_warnings(&f.cfg, count_warning, &n) == 1); /* anonymous may do everything */
    fx_done(&f);
    LOADS(&f, "return { websocket = { host = '127.0.0.1', port = 0 },\n"
              " realms = { { name = 'r', auth = { ticket = { users = { a = { ticket = 't', role = 'u' } } } } } } }");
    n = 0;
    CHECK(mb_config_warnings(&f.cfg, count_warning, &n) == 1); /* the ticket in clear */
    fx_done(&f);
    LOADS(&f, "return { websocket = { host = '0.0.0.0', port = 0 },\n"
              " realms = { { name = 'r', auth = { anonymous = true },\n"
              "   roles = { anonymous = { { uri = 'com.', match = 'prefix', allow = 'call' } } } } } }");
    n = 0;
    CHECK(mb_config_warnings(&f.cfg, count_warning, &n) == 0); /* anonymous, but limited */
    CHECK(n == 0);
    fx_done(&f);
}

/* ---- http (M11) ---- */

TEST(http_section_loads_paths_subscribers_and_callees)
{
    struct fx f;
    LOADS(&f, "return { http = { paths = {\n"
              "  ['/publish'] = { type = 'publisher', realm = 'realm1', options = { post_body_limit = 4096 } },\n"
              "  ['/signed'] = { type = 'caller', realm = 'realm1', role = 'svc', options = { key = 'k', secret = 's',\n"
              "                  timestamp_delta_limit = 60, require_increasing_seq = true, timeout = 500, max_in_flight = 3 } },\n"
              "  ['/hook'] = { type = 'webhook', realm = 'realm1', options = { topic = 'app.hook', github_secret = 'g' } },\n"
              "  ['/lp'] = { type = 'longpoll', options = { request_timeout = 2 } } },\n"
              " subscribers = { { realm = 'realm1', topic = 'app.', match = 'prefix', url = 'http://127.0.0.1:1/x' } },\n"
              " callees = { { realm = 'realm1', procedure = 'app.http', baseurl = 'http://127.0.0.1:1/', max_bytes = 10 } } } }");
    const struct mb_http_config *h = &f.cfg.http;
    REQUIRE(h->npaths == 4 && h->nsubscribers == 1 && h->ncallees == 1);
    for (size_t i = 0; i < h->npaths; i++) {
        const struct mb_http_path_config *p = &h->paths[i];
        if (strcmp(p->path, "/publish") == 0) {
            CHECK(p->kind == MB_HTTP_PUBLISHER && p->post_body_limit == 4096);
            CHECK_EQ_STR(p->role, "anonymous");
            CHECK(p->key == NULL && p->timestamp_delta_limit == 300);
        } else if (strcmp(p->path, "/signed") == 0) {
            CHECK(p->kind == MB_HTTP_CALLER && p->require_increasing_seq && p->timeout_ms == 500 && p->max_in_flight == 3);
            CHECK_EQ_STR(p->key, "k");
            CHECK(p->secret_len == 1 && p->secret[0] == 's');
            CHECK_EQ_STR(p->role, "svc");
        } else if (strcmp(p->path, "/hook") == 0) {
            CHECK(p->kind == MB_HTTP_WEBHOOK);
            CHECK_EQ_STR(p->topic, "app.hook");
            CHECK(p->github_secret_len == 1);
        } else {
            CHECK(p->kind == MB_HTTP_LONGPOLL && p->realm == NULL && p->request_timeout == 2);
        }
    }
    CHECK(h->subscribers[0].match == MB_MATCH_PREFIX && h->subscribers[0].queue == 1000);
    CHECK_EQ_STR(h->subscribers[0].method, "POST");
    CHECK(h->callees[0].max_bytes == 10 && h->callees[0].timeout_ms == 10000);
    fx_done(&f);
}

TEST(bad_http_sections_are_refused_naming_the_key)
{
    FAILS_WITH("return { http = { paths = { ['/x'] = { type = 'publisher', realm = 'nope' } } } }", "realm", "nope");
    FAILS_WITH("return { http = { paths = { ['/x'] = { type = 'pub', realm = 'realm1' } } } }", "type", "pub");
    FAILS_WITH("return { http = { paths = { ['x'] = { type = 'publisher', realm = 'realm1' } } } }", "paths", "'/'");
    FAILS_WITH("return { http = { paths = { ['/x'] = { type = 'webhook', realm = 'realm1' } } } }", "topic", "required");
    FAILS_WITH("return { http = { paths = { ['/x'] = { type = 'caller', realm = 'realm1', options = { key = 'k' } } } } }",
               "secret", "required");
    FAILS_WITH("return { http = { paths = { ['/x'] = { type = 'caller', realm = 'realm1', options = { topic = 'a' } } } } }",
               "topic", "not a known setting");
    FAILS_WITH("return { http = { subscribers = { { realm = 'realm1', topic = 'a', url = 'ftp://x' } } } }", "url");
    FAILS_WITH("return { http = { callees = { { realm = 'realm1', procedure = 'a' } } } }", "baseurl");
    FAILS_WITH("return { http = { callers = {} } }", "callers", "not a known setting");
}

UNIT_MAIN()
