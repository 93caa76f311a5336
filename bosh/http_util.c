/* http_util.c - see http_util.h. No network, no libwebsockets. */
#include "http_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void http_buf_init(struct http_buf *b, char *mem, size_t cap)
{
    b->p = mem;
    b->len = 0;
    b->cap = cap;
    b->overflow = 0;
    if (cap)
        mem[0] = '\0';
}

void http_buf_append(struct http_buf *b, const char *s, size_t n)
{
    if (b->overflow || !b->cap || n > b->cap - 1 - b->len) {
        b->overflow = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void http_buf_printf(struct http_buf *b, const char *fmt, ...)
{
    if (b->overflow || !b->cap) {
        b->overflow = 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->p + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) {
        b->p[b->len] = '\0';
        b->overflow = 1;
        return;
    }
    b->len += (size_t)n;
}

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int http_host_valid(const char *host)
{
    size_t n = strlen(host);
    if (n == 0 || n > 255)
        return -1;
    const char *p = host;
    if (*p == '[') {
        /* [IPv6]: hex digits, colons, dots (v4-mapped) */
        p++;
        while (*p && *p != ']') {
            if (!is_alnum(*p) && *p != ':' && *p != '.')
                return -1;
            p++;
        }
        if (*p != ']' || p == host + 1)
            return -1;
        p++;
    } else {
        if (*p == '.' || *p == '-')
            return -1;
        while (*p && *p != ':') {
            if (!is_alnum(*p) && *p != '.' && *p != '-')
                return -1;
            p++;
        }
        if (p == host)
            return -1;
    }
    if (*p == ':') {
        p++;
        size_t digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 6) {
            p++;
            digits++;
        }
        if (digits == 0 || digits > 5)
            return -1;
    }
    return *p ? -1 : 0;
}

int http_bases(const char *public_url, const char *host, int tls, char *http_base, size_t hlen,
               char *ws_base, size_t wlen)
{
    int a, b;
    if (public_url && *public_url) {
        /* validated at configuration time: http:// or https://, no
         * trailing slash, nothing that needs escaping */
        int secure = strncmp(public_url, "https://", 8) == 0;
        const char *rest = public_url + (secure ? 8 : 7);
        a = snprintf(http_base, hlen, "%s", public_url);
        b = snprintf(ws_base, wlen, "%s://%s", secure ? "wss" : "ws", rest);
    } else {
        if (!host || http_host_valid(host))
            return -1;
        a = snprintf(http_base, hlen, "%s://%s", tls ? "https" : "http", host);
        b = snprintf(ws_base, wlen, "%s://%s", tls ? "wss" : "ws", host);
    }
    if (a < 0 || (size_t)a >= hlen || b < 0 || (size_t)b >= wlen)
        return -1;
    return 0;
}

void http_host_meta_xml(struct http_buf *out, const char *http_base, const char *ws_base)
{
    http_buf_printf(out,
                    "<?xml version='1.0' encoding='utf-8'?>\n"
                    "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n"
                    "  <Link rel='urn:xmpp:alt-connections:xbosh' href='%s" HTTP_BOSH_PATH "'/>\n"
                    "  <Link rel='urn:xmpp:alt-connections:websocket' href='%s" HTTP_WS_PATH "'/>\n"
                    "</XRD>\n",
                    http_base, ws_base);
}

void http_host_meta_json(struct http_buf *out, const char *http_base, const char *ws_base)
{
    http_buf_printf(out,
                    "{\n"
                    "  \"links\": [\n"
                    "    {\"rel\": \"urn:xmpp:alt-connections:xbosh\", \"href\": \"%s" HTTP_BOSH_PATH "\"},\n"
                    "    {\"rel\": \"urn:xmpp:alt-connections:websocket\", \"href\": \"%s" HTTP_WS_PATH "\"}\n"
                    "  ]\n"
                    "}\n",
                    http_base, ws_base);
}

int http_origin_allowed(const char *list, const char *origin)
{
    if (!list || !origin || !*origin)
        return 0;
    size_t olen = strlen(origin);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        size_t n = (size_t)(p - start);
        if (n == 1 && *start == '*')
            return 1;
        if (n && n == olen && strncasecmp(start, origin, n) == 0)
            return 1;
    }
    return 0;
}

int http_path_safe(const char *path)
{
    if (path[0] != '/')
        return -1;
    size_t n = 0;
    for (const char *p = path; *p; p++, n++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || c == '\\')
            return -1;
        /* a segment starting with '.' covers ".", ".." and hidden files */
        if (c == '/' && p[1] == '.')
            return -1;
    }
    return n < HTTP_PATH_MAX ? 0 : -1;
}

const char *http_mime_type(const char *name)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"webmanifest", "application/manifest+json"},
        {"txt", "text/plain; charset=utf-8"},
        {"xml", "application/xml"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"ico", "image/x-icon"},
        {"wasm", "application/wasm"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"ogg", "audio/ogg"},
        {"mp3", "audio/mpeg"},
        {"wav", "audio/wav"},
        {"webm", "video/webm"},
        {"mp4", "video/mp4"},
    };
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strrchr(base, '.');
    if (dot && dot != base)
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

char *http_log_safe(char *dst, size_t n, const char *s)
{
    size_t i = 0;
    if (!n)
        return dst;
    for (; s && s[i] && i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (c < 0x20 || c == 0x7f || c == '"') ? '?' : (char)c;
    }
    dst[i] = '\0';
    return dst;
}
