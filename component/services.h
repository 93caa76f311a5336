/* services.h - what the component answers itself: XEP-0030 service
 * discovery for its domain and hosted users, XEP-0092 software version,
 * XEP-0199 ping, XEP-0215 external services (STUN/TURN with time-limited
 * credentials). Every iq gets an answer: unknown ones get
 * service-unavailable, malformed ones bad-request (RFC 6120). */
#ifndef EPODE_SERVICES_H
#define EPODE_SERVICES_H

#include <strophe.h>
#include <time.h>

#include "config.h"

struct services {
    const struct epode_config *cfg;
    /* sends one stanza (XML text) to `to` (the JID it is addressed to:
     * a hosted user's session or, through the link, anyone else); 0, or
     * -1 if it could not be queued */
    int (*send)(void *ud, const char *to, const char *xml, size_t len);
    /* 1 when `bare` (user@domain) is a hosted user; may be NULL */
    int (*user_exists)(void *ud, const char *bare);
    void *ud;
    time_t (*now)(void);    /* NULL: time() */
    unsigned long iq_answered;
    unsigned long iq_errors;
};

/* Handles a stanza addressed to the component's domain or one of its
 * users. Returns 1 when it answered, 0 when the stanza is not one of its
 * own (for the caller's other handlers). */
int services_handle(struct services *sv, xmpp_stanza_t *stanza);

/* Answers `stanza` (an iq get/set or message) with a stanza error of RFC
 * 6120: type ("cancel", "modify", ...) and condition ("service-unavailable",
 * "bad-request", ...), with an optional human-readable text. Errors are
 * never answered. */
void services_reply_error(struct services *sv, xmpp_stanza_t *stanza, const char *type,
                          const char *condition, const char *text);

#endif
