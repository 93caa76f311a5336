/* sdp.h - a typed model of a WebRTC session description (RFC 8866, JSEP,
 * RFC 8839 ICE, RFC 8842 DTLS, RFC 8841 SCTP, RFC 8851/8853 rid/simulcast),
 * a strict parser and a canonical writer.
 *
 * Every string and node of a parsed session lives in the session's arena:
 * sdp_session_free() releases all of it. Lists are singly linked in the order
 * they appeared. Attributes the model does not know are kept, in order, in the
 * `other` list of their level and written back, never dropped.
 *
 * No I/O, no global state: safe to use from any number of sessions at once. */
#ifndef EPODE_SDP_H
#define EPODE_SDP_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

struct sdp_tails;

/* Error codes (negative). */
enum {
    SDP_OK = 0,
    SDP_ESYNTAX = -1,   /* input is not a valid description */
    SDP_ENOMEM = -2,    /* out of memory or past a size limit */
    SDP_EINVAL = -3,    /* valid SDP that cannot be used for this purpose */
};

/* Where and why parsing failed. `line` is 1-based; 0 when the error is not
 * tied to a line (e.g. a missing mandatory line). */
struct sdp_error {
    int line;
    char what[200];
};

/* Limits that bound what a hostile description can cost. */
#define SDP_MAX_TEXT      (256u * 1024)  /* bytes of SDP text */
#define SDP_MAX_LINE      4096u          /* bytes in one line */
#define SDP_MAX_MEDIA     64u            /* m= sections */

enum sdp_direction {
    SDP_DIR_NONE = 0,   /* no direction attribute: sendrecv is implied */
    SDP_DIR_SENDRECV,
    SDP_DIR_SENDONLY,
    SDP_DIR_RECVONLY,
    SDP_DIR_INACTIVE,
};

/* A generic attribute: `a=name` (value NULL) or `a=name:value`. */
struct sdp_attr {
    struct sdp_attr *next;
    char *name;
    char *value;
};

/* A line of a type the model keeps as text (i=, u=, e=, p=, r=, z=, k=). */
struct sdp_line {
    struct sdp_line *next;
    char type;
    char *value;
};

struct sdp_fingerprint {
    struct sdp_fingerprint *next;
    char *hash;     /* "sha-256" as written (lower case by convention) */
    char *value;    /* "AB:CD:..." */
};

struct sdp_group {
    struct sdp_group *next;
    char *semantics;    /* "BUNDLE", "LS", ... */
    char **mids;
    unsigned nmids;
};

struct sdp_bandwidth {
    struct sdp_bandwidth *next;
    char *type;         /* "AS", "TIAS", "CT", ... */
    uint64_t value;
};

/* One a=rtcp-fb entry. For "trr-int" the subtype holds the interval. */
struct sdp_rtcp_fb {
    struct sdp_rtcp_fb *next;
    char *type;         /* "nack", "ccm", "goog-remb", "transport-cc", "trr-int" */
    char *subtype;      /* "pli", "fir", ... or NULL */
};

/* One key=value piece of an a=fmtp line; value NULL for a bare key. */
struct sdp_param {
    struct sdp_param *next;
    char *name;
    char *value;
};

struct sdp_payload {
    struct sdp_payload *next;
    unsigned pt;            /* 0..127 */
    char *name;             /* encoding name from a=rtpmap, NULL if none */
    uint32_t clockrate;
    unsigned channels;      /* 0 = not written */
    /* a=fmtp: when every piece is key=value, `params` holds them and
     * `fmtp_raw` is NULL. Otherwise (RED's "111/111", telephone-event's
     * "0-15") `fmtp_raw` holds the text as written and `params` is NULL. */
    struct sdp_param *params;
    char *fmtp_raw;
    struct sdp_rtcp_fb *fb;
};

struct sdp_extmap {
    struct sdp_extmap *next;
    unsigned id;            /* 1..14 one-byte, up to 255 two-byte, 4095 max */
    enum sdp_direction direction;   /* SDP_DIR_NONE when not written */
    char *uri;
    char *attributes;       /* extension attributes after the URI, or NULL */
    int jingle_senders;     /* enum jingle_senders when read from Jingle */
};

struct sdp_ssrc {
    struct sdp_ssrc *next;
    uint32_t ssrc;
    struct sdp_attr *attrs; /* cname, msid, mslabel, label, ... in order */
};

struct sdp_ssrc_group {
    struct sdp_ssrc_group *next;
    char *semantics;        /* "FID", "SIM", "FEC-FR", ... */
    uint32_t *ssrcs;
    unsigned nssrcs;
};

struct sdp_msid {
    struct sdp_msid *next;
    char *stream;           /* "-" for no stream */
    char *track;            /* may be NULL */
};

struct sdp_rid {
    struct sdp_rid *next;
    char *id;
    char *direction;        /* "send" or "recv" */
    char *params;           /* "pt=96,97;max-width=1280" or NULL */
};

struct sdp_candidate {
    struct sdp_candidate *next;
    char *foundation;
    unsigned component;     /* 1 = RTP, 2 = RTCP */
    char *transport;        /* "udp"/"tcp" as written (case kept) */
    uint32_t priority;
    char *address;          /* IPv4, IPv6 or an mDNS name */
    unsigned port;
    char *type;             /* host, srflx, prflx, relay */
    char *raddr;            /* NULL if absent */
    int rport;              /* -1 if absent */
    char *tcptype;          /* active, passive, so; NULL if absent */
    int64_t generation;     /* -1 if absent */
    char *ufrag;            /* NULL if absent */
    int64_t network_id;     /* -1 if absent */
    int64_t network_cost;   /* -1 if absent */
    struct sdp_attr *ext;   /* other extension name/value pairs, in order */
};

struct sdp_media {
    struct sdp_media *next;
    unsigned index;         /* m-line index, from 0 */
    int line;               /* line number of the m= line, 0 if built */

    char *media;            /* audio, video, application, ... */
    unsigned port;
    unsigned nports;        /* 0 = no "/n" */
    char *proto;            /* UDP/TLS/RTP/SAVPF, UDP/DTLS/SCTP, ... */
    /* For RTP media the formats are the payload types, kept in `payloads`
     * in m-line order. For anything else the formats text as written
     * ("webrtc-datachannel", "5000"). */
    char *fmt;
    struct sdp_payload *payloads;
    unsigned npayloads;

    char *c_addrtype;       /* from c=IN <addrtype> <address>; NULL if none */
    char *c_address;
    struct sdp_bandwidth *bandwidths;
    struct sdp_line *lines; /* i= and k= lines of this section */

    char *mid;
    enum sdp_direction direction;
    int rtcp_port;          /* a=rtcp port, -1 if absent */
    char *rtcp_addr;        /* rest of a=rtcp ("IN IP4 0.0.0.0"), or NULL */
    int rtcp_mux;
    int rtcp_mux_only;
    int rtcp_rsize;
    char *ice_ufrag;
    char *ice_pwd;
    char *ice_options;      /* media-level a=ice-options, as written */
    struct sdp_fingerprint *fingerprints;
    char *setup;            /* actpass, active, passive, holdconn */
    struct sdp_rtcp_fb *fb_all;     /* a=rtcp-fb:* */
    struct sdp_extmap *extmaps;
    int extmap_allow_mixed;
    struct sdp_ssrc *ssrcs;
    struct sdp_ssrc_group *ssrc_groups;
    struct sdp_msid *msids;
    struct sdp_rid *rids;
    char *simulcast;        /* value of a=simulcast as written, or NULL */
    unsigned ptime;         /* 0 = absent */
    unsigned maxptime;
    int sctp_port;          /* -1 if absent */
    int64_t max_message_size;   /* -1 if absent */
    char *sctpmap;          /* legacy a=sctpmap value, or NULL */
    struct sdp_candidate *candidates;
    int end_of_candidates;
    struct sdp_attr *other;

    /* Jingle facts with no SDP form; filled when the session came from
     * Jingle (or by the caller before writing Jingle). */
    char *jingle_creator;       /* "initiator"/"responder" or NULL */
    char *jingle_disposition;
    int jingle_senders;         /* enum jingle_senders, 0 = not given */
};

struct sdp_session {
    struct arena arena;

    char *o_username;
    char *o_sess_id;        /* digits, may exceed 64 bits: kept as text */
    char *o_sess_version;
    char *o_nettype;
    char *o_addrtype;
    char *o_address;
    char *name;             /* s= */
    char *t_start;
    char *t_stop;
    char *c_addrtype;       /* session-level c=, or NULL */
    char *c_address;
    struct sdp_bandwidth *bandwidths;
    struct sdp_line *lines; /* other kept lines of the session section */

    struct sdp_group *groups;
    char *msid_semantic;    /* value of a=msid-semantic as written */
    int extmap_allow_mixed;
    char *ice_options;
    int ice_lite;
    char *ice_ufrag;
    char *ice_pwd;
    struct sdp_fingerprint *fingerprints;
    char *setup;
    enum sdp_direction direction;
    struct sdp_extmap *extmaps;     /* session-level a=extmap */
    struct sdp_attr *other;

    struct sdp_media *media;
    unsigned nmedia;

    struct sdp_tails *tails;    /* internal: list tails for O(1) appends */
    /* internal: set by the parser when the text held none of & < > " ' or
     * a tab, so writers may skip XML escaping. sdp_strdup() clears it; code
     * that stores other strings in the model must clear it too. */
    int xml_safe;
    size_t text_len;    /* length of the parsed text, to size output buffers */
};

/* A new empty session (v=0 o=- ... s=- t=0 0 are written when the fields are
 * NULL). NULL when out of memory. */
struct sdp_session *sdp_session_new(void);
void sdp_session_free(struct sdp_session *s);

/* Parses `len` bytes of SDP text. Lines may end in CRLF or LF. Returns a new
 * session, or NULL with `err` filled (line number and what is wrong). */
struct sdp_session *sdp_session_parse(const char *text, size_t len,
                                      struct sdp_error *err);

/* Applies one SDP line ("a=...", "b=...", "c=...", "i=...", "k=...", and at
 * session level also u= e= p= r= z= t=) to media `m` or, when m is NULL, to
 * the session. Used for lines carried verbatim in Jingle extension elements.
 * The m=, v=, o= and s= lines are refused. */
int sdp_line_apply(struct sdp_session *s, struct sdp_media *m,
                   const char *line, size_t len, struct sdp_error *err);

/* Sets the o= fields from the value of an o= line ("- 123 2 IN IP4 ..."). */
int sdp_origin_set(struct sdp_session *s, const char *value, size_t len, struct sdp_error *err);

/* Appends the canonical text of `s` (CRLF line ends) to `out`. Returns 0, or
 * SDP_ENOMEM if the buffer failed. */
struct buf;
int sdp_session_write(const struct sdp_session *s, struct buf *out);
/* Convenience: a malloc'd NUL-terminated string, NULL on failure. */
char *sdp_session_to_text(const struct sdp_session *s, size_t *len);

/* Candidates. A candidate attribute value ("candidate:1 1 udp ...", with or
 * without the "a=" prefix) parsed into `c` whose strings live in `arena`. */
int sdp_candidate_parse(struct arena *arena, const char *text, size_t len,
                        struct sdp_candidate *c, struct sdp_error *err);
/* Writes "candidate:..." (no "a=", no line end). */
void sdp_candidate_write(const struct sdp_candidate *c, struct buf *out);

/* Lookup helpers. */
struct sdp_media *sdp_media_by_mid(const struct sdp_session *s, const char *mid);
struct sdp_media *sdp_media_by_index(const struct sdp_session *s, unsigned idx);
/* 1 when the media section carries RTP (its proto contains "RTP"). */
int sdp_media_is_rtp(const struct sdp_media *m);
/* The effective direction: the media's, else the session's, else sendrecv. */
enum sdp_direction sdp_media_direction(const struct sdp_session *s,
                                       const struct sdp_media *m);
const char *sdp_direction_name(enum sdp_direction d);
enum sdp_direction sdp_direction_from_name(const char *s, size_t len);

/* Builders used by the Jingle reader; all memory comes from s->arena. */
struct sdp_media *sdp_media_append(struct sdp_session *s);
/* Appends `node` (any model node: its first member is `next`) to the list
 * whose head pointer is at `headp`, in O(1). */
void sdp_list_append(struct sdp_session *s, void *headp, void *node);
char *sdp_strdup(struct sdp_session *s, const char *str);
char *sdp_strndup(struct sdp_session *s, const char *str, size_t len);

/* 1 when s is a non-empty RFC 8866 token (what a mid or a group name must
 * be). */
int sdp_is_token(const char *s);
/* 1 when s is made of ICE characters (RFC 8839: letters, digits, + and /). */
int sdp_is_ice_string(const char *s);

/* 1 for the static RTP payload types of RFC 3551, which need no a=rtpmap. */
int sdp_payload_is_static(unsigned pt);

/* Parses a decimal number in [min,max]; 0 on success. */
int sdp_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out);

#endif
