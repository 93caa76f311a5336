/* c2s.h - Epode as the XMPP server of its own domain: the sessions of the
 * hosted users who log in from browsers (over WebSocket or BOSH, see
 * bosh/stream.h), their rosters and presence (RFC 6121), and routing of
 * their stanzas: between hosted users directly, to everyone else through
 * the XEP-0114 link.
 *
 * What a client can do (docs/clients.md):
 *   - SASL (sasl.h): SCRAM-SHA-256, SCRAM-SHA-1, PLAIN on secure
 *     connections, ANONYMOUS when [clients] anonymous is on; repeated
 *     failures from one address are answered more and more slowly, and a
 *     stream is closed after five failures;
 *   - resource binding (a resource in use is taken over: the older
 *     session gets a `conflict` stream error) and the legacy session iq;
 *   - roster get/set/remove with pushes to every interested resource, the
 *     subscription state machine with local and remote contacts and
 *     pre-approval, all persisted in the store;
 *   - presence: broadcast to subscribers, probes sent and answered,
 *     contacts' presence at login, directed presence, unavailable when a
 *     session ends for any reason;
 *   - everything else is routed with the session's full JID stamped as
 *     `from`; a stanza that claims another sender ends the stream with
 *     invalid-from.
 * Limits: stanzas per second per session (resource-constraint errors, then
 * policy-violation), sessions per address, sessions in all, time to log in.
 *
 * One thread: every function runs on the daemon's loop. */
#ifndef EPODE_C2S_H
#define EPODE_C2S_H

#include <stddef.h>
#include <stdint.h>
#include <strophe.h>

#include "config.h"
#include "services.h"
#include "stream.h"

struct c2s;
struct calls;
struct sasl_server;
struct store;

struct c2s_opts {
    const struct epode_config *cfg;
    struct store *store;
    xmpp_ctx_t *xctx;
    struct sasl_server *sasl;
    /* answers iqs to the domain and to users' bare JIDs (disco, ping,
     * version, XEP-0215); its `send` must route to c2s_deliver_text for
     * hosted users' JIDs */
    struct services *services;
    /* sends a stanza to the XMPP server (text, NUL-terminated at len);
     * 0, or -1 when the link's queue is full */
    int (*remote_send)(void *ud, const char *xml, size_t len);
    /* call signaling for browsers (calls.h); may be NULL */
    struct calls *calls;
    /* milliseconds of a monotonic clock */
    uint64_t (*now_ms)(void *ud);
    void *ud;
};

/* A new session registry; NULL when out of memory. `o` is copied. */
struct c2s *c2s_new(const struct c2s_opts *o);

/* Frees the registry. Sessions still attached are freed without a word to
 * anyone: call c2s_shutdown first and let the transports finish. */
void c2s_free(struct c2s *c);

/* What transports call (bosh/stream.h). Valid as long as `c`. */
const struct stream_in *c2s_stream_in(struct c2s *c);

/* A stanza from the XMPP server addressed to user@domain[/resource]
 * (`to` has a localpart in Epode's domain). Returns 1 when handled, 0 when
 * the stanza is not for a user (the caller's services handle it). */
int c2s_handle_remote(struct c2s *c, xmpp_stanza_t *st);

/* Delivers a stanza Epode made itself (text, e.g. a services answer) to a
 * hosted user's full or bare JID `to`. Returns 0, or -1 when no session
 * took it. */
int c2s_deliver_text(struct c2s *c, const char *to, const char *xml, size_t len);

/* 1 when `bare` is a hosted user: in the store, or an anonymous guest who
 * is online now. */
int c2s_user_exists(struct c2s *c, const char *bare);

/* Timers: delayed SASL failures, login time-outs. Call every 100 ms. */
void c2s_tick(struct c2s *c);

/* Epode is stopping: every session sends its unavailable presence and its
 * stream is closed with system-shutdown. The transports then call gone(). */
void c2s_shutdown(struct c2s *c);

struct c2s_stats {
    unsigned long sessions;         /* attached now */
    unsigned long bound;            /* with a resource now */
    unsigned long logins_total;
    unsigned long auth_failures_total;
    unsigned long stanzas_in_total; /* from clients */
    unsigned long stanzas_out_total;/* to clients */
    unsigned long refused_total;    /* sessions refused by the limits */
    unsigned long rate_limited_total;
};
void c2s_get_stats(const struct c2s *c, struct c2s_stats *out);

#endif
