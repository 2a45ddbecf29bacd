/* mb_store: moonbar's embedded store (collections of versioned JSON values, and leaderboards).
 * It owns a queue of operations, the one batch in flight on libuv's thread pool, and two
 * connections to a backend: the worker's (batches, on a pool thread) and the loop's (the few
 * operations that run synchronously on the loop thread: scripts loading at start or reload,
 * authorizer callbacks, and the shutdown flush). The backend (SQLite now, Redis later) sits
 * behind struct mb_store_backend; this unit knows nothing of SQL, Lua or WAMP.
 *
 * Threads: everything here runs on the loop thread except mb_store_backend.begin/apply/commit
 * on the worker connection, which run on a pool thread and touch only the operations of the
 * batch they were handed (inputs and results, never the completion fields). Handing a batch
 * over and back goes through uv_queue_work: no lock of our own (one atomic flag tells the
 * loop thread, when it must run something at once, that the batch in flight is committed). */
#ifndef MB_STORE_H
#define MB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "mb_log.h"

#define MB_STORE_NAME_MAX 200      /* bytes of a collection, key, board or owner */
#define MB_STORE_LIST_DEFAULT 100  /* list() rows when no limit is given */
#define MB_STORE_TOP_DEFAULT 10    /* top() rows when no limit is given */
#define MB_STORE_LIMIT_MAX 1000
#define MB_STORE_QUEUE_MAX 100000  /* queued operations, past it: busy */

enum mb_store_kind {
    MB_STORE_GET,    /* coll, key → value text + version, or ABSENT */
    MB_STORE_PUT,    /* coll, key, value text [, expect] → version, or CONFLICT (version: actual) */
    MB_STORE_DELETE, /* coll, key → existed */
    MB_STORE_LIST,   /* coll, key = prefix, limit → rows (key, value, version) by key */
    MB_STORE_SUBMIT, /* board = coll, owner = key, score, score_op → score now */
    MB_STORE_TOP,    /* board, limit → rows (owner = key, score) by score desc, first reached first */
    MB_STORE_RANK,   /* board, owner → rank + score, or ABSENT */
    MB_STORE_SYNC,   /* nothing: completes once every write queued before it is committed */
};

enum mb_store_status { MB_STORE_OK, MB_STORE_ABSENT, MB_STORE_CONFLICT, MB_STORE_FAILED };

/* What a backend's apply returns. */
enum mb_store_applied {
    MB_APPLIED,     /* done (status OK, ABSENT or CONFLICT; writes kept in the transaction) */
    MB_APPLY_FAILED,  /* the op failed (status FAILED, err set) and left nothing behind; the
                       * transaction goes on */
    MB_APPLY_ABORTED, /* the op failed and the backend lost the whole transaction: the store
                       * begins again and replays the ops before it */
};

enum mb_score_op { MB_SCORE_BEST, MB_SCORE_SET, MB_SCORE_INCR };

/* A leaderboard score: integers stay integers. */
struct mb_store_score {
    bool is_int;
    int64_t i;
    double d;
};

/* One row of a list (key, value text, version) or top (key = owner, score) result: offsets
 * into the op's text buffer. */
struct mb_store_row {
    size_t key, key_len, value, value_len;
    int64_t version;
    struct mb_store_score score;
};

struct mb_store_op;
typedef void (*mb_store_done_fn)(struct mb_store_op *op);

struct mb_store_op {
    enum mb_store_kind kind;
    struct mb_store_op *next; /* in the queue, the batch or the completed list */

    /* inputs, NUL-terminated copies in the op's own allocation */
    const char *coll, *key;
    char *value; /* may be filled by the caller: see mb_store_op_new */
    size_t coll_len, key_len, value_len;
    int64_t expect;            /* PUT: the version it must find (0: absent), -1: any */
    int limit;                 /* LIST, TOP */
    enum mb_score_op score_op; /* SUBMIT */
    struct mb_store_score score; /* SUBMIT: the score submitted */

    /* results, set by the backend */
    enum mb_store_status status;
    int64_t version; /* GET, PUT: the version; CONFLICT: the actual one (0: absent) */
    int64_t rank;    /* RANK, 1-based */
    bool existed;    /* DELETE */
    struct mb_store_score score_now; /* SUBMIT, RANK: the owner's score */
    char *text;      /* GET: the value text; LIST, TOP: what rows point into */
    size_t text_len, text_cap;
    struct mb_store_row *rows;
    size_t nrows, rows_cap;
    char err[200];   /* FAILED: why (the backend's message) */

    /* completion: loop thread only; the worker never reads these */
    mb_store_done_fn done; /* NULL: nobody waits (a failure is logged) */
    void *data;            /* for done */
    const void *owner;     /* what mb_store_cancel matches */
    uint64_t failures_seen; /* SYNC: the store's failure count when it was queued */
    bool aborted;           /* store-internal: lost its batch's transaction, not replayed */
};

/* A connection of one backend. Every function gets what open returned. */
struct mb_store_backend {
    const char *name;
    /* Opens (creating the folder, the file and the schema when missing) and returns the
     * connection, or NULL with what is wrong in err. max_bytes: the file cannot grow past it. */
    void *(*open)(const char *path, uint64_t max_bytes, char *err, size_t errlen);
    void (*close)(void *conn);
    /* Starts the batch's transaction. 0, or -1 with err. */
    int (*begin)(void *conn, char *err, size_t errlen);
    /* Runs one op inside the transaction; a failing op leaves nothing behind. */
    enum mb_store_applied (*apply)(void *conn, struct mb_store_op *op);
    /* Commits; on failure the transaction is rolled back: -1 with err. */
    int (*commit)(void *conn, char *err, size_t errlen);
};

extern const struct mb_store_backend mb_store_sqlite;

struct mb_store;

/* Opens the store: both connections of be on path. Returns it, or NULL with "what is wrong"
 * in err (the caller names the file). log is borrowed and must outlive the store. */
struct mb_store *mb_store_open(const struct mb_store_backend *be, uv_loop_t *loop, struct mb_logger *log,
                               const char *path, uint64_t max_bytes, char *err, size_t errlen);
/* Shutdown (not from a loop callback: it may run the loop until the batch in flight is back):
 * waits for the batch in flight, commits what is still queued, closes both connections and
 * frees the store and every op it still holds. Completion callbacks are not called. */
void mb_store_close(struct mb_store *st);

/* A new op of kind with copies of coll, key and value (each may be NULL). value NULL with
 * value_len > 0 reserves value_len bytes (NUL-terminated) for the caller to write into
 * op->value. NULL: no memory. expect starts at -1. Free with mb_store_op_free unless the
 * store owns it. One allocation (results add theirs). */
struct mb_store_op *mb_store_op_new(enum mb_store_kind kind, const char *coll, size_t coll_len, const char *key,
                                    size_t key_len, const char *value, size_t value_len);
void mb_store_op_free(struct mb_store_op *op);
/* true for the kinds that write. */
bool mb_store_op_writes(const struct mb_store_op *op);

/* Queues op (the store owns it from now on) to run in the next batch on the pool; op->done,
 * if set, gets it back on the loop thread once its batch is committed (the callee then owns
 * it). 0, or -1 (the queue is full: the caller still owns op). */
int mb_store_submit(struct mb_store *st, struct mb_store_op *op);
/* Runs op now on the loop thread, after every op queued before it: the batch in flight, if
 * any, is waited for (the loop thread sleeps until the pool thread is done with it), then the
 * queued ops and op run in one transaction of the loop's connection. The caller keeps op and
 * reads its results; the queued ops are called back as usual, from a later loop turn. */
void mb_store_run_now(struct mb_store *st, struct mb_store_op *op);
/* Forgets every queued or in-flight op of owner: it runs, but nobody is called back. */
void mb_store_cancel(struct mb_store *st, const void *owner);

/* Ops queued and not yet handed to the pool. */
size_t mb_store_queued(const struct mb_store *st);

#endif
