/* mb_log: one line per event on stderr, with time, level and what happened.
 * The threshold lives in a struct owned by the router (no global state);
 * every call site passes the logger it has. */
#ifndef MB_LOG_H
#define MB_LOG_H

enum mb_log_level { MB_LOG_ERROR, MB_LOG_WARN, MB_LOG_INFO, MB_LOG_DEBUG, MB_LOG_TRACE };

struct mb_logger {
    int level; /* lines above this level are not formatted */
};

/* Parses "error" | "warn" | "info" | "debug" | "trace"; returns -1 if unknown. */
int mb_log_level_parse(const char *name);

void mb_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define mb_log(lg, lvl, ...) \
    do { if ((lvl) <= (lg)->level) mb_log_write((lvl), __VA_ARGS__); } while (0)
#define mb_error(lg, ...) mb_log(lg, MB_LOG_ERROR, __VA_ARGS__)
#define mb_warn(lg, ...)  mb_log(lg, MB_LOG_WARN, __VA_ARGS__)
#define mb_info(lg, ...)  mb_log(lg, MB_LOG_INFO, __VA_ARGS__)
#define mb_debug(lg, ...) mb_log(lg, MB_LOG_DEBUG, __VA_ARGS__)
#define mb_trace(lg, ...) mb_log(lg, MB_LOG_TRACE, __VA_ARGS__)

#endif
