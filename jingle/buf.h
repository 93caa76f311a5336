/* buf.h - growable text buffer with a hard size cap.
 *
 * Every writer in jingle/ appends here. Appends never fail loudly: once the
 * cap is hit or memory runs out the buffer is marked failed, later appends are
 * ignored, and the caller checks buf_failed() once at the end. */
#ifndef EPODE_BUF_H
#define EPODE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data;     /* NUL-terminated while not failed */
    size_t len;
    size_t cap;
    size_t max;     /* hard cap on len; 0 means 16 MiB */
    int failed;
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Hands the text to the caller (free() it); the buffer is left empty. NULL if
 * the buffer failed. */
char *buf_steal(struct buf *b, size_t *len);
int buf_failed(const struct buf *b);

void buf_append(struct buf *b, const char *s, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_put_u64(struct buf *b, uint64_t v);
void buf_put_i64(struct buf *b, int64_t v);
/* XML character data or attribute value (both quote kinds escaped). */
void buf_put_xml(struct buf *b, const char *s);

#endif
