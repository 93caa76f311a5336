/* http.h - Epode's HTTP side for browsers, on the daemon's libuv loop.
 *
 * libwebsockets 4.1 runs on the daemon's own uv_loop_t as a foreign loop:
 * no thread and no loop of its own. http.c is the only file that includes
 * libwebsockets.h. What it serves (docs/http.md):
 *   /.well-known/host-meta[.json]  XEP-0156 discovery of the two below
 *   /xmpp-websocket                XMPP over WebSocket (RFC 7395) for the
 *                                  session layer given in http_opts.xmpp
 *   /http-bind                     BOSH (XEP-0124/0206)
 *   /metrics                       Prometheus text, loopback clients only
 *   everything else                static files from the web root
 * with CORS for an allow-list of origins, and optional TLS.
 *
 * Life cycle on the shared loop (the order matters, see http_free):
 *   http_start()   before uv_run()
 *   http_stop()    from any loop callback: stop listening, close connections
 *   http_free()    after uv_run() returned and the loop ran until every
 *                  handle finished closing; then uv_loop_close(). */
#ifndef EPODE_HTTP_H
#define EPODE_HTTP_H

#include <stddef.h>
#include <strophe.h>
#include <uv.h>

#include "bosh.h"
#include "stream.h"

/* A bounded output buffer: appends past `cap` set `overflow` and are
 * dropped, so a caller checks once at the end. `p` is always
 * NUL-terminated (cap counts the NUL). */
struct http_buf {
    char *p;
    size_t len;
    size_t cap;
    int overflow;
};

void http_buf_init(struct http_buf *b, char *mem, size_t cap);
void http_buf_append(struct http_buf *b, const char *s, size_t n);
void http_buf_printf(struct http_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct http_opts {
    /* Where to listen: an IPv4 or IPv6 literal ("127.0.0.1", "::1"),
     * "0.0.0.0" (every IPv4 address), "::" or "*" (every address, IPv4
     * and IPv6), or a name resolved once at start. */
    const char *host;
    unsigned port;
    const char *web_root;         /* static files; NULL or "": none (404) */
    const char *public_url;       /* base of the announced URLs; "": from Host */
    const char *allowed_origins;  /* CORS allow-list, space-separated; "": none */
    int metrics_public;           /* serve /metrics to non-loopback clients */
    const char *tls_cert;         /* PEM paths, both or neither */
    const char *tls_key;
    unsigned max_connections;     /* open connections at once */
    unsigned idle_timeout;        /* seconds an idle keep-alive connection stays */
    unsigned request_timeout;     /* seconds to send a request head (and TLS handshake) */
    /* Appends the daemon's own metrics (Prometheus text) to `out`; may be
     * NULL. Called from the loop, during a request to /metrics. */
    void (*metrics)(void *ud, struct http_buf *out);
    void *ud;

    /* Browser sessions over XMPP over WebSocket (RFC 7395) at
     * /xmpp-websocket. NULL: that path answers 503. */
    const struct stream_in *xmpp;
    xmpp_ctx_t *xctx;             /* stanza objects for parsed elements */
    size_t max_stanza;            /* bytes of one element from a client */
    unsigned ws_ping_interval;    /* seconds idle before a WebSocket ping, 0: none */
    /* BOSH parameters granted (bosh.h); NULL: bosh_opts_defaults. Its
     * max_body is set from max_stanza. */
    const struct bosh_opts *bosh;
};

struct http_server;

/* Listens on o->host:o->port on `loop`. Strings of `o` are copied. Returns
 * NULL with the reason in `err` when it cannot (address in use, unusable
 * certificate, libwebsockets without its libuv plugin...). Call it before
 * uv_run(), never from a loop callback: after a failure it runs the loop
 * (UV_RUN_NOWAIT) until libwebsockets' handles have closed. */
struct http_server *http_start(uv_loop_t *loop, const struct http_opts *o, char *err, size_t errlen);

/* The port listened on. */
unsigned http_port(const struct http_server *h);

/* Stops listening and closes every connection. Safe from any loop
 * callback, and more than once; NULL is a no-op. Closing finishes
 * asynchronously on the loop: keep running it (see http_free). */
void http_stop(struct http_server *h);

/* Frees the server. libwebsockets frees its context only once the libuv
 * handles it closed in http_stop() have finished closing, so call this
 * after uv_run() has returned and the loop has been run until it has no
 * closing handles left (uv_run(loop, UV_RUN_DEFAULT) returned 0), never
 * from a loop callback. Calls http_stop() if that was not done. NULL is
 * a no-op. */
void http_free(struct http_server *h);

#endif
