/* bosh.h - Epode's BOSH connection manager (XEP-0124 1.11 with XEP-0206,
 * XMPP over BOSH), as pure logic.
 *
 * The HTTP glue (http.c) hands every POST /http-bind body to
 * bosh_request() with an opaque request handle, and answers a request
 * when this module calls ops->respond() for it. This module knows no
 * sockets, no libwebsockets and no event loop: time comes in as `now_ms`
 * (milliseconds of a monotonic clock), so everything can be driven by a
 * virtual clock in tests.
 *
 * Each BOSH session is one client stream for the session layer
 * (bosh/stream.h): it is attached with in->attach(), receives open(),
 * element(), error() and closed(), and offers stream_out back (open, send,
 * close). The session layer is told in->gone() exactly once per attached
 * session, never from inside one of its own calls into this module.
 *
 * Rules implemented (see docs in bosh.c for the details):
 *   - rids processed strictly in order within a window of `requests`
 *     (one more for a pause or terminate request); early requests wait
 *     for their predecessors; a request already answered gets the same
 *     response again (the last `requests` responses are kept, minus those
 *     the client acknowledged); anything else ends the session with
 *     item-not-found;
 *   - at most `hold` requests held; output goes on the oldest held
 *     request; a held request is answered empty after `wait` seconds;
 *   - inactivity, pause, overactivity and polling limits, key sequences,
 *     acknowledgements, xmpp:restart, terminate in both directions.
 *
 * One thread: every function runs on the daemon's loop. The respond
 * callback must not call back into this module. */
#ifndef EPODE_BOSH_H
#define EPODE_BOSH_H

#include <stddef.h>
#include <stdint.h>
#include <strophe.h>

#include "stream.h"

#define BOSH_NS "http://jabber.org/protocol/httpbind"
#define BOSH_CONTENT_TYPE "text/xml; charset=utf-8"

struct bosh_http_ops {
    /* Answer HTTP request `req` (an opaque handle from bosh_request) now:
     * status 200 with content type `ctype` (BOSH_CONTENT_TYPE unless the
     * client asked for another with 'content') and a <body/>, or an HTTP
     * error (400, 404, 413, 503...) with "text/plain; charset=utf-8".
     * `body` is `len` bytes, NUL-terminated, borrowed for the call. Called
     * at most once per request, possibly from inside bosh_request. */
    void (*respond)(void *ud, void *req, int status, const char *ctype, const char *body, size_t len);
};

struct bosh_opts {
    const char *domain;          /* Epode's domain: the only `to` accepted */
    unsigned wait_max;           /* longest wait granted, seconds (default 60) */
    unsigned hold_max;           /* default 1 */
    unsigned requests_max;       /* default 2 (hold+1) */
    unsigned inactivity;         /* seconds (default 60) */
    unsigned polling;            /* shortest polling interval, seconds (default 2) */
    unsigned max_pause;          /* seconds (default 120) */
    size_t max_body;             /* bytes of one request body (default 65536 + 4096) */
    size_t max_pending;          /* bytes queued for a client not collecting them (default 1 MB) */
};

/* Fills `o` with the defaults above (domain NULL). */
void bosh_opts_defaults(struct bosh_opts *o);

struct bosh;

/* A connection manager for o->domain (required). Zero fields of `o` take
 * their defaults; `o`, `in` and `ops` are copied (o->domain too). `ctx` is
 * borrowed (stanzas are parsed in it) and must outlive the manager. `ud`
 * is passed to ops->respond. Returns NULL when out of memory or when
 * o->domain is NULL or empty. */
struct bosh *bosh_new(xmpp_ctx_t *ctx, const struct bosh_opts *o, const struct stream_in *in,
                      const struct bosh_http_ops *ops, void *ud);

/* Frees the manager: every session still attached gets in->gone(); held
 * requests get no answer (the glue closes their connections). NULL is a
 * no-op. */
void bosh_free(struct bosh *b);

/* A POST body arrived on `req` (`len` bytes, need not be NUL-terminated).
 * `peer` is borrowed for the call (passed to in->attach on session
 * creation). The request is answered now (errors, repeats) or later
 * (bosh_flush, bosh_tick, another request, bosh_shutdown). */
void bosh_request(struct bosh *b, void *req, const char *body, size_t len,
                  const struct stream_peer *peer, uint64_t now_ms);

/* The HTTP connection of request `req` closed before it was answered: it
 * will not be answered. Its session keeps its place: a client that sends
 * the same rid again gets the response that rid would have had. Unknown
 * handles are ignored. */
void bosh_request_gone(struct bosh *b, void *req);

/* Timers: wait expiry, inactivity (sessions expire and get in->gone()),
 * pause. Also does what bosh_flush does. Call every ~100-250 ms. */
void bosh_tick(struct bosh *b, uint64_t now_ms);

/* Answers held requests of sessions that got output since the last flush,
 * and tells the session layer in->gone() for sessions closed since. The
 * glue calls this before the loop sleeps (libuv uv_prepare), so several
 * elements sent in one loop iteration go out in one response. */
void bosh_flush(struct bosh *b);

/* Epode is stopping: every session is terminated with condition
 * system-shutdown (its held requests answered, pending output included),
 * then in->gone() and freed. Later requests are answered with a
 * system-shutdown terminate. */
void bosh_shutdown(struct bosh *b);

struct bosh_stats {
    unsigned long sessions;          /* sessions now */
    unsigned long held;              /* requests now waiting for an answer */
    unsigned long created_total;     /* sessions created */
    unsigned long expired_total;     /* sessions ended by inactivity */
    unsigned long retransmits_total; /* repeated rids answered from the cache */
    unsigned long errors_total;      /* HTTP errors and terminal binding errors */
};

void bosh_get_stats(const struct bosh *b, struct bosh_stats *out);

#endif
