/* jingle.h - Jingle (XEP-0166) <-> SDP translation.
 *
 * The Jingle model is the SDP model (struct sdp_session) plus the facts that
 * only Jingle has: action, sid, parties, reason, session-info payload, and per
 * content the creator, senders and disposition. Translating is then:
 *
 *   SDP text --sdp_session_parse--> model --jingle_write--> Jingle XML text
 *   Jingle XML (text or stanza) --reader--> model --sdp_session_write--> SDP
 *
 * Directions are role-aware. SDP states direction from its author's point of
 * view; Jingle `senders` names parties. `author` says which party wrote (or
 * will receive) the SDP: the initiator for session-initiate, the responder
 * for session-accept, either for content-* and transport-info.
 *
 * What no XEP carries (rid, simulcast, non key=value fmtp, o= line, ...) goes
 * into an extension element in the EPODE_NS_SDP namespace (docs/jingle.md),
 * which Jingle peers ignore, so SDP -> Jingle -> SDP keeps every fact.
 *
 * No I/O, no globals. XML text is read with expat in jingle_xml.c; libstrophe
 * stanzas are read and built in jingle_stanza.c. */
#ifndef EPODE_JINGLE_H
#define EPODE_JINGLE_H

#include <stddef.h>

#include "sdp.h"

struct buf;

#define JINGLE_NS               "urn:xmpp:jingle:1"
#define JINGLE_NS_ERRORS        "urn:xmpp:jingle:errors:1"
#define JINGLE_NS_RTP           "urn:xmpp:jingle:apps:rtp:1"
#define JINGLE_NS_RTP_INFO      "urn:xmpp:jingle:apps:rtp:info:1"
#define JINGLE_NS_RTCP_FB       "urn:xmpp:jingle:apps:rtp:rtcp-fb:0"
#define JINGLE_NS_HDREXT        "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"
#define JINGLE_NS_SSMA          "urn:xmpp:jingle:apps:rtp:ssma:0"
#define JINGLE_NS_MSID          "urn:xmpp:jingle:apps:rtp:msid:0"
#define JINGLE_NS_GROUPING      "urn:xmpp:jingle:apps:grouping:0"
#define JINGLE_NS_DTLS          "urn:xmpp:jingle:apps:dtls:0"
#define JINGLE_NS_ICE_UDP       "urn:xmpp:jingle:transports:ice-udp:1"
#define JINGLE_NS_DTLS_SCTP     "urn:xmpp:jingle:transports:dtls-sctp:1"
#define JINGLE_NS_WEBRTC_DC     "urn:xmpp:jingle:transports:webrtc-datachannel:1"
#define JINGLE_NS_WEBRTC_DC_APP "urn:xmpp:jingle:apps:webrtc-datachannel:0"
#define EPODE_NS_SDP            "urn:epode:sdp:0"

enum jingle_action {
    JINGLE_ACTION_NONE = 0,
    JINGLE_CONTENT_ACCEPT,
    JINGLE_CONTENT_ADD,
    JINGLE_CONTENT_MODIFY,
    JINGLE_CONTENT_REJECT,
    JINGLE_CONTENT_REMOVE,
    JINGLE_DESCRIPTION_INFO,
    JINGLE_SECURITY_INFO,
    JINGLE_SESSION_ACCEPT,
    JINGLE_SESSION_INFO,
    JINGLE_SESSION_INITIATE,
    JINGLE_SESSION_TERMINATE,
    JINGLE_TRANSPORT_ACCEPT,
    JINGLE_TRANSPORT_INFO,
    JINGLE_TRANSPORT_REJECT,
    JINGLE_TRANSPORT_REPLACE,
};

enum jingle_role {
    JINGLE_ROLE_INITIATOR = 0,
    JINGLE_ROLE_RESPONDER = 1,
};

/* Content `senders` (XEP-0166). UNSET when the attribute is absent, which
 * XEP-0166 reads as "both". */
enum jingle_senders {
    JINGLE_SENDERS_UNSET = 0,
    JINGLE_SENDERS_BOTH,
    JINGLE_SENDERS_INITIATOR,
    JINGLE_SENDERS_RESPONDER,
    JINGLE_SENDERS_NONE,
};

struct jingle_error {
    char what[240];
};

struct jingle {
    enum jingle_action action;
    char *sid;
    char *initiator;
    char *responder;
    /* session-terminate / content-reject / ... reason: the condition element
     * name ("success", "busy", "decline", ...) and optional text. */
    char *reason;
    char *reason_text;
    /* session-info payload: element name and namespace ("ringing",
     * JINGLE_NS_RTP_INFO), and for mute/unmute its creator/name. */
    char *info;
    char *info_ns;
    char *info_creator;
    char *info_name;
    /* The enclosing <iq>, when there was one. */
    char *iq_id;
    char *iq_type;
    char *iq_from;
    char *iq_to;
    /* Contents, as media sections (senders in each media's
     * jingle_senders). Owned; never NULL. Strings of this struct live in
     * sdp->arena too. */
    struct sdp_session *sdp;
    /* Set when the session carried an Epode extension at jingle level:
     * the description came from an SDP and round-trips exactly. */
    int has_epode_ext;
    /* Something the model's strings point into (the stanza it was read
     * from), released with the model. */
    void *keep;
    void (*keep_release)(void *keep);
};

const char *jingle_action_name(enum jingle_action a);
enum jingle_action jingle_action_from_name(const char *s);
const char *jingle_senders_name(enum jingle_senders s);

/* A new empty Jingle model with an empty session. NULL when out of memory. */
struct jingle *jingle_new(void);
/* Frees the model and its session. NULL is a no-op. */
void jingle_free(struct jingle *j);

/* ---- Jingle -> SDP ------------------------------------------------ */

/* Parses Jingle XML text: an <iq> holding a <jingle/>, or a bare <jingle/>.
 * Returns a new model, or NULL with `err` filled. Expat does the parsing;
 * input over JINGLE_MAX_TEXT bytes or nested deeper than JINGLE_MAX_DEPTH is
 * refused. */
#define JINGLE_MAX_TEXT  (512u * 1024)
#define JINGLE_MAX_DEPTH 32
struct jingle *jingle_parse_xml(const char *text, size_t len, struct jingle_error *err);

/* Sets the direction of every media section from the contents' senders, as
 * seen by the party `author` (see the top of this file), so that
 * sdp_session_write() gives the description that party's peer connection
 * expects as the remote description. */
void jingle_apply_senders(struct jingle *j, enum jingle_role author);

/* Convenience: Jingle model -> SDP text (malloc'd, NUL-terminated). */
char *jingle_to_sdp(struct jingle *j, enum jingle_role author, size_t *len);

/* ---- SDP -> Jingle ------------------------------------------------ */

struct jingle_write_opts {
    enum jingle_action action;
    const char *sid;
    const char *initiator;  /* may be NULL */
    const char *responder;  /* may be NULL */
    enum jingle_role author;/* who wrote the SDP */
    /* When set, the <jingle/> is wrapped in <iq type='set' id from to>. */
    int wrap_iq;
    const char *iq_id;
    const char *iq_from;
    const char *iq_to;
    /* transport-info: only the transports (ufrag, pwd, fingerprint and
     * candidates); content-remove/reject: only the content names. */
    const char *reason;     /* session-terminate etc. */
    const char *reason_text;
    /* session-info payload: element name and namespace (default
     * JINGLE_NS_RTP_INFO), e.g. "ringing", "active", "hold". */
    const char *info;
    const char *info_ns;
};

/* Writes the Jingle for `sdp` to `out`. `sdp` may be NULL for actions that
 * carry no content (session-terminate, session-info). For transport-info
 * every media section becomes a content with only its transport (an ICE
 * restart is a transport-info with the new ufrag and pwd); for content-remove
 * and content-reject, contents with only their names. Returns 0, or a
 * negative SDP_* code with `err` filled. */
int jingle_write(const struct sdp_session *sdp, const struct jingle_write_opts *o,
                 struct buf *out, struct jingle_error *err);

/* 1 when `newer` restarts ICE relative to `older` (RFC 8839: a media section
 * present in both whose ice-ufrag or ice-pwd changed). */
int jingle_is_ice_restart(const struct sdp_session *older, const struct sdp_session *newer);

/* One trickle candidate (the W3C RTCIceCandidateInit fields) as a
 * transport-info. `candidate` NULL or "" means end-of-candidates for that mid.
 * `ufrag`/`pwd` of the transport may be NULL (then taken from the candidate's
 * own ufrag extension when present). The content name is `mid`; when mid is
 * NULL, the m-line index picks it from `offer` (which may be NULL). */
int jingle_write_candidate(const char *candidate, const char *mid, int mline_index,
                           const struct sdp_session *offer,
                           const char *ufrag, const char *pwd,
                           const struct jingle_write_opts *o,
                           struct buf *out, struct jingle_error *err);

/* ---- Reader used by both XML front ends -------------------------- */

/* A SAX-style reader: feed it element starts (namespace, local name, the
 * element's attributes), character data and element ends; it builds the
 * model. The namespace of an element is the one in scope (callers resolve
 * inheritance). Attributes are looked up by name, so a front end can answer
 * from its own structures (a libstrophe stanza's hash table) without
 * listing them. */
struct jingle_attrs {
    /* The value of attribute `name` (no namespace prefix), or NULL. */
    const char *(*get)(const void *ctx, const char *name);
    const void *ctx;
    /* How many attributes the element has (xmlns declarations excluded),
     * or -1 when unknown: lets the reader stop looking for optional ones. */
    int count;
};
/* A getter for a NULL-terminated {name, value, name, value, ..., NULL}
 * array passed as ctx. */
const char *jingle_attrs_array_get(const void *ctx, const char *name);

struct jingle_reader;
struct jingle_reader *jingle_reader_new(void);
/* Attribute values and text handed to the reader stay valid as long as the
 * model: the reader points at them instead of copying. The caller must make
 * the model hold them (struct jingle's keep). */
void jingle_reader_borrow_strings(struct jingle_reader *r);
void jingle_reader_free(struct jingle_reader *r);
int jingle_reader_start(struct jingle_reader *r, const char *ns, const char *name,
                        const struct jingle_attrs *attrs);
int jingle_reader_text(struct jingle_reader *r, const char *s, size_t len);
int jingle_reader_end(struct jingle_reader *r);
/* Completes the model; returns it (ownership to the caller) or NULL with
 * `err` filled. The reader must still be freed. */
struct jingle *jingle_reader_finish(struct jingle_reader *r, struct jingle_error *err);
/* The first error the reader met, or NULL. */
const char *jingle_reader_error(const struct jingle_reader *r);

#endif
