/* Outgoing HTTP (mb_httpc.h): a stub until the libcurl client lands. */
#include "mb_httpc.h"
#include "mb_router.h"

struct mb_httpc_call *mb_httpc_start(struct mb_router *r, const struct mb_httpc_request *req, mb_httpc_done done,
                                     void *ctx)
{
    (void)r, (void)req, (void)done, (void)ctx;
    return NULL;
}

void mb_httpc_cancel(struct mb_httpc_call *call)
{
    (void)call;
}

void mb_httpc_free(struct mb_router *r)
{
    (void)r;
}
