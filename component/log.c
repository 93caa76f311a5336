#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* The log sink is process-wide by nature (one stderr); it is set once at
 * start-up and only read afterwards. */
static enum log_level log_min = LOG_INFO;
static FILE *log_out;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(enum log_level min, FILE *out)
{
    log_min = min;
    log_out = out;
}

int log_enabled(enum log_level level)
{
    return level >= log_min;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    if (strcmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
    if (level < log_min)
        return;
    FILE *f = log_out ? log_out : stderr;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[level], module);
    if (n < 0 || (size_t)n >= sizeof(line))
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len >= sizeof(line) - 1)
        len = sizeof(line) - 2; /* truncated */
    /* one event, one line: fold any line break a message carried */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    fwrite(line, 1, len, f);
    fflush(f);
}
