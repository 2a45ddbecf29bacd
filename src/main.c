/* moonbar's entry point: command line, config, the loop, and a clean exit. */
#include "moonbar.h"
#include "mb_config.h"
#include "mb_crypto.h"
#include "mb_router.h"

#include <limits.h>
#include <stdbool.h>
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
            "       moonbar --check-config FILE\n"
            "       moonbar keygen\n"
            "       moonbar wampcra-secret SECRET [--salt S [--iterations N] [--keylen L]]\n"
            "\n"
            "  --config FILE  Lua file returning the configuration table (see README.md)\n"
            "                 without it: realm 'realm1', anonymous, ws://127.0.0.1:8080/ws\n"
            "  -v, -vv        log level debug, trace\n"
            "  --help         this text\n"
            "  --version      moonbar's version\n"
            "  --check-config FILE  loads FILE as moonbar would, prints its errors (exit 2) and\n"
            "                 warnings (anonymous sessions that may do everything on a public\n"
            "                 listener, secrets written in clear, tickets without TLS; exit 0)\n"
            "\n"
            "  keygen         prints a new cryptosign (Ed25519) key pair as hex, two lines:\n"
            "                 'private <64 hex>' for the client, 'public <64 hex>' for the config\n"
            "  wampcra-secret prints what a WAMP-CRA user's secret in the config holds: with\n"
            "                 --salt, the key autobahn derives (PBKDF2-HMAC-SHA256, base64;\n"
            "                 --iterations default 1000, --keylen default 32, 1 to 1024 bytes);\n"
            "                 without, SECRET itself\n");
}

/* moonbar keygen: the private seed goes to the client, the public key into the config's
 * pubkeys. One word and the hex per line, so a script can cut them apart. */
static int cmd_keygen(int argc, char **argv)
{
    if (argc == 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 2) {
        fprintf(stderr, "moonbar: keygen takes no arguments, got '%s'\n", argv[2]);
        return 2;
    }
    char priv[65], pub[65];
    if (mb_crypto_init() < 0 || mb_cryptosign_keygen(priv, pub) < 0) {
        fprintf(stderr, "moonbar: keygen: libsodium failed\n");
        return 1;
    }
    printf("private %s\npublic %s\n", priv, pub);
    return 0;
}

/* A whole number in [lo, hi] (hi <= INT_MAX) written as plain decimal digits: no sign, no
 * spaces, which strtoul would take. */
static int parse_count(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    unsigned long long v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
        if (v > hi) /* checked at every digit: v never grows past 10 * INT_MAX + 9 */
            return -1;
    }
    if (v < lo)
        return -1;
    *out = (unsigned)v;
    return 0;
}

struct cra_args {
    const char *secret, *salt, *iterations, *keylen;
};

/* Reads wampcra-secret's arguments: SECRET and the options in any order ("--" ends the
 * options, for a secret that starts with '-'). 0; 1 for --help; -1 with a one-line complaint
 * on stderr if they are wrong. */
static int cra_parse(int argc, char **argv, struct cra_args *a)
{
    bool options = true;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char **slot = NULL;
        if (options && strcmp(arg, "--") == 0) {
            options = false;
            continue;
        }
        if (options && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0))
            return 1;
        if (options && strcmp(arg, "--salt") == 0)
            slot = &a->salt;
        else if (options && strcmp(arg, "--iterations") == 0)
            slot = &a->iterations;
        else if (options && strcmp(arg, "--keylen") == 0)
            slot = &a->keylen;
        else if (options && arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "moonbar: wampcra-secret: unknown option '%s'\n", arg);
            return -1;
        } else if (a->secret) {
            fprintf(stderr, "moonbar: wampcra-secret: one SECRET only, got '%s' too\n", arg);
            return -1;
        } else {
            a->secret = arg;
            continue;
        }
        if (*slot) {
            fprintf(stderr, "moonbar: wampcra-secret: %s given twice\n", arg);
            return -1;
        }
        if (++i == argc) {
            fprintf(stderr, "moonbar: wampcra-secret: %s needs a value\n", arg);
            return -1;
        }
        *slot = argv[i];
    }
    if (!a->secret) {
        fprintf(stderr, "moonbar: wampcra-secret: SECRET missing\n");
        return -1;
    }
    if (!a->salt && (a->iterations || a->keylen)) {
        fprintf(stderr, "moonbar: wampcra-secret: %s needs --salt (without a salt nothing is derived)\n",
                a->iterations ? "--iterations" : "--keylen");
        return -1;
    }
    return 0;
}

/* moonbar wampcra-secret: the config's secret for a WAMP-CRA user, as autobahn will use it. */
static int cmd_wampcra_secret(int argc, char **argv)
{
    struct cra_args a = { 0 };
    int rc = cra_parse(argc, argv, &a);
    if (rc != 0) {
        if (rc > 0)
            usage(stdout);
        return rc > 0 ? 0 : 2;
    }
    if (!a.salt) {
        fprintf(stderr, "moonbar: no salt: the secret is used as it is\n");
        printf("%s\n", a.secret);
        return 0;
    }
    unsigned iterations = 1000, keylen = 32; /* autobahn's defaults */
    if (a.iterations && parse_count(a.iterations, 1, (unsigned)INT_MAX, &iterations) < 0) {
        fprintf(stderr, "moonbar: wampcra-secret: --iterations must be a whole number from 1 to %d, got '%s'\n",
                INT_MAX, a.iterations);
        return 2;
    }
    if (a.keylen && parse_count(a.keylen, 1, 1024, &keylen) < 0) {
        fprintf(stderr, "moonbar: wampcra-secret: --keylen must be a whole number from 1 to 1024, got '%s'\n",
                a.keylen);
        return 2;
    }
    char key[4 * 1024 / 3 + 4 + 1];
    if (mb_wampcra_derive_key(a.secret, strlen(a.secret), a.salt, strlen(a.salt), iterations, keylen,
                              key, sizeof key) < 0) {
        fprintf(stderr, "moonbar: wampcra-secret: key derivation failed\n");
        return 1;
    }
    printf("%s\n", key);
    return 0;
}

/* A subcommand's status, with a failed write to stdout (a full disk, a closed pipe) counted
 * as a failure: a key that did not reach its file must not look made. */
static int finish_stdout(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "moonbar: cannot write to stdout\n");
        return status ? status : 1;
    }
    return status;
}

static void print_warning(void *ctx, const char *line)
{
    printf("%s: warning: %s\n", (const char *)ctx, line);
}

static bool readable(const char *path)
{
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (f)
        fclose(f);
    return f != NULL;
}

/* moonbar --check-config FILE: what the start would refuse, and what is unsafe. */
static int cmd_check_config(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "moonbar: --check-config takes one FILE\n");
        return 2;
    }
    const char *path = argv[2];
    struct mb_config cfg;
    char err[1024];
    if (mb_config_defaults(&cfg, MB_DEFAULT_WEB_ROOT) < 0) {
        fprintf(stderr, "moonbar: out of memory\n");
        return 1;
    }
    if (mb_config_load(&cfg, path, err, sizeof err) < 0) {
        printf("%s: error: %s\n", path, err);
        mb_config_free(&cfg);
        return 2;
    }
    int errors = 0;
    for (size_t i = 0; i < cfg.nlisteners; i++) { /* files the start opens */
        const struct mb_tls_config *t = &cfg.listeners[i].tls;
        const char *files[] = { t->cert, t->key, t->ca };
        const char *names[] = { "cert", "key", "ca" };
        for (int k = 0; k < 3; k++)
            if (files[k] && !readable(files[k])) {
                printf("%s: error: listeners[%zu].tls.%s: cannot read %s\n", path, i + 1, names[k], files[k]);
                errors++;
            }
    }
    for (size_t i = 0; i < cfg.nrealms; i++) {
        const struct mb_realm_config *rc = &cfg.realms[i];
        if (rc->policy && !readable(rc->policy)) {
            printf("%s: error: realms[%zu].policy: cannot read %s\n", path, i + 1, rc->policy);
            errors++;
        }
    }
    size_t warnings = mb_config_warnings(&cfg, print_warning, (void *)path);
    printf("%s: %d error%s, %zu warning%s\n", path, errors, errors == 1 ? "" : "s", warnings,
           warnings == 1 ? "" : "s");
    mb_config_free(&cfg);
    return errors ? 2 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--check-config") == 0)
        return finish_stdout(cmd_check_config(argc, argv));
    if (argc > 1 && strcmp(argv[1], "keygen") == 0)
        return finish_stdout(cmd_keygen(argc, argv));
    if (argc > 1 && strcmp(argv[1], "wampcra-secret") == 0)
        return finish_stdout(cmd_wampcra_secret(argc, argv));
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
