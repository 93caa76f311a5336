/* buf.h - growable text buffer with a hard size cap.
 *
 * Every writer in jingle/ appends here. Appends never fail loudly: once the
 * cap is hit or memory runs out the buffer is marked failed, later appends are
 * ignored, and the caller checks buf_failed() once at the end. */
#ifndef EPODE_BUF_H
#define EPODE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
    char *data;     /* NUL-terminated while not failed */
    size_t len;
    size_t cap;
    size_t max;     /* hard cap on len; 0 means 16 MiB */
    int failed;
    int raw_text;   /* buf_put_xml appends as is: the caller knows the text
                       holds no XML special character */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Hands the text to the caller (free() it); the buffer is left empty. NULL if
 * the buffer failed. */
char *buf_steal(struct buf *b, size_t *len);
int buf_failed(const struct buf *b);

/* Makes room for `extra` more bytes (plus the NUL); 0 or -1 (failed). */
int buf_reserve(struct buf *b, size_t extra);

/* The writers run these for every few bytes: the common case (room left)
 * stays inline, growing goes through buf_reserve. */
static inline void buf_append(struct buf *b, const char *s, size_t n)
{
    if (b->cap - b->len <= n && buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static inline void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

/* Appends a string literal without measuring it. */
#define buf_lit(b, lit) buf_append((b), (lit), sizeof(lit) - 1)

static inline void buf_putc(struct buf *b, char c)
{
    if (b->cap - b->len <= 1 && buf_reserve(b, 1))
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}
void buf_put_u64(struct buf *b, uint64_t v);
void buf_put_i64(struct buf *b, int64_t v);
/* XML character data or attribute value (both quote kinds escaped), unless
 * raw_text is set. */
void buf_put_xml(struct buf *b, const char *s);
/* Always escaped, whatever raw_text says. */
void buf_put_xml_strict(struct buf *b, const char *s);
/* ` name='value'` with the value escaped; nothing when value is NULL. */
void buf_put_attr(struct buf *b, const char *name, const char *value);

#endif
