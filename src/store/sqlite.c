/* The store's SQLite backend: one connection per struct sq, its statements prepared once.
 * Schema (created when missing):
 *   kv(coll, key, value JSON text, version)            primary key (coll, key)
 *   board(board, owner, score, seq)                    primary key (board, owner)
 *     index (board, score desc, seq): top and rank; seq orders ties (who reached it first)
 *   meta(name, value): 'seq', the last seq handed out
 * Opened in WAL mode (readers never wait for the writer), synchronous=NORMAL (a commit is
 * durable once the WAL is checkpointed; a power cut may lose the last commits, never corrupt),
 * a busy timeout for the loop's connection meeting the worker's transaction, and max_page_count
 * from store.max_size_mb so that the file cannot grow past it. */
#include "mb_store.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 10000
#define NO_MEMORY (-2) /* what an op returns when a result buffer cannot grow (else -1: SQLite's error) */

enum {
    S_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO,
    S_GET, S_VERSION, S_PUT, S_DELETE, S_LIST,
    S_SCORE, S_SET_SCORE, S_SEQ, S_TOP, S_RANK,
    S_COUNT
};

static const char *const sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT op",
    [S_RELEASE] = "RELEASE op",
    [S_ROLLBACK_TO] = "ROLLBACK TO op",
    [S_GET] = "SELECT value, version FROM kv WHERE coll = ?1 AND key = ?2",
    [S_VERSION] = "SELECT version FROM kv WHERE coll = ?1 AND key = ?2",
    [S_PUT] = "INSERT OR REPLACE INTO kv (coll, key, value, version) VALUES (?1, ?2, ?3, ?4)",
    [S_DELETE] = "DELETE FROM kv WHERE coll = ?1 AND key = ?2",
    [S_LIST] = "SELECT key, value, version FROM kv WHERE coll = ?1 AND key >= ?2 ORDER BY key LIMIT ?3",
    [S_SCORE] = "SELECT score, seq FROM board WHERE board = ?1 AND owner = ?2",
    [S_SET_SCORE] = "INSERT OR REPLACE INTO board (board, owner, score, seq) VALUES (?1, ?2, ?3, ?4)",
    [S_SEQ] = "UPDATE meta SET value = value + 1 WHERE name = 'seq' RETURNING value",
    [S_TOP] = "SELECT owner, score FROM board WHERE board = ?1 ORDER BY score DESC, seq LIMIT ?2",
    [S_RANK] = "SELECT count(*) FROM board WHERE board = ?1 AND (score > ?2 OR (score = ?2 AND seq < ?3))",
};

static const char schema[] =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS kv (coll TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " version INTEGER NOT NULL, PRIMARY KEY (coll, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS board (board TEXT NOT NULL, owner TEXT NOT NULL, score NOT NULL,"
    " seq INTEGER NOT NULL, PRIMARY KEY (board, owner)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS board_rank ON board (board, score DESC, seq);"
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta (name, value) VALUES ('seq', 0);"
    "COMMIT;";

struct sq {
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT];
};

/* ---- opening ------------------------------------------------------------------------------- */

/* mkdir -p of path's folder. 0, or -1 with the reason. */
static int make_folder(const char *path, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        struct stat stt;
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create folder %s: %s", dir, strerror(errno));
            return -1;
        }
        if (stat(dir, &stt) != 0 || !S_ISDIR(stt.st_mode)) {
            snprintf(err, errlen, "cannot create folder %s: %s", dir, "a file of that name is in the way");
            return -1;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    return 0;
}

/* What stands in the way of writing path, before SQLite gives its vaguer "unable to open". */
static int check_writable(const char *path, char *err, size_t errlen)
{
    struct stat stt;
    if (stat(path, &stt) == 0) {
        if (S_ISDIR(stt.st_mode)) {
            snprintf(err, errlen, "is a folder, not a database file");
            return -1;
        }
        if (access(path, R_OK | W_OK) != 0) {
            snprintf(err, errlen, "file is not writable: %s", strerror(errno));
            return -1;
        }
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (access(dir, W_OK | X_OK) != 0) { /* the database, its -wal and -shm files go there */
        snprintf(err, errlen, "folder %s is not writable: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static void sq_close(void *conn)
{
    struct sq *c = conn;
    if (!c)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close(c->db);
    free(c);
}

static int exec(struct sq *c, const char *text, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(c->db, text, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(c->db));
    sqlite3_free(msg);
    return -1;
}

/* The first column of the first row of text, as an integer (-1 on failure, err set). */
static long long pragma(struct sq *c, const char *text, char *got, size_t gotlen, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(c->db, text, -1, &s, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
        return -1;
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        v = sqlite3_column_int64(s, 0);
        if (got)
            snprintf(got, gotlen, "%s", (const char *)sqlite3_column_text(s, 0) ?: "");
    } else {
        snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
    }
    sqlite3_finalize(s);
    return v;
}

static void *sq_open(const char *path, uint64_t max_bytes, char *err, size_t errlen)
{
    if (make_folder(path, err, errlen) < 0 || check_writable(path, err, errlen) < 0)
        return NULL;
    struct sq *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* each connection is used by one thread at a time: SQLite's own mutexes are not needed */
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s", c->db ? sqlite3_errmsg(c->db) : "out of memory");
        goto fail;
    }
    if (sqlite3_db_readonly(c->db, "main") == 1) {
        snprintf(err, errlen, "file is read-only");
        goto fail;
    }
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    char mode[32] = "";
    /* the first read of the file: a file that is not a database fails here */
    if (pragma(c, "PRAGMA journal_mode=WAL", mode, sizeof mode, err, errlen) < 0 && !mode[0])
        goto fail;
    if (strcmp(mode, "wal") != 0) {
        snprintf(err, errlen, "cannot use WAL mode (journal mode stays %s)", mode);
        goto fail;
    }
    if (exec(c, "PRAGMA synchronous=NORMAL", err, errlen) < 0)
        goto fail;
    long long page = pragma(c, "PRAGMA page_size", NULL, 0, err, errlen);
    if (page <= 0)
        goto fail;
    char text[80];
    unsigned long long pages = max_bytes / (unsigned long long)page;
    snprintf(text, sizeof text, "PRAGMA max_page_count=%llu", pages > 0 ? pages : 1);
    if (pragma(c, text, NULL, 0, err, errlen) < 0)
        goto fail;
    if (exec(c, schema, err, errlen) < 0) {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        goto fail;
    }
    for (int i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v3(c->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL) != SQLITE_OK) {
            snprintf(err, errlen, "unexpected schema: %s", sqlite3_errmsg(c->db));
            goto fail;
        }
    }
    return c;
fail:
    sq_close(c);
    return NULL;
}

/* ---- statements ----------------------------------------------------------------------------- */

/* Steps a statement that returns no row (or whose rows do not matter); resets it. */
static int run(struct sq *c, int which)
{
    sqlite3_stmt *s = c->st[which];
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void done_with(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static void bind_names(sqlite3_stmt *s, const struct mb_store_op *op)
{
    sqlite3_bind_text(s, 1, op->coll, (int)op->coll_len, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, op->key, (int)op->key_len, SQLITE_STATIC);
}

static int sq_begin(void *conn, char *err, size_t errlen)
{
    struct sq *c = conn;
    if (run(c, S_BEGIN) == 0)
        return 0;
    snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
    return -1;
}

static int sq_commit(void *conn, char *err, size_t errlen)
{
    struct sq *c = conn;
    if (run(c, S_COMMIT) == 0)
        return 0;
    snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
    if (!sqlite3_get_autocommit(c->db))
        run(c, S_ROLLBACK);
    return -1;
}

/* ---- results ---------------------------------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *n = realloc(*p, ncap * size);
    if (!n)
        return -1;
    *p = n;
    *cap = ncap;
    return 0;
}

/* Appends n bytes (and a NUL) to op->text; returns their offset, or -1. */
static long long add_text(struct mb_store_op *op, const void *s, size_t n)
{
    if (grow((void **)&op->text, &op->text_cap, op->text_len + n + 1, 1) < 0)
        return -1;
    size_t at = op->text_len;
    if (n)
        memcpy(op->text + at, s, n);
    op->text[at + n] = '\0';
    op->text_len += n + 1;
    return (long long)at;
}

static struct mb_store_row *add_row(struct mb_store_op *op)
{
    if (grow((void **)&op->rows, &op->rows_cap, op->nrows + 1, sizeof *op->rows) < 0)
        return NULL;
    struct mb_store_row *row = &op->rows[op->nrows++];
    memset(row, 0, sizeof *row);
    return row;
}

static struct mb_store_score column_score(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_INTEGER)
        return (struct mb_store_score){ .is_int = true, .i = sqlite3_column_int64(s, i) };
    return (struct mb_store_score){ .d = sqlite3_column_double(s, i) };
}

static void bind_score(sqlite3_stmt *s, int i, struct mb_store_score v)
{
    if (v.is_int)
        sqlite3_bind_int64(s, i, v.i);
    else
        sqlite3_bind_double(s, i, v.d);
}

static double score_num(struct mb_store_score v)
{
    return v.is_int ? (double)v.i : v.d;
}

static int score_cmp(struct mb_store_score a, struct mb_store_score b)
{
    if (a.is_int && b.is_int)
        return (a.i > b.i) - (a.i < b.i);
    double x = score_num(a), y = score_num(b);
    return (x > y) - (x < y);
}

/* ---- ops --------------------------------------------------------------------------------------- */

/* Reads coll/key's version (0: absent) into *version. 0, or -1. */
static int current_version(struct sq *c, const struct mb_store_op *op, int64_t *version)
{
    sqlite3_stmt *s = c->st[S_VERSION];
    bind_names(s, op);
    int rc = sqlite3_step(s);
    *version = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    done_with(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int op_get(struct sq *c, struct mb_store_op *op)
{
    sqlite3_stmt *s = c->st[S_GET];
    bind_names(s, op);
    int rc = sqlite3_step(s), status = 0;
    if (rc == SQLITE_ROW) {
        if (add_text(op, sqlite3_column_text(s, 0), (size_t)sqlite3_column_bytes(s, 0)) < 0)
            status = NO_MEMORY;
        op->version = sqlite3_column_int64(s, 1);
    } else if (rc == SQLITE_DONE) {
        op->status = MB_STORE_ABSENT;
    } else {
        status = -1;
    }
    done_with(s);
    return status;
}

static int op_put(struct sq *c, struct mb_store_op *op)
{
    int64_t cur;
    if (current_version(c, op, &cur) < 0)
        return -1;
    if (op->expect >= 0 && op->expect != cur) {
        op->status = MB_STORE_CONFLICT;
        op->version = cur;
        return 0;
    }
    sqlite3_stmt *s = c->st[S_PUT];
    bind_names(s, op);
    sqlite3_bind_text(s, 3, op->value, (int)op->value_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, cur + 1);
    int rc = sqlite3_step(s);
    done_with(s);
    op->version = cur + 1;
    return rc == SQLITE_DONE ? 0 : -1;
}

static int op_delete(struct sq *c, struct mb_store_op *op)
{
    sqlite3_stmt *s = c->st[S_DELETE];
    bind_names(s, op);
    int rc = sqlite3_step(s);
    done_with(s);
    op->existed = sqlite3_changes(c->db) > 0;
    return rc == SQLITE_DONE ? 0 : -1;
}

static int op_list(struct sq *c, struct mb_store_op *op)
{
    sqlite3_stmt *s = c->st[S_LIST];
    bind_names(s, op); /* key: the prefix, where the range starts */
    sqlite3_bind_int(s, 3, op->limit);
    int rc, status = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(s, 0);
        size_t klen = (size_t)sqlite3_column_bytes(s, 0);
        if (klen < op->key_len || memcmp(key, op->key, op->key_len) != 0)
            break; /* past the keys with that prefix */
        struct mb_store_row *row = add_row(op);
        long long k = row ? add_text(op, key, klen) : -1;
        long long v = k >= 0 ? add_text(op, sqlite3_column_text(s, 1), (size_t)sqlite3_column_bytes(s, 1)) : -1;
        if (v < 0) {
            status = NO_MEMORY;
            break;
        }
        row->key = (size_t)k;
        row->key_len = klen;
        row->value = (size_t)v;
        row->value_len = (size_t)sqlite3_column_bytes(s, 1);
        row->version = sqlite3_column_int64(s, 2);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        status = -1;
    done_with(s);
    return status;
}

/* The owner's score and seq; false if absent. *ok false on error. */
static bool read_score(struct sq *c, const struct mb_store_op *op, struct mb_store_score *score, int64_t *seq,
                       bool *ok)
{
    sqlite3_stmt *s = c->st[S_SCORE];
    bind_names(s, op);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *score = column_score(s, 0);
        *seq = sqlite3_column_int64(s, 1);
    }
    done_with(s);
    *ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
    return rc == SQLITE_ROW;
}

static int op_submit(struct sq *c, struct mb_store_op *op)
{
    struct mb_store_score cur = { 0 }, next = op->score;
    int64_t seq = 0;
    bool ok, found = read_score(c, op, &cur, &seq, &ok);
    if (!ok)
        return -1;
    if (found && op->score_op == MB_SCORE_INCR) {
        if (cur.is_int && op->score.is_int) {
            int64_t sum;
            if (__builtin_add_overflow(cur.i, op->score.i, &sum))
                next = (struct mb_store_score){ .d = (double)cur.i + (double)op->score.i };
            else
                next = (struct mb_store_score){ .is_int = true, .i = sum };
        } else {
            next = (struct mb_store_score){ .d = score_num(cur) + score_num(op->score) };
        }
    } else if (found && op->score_op == MB_SCORE_BEST && score_cmp(op->score, cur) <= 0) {
        next = cur;
    }
    op->score_now = next;
    if (found && score_cmp(next, cur) == 0 && next.is_int == cur.is_int)
        return 0; /* unchanged: it keeps its place among equal scores */
    sqlite3_stmt *s = c->st[S_SEQ];
    int rc = sqlite3_step(s);
    int64_t nseq = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return -1;
    s = c->st[S_SET_SCORE];
    bind_names(s, op);
    bind_score(s, 3, next);
    sqlite3_bind_int64(s, 4, nseq);
    rc = sqlite3_step(s);
    done_with(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int op_top(struct sq *c, struct mb_store_op *op)
{
    sqlite3_stmt *s = c->st[S_TOP];
    sqlite3_bind_text(s, 1, op->coll, (int)op->coll_len, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, op->limit);
    int rc, status = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        struct mb_store_row *row = add_row(op);
        long long k = row ? add_text(op, sqlite3_column_text(s, 0), n) : -1;
        if (k < 0) {
            status = NO_MEMORY;
            break;
        }
        row->key = (size_t)k;
        row->key_len = n;
        row->score = column_score(s, 1);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        status = -1;
    done_with(s);
    return status;
}

static int op_rank(struct sq *c, struct mb_store_op *op)
{
    struct mb_store_score score;
    int64_t seq;
    bool ok;
    if (!read_score(c, op, &score, &seq, &ok)) {
        if (ok)
            op->status = MB_STORE_ABSENT;
        return ok ? 0 : -1;
    }
    sqlite3_stmt *s = c->st[S_RANK];
    sqlite3_bind_text(s, 1, op->coll, (int)op->coll_len, SQLITE_STATIC);
    bind_score(s, 2, score);
    sqlite3_bind_int64(s, 3, seq);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        op->rank = sqlite3_column_int64(s, 0) + 1;
        op->score_now = score;
    }
    done_with(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

static enum mb_store_applied sq_apply(void *conn, struct mb_store_op *op)
{
    struct sq *c = conn;
    bool writes = mb_store_op_writes(op);
    int rc = 0;
    if (writes && run(c, S_SAVEPOINT) < 0)
        goto failed;
    switch (op->kind) {
    case MB_STORE_GET: rc = op_get(c, op); break;
    case MB_STORE_PUT: rc = op_put(c, op); break;
    case MB_STORE_DELETE: rc = op_delete(c, op); break;
    case MB_STORE_LIST: rc = op_list(c, op); break;
    case MB_STORE_SUBMIT: rc = op_submit(c, op); break;
    case MB_STORE_TOP: rc = op_top(c, op); break;
    case MB_STORE_RANK: rc = op_rank(c, op); break;
    case MB_STORE_SYNC: break;
    }
    if (rc == 0) {
        if (!writes || run(c, S_RELEASE) == 0)
            return MB_APPLIED;
    }
failed:
    op->status = MB_STORE_FAILED;
    snprintf(op->err, sizeof op->err, "%s", rc == NO_MEMORY ? "out of memory" : sqlite3_errmsg(c->db));
    if (sqlite3_get_autocommit(c->db))
        return MB_APPLY_ABORTED; /* SQLite rolled the whole transaction back */
    if (writes) {
        run(c, S_ROLLBACK_TO);
        run(c, S_RELEASE);
    }
    return MB_APPLY_FAILED;
}

const struct mb_store_backend mb_store_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .apply = sq_apply,
};
