/* moonbar's entry point: command line, config, the loop, and a clean exit. */
#include "moonbar.h"
#include "mb_config.h"
#include "mb_router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#ifndef MB_DEFAULT_WEB_ROOT
#define MB_DEFAULT_WEB_ROOT "lua/www"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: moonbar [--config FILE] [-v | -vv] [--help] [--version]\n"
            "\n"
            "  --config FILE  Lua file returning the configuration table (see README.md)\n"
            "                 without it: realm 'realm1', anonymous, ws://127.0.0.1:8080/ws\n"
            "  -v, -vv        log level debug, trace\n"
            "  --help         this text\n"
            "  --version      moonbar's version\n");
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("moonbar %s\n", MOONBAR_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) {
            if (++i == argc) {
                fprintf(stderr, "moonbar: --config needs a file\n");
                return 2;
            }
            config = argv[i];
        } else if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
        } else if (strcmp(argv[i], "-vv") == 0) {
            verbose = 2;
        } else {
            fprintf(stderr, "moonbar: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    struct mb_config cfg;
    if (mb_config_defaults(&cfg, MB_DEFAULT_WEB_ROOT) < 0) {
        fprintf(stderr, "moonbar: out of memory\n");
        return 1;
    }
    if (config) {
        char err[1024];
        if (mb_config_load(&cfg, config, err, sizeof err) < 0) {
            fprintf(stderr, "moonbar: config %s\n", err);
            mb_config_free(&cfg);
            return 2;
        }
    }
    if (verbose)
        cfg.log_level = verbose == 1 ? MB_LOG_DEBUG : MB_LOG_TRACE;

    /* Log lines are buffered and written once per loop turn (the router's safe point flushes
     * them): thousands of joins a second cost one write, not one each. */
    setvbuf(stderr, NULL, _IOFBF, 1 << 16);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct mb_router router;
    int status = 0;
    int rc = mb_router_init(&router, &loop, &cfg);
    if (rc == MB_ROUTER_BAD_SETUP) { /* said on stderr; nothing was started */
        uv_loop_close(&loop);
        mb_config_free(&cfg);
        return 2;
    }
    if (rc < 0) {
        mb_error(&router.log, "cannot start: see the lines above");
        status = 1;
        mb_router_stop(&router);
    } else {
        mb_info(&router.log, "moonbar %s ready", MOONBAR_VERSION);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    mb_router_free(&router);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        mb_warn(&router.log, "event loop closed with handles still open");
    mb_config_free(&cfg);
    return status;
}
