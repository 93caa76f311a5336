/* libFuzzer target: the Jingle reader, from XML text (expat) and from
 * libstrophe stanza objects. What it accepts must give SDP our own parser
 * accepts, and both front ends must agree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jingle_stanza.h"

static xmpp_ctx_t *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        xmpp_initialize();
        ctx = xmpp_ctx_new(NULL, NULL);
    }
    struct jingle_error err;
    struct jingle *j = jingle_parse_xml((const char *)data, size, &err);
    if (!j)
        return 0;
    size_t n;
    char *sdp = jingle_to_sdp(j, JINGLE_ROLE_INITIATOR, &n);
    if (sdp && j->sdp->media) {
        struct sdp_error se;
        struct sdp_session *s = sdp_session_parse(sdp, n, &se);
        if (!s && (j->action == JINGLE_SESSION_INITIATE || j->action == JINGLE_SESSION_ACCEPT)) {
            /* A whole description we accepted produced SDP we reject: a
             * browser would get a description it cannot use. (Changes such
             * as content-add are merged into the session first.) */
            fprintf(stderr, "SDP from accepted Jingle does not parse: %s\n%s\n", se.what, sdp);
            abort();
        }
        sdp_session_free(s);
    }
    free(sdp);
    jingle_free(j);

    /* The stanza path reads the same document the same way. */
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    if (strlen(copy) == size) {
        xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, copy);
        if (st) {
            struct jingle *j2 = jingle_from_stanza(st, &err);
            jingle_free(j2);
            xmpp_stanza_release(st);
        }
    }
    free(copy);
    return 0;
}
