/* jingle_stanza.h - Jingle <-> libstrophe stanza objects. The only header of
 * jingle/ that knows libstrophe; it builds and reads stanza objects, never
 * touches a connection. */
#ifndef EPODE_JINGLE_STANZA_H
#define EPODE_JINGLE_STANZA_H

#include <strophe.h>

#include "jingle.h"

/* Reads an <iq/> holding a <jingle/>, or a <jingle/> element, already parsed
 * by libstrophe (what the daemon receives). NULL with `err` filled on
 * error. Walks the tree once; no text is produced. */
struct jingle *jingle_from_stanza(xmpp_stanza_t *stanza, struct jingle_error *err);

/* Builds a stanza from the Jingle for `sdp` (see jingle_write). The daemon's
 * hot path sends jingle_write's text with xmpp_send_raw() instead: this is
 * for callers that need a tree. Returns a new stanza (caller releases it) or
 * NULL with `err` filled. */
xmpp_stanza_t *jingle_to_stanza(xmpp_ctx_t *ctx, const struct sdp_session *sdp,
                                const struct jingle_write_opts *o, struct jingle_error *err);

#endif
