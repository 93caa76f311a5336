/* calls.h - calls between a browser on Epode and a Jingle client elsewhere.
 *
 * The browser signals with XEP-0335 JSON in iqs (docs/protocol.md); the
 * Jingle side gets XEP-0166/0167/0176 iqs written by jingle/ from the
 * browser's SDP, and XEP-0353 messages when a call starts at a bare JID.
 * What comes back is translated the other way. Every call is recorded in
 * the store (parties, roles, state, the browser's description) so that
 * candidates and hang-up still work after Epode restarts.
 *
 * Only the two parties of a call may act on it: anyone else gets
 * item-not-found with <unknown-session/> (XEP-0166).
 *
 * One thread: every function runs on the daemon's loop. */
#ifndef EPODE_CALLS_H
#define EPODE_CALLS_H

#include <stddef.h>
#include <strophe.h>

#include "config.h"

struct calls;
struct store;

#define CALLS_NS_JSON "urn:xmpp:json:0"
#define CALLS_NS_JMI "urn:xmpp:jingle-message:0"
/* ids of the iqs Epode sends to browsers start with this: their answers
 * are Epode's, not the remote party's */
#define CALLS_IQ_PREFIX "epcall-"

struct calls_opts {
    const struct epode_config *cfg;
    struct store *store;
    xmpp_ctx_t *xctx;
    /* to the XMPP server (text, NUL-terminated at len); 0 or -1 */
    int (*remote_send)(void *ud, const char *xml, size_t len);
    /* to a hosted user's session(s): full JID, or bare for all of them;
     * 0, or -1 when nobody took it */
    int (*local_send)(void *ud, const char *to, const char *xml, size_t len);
    void *ud;
};

/* NULL when out of memory. `o` is copied. */
struct calls *calls_new(const struct calls_opts *o);
void calls_free(struct calls *c);

/* 1 when `iq` (from a hosted user's session, `from` stamped) is call
 * signaling for calls.c: an iq set carrying <json xmlns='urn:xmpp:json:0'/>
 * to a JID outside Epode's domain. */
int calls_is_browser_signaling(struct calls *c, xmpp_stanza_t *iq);

/* Handles such an iq: translates and sends it on, then answers the
 * browser with a result, or with a stanza error saying what was wrong. */
void calls_from_browser(struct calls *c, xmpp_stanza_t *iq);

/* A stanza from the XMPP server for a hosted user: a Jingle iq or an
 * XEP-0353 message. Returns 1 when handled (answered), 0 when it is not
 * call signaling. */
int calls_from_remote(struct calls *c, xmpp_stanza_t *st);

/* Writes what changed to the store (calls started, changed, ended). The
 * daemon calls it every 100 ms and at the end; calls_free does too. */
void calls_flush(struct calls *c);

struct calls_stats {
    unsigned long active;           /* calls in memory now */
    unsigned long started_total;
    unsigned long translated_total; /* messages translated either way */
    unsigned long refused_total;    /* errors answered */
};
void calls_get_stats(const struct calls *c, struct calls_stats *out);

#endif
