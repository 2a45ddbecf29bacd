/* The store's queue and batches: ops queue on the loop thread; one batch (every op queued so
 * far) at a time runs on libuv's thread pool, in one transaction of the worker's connection;
 * its ops come back to the loop thread in the after-work callback. Backend-neutral: SQL lives
 * in sqlite.c. See mb_store.h. */
#include "mb_store.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mb_store {
    const struct mb_store_backend *be;
    uv_loop_t *loop;
    struct mb_logger *log;
    void *worker; /* connection of the pool thread (batches) */
    void *local;  /* connection of the loop thread (mb_store_run_now) */

    struct mb_store_op *head, *tail; /* queued */
    size_t nqueued;
    struct mb_store_op *batch;       /* in flight: the pool thread's until after_work */
    struct mb_store_op *done_head, *done_tail; /* run by mb_store_run_now, to call back */
    struct mb_store_op *dispatch;    /* being called back right now */
    bool busy;        /* a batch is in flight */
    bool dispatching; /* in after_work: new ops wait for the end of it */
    bool closing;     /* mb_store_close waits for the batch in flight: nobody is called back */
    uv_work_t work;
    atomic_bool committed; /* the pool thread is done with the batch (after-work comes later) */

    uint64_t failures; /* writes that failed so far (for SYNC) */
    char last_failure[300];
};

static const char *kind_name(enum mb_store_kind k)
{
    static const char *const names[] = { "get", "put", "delete", "list", "submit", "top", "rank", "sync" };
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

bool mb_store_op_writes(const struct mb_store_op *op)
{
    return op->kind == MB_STORE_PUT || op->kind == MB_STORE_DELETE || op->kind == MB_STORE_SUBMIT;
}

struct mb_store_op *mb_store_op_new(enum mb_store_kind kind, const char *coll, size_t coll_len, const char *key,
                                    size_t key_len, const char *value, size_t value_len)
{
    struct mb_store_op *op = malloc(sizeof *op + coll_len + key_len + value_len + 3);
    if (!op)
        return NULL;
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->expect = -1;
    char *p = (char *)(op + 1);
    op->coll = p;
    op->coll_len = coll_len;
    if (coll_len)
        memcpy(p, coll, coll_len);
    p[coll_len] = '\0';
    p += coll_len + 1;
    op->key = p;
    op->key_len = key_len;
    if (key_len)
        memcpy(p, key, key_len);
    p[key_len] = '\0';
    p += key_len + 1;
    op->value = p;
    op->value_len = value_len;
    if (value && value_len)
        memcpy(p, value, value_len);
    else
        memset(p, 0, value_len);
    p[value_len] = '\0';
    return op;
}

void mb_store_op_free(struct mb_store_op *op)
{
    if (!op)
        return;
    free(op->text);
    free(op->rows);
    free(op);
}

/* Clears an op's results before it runs (again: a replayed batch). Buffers are kept. */
static void op_reset(struct mb_store_op *op)
{
    op->status = MB_STORE_OK;
    op->version = op->rank = 0;
    op->existed = false;
    op->score_now = (struct mb_store_score){ 0 };
    op->text_len = op->nrows = 0;
    op->err[0] = '\0';
}

static void op_fail(struct mb_store_op *op, const char *why)
{
    op->status = MB_STORE_FAILED;
    snprintf(op->err, sizeof op->err, "%s", why);
}

/* Runs ops (a list) in one transaction of conn. Any thread; touches only the ops' inputs and
 * results. An op whose failure cost the transaction is marked aborted, and the batch starts
 * again without it: the ops before it are replayed, so no other op is lost. */
static void run_batch(const struct mb_store_backend *be, void *conn, struct mb_store_op *ops)
{
    char err[200];
    if (!ops)
        return;
    for (struct mb_store_op *op = ops; op; op = op->next)
        op->aborted = false;
restart:
    if (be->begin(conn, err, sizeof err) < 0) {
        for (struct mb_store_op *op = ops; op; op = op->next)
            if (!op->aborted)
                op_fail(op, err);
        return;
    }
    for (struct mb_store_op *op = ops; op; op = op->next) {
        if (op->aborted)
            continue;
        op_reset(op);
        if (be->apply(conn, op) == MB_APPLY_ABORTED) {
            op->aborted = true;
            goto restart;
        }
    }
    if (be->commit(conn, err, sizeof err) < 0)
        for (struct mb_store_op *op = ops; op; op = op->next)
            if (mb_store_op_writes(op) && op->status != MB_STORE_FAILED)
                op_fail(op, err);
}

/* Loop thread, in the order the ops ran: counts and logs failed writes, and fails a SYNC that
 * comes after a failed write. */
static void account(struct mb_store *st, struct mb_store_op *ops)
{
    for (struct mb_store_op *op = ops; op; op = op->next) {
        if (op->kind == MB_STORE_SYNC) {
            if (op->status != MB_STORE_FAILED && st->failures > op->failures_seen) {
                op->status = MB_STORE_FAILED;
                snprintf(op->err, sizeof op->err, "a write queued before it failed: %.160s", st->last_failure);
            }
            continue;
        }
        if (op->status == MB_STORE_CONFLICT && !op->done) /* put(..., {version = n, wait = false}) */
            mb_warn(st->log, "store: put %.*s/%.*s skipped: version conflict (expected %lld, found %lld)",
                    (int)op->coll_len, op->coll, (int)op->key_len, op->key, (long long)op->expect,
                    (long long)op->version);
        if (op->status != MB_STORE_FAILED)
            continue;
        mb_error(st->log, "store: %s %.*s/%.*s failed: %s", kind_name(op->kind), (int)op->coll_len, op->coll,
                 (int)op->key_len, op->key, op->err);
        if (mb_store_op_writes(op)) {
            st->failures++;
            snprintf(st->last_failure, sizeof st->last_failure, "%s %.*s/%.*s: %s", kind_name(op->kind),
                     (int)(op->coll_len < 100 ? op->coll_len : 100), op->coll,
                     (int)(op->key_len < 100 ? op->key_len : 100), op->key, op->err);
        }
    }
}

static void free_list(struct mb_store_op *op)
{
    while (op) {
        struct mb_store_op *next = op->next;
        mb_store_op_free(op);
        op = next;
    }
}

static void on_work(uv_work_t *w)
{
    struct mb_store *st = w->data;
    run_batch(st->be, st->worker, st->batch);
    atomic_store_explicit(&st->committed, true, memory_order_release);
}

static void on_after_work(uv_work_t *w, int status);

/* Hands every queued op to the pool, unless a batch is in flight (its after-work starts the
 * next one). A batch with no op still goes when ops run by mb_store_run_now wait for their
 * callbacks: they are called from after-work, never from inside the caller's own call. */
static void start_batch(struct mb_store *st)
{
    if (st->busy || st->dispatching || (!st->head && !st->done_head))
        return;
    st->batch = st->head;
    st->head = st->tail = NULL;
    st->nqueued = 0;
    st->busy = true;
    atomic_store_explicit(&st->committed, false, memory_order_relaxed);
    st->work.data = st;
    uv_queue_work(st->loop, &st->work, on_work, on_after_work); /* fails only without a work callback */
}

static void call_back(struct mb_store *st)
{
    struct mb_store_op *op;
    while ((op = st->dispatch)) {
        st->dispatch = op->next;
        op->next = NULL;
        if (op->done)
            op->done(op); /* the callee owns op now */
        else
            mb_store_op_free(op);
    }
}

static void on_after_work(uv_work_t *w, int status)
{
    (void)status; /* never cancelled */
    struct mb_store *st = w->data;
    struct mb_store_op *ops = st->batch;
    st->batch = NULL;
    st->busy = false;
    account(st, ops);
    if (st->closing) {
        free_list(ops);
        return;
    }
    /* the batch's ops ran before those mb_store_run_now ran since it left */
    struct mb_store_op *last = ops;
    while (last && last->next)
        last = last->next;
    if (last)
        last->next = st->done_head;
    else
        ops = st->done_head;
    st->done_head = st->done_tail = NULL;
    st->dispatch = ops;
    st->dispatching = true;
    call_back(st);
    st->dispatching = false;
    start_batch(st);
}

int mb_store_submit(struct mb_store *st, struct mb_store_op *op)
{
    if (st->nqueued >= MB_STORE_QUEUE_MAX)
        return -1;
    op->next = NULL;
    op->failures_seen = st->failures;
    if (st->tail)
        st->tail->next = op;
    else
        st->head = op;
    st->tail = op;
    st->nqueued++;
    start_batch(st);
    return 0;
}

void mb_store_run_now(struct mb_store *st, struct mb_store_op *op)
{
    op->next = NULL;
    op->failures_seen = st->failures;
    struct mb_store_op *ops = st->head;
    if (st->tail)
        st->tail->next = op;
    else
        ops = op;
    st->head = st->tail = NULL;
    st->nqueued = 0;
    /* the batch in flight goes first: wait until the pool thread is done with it (it may not
     * have begun its transaction yet, so SQLite's lock alone would not order them) */
    while (st->busy && !atomic_load_explicit(&st->committed, memory_order_acquire))
        nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
    run_batch(st->be, st->local, ops);
    account(st, ops);
    for (struct mb_store_op *p = ops, *next; p != op; p = next) {
        next = p->next;
        p->next = NULL;
        if (st->done_tail)
            st->done_tail->next = p;
        else
            st->done_head = p;
        st->done_tail = p;
    }
    start_batch(st);
}

static void cancel_list(struct mb_store_op *op, const void *owner)
{
    for (; op; op = op->next) {
        if (op->owner == owner) {
            op->owner = NULL;
            op->done = NULL;
            op->data = NULL;
        }
    }
}

void mb_store_cancel(struct mb_store *st, const void *owner)
{
    if (!st || !owner)
        return;
    cancel_list(st->head, owner);
    cancel_list(st->batch, owner); /* the worker never reads these fields */
    cancel_list(st->done_head, owner);
    cancel_list(st->dispatch, owner);
}

size_t mb_store_queued(const struct mb_store *st)
{
    return st->nqueued;
}

struct mb_store *mb_store_open(const struct mb_store_backend *be, uv_loop_t *loop, struct mb_logger *log,
                               const char *path, uint64_t max_bytes, char *err, size_t errlen)
{
    struct mb_store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->be = be;
    st->loop = loop;
    st->log = log;
    st->local = be->open(path, max_bytes, err, errlen);
    if (!st->local) {
        free(st);
        return NULL;
    }
    st->worker = be->open(path, max_bytes, err, errlen);
    if (!st->worker) {
        be->close(st->local);
        free(st);
        return NULL;
    }
    return st;
}

void mb_store_close(struct mb_store *st)
{
    if (!st)
        return;
    st->closing = true;
    while (st->busy) /* after uv_run returned there is none: a batch keeps the loop alive */
        uv_run(st->loop, UV_RUN_ONCE);
    struct mb_store_op *ops = st->head;
    st->head = st->tail = NULL;
    run_batch(st->be, st->worker, ops);
    account(st, ops);
    free_list(ops);
    free_list(st->done_head);
    st->be->close(st->worker);
    st->be->close(st->local);
    free(st);
}
