/* libFuzzer harness of the config loader: the input is the text of a Lua config file, loaded
 * with mb_config_load_text over the defaults, then (when it loads) given to
 * mb_config_warnings, then freed.
 *
 * Checks: no crash, leak or UB; it either loads (0) or fails (-1) with a message naming the
 * file. The config's code runs in the loader's sandbox (no io, os.execute, os.remove, load,
 * dofile, require: no file written, no process, no network; the loader itself opens no socket
 * and writes nothing) and within small bounds (4 MiB of Lua memory, 1 million instructions),
 * so that `while true do end` or string.rep("x", 1e10) end as errors, quickly. Relative paths
 * resolve under a folder that does not exist. */
#include "fuzz_util.h"

#include "mb_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH "/nonexistent/mb-fuzz/config.lua"

static void count_warning(void *ctx, const char *line)
{
    ASSERT(line && line[0]);
    ++*(size_t *)ctx;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* a { file = "/dev/stdin" } secret reads nothing and ends */
    if (!freopen("/dev/null", "r", stdin))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct mb_config_limits lim = { .memory = 4u << 20, .instructions = 1000000, .sandbox = true };
    struct mb_config cfg;
    char err[1024] = "";
    ASSERT(mb_config_defaults(&cfg, NULL) == 0);
    /* an exact-size copy: ASan sees any read past the end */
    char *text = malloc(size ? size : 1);
    memcpy(text, data, size);
    int rc = mb_config_load_text(&cfg, PATH, text, size, &lim, err, sizeof err);
    free(text);
    ASSERT(rc == 0 || rc == -1);
    if (getenv("MB_FUZZ_LOG"))
        fprintf(stderr, "%s\n", rc ? err : "loaded");
    if (rc == 0) {
        ASSERT(cfg.nrealms >= 1 && cfg.nlisteners >= 1);
        size_t n = 0;
        ASSERT(mb_config_warnings(&cfg, count_warning, &n) == n);
    } else {
        ASSERT(err[0]);
        ASSERT(strncmp(err, PATH, strlen(PATH)) == 0);
    }
    mb_config_free(&cfg);
    return 0;
}
