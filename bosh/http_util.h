/* http_util.h - the parts of Epode's HTTP side that know neither the
 * network nor libwebsockets: XEP-0156 documents, the CORS allow-list,
 * request paths and content types. Used by http.c and the unit tests.
 * Every function works on bounded buffers and never allocates. */
#ifndef EPODE_HTTP_UTIL_H
#define EPODE_HTTP_UTIL_H

#include <stddef.h>

#include "http.h"

/* The endpoints host-meta announces, relative to the base URL. */
#define HTTP_BOSH_PATH "/http-bind"
#define HTTP_WS_PATH "/xmpp-websocket"

/* Longest request path served (after lws decoded it). */
#define HTTP_PATH_MAX 1024

/* 0 when `host` (a Host header value: name, IPv4 or [IPv6], optional
 * :port) is safe to put into a URL and an XML attribute; -1 otherwise. */
int http_host_valid(const char *host);

/* The two base URLs host-meta announces, without a trailing slash:
 * from `public_url` when it is set ("https://example.com/epode" gives
 * "https://example.com/epode" and "wss://example.com/epode"), else from
 * the request's Host header and whether the listener speaks TLS.
 * 0, or -1 when a base does not fit or `host` is not valid. */
int http_bases(const char *public_url, const char *host, int tls, char *http_base, size_t hlen,
               char *ws_base, size_t wlen);

/* XEP-0156 host-meta (XRD, RFC 6415) and host-meta.json (JRD, RFC 7033)
 * announcing BOSH at HTTP_BASE/http-bind and WebSocket at
 * WS_BASE/xmpp-websocket. The bases come from http_bases(), whose
 * character set needs no escaping. Appends to `out`. */
void http_host_meta_xml(struct http_buf *out, const char *http_base, const char *ws_base);
void http_host_meta_json(struct http_buf *out, const char *http_base, const char *ws_base);

/* 1 when `origin` (an Origin header value) is in `list` (space-separated
 * origins, "*" for any), 0 otherwise. Comparison ignores ASCII case; an
 * empty list allows nothing. */
int http_origin_allowed(const char *list, const char *origin);

/* 0 when `path` (a decoded request path) may name a file under the web
 * root: it starts with '/', has no "." or ".." segment, no segment
 * starting with '.', no backslash or control character, and is shorter
 * than HTTP_PATH_MAX. -1 otherwise. */
int http_path_safe(const char *path);

/* The Content-Type for a file name, by extension (text types with
 * charset=utf-8); application/octet-stream when unknown. */
const char *http_mime_type(const char *name);

/* Copies `s` into `dst` (size n, NUL-terminated) with control characters
 * and quotes replaced by '?', for log lines. Returns dst. */
char *http_log_safe(char *dst, size_t n, const char *s);

#endif
