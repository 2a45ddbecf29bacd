/* mb_store on a real SQLite file in a temporary folder: the backend's ops one by one (values,
 * versions, conflicts, deletes, prefix listing, leaderboards and their ties), persistence
 * across close and reopen, files that cannot be a store, a full database, and the store's
 * batches on a uv loop (completion order, the synchronous path, sync after a failed write,
 * cancelled waits, the shutdown flush). */
#include "unit.h"

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mb_store.h"

/* ---- helpers ---- */

static char dir[64];

/* A fresh temporary folder; returns path/name in buf. */
static const char *tmp_path(char *buf, size_t n, const char *name)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/mb-store-test-XXXXXX");
        if (!mkdtemp(dir))
            return NULL;
    }
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char sub[512];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static const struct mb_store_backend *be = &mb_store_sqlite;

static void *open_db(const char *name, uint64_t max_bytes)
{
    char path[256], err[256] = "";
    void *c = be->open(tmp_path(path, sizeof path, name), max_bytes, err, sizeof err);
    if (!c)
        printf("# open %s: %s\n", path, err);
    return c;
}

static struct mb_store_op *op_of(enum mb_store_kind kind, const char *coll, const char *key, const char *value)
{
    return mb_store_op_new(kind, coll, coll ? strlen(coll) : 0, key, key ? strlen(key) : 0, value,
                           value ? strlen(value) : 0);
}

/* Runs op alone in a transaction of c; returns it (its results). */
static struct mb_store_op *run1(void *c, struct mb_store_op *op)
{
    char err[200];
    if (be->begin(c, err, sizeof err) < 0) {
        op->status = MB_STORE_FAILED;
        snprintf(op->err, sizeof op->err, "%s", err);
        return op;
    }
    if (be->apply(c, op) == MB_APPLY_ABORTED)
        return op;
    if (be->commit(c, err, sizeof err) < 0 && op->status != MB_STORE_FAILED) {
        op->status = MB_STORE_FAILED;
        snprintf(op->err, sizeof op->err, "%s", err);
    }
    return op;
}

/* put; returns the new version (-1: failed, -2 - actual: conflict) */
static long long put(void *c, const char *coll, const char *key, const char *value, long long expect)
{
    struct mb_store_op *op = op_of(MB_STORE_PUT, coll, key, value);
    op->expect = expect;
    run1(c, op);
    long long v = op->status == MB_STORE_OK ? op->version
                  : op->status == MB_STORE_CONFLICT ? -2 - op->version : -1;
    if (op->status == MB_STORE_FAILED)
        printf("# put %s/%s: %s\n", coll, key, op->err);
    mb_store_op_free(op);
    return v;
}

/* get: the value text into buf ("" if absent), returns the version (0: absent, -1: failed) */
static long long get(void *c, const char *coll, const char *key, char *buf, size_t n)
{
    struct mb_store_op *op = run1(c, op_of(MB_STORE_GET, coll, key, NULL));
    long long v = op->status == MB_STORE_OK ? op->version : op->status == MB_STORE_ABSENT ? 0 : -1;
    snprintf(buf, n, "%s", op->status == MB_STORE_OK ? op->text : "");
    mb_store_op_free(op);
    return v;
}

/* "key=value@version;..." of a list */
static void list(void *c, const char *coll, const char *prefix, int limit, char *buf, size_t n)
{
    struct mb_store_op *op = op_of(MB_STORE_LIST, coll, prefix, NULL);
    op->limit = limit;
    run1(c, op);
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < op->nrows && at < n; i++) {
        const struct mb_store_row *r = &op->rows[i];
        at += (size_t)snprintf(buf + at, n - at, "%s=%s@%lld;", op->text + r->key, op->text + r->value,
                               (long long)r->version);
    }
    mb_store_op_free(op);
}

static struct mb_store_score iscore(int64_t i) { return (struct mb_store_score){ .is_int = true, .i = i }; }
static struct mb_store_score fscore(double d) { return (struct mb_store_score){ .d = d }; }

static void score_text(struct mb_store_score s, char *buf, size_t n)
{
    if (s.is_int)
        snprintf(buf, n, "%lld", (long long)s.i);
    else
        snprintf(buf, n, "%.17g~", s.d); /* ~: a float */
}

/* submit; the score now as text */
static void submit(void *c, const char *board, const char *owner, struct mb_store_score score, enum mb_score_op sop,
                   char *buf, size_t n)
{
    struct mb_store_op *op = op_of(MB_STORE_SUBMIT, board, owner, NULL);
    op->score = score;
    op->score_op = sop;
    run1(c, op);
    if (op->status == MB_STORE_OK)
        score_text(op->score_now, buf, n);
    else
        snprintf(buf, n, "failed: %s", op->err);
    mb_store_op_free(op);
}

/* "rank.owner=score;..." of top */
static void top(void *c, const char *board, int limit, char *buf, size_t n)
{
    struct mb_store_op *op = op_of(MB_STORE_TOP, board, NULL, NULL);
    op->limit = limit;
    run1(c, op);
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < op->nrows && at < n; i++) {
        char s[40];
        score_text(op->rows[i].score, s, sizeof s);
        at += (size_t)snprintf(buf + at, n - at, "%zu.%s=%s;", i + 1, op->text + op->rows[i].key, s);
    }
    mb_store_op_free(op);
}

/* "rank:score", or "absent" */
static void rank(void *c, const char *board, const char *owner, char *buf, size_t n)
{
    struct mb_store_op *op = run1(c, op_of(MB_STORE_RANK, board, owner, NULL));
    if (op->status == MB_STORE_ABSENT) {
        snprintf(buf, n, "absent");
    } else {
        char s[40];
        score_text(op->score_now, s, sizeof s);
        snprintf(buf, n, "%lld:%s", (long long)op->rank, s);
    }
    mb_store_op_free(op);
}

/* ---- the backend ---- */

TEST(put_creates_version_1_and_each_put_adds_one)
{
    void *c = open_db("versions.db", 1 << 30);
    REQUIRE(c);
    char buf[256];
    CHECK_EQ_INT(get(c, "users", "ada", buf, sizeof buf), 0);
    CHECK_EQ_INT(put(c, "users", "ada", "{\"n\":1}", -1), 1);
    CHECK_EQ_INT(put(c, "users", "ada", "{\"n\":2,\"a\":[]}", -1), 2);
    CHECK_EQ_INT(put(c, "users", "bob", "[]", -1), 1);
    CHECK_EQ_INT(put(c, "other", "ada", "3", -1), 1); /* collections are apart */
    CHECK_EQ_INT(get(c, "users", "ada", buf, sizeof buf), 2);
    CHECK_EQ_STR(buf, "{\"n\":2,\"a\":[]}");
    CHECK_EQ_INT(get(c, "other", "ada", buf, sizeof buf), 1);
    CHECK_EQ_STR(buf, "3");
    be->close(c);
}

TEST(put_with_an_expected_version_conflicts_unless_it_matches)
{
    void *c = open_db("conflict.db", 1 << 30);
    REQUIRE(c);
    char buf[64];
    CHECK_EQ_INT(put(c, "k", "x", "1", 1), -2 - 0);  /* expects 1, absent */
    CHECK_EQ_INT(put(c, "k", "x", "1", 0), 1);       /* 0: only if absent */
    CHECK_EQ_INT(put(c, "k", "x", "2", 0), -2 - 1);  /* present now, at version 1 */
    CHECK_EQ_INT(put(c, "k", "x", "2", 3), -2 - 1);
    CHECK_EQ_INT(put(c, "k", "x", "2", 1), 2);
    CHECK_EQ_INT(get(c, "k", "x", buf, sizeof buf), 2);
    CHECK_EQ_STR(buf, "2"); /* the conflicting puts wrote nothing */
    be->close(c);
}

TEST(delete_says_whether_the_key_existed)
{
    void *c = open_db("delete.db", 1 << 30);
    REQUIRE(c);
    char buf[64];
    CHECK_EQ_INT(put(c, "k", "x", "1", -1), 1);
    struct mb_store_op *op = run1(c, op_of(MB_STORE_DELETE, "k", "x", NULL));
    CHECK(op->status == MB_STORE_OK && op->existed);
    mb_store_op_free(op);
    op = run1(c, op_of(MB_STORE_DELETE, "k", "x", NULL));
    CHECK(op->status == MB_STORE_OK && !op->existed);
    mb_store_op_free(op);
    CHECK_EQ_INT(get(c, "k", "x", buf, sizeof buf), 0);
    CHECK_EQ_INT(put(c, "k", "x", "1", -1), 1); /* a deleted key starts again at 1 */
    be->close(c);
}

TEST(list_gives_the_keys_of_a_prefix_sorted_up_to_the_limit)
{
    void *c = open_db("list.db", 1 << 30);
    REQUIRE(c);
    const char *keys[] = { "room:2", "room:10", "room:1", "user:1", "roo", "room:" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        CHECK_EQ_INT(put(c, "c", keys[i], "0", -1), 1);
    put(c, "c", "room:1", "\"x\"", -1);
    put(c, "d", "room:0", "0", -1); /* another collection */
    char buf[512];
    list(c, "c", "room:", 100, buf, sizeof buf);
    CHECK_EQ_STR(buf, "room:=0@1;room:1=\"x\"@2;room:10=0@1;room:2=0@1;");
    list(c, "c", "room:", 2, buf, sizeof buf);
    CHECK_EQ_STR(buf, "room:=0@1;room:1=\"x\"@2;");
    list(c, "c", "", 3, buf, sizeof buf);
    CHECK_EQ_STR(buf, "roo=0@1;room:=0@1;room:1=\"x\"@2;");
    list(c, "c", "zzz", 100, buf, sizeof buf);
    CHECK_EQ_STR(buf, "");
    list(c, "nothing", "", 100, buf, sizeof buf);
    CHECK_EQ_STR(buf, "");
    be->close(c);
}

TEST(leaderboard_best_keeps_the_higher_set_replaces_incr_adds)
{
    void *c = open_db("board.db", 1 << 30);
    REQUIRE(c);
    char buf[128];
    submit(c, "b", "ada", iscore(10), MB_SCORE_BEST, buf, sizeof buf);
    CHECK_EQ_STR(buf, "10");
    submit(c, "b", "ada", iscore(7), MB_SCORE_BEST, buf, sizeof buf);
    CHECK_EQ_STR(buf, "10");
    submit(c, "b", "ada", iscore(12), MB_SCORE_BEST, buf, sizeof buf);
    CHECK_EQ_STR(buf, "12");
    submit(c, "b", "ada", iscore(3), MB_SCORE_SET, buf, sizeof buf);
    CHECK_EQ_STR(buf, "3");
    submit(c, "b", "ada", iscore(4), MB_SCORE_INCR, buf, sizeof buf);
    CHECK_EQ_STR(buf, "7");
    submit(c, "b", "ada", fscore(0.5), MB_SCORE_INCR, buf, sizeof buf);
    CHECK_EQ_STR(buf, "7.5~");
    submit(c, "b", "bob", iscore(5), MB_SCORE_INCR, buf, sizeof buf); /* incr of nobody: the score */
    CHECK_EQ_STR(buf, "5");
    submit(c, "b", "big", iscore(INT64_MAX), MB_SCORE_SET, buf, sizeof buf);
    submit(c, "b", "big", iscore(1), MB_SCORE_INCR, buf, sizeof buf); /* past int64: a float */
    CHECK_EQ_STR(buf, "9.2233720368547758e+18~");
    submit(c, "other", "ada", iscore(1), MB_SCORE_BEST, buf, sizeof buf);
    top(c, "b", 10, buf, sizeof buf);
    CHECK_EQ_STR(buf, "1.big=9.2233720368547758e+18~;2.ada=7.5~;3.bob=5;");
    top(c, "b", 2, buf, sizeof buf);
    CHECK_EQ_STR(buf, "1.big=9.2233720368547758e+18~;2.ada=7.5~;");
    rank(c, "b", "bob", buf, sizeof buf);
    CHECK_EQ_STR(buf, "3:5");
    rank(c, "b", "nobody", buf, sizeof buf);
    CHECK_EQ_STR(buf, "absent");
    rank(c, "other", "ada", buf, sizeof buf);
    CHECK_EQ_STR(buf, "1:1");
    be->close(c);
}

TEST(leaderboard_ties_rank_first_who_reached_the_score_first)
{
    void *c = open_db("ties.db", 1 << 30);
    REQUIRE(c);
    char buf[256];
    submit(c, "t", "carol", iscore(50), MB_SCORE_BEST, buf, sizeof buf);
    submit(c, "t", "alice", iscore(40), MB_SCORE_BEST, buf, sizeof buf);
    submit(c, "t", "bob", iscore(50), MB_SCORE_BEST, buf, sizeof buf);
    submit(c, "t", "alice", iscore(50), MB_SCORE_BEST, buf, sizeof buf); /* reaches 50 last */
    submit(c, "t", "dave", fscore(50.0), MB_SCORE_BEST, buf, sizeof buf); /* 50.0 ties with 50 */
    submit(c, "t", "carol", iscore(20), MB_SCORE_BEST, buf, sizeof buf); /* no change: keeps its place */
    top(c, "t", 10, buf, sizeof buf);
    CHECK_EQ_STR(buf, "1.carol=50;2.bob=50;3.alice=50;4.dave=50~;");
    rank(c, "t", "alice", buf, sizeof buf);
    CHECK_EQ_STR(buf, "3:50");
    rank(c, "t", "dave", buf, sizeof buf);
    CHECK_EQ_STR(buf, "4:50~");
    submit(c, "t", "bob", iscore(50), MB_SCORE_SET, buf, sizeof buf); /* same score: same place */
    rank(c, "t", "bob", buf, sizeof buf);
    CHECK_EQ_STR(buf, "2:50");
    submit(c, "t", "carol", iscore(-1), MB_SCORE_SET, buf, sizeof buf);
    top(c, "t", 10, buf, sizeof buf);
    CHECK_EQ_STR(buf, "1.bob=50;2.alice=50;3.dave=50~;4.carol=-1;");
    be->close(c);
}

TEST(data_survives_close_and_reopen)
{
    void *c = open_db("persist.db", 1 << 30);
    REQUIRE(c);
    char buf[128];
    CHECK_EQ_INT(put(c, "p", "k", "{\"deep\":{\"x\":[1,{}]}}", -1), 1);
    CHECK_EQ_INT(put(c, "p", "k", "{\"deep\":{\"x\":[2,{}]}}", -1), 2);
    submit(c, "b", "ada", iscore(3), MB_SCORE_BEST, buf, sizeof buf);
    submit(c, "b", "bob", iscore(3), MB_SCORE_BEST, buf, sizeof buf);
    be->close(c);
    c = open_db("persist.db", 1 << 30);
    REQUIRE(c);
    CHECK_EQ_INT(get(c, "p", "k", buf, sizeof buf), 2);
    CHECK_EQ_STR(buf, "{\"deep\":{\"x\":[2,{}]}}");
    CHECK_EQ_INT(put(c, "p", "k", "0", -1), 3);
    submit(c, "b", "carol", iscore(3), MB_SCORE_BEST, buf, sizeof buf); /* seq goes on after reopen */
    top(c, "b", 10, buf, sizeof buf);
    CHECK_EQ_STR(buf, "1.ada=3;2.bob=3;3.carol=3;");
    be->close(c);
}

TEST(a_file_that_is_not_a_database_does_not_open)
{
    char path[256], err[256] = "";
    tmp_path(path, sizeof path, "corrupt.db");
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    for (int i = 0; i < 512; i++)
        fputs("this is not SQLite. ", f);
    fclose(f);
    void *c = be->open(path, 1 << 30, err, sizeof err);
    CHECK(c == NULL);
    CHECK_HAS_STR(err, "file is not a database");
    if (c)
        be->close(c);
}

TEST(a_folder_that_cannot_be_made_or_a_folder_in_place_of_the_file_does_not_open)
{
    char path[256], err[256] = "";
    tmp_path(path, sizeof path, "blocker");
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    fclose(f);
    tmp_path(path, sizeof path, "blocker/sub/moonbar.db");
    void *c = be->open(path, 1 << 30, err, sizeof err);
    CHECK(c == NULL);
    CHECK_HAS_STR(err, "cannot create folder");
    CHECK_HAS_STR(err, "blocker");
    tmp_path(path, sizeof path, "adir.db");
    mkdir(path, 0755);
    err[0] = '\0';
    c = be->open(path, 1 << 30, err, sizeof err);
    CHECK(c == NULL);
    CHECK_HAS_STR(err, "is a folder");
}

TEST(the_missing_folders_of_the_path_are_made)
{
    char path[256], err[256] = "";
    tmp_path(path, sizeof path, "made/deeper/moonbar.db");
    void *c = be->open(path, 1 << 30, err, sizeof err);
    CHECK(c != NULL);
    if (c)
        be->close(c);
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode));
}

TEST(a_full_database_fails_the_write_and_keeps_what_was_there)
{
    void *c = open_db("full.db", 64 * 1024);
    REQUIRE(c);
    char big[3001], buf[4096];
    memset(big, 'x', sizeof big - 1);
    big[0] = big[sizeof big - 2] = '"';
    big[sizeof big - 1] = '\0';
    CHECK_EQ_INT(put(c, "f", "first", "{\"kept\":true}", -1), 1);
    int ok = 0;
    long long v = 0;
    char key[32];
    for (int i = 0; i < 100 && v >= 0; i++) {
        snprintf(key, sizeof key, "k%03d", i);
        struct mb_store_op *op = op_of(MB_STORE_PUT, "f", key, big);
        run1(c, op);
        v = op->status == MB_STORE_OK ? 1 : -1;
        if (op->status == MB_STORE_OK)
            ok++;
        else
            CHECK_HAS_STR(op->err, "database or disk is full");
        mb_store_op_free(op);
    }
    CHECK(v < 0);  /* it filled up */
    CHECK(ok > 3); /* after some had landed */
    CHECK_EQ_INT(get(c, "f", "first", buf, sizeof buf), 1);
    CHECK_EQ_STR(buf, "{\"kept\":true}");
    CHECK_EQ_INT(get(c, "f", "k000", buf, sizeof buf), 1);
    CHECK_EQ_INT(get(c, "f", key, buf, sizeof buf), 0); /* the failed one left nothing */
    CHECK_EQ_INT(put(c, "f", "first", "1", -1), 2);     /* small writes may still fit */
    be->close(c);
}

/* ---- the store: batches on a loop ---- */

struct seen {
    int calls;
    int order[64];
    enum mb_store_status status[64];
    int64_t version[64];
};

static void on_done(struct mb_store_op *op)
{
    struct seen *s = op->data;
    if (s->calls < 64) {
        s->order[s->calls] = op->limit; /* the test's own number for the op */
        s->status[s->calls] = op->status;
        s->version[s->calls] = op->version;
    }
    s->calls++;
    mb_store_op_free(op);
}

static struct mb_store *open_store(uv_loop_t *loop, struct mb_logger *log, const char *name, uint64_t max_bytes)
{
    char path[256], err[256] = "";
    uv_loop_init(loop);
    log->level = -1; /* failures are expected: keep the output clean */
    struct mb_store *st = mb_store_open(be, loop, log, tmp_path(path, sizeof path, name), max_bytes, err, sizeof err);
    if (!st)
        printf("# mb_store_open: %s\n", err);
    return st;
}

static struct mb_store_op *queued_put(struct seen *s, int n, const char *key, const char *value)
{
    struct mb_store_op *op = op_of(MB_STORE_PUT, "q", key, value);
    op->done = on_done;
    op->data = s;
    op->owner = s;
    op->limit = n;
    return op;
}

TEST(queued_ops_come_back_in_order_once_committed)
{
    uv_loop_t loop;
    struct mb_logger log;
    struct mb_store *st = open_store(&loop, &log, "queue.db", 1 << 30);
    REQUIRE(st);
    struct seen s = { 0 };
    for (int i = 0; i < 50; i++)
        CHECK_EQ_INT(mb_store_submit(st, queued_put(&s, i, i % 2 ? "odd" : "even", "1")), 0);
    CHECK_EQ_INT(s.calls, 0); /* nothing comes back from inside submit */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(s.calls, 50);
    for (int i = 0; i < 50; i++) {
        CHECK_EQ_INT(s.order[i], i);
        CHECK_EQ_INT(s.status[i], MB_STORE_OK);
        CHECK_EQ_INT(s.version[i], i / 2 + 1);
    }
    mb_store_close(st);
    uv_loop_close(&loop);
}

TEST(run_now_runs_after_the_queued_ops_and_they_still_come_back_later)
{
    uv_loop_t loop;
    struct mb_logger log;
    struct mb_store *st = open_store(&loop, &log, "now.db", 1 << 30);
    REQUIRE(st);
    struct seen s = { 0 };
    for (int i = 0; i < 3; i++)
        mb_store_submit(st, queued_put(&s, i, "k", "\"v\""));
    struct mb_store_op *get_op = op_of(MB_STORE_GET, "q", "k", NULL);
    mb_store_run_now(st, get_op);
    CHECK_EQ_INT(get_op->status, MB_STORE_OK);
    CHECK_EQ_INT(get_op->version, 3); /* it saw the three puts queued before it */
    mb_store_op_free(get_op);
    CHECK_EQ_INT(s.calls, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(s.calls, 3);
    CHECK_EQ_INT(s.version[2], 3);
    mb_store_close(st);
    uv_loop_close(&loop);
}

TEST(a_failing_op_of_a_batch_does_not_lose_the_others_and_sync_reports_it)
{
    uv_loop_t loop;
    struct mb_logger log;
    struct mb_store *st = open_store(&loop, &log, "batch-full.db", 64 * 1024);
    REQUIRE(st);
    static char big[40000];
    memset(big, 'x', sizeof big - 1);
    big[0] = big[sizeof big - 2] = '"';
    struct seen s = { 0 };
    mb_store_submit(st, queued_put(&s, 0, "small1", "1"));
    mb_store_submit(st, queued_put(&s, 1, "big1", big));
    mb_store_submit(st, queued_put(&s, 2, "big2", big)); /* past 64 KiB */
    mb_store_submit(st, queued_put(&s, 3, "small2", "2"));
    struct mb_store_op *sync = op_of(MB_STORE_SYNC, NULL, NULL, NULL);
    sync->done = on_done;
    sync->data = &s;
    sync->limit = 4;
    mb_store_submit(st, sync);
    uv_run(&loop, UV_RUN_DEFAULT);
    REQUIRE(s.calls == 5);
    CHECK_EQ_INT(s.status[0], MB_STORE_OK);
    CHECK_EQ_INT(s.status[1], MB_STORE_OK);
    CHECK_EQ_INT(s.status[2], MB_STORE_FAILED);
    CHECK_EQ_INT(s.status[3], MB_STORE_OK);
    CHECK_EQ_INT(s.status[4], MB_STORE_FAILED); /* sync: a write before it failed */
    struct mb_store_op *op = op_of(MB_STORE_LIST, "q", "", NULL);
    op->limit = 10;
    mb_store_run_now(st, op);
    CHECK_EQ_INT(op->nrows, 3); /* big1, small1, small2 */
    mb_store_op_free(op);
    /* a later sync, with no failure since: fine */
    struct seen s2 = { 0 };
    sync = op_of(MB_STORE_SYNC, NULL, NULL, NULL);
    sync->done = on_done;
    sync->data = &s2;
    mb_store_submit(st, sync);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(s2.calls, 1);
    CHECK_EQ_INT(s2.status[0], MB_STORE_OK);
    mb_store_close(st);
    uv_loop_close(&loop);
}

TEST(cancelled_ops_still_run_but_call_nobody_back)
{
    uv_loop_t loop;
    struct mb_logger log;
    struct mb_store *st = open_store(&loop, &log, "cancel.db", 1 << 30);
    REQUIRE(st);
    struct seen s = { 0 }, other = { 0 };
    for (int i = 0; i < 5; i++)
        mb_store_submit(st, queued_put(&s, i, "gone", "1")); /* the first goes to the pool at once */
    mb_store_submit(st, queued_put(&other, 0, "kept", "1"));
    mb_store_cancel(st, &s);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(s.calls, 0);
    CHECK_EQ_INT(other.calls, 1);
    struct mb_store_op *op = op_of(MB_STORE_GET, "q", "gone", NULL);
    mb_store_run_now(st, op);
    CHECK_EQ_INT(op->version, 5);
    mb_store_op_free(op);
    mb_store_close(st);
    uv_loop_close(&loop);
}

TEST(close_commits_what_is_still_queued)
{
    uv_loop_t loop;
    struct mb_logger log;
    struct mb_store *st = open_store(&loop, &log, "close.db", 1 << 30);
    REQUIRE(st);
    struct seen s = { 0 };
    for (int i = 0; i < 20; i++)
        mb_store_submit(st, queued_put(&s, i, "late", "1"));
    mb_store_close(st); /* one batch in flight (waited for), the rest queued */
    CHECK_EQ_INT(s.calls, 0);
    uv_loop_close(&loop);
    void *c = open_db("close.db", 1 << 30);
    REQUIRE(c);
    char buf[32];
    CHECK_EQ_INT(get(c, "q", "late", buf, sizeof buf), 20);
    be->close(c);
}

TEST(the_queue_is_bounded)
{
    uv_loop_t loop;
    struct mb_logger log;
    struct mb_store *st = open_store(&loop, &log, "bounded.db", 1 << 30);
    REQUIRE(st);
    int accepted = 0;
    for (;;) {
        struct mb_store_op *op = op_of(MB_STORE_PUT, "b", "k", "1");
        if (mb_store_submit(st, op) < 0) {
            mb_store_op_free(op); /* refused: still the caller's */
            break;
        }
        accepted++;
    }
    CHECK_EQ_INT(accepted, MB_STORE_QUEUE_MAX + 1); /* the first went to the pool at once */
    CHECK_EQ_INT(mb_store_queued(st), MB_STORE_QUEUE_MAX);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(mb_store_queued(st), 0);
    struct mb_store_op *op = op_of(MB_STORE_GET, "b", "k", NULL);
    mb_store_run_now(st, op);
    CHECK_EQ_INT(op->version, MB_STORE_QUEUE_MAX + 1); /* every accepted one landed */
    mb_store_op_free(op);
    mb_store_close(st);
    uv_loop_close(&loop);
}

TEST(zz_cleanup)
{
    rm_rf(dir);
}

UNIT_MAIN()
