/* log.h - one line per event: "TIME LEVEL module: message key=value ...".
 * Secrets are never passed here; stanza text only at debug level. */
#ifndef EPODE_LOG_H
#define EPODE_LOG_H

#include <stdio.h>

enum log_level {
    LOG_DEBUG = 0,
    LOG_INFO,
    LOG_WARN,
    LOG_ERROR,
};

/* Lines below `min` are dropped. Output goes to `out` (stderr if NULL). */
void log_init(enum log_level min, FILE *out);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "debug", "info", "warn", "error"; 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);

#define log_debug(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
