/* link.h - the XEP-0114 link to the XMPP server, on the libuv loop.
 *
 * One libstrophe connection in component mode. libstrophe's socket, learned
 * from its sockopt callback, is watched with a uv_poll; a uv_prepare flushes
 * libstrophe's send queue before the loop sleeps; a timer drives
 * libstrophe's own timers and Epode's keepalive pings. When the server goes
 * away the link reconnects with exponential backoff and jitter; stanzas sent
 * meanwhile wait in a bounded queue and go out in order after the
 * reconnect. The only file that knows libuv and libstrophe together. */
#ifndef EPODE_LINK_H
#define EPODE_LINK_H

#include <stddef.h>
#include <strophe.h>
#include <uv.h>

struct link;

enum link_fatal {
    LINK_FATAL_AUTH = 1,        /* the server rejected the secret */
    LINK_FATAL_DOMAIN,          /* the server does not know the domain */
    LINK_FATAL_CONFLICT,        /* another component holds the domain */
};

struct link_callbacks {
    /* A stanza for the component. The stanza belongs to libstrophe: clone
     * it to keep it. */
    void (*stanza)(struct link *l, xmpp_stanza_t *stanza, void *ud);
    /* The link came up (after the handshake) or went down. */
    void (*state)(struct link *l, int up, void *ud);
    /* Retrying cannot help (see enum link_fatal); `why` says what to fix.
     * The link has stopped. */
    void (*fatal)(struct link *l, enum link_fatal what, const char *why, void *ud);
    /* link_stop() finished: the stream is closed. */
    void (*stopped)(struct link *l, void *ud);
    void *ud;
};

struct link_opts {
    const char *host;
    unsigned port;
    const char *domain;
    const char *secret;
    const char *ping_to;        /* where keepalive pings go (the server's domain) */
    unsigned ping_interval;     /* seconds */
    unsigned ping_timeout;      /* seconds */
    unsigned reconnect_min;     /* seconds */
    unsigned reconnect_max;     /* seconds */
    unsigned queue_max;         /* stanzas */
    size_t queue_max_bytes;
};

/* A new link on `loop`; strings of `o` are copied. NULL when out of memory. */
struct link *link_new(uv_loop_t *loop, xmpp_ctx_t *ctx, const struct link_opts *o,
                      const struct link_callbacks *cb);
/* Starts connecting; returns at once. 0, or -1 if it could not start. */
int link_start(struct link *l);
/* Flushes what is queued and closes the stream; `stopped` is called when
 * done (or after a few seconds if the server does not answer). */
void link_stop(struct link *l);
/* Frees the link. Call after `stopped`, or before link_start. */
void link_free(struct link *l);

int link_is_up(const struct link *l);

/* Sends one stanza given as XML text (len bytes, NUL-terminated at len:
 * libstrophe reads it as a C string). While the link is down it
 * waits in the queue. Returns 0, or -1 when the queue is full: the caller
 * answers the stanza's sender with an error, nothing is dropped silently. */
int link_send(struct link *l, const char *xml, size_t len);

/* Figures for logs and metrics. */
struct link_stats {
    unsigned long connects;
    unsigned long disconnects;
    unsigned long stanzas_in;
    unsigned long stanzas_out;
    unsigned long queued;
    unsigned long queue_overflows;
};
void link_get_stats(const struct link *l, struct link_stats *out);

#endif
