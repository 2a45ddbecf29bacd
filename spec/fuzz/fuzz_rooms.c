/* libFuzzer harness of the room service (lua/lib/moonbar/rooms.lua and the games of
 * lua/apps/games/), driven as clients drive it: one router per process whose realm runs the
 * games app (spec/fuzz/rooms_app: the games' own modules, linked, started as their init.lua
 * starts them, plus fuzz.rooms.check and fuzz.rooms.reset), and per input 2 or 3 in-process
 * sessions that CALL moonbar.room.create / join / act / state / leave / list and
 * moonbar.leaderboard.top with arguments from tables (room kinds, the rooms this input created,
 * the real action names: chat, whisper, move, start, roll, moves, resign, offer_draw, ...;
 * payloads of every type: cells, chess moves, texts, tables, nulls, huge numbers).
 *
 * Checks: every CALL gets its RESULT or ERROR, and no ERROR is wamp.error.runtime_error (a Lua
 * error outside the service's own error path: moonbar.error.room.*); after the input's calls and
 * again after its sessions left, fuzz.rooms.check finds the service's invariants true (rooms
 * filed under their ID, a known status, integer seq, at most 50 chat lines, each seat held
 * once, every member with a session indexed by it and every index entry a member of its room).
 * Then fuzz.rooms.reset closes the input's rooms. No crash, leak or UB on the C side. */
#include "fuzz_router.h"
#include "fuzz_util.h"

#include "mb_dealer.h"
#include "../../src/lua/lua_internal.h"

#include <limits.h>

#define NSLOTS 3

struct rd {
    const uint8_t *p, *end;
};

static unsigned u8(struct rd *r)
{
    return r->p < r->end ? *r->p++ : 0;
}

static struct fz_conn conns[NSLOTS + 1]; /* the last one: the harness's own session */
static char app[PATH_MAX];
static uint64_t req;
static char known[8][64];
static size_t nknown;

static void setup(struct mb_config *cfg)
{
    const char *root = getenv("MB_FUZZ_ROOT");
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/spec/fuzz/rooms_app", root ? root : ".");
    ASSERT(realpath(want, app));
    cfg->realms[0].apps = calloc(1, sizeof *cfg->realms[0].apps);
    cfg->realms[0].apps[0] = strdup(app);
    cfg->realms[0].napps = 1;
    cfg->lua_watch = false;
    cfg->lua_callback_timeout = 10; /* the sanitizers are slow: no callback is cut short */
}

static void hello(struct fz_conn *c, int i)
{
    char peer[16];
    snprintf(peer, sizeof peer, "fuzz:%d", i);
    fz_open(c, -1, peer);
    json_t *m = json_pack("[is{s{s{}}}]", 1, "realm1", "roles", "caller");
    mb_session_receive_json(c->s, m);
    json_decref(m);
    ASSERT(c->s->state == MB_S_JOINED);
}

/* CALLs proc with args and kwargs (JSON texts) from c, and runs the loop until the answer
 * comes; returns it (borrowed, valid until the next call) or NULL if the session is gone. */
static json_t *call(struct fz_conn *c, const char *proc, const char *args, const char *kwargs)
{
    char text[2048];
    uint64_t id = ++req;
    snprintf(text, sizeof text, "[48,%llu,{},\"%s\",%s,%s]", (unsigned long long)id, proc, args, kwargs);
    json_t *m = json_loads(text, JSON_ALLOW_NUL, NULL);
    ASSERT(m);
    json_decref(c->last);
    c->last = NULL;
    mb_session_receive_json(c->s, m);
    json_decref(m);
    /* most answers take a turn or two; moonbar.store calls wait for the store's thread */
    uint64_t t0 = uv_hrtime();
    for (int turn = 0; !c->last && c->s && uv_hrtime() - t0 < 5000000000ULL; turn++) {
        fz_turn(conns, NSLOTS + 1);
        if (turn > 100)
            usleep(50);
    }
    if (!c->s)
        return NULL;
    json_t *a = c->last;
    ASSERT(a);
    if (getenv("MB_FUZZ_LOG")) {
        char *d = json_dumps(a, JSON_ENCODE_ANY);
        fprintf(stderr, "CALL %s %s %s -> %s\n", proc, args, kwargs, d);
        free(d);
    }
    ASSERT((uint64_t)json_integer_value(json_array_get(a, json_integer_value(json_array_get(a, 0)) == 8 ? 2 : 1)) == id);
    if (json_integer_value(json_array_get(a, 0)) == 8) {
        const char *uri = json_string_value(json_array_get(a, 4));
        if (!uri || strcmp(uri, "wamp.error.runtime_error") == 0 || strcmp(uri, "fuzz.rooms.invariant") == 0) {
            char *d = json_dumps(a, JSON_ENCODE_ANY);
            fprintf(stderr, "%s %s %s -> %s\n", proc, args, kwargs, d);
            free(d);
            ASSERT(!"a room procedure failed outside the room service's errors");
        }
    }
    return a;
}

static const char *const kinds[] = { "\"tictactoe\"", "\"goose\"", "\"chess\"", "\"chat\"", "\"bogus\"", "5", "null" };
static const char *const create_kw[] = {
    "{}", "{\"reconnect_s\":0}", "{\"max_players\":2}", "{\"max_players\":9}", "{\"turn_timeout_s\":0.1}",
    "{\"clock\":{\"initial_s\":60,\"increment_s\":1}}", "{\"clock\":false}", "{\"clock\":\"x\"}", "{\"fen\":\"8/8/8/8/8/8/8/K6k w - - 0 1\"}",
    "{\"fen\":\"bogus\"}", "{\"rated\":false}", "{\"x\":1}", "{\"reconnect_s\":-1}",
};
static const char *const join_kw[] = {
    "{}", "{\"as\":\"spectator\"}", "{\"as\":\"bogus\"}", "{\"name\":\"ann\"}", "{\"name\":\"\"}", "{\"seat\":2}",
    "{\"seat\":\"x\"}", "{\"seat\":99}", "{\"token\":\"t\"}", "{\"token\":5}", "{\"name\":5,\"as\":\"spectator\"}",
    "{\"name\":\"\\u00e9\\u0000\"}",
};
static const char *const actions[] = { "chat", "whisper", "move", "move", "move", "start", "roll", "moves",
                                       "resign", "offer_draw", "accept_draw", "decline_draw", "pgn", "flag",
                                       "turn", "bogus", "" };
static const char *const payloads[] = {
    "", ",1", ",5", ",9", ",0", ",10", ",-1", ",2.5", ",\"e2e4\"", ",\"e7e5\"", ",\"g1f3\"", ",\"e2e5\"",
    ",\"e7e8q\"", ",\"O-O\"", ",\"\"", ",\"hello\"", ",\"ann\",\"hi\"", ",\"player 1\",\"psst\"", ",null", ",{}",
    ",[]", ",9007199254740993", ",1e308", ",true", ",\"\\u0000\\u00ff\"", ",\"a\",\"b\",\"c\"",
};

/* A room argument: one this input created, the lobby, or something else. */
static void room_arg(struct rd *r, char *out, size_t n)
{
    unsigned b = u8(r);
    if (b % 8 == 0 || (!nknown && b % 8 > 2))
        snprintf(out, n, "\"lobby\"");
    else if (b % 8 == 1)
        snprintf(out, n, "\"nope\"");
    else if (b % 8 == 2)
        snprintf(out, n, "%s", (b & 8) ? "5" : "null");
    else
        snprintf(out, n, "\"%s\"", known[(b >> 3) % nknown]);
}

static void step(struct rd *r)
{
    unsigned b = u8(r);
    struct fz_conn *c = &conns[b % NSLOTS];
    if (!c->s) {
        hello(c, (int)(b % NSLOTS));
        return;
    }
    char args[512], room[80];
    switch ((b >> 2) % 10) {
    case 0: {
        json_t *a = call(c, "moonbar.room.create", (snprintf(args, sizeof args, "[%s]", kinds[u8(r) % 7]), args),
                         create_kw[u8(r) % (sizeof create_kw / sizeof create_kw[0])]);
        json_t *id = a ? json_object_get(json_array_get(a, 4), "room") : NULL;
        if (json_is_string(id) && nknown < 8)
            snprintf(known[nknown++], sizeof known[0], "%s", json_string_value(id));
        break;
    }
    case 1:
        room_arg(r, room, sizeof room);
        snprintf(args, sizeof args, "[%s]", room);
        call(c, "moonbar.room.join", args, join_kw[u8(r) % (sizeof join_kw / sizeof join_kw[0])]);
        break;
    case 2: case 3: case 4: case 5: {
        room_arg(r, room, sizeof room);
        unsigned a = u8(r), p = u8(r);
        snprintf(args, sizeof args, "[%s,\"%s\"%s%s]", room, actions[a % (sizeof actions / sizeof actions[0])],
                 payloads[p % (sizeof payloads / sizeof payloads[0])],
                 (p & 0x80) ? payloads[(p >> 2) % (sizeof payloads / sizeof payloads[0])] : "");
        call(c, "moonbar.room.act", args, (a & 0x80) ? "{\"x\":1}" : "{}");
        break;
    }
    case 6:
        room_arg(r, room, sizeof room);
        snprintf(args, sizeof args, "[%s]", room);
        call(c, "moonbar.room.state", args, "{}");
        break;
    case 7:
        room_arg(r, room, sizeof room);
        snprintf(args, sizeof args, "[%s]", room);
        call(c, "moonbar.room.leave", args, "{}");
        break;
    case 8: {
        unsigned k = u8(r);
        if (k & 1)
            call(c, "moonbar.room.list", (k & 2) ? "[]" : (snprintf(args, sizeof args, "[%s]", kinds[(k >> 2) % 7]), args), "{}");
        else
            call(c, "moonbar.leaderboard.top", (k & 2) ? "[\"chess\",5]" : (k & 4) ? "[\"\",0]" : "[\"goose\",\"x\"]", "{}");
        break;
    }
    default: /* the session goes: its seats wait for it, its spectating ends */
        mb_session_close(c->s, 1000, "gone", false);
        fz_turn(conns, NSLOTS + 1);
        break;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_router_init(setup);
    struct mb_realm *realm = mb_map_get_str(&fz.r.realms, "realm1", 6);
    /* the app registers its procedures once the loop runs */
    for (int i = 0; i < 10000 && realm->dealer.by_id.len < 10; i++)
        uv_run(&fz.loop, UV_RUN_NOWAIT);
    ASSERT(realm->dealer.by_id.len >= 10);
    hello(&conns[NSLOTS], NSLOTS);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rd r = { data, data + size };
    struct fz_conn *admin = &conns[NSLOTS];
    nknown = 0;
    int n = 2 + (int)(u8(&r) % 2);
    for (int i = 0; i < n; i++)
        hello(&conns[i], i);
    for (int k = 0; k < 64 && r.p < r.end; k++)
        step(&r);
    call(admin, "fuzz.rooms.check", "[]", "{}");
    for (int i = 0; i < NSLOTS; i++)
        if (conns[i].s)
            mb_session_close(conns[i].s, 1000, "end of input", false);
    for (int t = 0; t < 4; t++)
        fz_turn(conns, NSLOTS + 1);
    for (int i = 0; i < NSLOTS; i++)
        ASSERT(!conns[i].s);
    call(admin, "fuzz.rooms.check", "[]", "{}");
    call(admin, "fuzz.rooms.reset", "[]", "{}");
    ASSERT(admin->s && json_integer_value(json_array_get(admin->last, 0)) == 50);
    /* what the input made is garbage now: collected, so that libFuzzer's leak check (run when an
     * input leaves more allocations than it found) has nothing to look at */
    struct mb_realm *realm = mb_map_get_str(&fz.r.realms, "realm1", 6);
    for (struct mb_script *sc = realm->lua->scripts; sc; sc = sc->next)
        if (sc->L)
            lua_gc(sc->L, LUA_GCCOLLECT);
    return 0;
}
