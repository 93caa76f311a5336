#include "buf.h"

#include <stdlib.h>
#include <string.h>

#define BUF_DEFAULT_MAX (16u * 1024 * 1024)

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : BUF_DEFAULT_MAX;
    b->failed = 0;
    b->raw_text = 0;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *buf_steal(struct buf *b, size_t *len)
{
    if (b->failed) {
        buf_free(b);
        return NULL;
    }
    if (!b->data)
        buf_append(b, "", 0);
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

int buf_failed(const struct buf *b)
{
    return b->failed;
}

int buf_reserve(struct buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra > b->max - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void buf_put_u64(struct buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_append(b, tmp + i, sizeof(tmp) - i);
}

void buf_put_i64(struct buf *b, int64_t v)
{
    if (v < 0) {
        buf_putc(b, '-');
        buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        buf_put_u64(b, (uint64_t)v);
    }
}

/* Characters that need an entity in XML text or attribute values; NUL
 * ends the string. */
static const unsigned char xml_special[256] = {
    [0] = 1, ['&'] = 1, ['<'] = 1, ['>'] = 1, ['"'] = 1, ['\''] = 1,
    ['\r'] = 1, ['\n'] = 1, ['\t'] = 1,
};

void buf_put_xml(struct buf *b, const char *s)
{
    if (b->raw_text)
        buf_puts(b, s);
    else
        buf_put_xml_strict(b, s);
}

void buf_put_xml_strict(struct buf *b, const char *s)
{
    for (;;) {
        const char *run = s;
        while (!xml_special[(unsigned char)*s])
            s++;
        buf_append(b, run, (size_t)(s - run));
        const char *rep;
        switch (*s) {
        case '\0': return;
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        case '\r': rep = "&#13;"; break;
        case '\n': rep = "&#10;"; break;
        default: rep = "&#9;"; break;
        }
        buf_puts(b, rep);
        s++;
    }
}

void buf_put_attr(struct buf *b, const char *name, const char *value)
{
    if (!value)
        return;
    buf_putc(b, ' ');
    buf_puts(b, name);
    buf_lit(b, "='");
    buf_put_xml_strict(b, value);
    buf_putc(b, '\'');
}
