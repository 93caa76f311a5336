/* jingle_write.c - SDP model -> Jingle XML text, written directly into a
 * buffer (no intermediate tree): the daemon sends the result with
 * xmpp_send_raw(). See jingle.h and docs/jingle.md for the mapping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jingle.h"

static const char *const action_names[] = {
    [JINGLE_ACTION_NONE] = NULL,
    [JINGLE_CONTENT_ACCEPT] = "content-accept",
    [JINGLE_CONTENT_ADD] = "content-add",
    [JINGLE_CONTENT_MODIFY] = "content-modify",
    [JINGLE_CONTENT_REJECT] = "content-reject",
    [JINGLE_CONTENT_REMOVE] = "content-remove",
    [JINGLE_DESCRIPTION_INFO] = "description-info",
    [JINGLE_SECURITY_INFO] = "security-info",
    [JINGLE_SESSION_ACCEPT] = "session-accept",
    [JINGLE_SESSION_INFO] = "session-info",
    [JINGLE_SESSION_INITIATE] = "session-initiate",
    [JINGLE_SESSION_TERMINATE] = "session-terminate",
    [JINGLE_TRANSPORT_ACCEPT] = "transport-accept",
    [JINGLE_TRANSPORT_INFO] = "transport-info",
    [JINGLE_TRANSPORT_REJECT] = "transport-reject",
    [JINGLE_TRANSPORT_REPLACE] = "transport-replace",
};

const char *jingle_action_name(enum jingle_action a)
{
    if ((unsigned)a >= sizeof(action_names) / sizeof(action_names[0]))
        return NULL;
    return action_names[a];
}

enum jingle_action jingle_action_from_name(const char *s)
{
    if (!s)
        return JINGLE_ACTION_NONE;
    for (unsigned i = 1; i < sizeof(action_names) / sizeof(action_names[0]); i++)
        if (strcmp(action_names[i], s) == 0)
            return (enum jingle_action)i;
    return JINGLE_ACTION_NONE;
}

static const char *const senders_names[] = {
    [JINGLE_SENDERS_UNSET] = NULL,
    [JINGLE_SENDERS_BOTH] = "both",
    [JINGLE_SENDERS_INITIATOR] = "initiator",
    [JINGLE_SENDERS_RESPONDER] = "responder",
    [JINGLE_SENDERS_NONE] = "none",
};

const char *jingle_senders_name(enum jingle_senders s)
{
    if ((unsigned)s >= sizeof(senders_names) / sizeof(senders_names[0]))
        return NULL;
    return senders_names[s];
}

/* The SDP author's direction as Jingle senders. */
static enum jingle_senders senders_from_direction(enum sdp_direction d,
                                                  enum jingle_role author)
{
    const enum jingle_senders self = author == JINGLE_ROLE_INITIATOR
                                         ? JINGLE_SENDERS_INITIATOR
                                         : JINGLE_SENDERS_RESPONDER;
    const enum jingle_senders peer = author == JINGLE_ROLE_INITIATOR
                                         ? JINGLE_SENDERS_RESPONDER
                                         : JINGLE_SENDERS_INITIATOR;
    switch (d) {
    case SDP_DIR_SENDRECV: return JINGLE_SENDERS_BOTH;
    case SDP_DIR_SENDONLY: return self;
    case SDP_DIR_RECVONLY: return peer;
    case SDP_DIR_INACTIVE: return JINGLE_SENDERS_NONE;
    case SDP_DIR_NONE: break;
    }
    return JINGLE_SENDERS_UNSET;
}

/* ------------------------------------------------------------------ */
/* XML helpers                                                         */

/* ` name="value"`. The name is a literal, so its text is one append. */
#define attr(b, name, value) attr_lit((b), " " name "=\"", sizeof(" " name "=\"") - 1, (value))
#define attr_esc(b, name, value) attr_lit_esc((b), " " name "=\"", sizeof(" " name "=\"") - 1, (value))
#define attr_u(b, name, v) attr_lit_u((b), " " name "=\"", sizeof(" " name "=\"") - 1, (v))

static void attr_lit(struct buf *b, const char *lead, size_t n, const char *value)
{
    if (!value)
        return;
    buf_append(b, lead, n);
    buf_put_xml(b, value);
    buf_putc(b, '"');
}

/* For the caller's strings (JIDs, sid...), which always need escaping. */
static void attr_lit_esc(struct buf *b, const char *lead, size_t n, const char *value)
{
    if (!value)
        return;
    buf_append(b, lead, n);
    buf_put_xml_strict(b, value);
    buf_putc(b, '"');
}

static void attr_lit_u(struct buf *b, const char *lead, size_t n, uint64_t v)
{
    buf_append(b, lead, n);
    buf_put_u64(b, v);
    buf_putc(b, '"');
}

/* "<name xmlns='ns'" without closing the tag. */
static void open_ns(struct buf *b, const char *name, const char *ns)
{
    buf_putc(b, '<');
    buf_puts(b, name);
    attr(b, "xmlns", ns);
}

/* ------------------------------------------------------------------ */
/* Epode extension: SDP facts no XEP carries                           */

struct ext {
    struct buf *b;
    int open;   /* the <sdp> start tag has been written */
    int closed; /* start tag was closed with '>' */
};

static void ext_begin(struct ext *x, struct buf *b)
{
    x->b = b;
    x->open = 0;
    x->closed = 0;
}

static void ext_ensure(struct ext *x)
{
    if (!x->open) {
        open_ns(x->b, "sdp", EPODE_NS_SDP);
        x->open = 1;
    }
}

/* Attributes are only written before the first line. */
#define ext_attr(x, name, value)                                              \
    do {                                                                      \
        ext_ensure(x);                                                        \
        attr((x)->b, name, (value));                                          \
    } while (0)

static void ext_line_start(struct ext *x)
{
    ext_ensure(x);
    if (!x->closed) {
        buf_putc(x->b, '>');
        x->closed = 1;
    }
    buf_lit(x->b, "<line>");
}

static void ext_line_end(struct ext *x)
{
    buf_lit(x->b, "</line>");
}

static void ext_line(struct ext *x, const char *prefix, const char *value)
{
    ext_line_start(x);
    buf_put_xml(x->b, prefix);
    if (value)
        buf_put_xml(x->b, value);
    ext_line_end(x);
}

static void ext_end(struct ext *x)
{
    if (!x->open)
        return;
    if (x->closed)
        buf_lit(x->b, "</sdp>");
    else
        buf_lit(x->b, "/>");
}

static void ext_attrs(struct ext *x, const struct sdp_attr *a)
{
    for (; a; a = a->next) {
        ext_line_start(x);
        buf_lit(x->b, "a=");
        buf_put_xml(x->b, a->name);
        if (a->value) {
            buf_putc(x->b, ':');
            buf_put_xml(x->b, a->value);
        }
        ext_line_end(x);
    }
}

static void ext_lines(struct ext *x, const struct sdp_line *l)
{
    for (; l; l = l->next) {
        char prefix[3] = {l->type, '=', '\0'};
        ext_line(x, prefix, l->value);
    }
}

static void ext_bandwidths(struct ext *x, const struct sdp_bandwidth *bw)
{
    for (; bw; bw = bw->next) {
        ext_line_start(x);
        buf_lit(x->b, "b=");
        buf_put_xml(x->b, bw->type);
        buf_putc(x->b, ':');
        buf_put_u64(x->b, bw->value);
        ext_line_end(x);
    }
}

static void ext_extmap(struct ext *x, const struct sdp_extmap *e)
{
    ext_line_start(x);
    buf_lit(x->b, "a=extmap:");
    buf_put_u64(x->b, e->id);
    if (e->direction != SDP_DIR_NONE) {
        buf_putc(x->b, '/');
        buf_puts(x->b, sdp_direction_name(e->direction));
    }
    buf_putc(x->b, ' ');
    buf_put_xml(x->b, e->uri);
    if (e->attributes) {
        buf_putc(x->b, ' ');
        buf_put_xml(x->b, e->attributes);
    }
    ext_line_end(x);
}

/* ------------------------------------------------------------------ */
/* Contents                                                            */

static void write_fb(struct buf *b, const struct sdp_rtcp_fb *fb)
{
    for (; fb; fb = fb->next) {
        if (strcmp(fb->type, "trr-int") == 0) {
            open_ns(b, "rtcp-fb-trr-int", JINGLE_NS_RTCP_FB);
            attr(b, "value", fb->subtype);
        } else {
            open_ns(b, "rtcp-fb", JINGLE_NS_RTCP_FB);
            attr(b, "type", fb->type);
            attr(b, "subtype", fb->subtype);
        }
        buf_lit(b, "/>");
    }
}

static int is_default_c(const char *addrtype, const char *address)
{
    return addrtype && strcmp(addrtype, "IP4") == 0 && strcmp(address, "0.0.0.0") == 0;
}

static void write_description(struct buf *b, const struct sdp_session *s,
                              const struct sdp_media *m, enum jingle_role author)
{
    open_ns(b, "description", JINGLE_NS_RTP);
    attr(b, "media", m->media);
    /* XEP-0167's ssrc attribute: the primary source, the first of the first
     * ssrc-group when there is one. StanzaJS rebuilds FID groups from it. */
    if (m->ssrc_groups)
        attr_u(b, "ssrc", m->ssrc_groups->ssrcs[0]);
    else if (m->ssrcs)
        attr_u(b, "ssrc", m->ssrcs->ssrc);
    buf_putc(b, '>');
    for (const struct sdp_payload *p = m->payloads; p; p = p->next) {
        buf_lit(b, "<payload-type");
        attr_u(b, "id", p->pt);
        attr(b, "name", p->name);
        if (p->name)
            attr_u(b, "clockrate", p->clockrate);
        if (p->channels)
            attr_u(b, "channels", p->channels);
        if (!p->params && !p->fb && !p->fmtp_raw) {
            buf_lit(b, "/>");
            continue;
        }
        buf_putc(b, '>');
        write_fb(b, p->fb);
        if (p->fmtp_raw) {
            /* An fmtp that is not key=value (RED's "111/111", DTMF's "0-15"):
             * a parameter with a value and no name, the form Conversations
             * reads as "a=fmtp:<id> <value>". */
            buf_lit(b, "<parameter");
            attr(b, "value", p->fmtp_raw);
            buf_lit(b, "/>");
        }
        for (const struct sdp_param *q = p->params; q; q = q->next) {
            buf_lit(b, "<parameter");
            attr(b, "name", q->name);
            attr(b, "value", q->value);
            buf_lit(b, "/>");
        }
        buf_lit(b, "</payload-type>");
    }
    write_fb(b, m->fb_all);
    for (const struct sdp_extmap *e = m->extmaps; e; e = e->next) {
        open_ns(b, "rtp-hdrext", JINGLE_NS_HDREXT);
        attr_u(b, "id", e->id);
        attr(b, "uri", e->uri);
        if (e->direction != SDP_DIR_NONE)
            attr(b, "senders", jingle_senders_name(senders_from_direction(e->direction, author)));
        buf_lit(b, "/>");
    }
    if (m->extmap_allow_mixed || (s->extmap_allow_mixed))
        buf_puts(b, "<extmap-allow-mixed xmlns=\"" JINGLE_NS_HDREXT "\"/>");
    for (const struct sdp_ssrc *x = m->ssrcs; x; x = x->next) {
        open_ns(b, "source", JINGLE_NS_SSMA);
        attr_u(b, "ssrc", x->ssrc);
        buf_putc(b, '>');
        for (const struct sdp_attr *a = x->attrs; a; a = a->next) {
            buf_lit(b, "<parameter");
            attr(b, "name", a->name);
            attr(b, "value", a->value);
            buf_lit(b, "/>");
        }
        buf_lit(b, "</source>");
    }
    for (const struct sdp_ssrc_group *g = m->ssrc_groups; g; g = g->next) {
        open_ns(b, "ssrc-group", JINGLE_NS_SSMA);
        attr(b, "semantics", g->semantics);
        buf_putc(b, '>');
        for (unsigned i = 0; i < g->nssrcs; i++) {
            buf_lit(b, "<source");
            attr_u(b, "ssrc", g->ssrcs[i]);
            buf_lit(b, "/>");
        }
        buf_lit(b, "</ssrc-group>");
    }
    for (const struct sdp_msid *ms = m->msids; ms; ms = ms->next) {
        open_ns(b, "stream", JINGLE_NS_MSID);
        attr(b, "id", ms->stream);
        attr(b, "track", ms->track);
        buf_lit(b, "/>");
    }
    for (const struct sdp_bandwidth *bw = m->bandwidths; bw; bw = bw->next) {
        buf_lit(b, "<bandwidth");
        attr(b, "type", bw->type);
        buf_putc(b, '>');
        buf_put_u64(b, bw->value);
        buf_lit(b, "</bandwidth>");
    }
    if (m->rtcp_mux)
        buf_lit(b, "<rtcp-mux/>");
    if (m->rtcp_rsize)
        buf_lit(b, "<rtcp-reduced-size/>");
    buf_lit(b, "</description>");
}

static void write_candidate_id(struct buf *b, const struct sdp_candidate *c)
{
    /* XEP-0176 wants an id unique within the session. A hash of what makes
     * a candidate distinct keeps it stable when the same candidate is
     * translated twice (trickled, then in a full description). */
    uint64_t h = 1469598103934665603u;
    const char *parts[4] = {c->foundation, c->transport, c->address, c->type};
    for (int i = 0; i < 4; i++) {
        for (const char *p = parts[i]; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 1099511628211u;
        }
        h ^= 0xff;
        h *= 1099511628211u;
    }
    h ^= ((uint64_t)c->component << 32) ^ c->port;
    h *= 1099511628211u;
    static const char hex[] = "0123456789abcdef";
    char id[17];
    for (int i = 0; i < 16; i++)
        id[i] = hex[(h >> (60 - 4 * i)) & 0xf];
    id[16] = '\0';
    attr(b, "id", id);
}

static void write_candidate(struct buf *b, const struct sdp_candidate *c)
{
    buf_lit(b, "<candidate");
    attr_u(b, "component", c->component);
    attr(b, "foundation", c->foundation);
    if (c->generation >= 0)
        attr_u(b, "generation", (uint64_t)c->generation);
    write_candidate_id(b, c);
    attr(b, "ip", c->address);
    if (c->network_id >= 0)
        attr_u(b, "network", (uint64_t)c->network_id);
    attr_u(b, "port", c->port);
    attr_u(b, "priority", c->priority);
    /* XEP-0176 writes the protocol in lower case (Conversations skips a
     * candidate whose protocol is not "udp"); Firefox's "UDP" travels in our
     * extension so the SDP comes back as written. */
    char proto[16];
    size_t pl = strlen(c->transport);
    int upper = 0;
    if (pl < sizeof(proto)) {
        for (size_t i = 0; i <= pl; i++) {
            char ch = c->transport[i];
            upper |= ch >= 'A' && ch <= 'Z';
            proto[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        attr(b, "protocol", proto);
    } else {
        attr(b, "protocol", c->transport);
    }
    attr(b, "type", c->type);
    attr(b, "rel-addr", c->raddr);
    if (c->rport >= 0)
        attr_u(b, "rel-port", (uint64_t)c->rport);
    attr(b, "tcptype", c->tcptype);
    if (c->network_cost >= 0)
        attr_u(b, "network-cost", (uint64_t)c->network_cost);
    if (!c->ext && !c->ufrag && !upper) {
        buf_lit(b, "/>");
        return;
    }
    /* Extensions no XEP names, kept as "name value ..." in our element. */
    buf_putc(b, '>');
    open_ns(b, "candidate-ext", EPODE_NS_SDP);
    buf_putc(b, '>');
    if (upper) {
        buf_lit(b, "transport ");
        buf_put_xml(b, c->transport);
        if (c->ufrag || c->ext)
            buf_putc(b, ' ');
    }
    if (c->ufrag) {
        buf_lit(b, "ufrag ");
        buf_put_xml(b, c->ufrag);
        if (c->ext)
            buf_putc(b, ' ');
    }
    for (const struct sdp_attr *a = c->ext; a; a = a->next) {
        buf_put_xml(b, a->name);
        buf_putc(b, ' ');
        buf_put_xml(b, a->value);
        if (a->next)
            buf_putc(b, ' ');
    }
    buf_lit(b, "</candidate-ext></candidate>");
}

/* Session-level ICE and DTLS facts (Firefox writes the fingerprint there)
 * are copied into every transport when no media section has its own;
 * otherwise they stay session-level, in our extension. */
struct sess_carry {
    int fingerprint, setup, ufrag, pwd;
};

static struct sess_carry sess_carry_of(const struct sdp_session *s)
{
    const int any = s->media != NULL;   /* no transport to carry them */
    struct sess_carry c = {any && s->fingerprints, any && s->setup,
                           any && s->ice_ufrag, any && s->ice_pwd};
    for (const struct sdp_media *m = s->media; m; m = m->next) {
        c.fingerprint &= m->fingerprints == NULL;
        c.setup &= m->setup == NULL;
        c.ufrag &= m->ice_ufrag == NULL;
        c.pwd &= m->ice_pwd == NULL;
    }
    /* setup travels as an attribute of <fingerprint/>: every transport must
     * have one to carry it */
    for (const struct sdp_media *m = s->media; m; m = m->next)
        c.setup &= m->fingerprints != NULL || c.fingerprint;
    return c;
}

static void write_transport(struct buf *b, const struct sdp_session *s,
                            const struct sdp_media *m, int with_dtls)
{
    const struct sess_carry sc = sess_carry_of(s);
    const char *ufrag = m->ice_ufrag ? m->ice_ufrag : sc.ufrag ? s->ice_ufrag : NULL;
    const char *pwd = m->ice_pwd ? m->ice_pwd : sc.pwd ? s->ice_pwd : NULL;
    const struct sdp_fingerprint *fp = m->fingerprints ? m->fingerprints
                                       : sc.fingerprint ? s->fingerprints : NULL;
    const char *setup = m->setup ? m->setup : sc.setup ? s->setup : NULL;

    open_ns(b, "transport", JINGLE_NS_ICE_UDP);
    attr(b, "ufrag", ufrag);
    attr(b, "pwd", pwd);
    buf_putc(b, '>');
    if (with_dtls) {
        for (; fp; fp = fp->next) {
            open_ns(b, "fingerprint", JINGLE_NS_DTLS);
            attr(b, "hash", fp->hash);
            attr(b, "setup", setup);
            buf_putc(b, '>');
            buf_put_xml(b, fp->value);
            buf_lit(b, "</fingerprint>");
        }
        if (!sdp_media_is_rtp(m) && (m->sctp_port >= 0 || m->sctpmap)) {
            /* XEP-0343's sctpmap. The number is the SCTP port. */
            uint64_t port = 5000;
            const char *streams = NULL;
            char tmp[16];
            if (m->sctp_port >= 0) {
                port = (uint64_t)m->sctp_port;
            } else {
                /* legacy "a=sctpmap:5000 webrtc-datachannel 1024" */
                const char *sp = strchr(m->sctpmap, ' ');
                size_t n = sp ? (size_t)(sp - m->sctpmap) : strlen(m->sctpmap);
                uint64_t v;
                if (sdp_parse_uint(m->sctpmap, n, 65535, &v) == 0)
                    port = v;
                const char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
                if (sp2 && strlen(sp2 + 1) < sizeof(tmp) &&
                    sdp_parse_uint(sp2 + 1, strlen(sp2 + 1), 65535, &v) == 0) {
                    memcpy(tmp, sp2 + 1, strlen(sp2 + 1) + 1);
                    streams = tmp;
                }
            }
            open_ns(b, "sctpmap", JINGLE_NS_DTLS_SCTP);
            attr_u(b, "number", port);
            attr(b, "protocol", "webrtc-datachannel");
            attr(b, "streams", streams);
            buf_lit(b, "/>");
        }
    }
    for (const struct sdp_candidate *c = m->candidates; c; c = c->next)
        write_candidate(b, c);
    buf_lit(b, "</transport>");
}

/* Media-level facts no XEP carries. */
static void write_media_ext(struct buf *b, const struct sdp_session *s,
                            const struct sdp_media *m, int full)
{
    struct ext x;
    ext_begin(&x, b);
    const int rtp = sdp_media_is_rtp(m);
    char num[24];

    if (full) {
        if (m->port != 9 || m->nports) {
            if (m->nports)
                snprintf(num, sizeof(num), "%u/%u", m->port, m->nports);
            else
                snprintf(num, sizeof(num), "%u", m->port);
            ext_attr(&x, "port", num);
        }
        /* The reader's default: DTLS-SRTP when the transport has DTLS. */
        const struct sess_carry sc = sess_carry_of(s);
        const int dtls = m->fingerprints || m->setup || sc.fingerprint || sc.setup;
        const char *def_proto = !rtp ? "UDP/DTLS/SCTP" : dtls ? "UDP/TLS/RTP/SAVPF" : "RTP/AVPF";
        if (strcmp(m->proto, def_proto) != 0)
            ext_attr(&x, "proto", m->proto);
        if (!rtp) {
            if (strcmp(m->media, "application") != 0)
                ext_attr(&x, "media", m->media);
            if (!m->fmt || strcmp(m->fmt, "webrtc-datachannel") != 0)
                ext_attr(&x, "fmt", m->fmt ? m->fmt : "");
        }
        if (!m->c_addrtype) {
            ext_attr(&x, "c", "");
        } else if (!is_default_c(m->c_addrtype, m->c_address)) {
            ext_ensure(&x);
            buf_lit(b, " c=\"");
            buf_put_xml(b, m->c_addrtype);
            buf_putc(b, ' ');
            buf_put_xml(b, m->c_address);
            buf_putc(b, '"');
        }
        if (m->rtcp_port >= 0) {
            ext_ensure(&x);
            buf_lit(b, " rtcp=\"");
            buf_put_u64(b, (uint64_t)m->rtcp_port);
            if (m->rtcp_addr) {
                buf_putc(b, ' ');
                buf_put_xml(b, m->rtcp_addr);
            }
            buf_putc(b, '"');
        }
        if (!m->mid)
            ext_attr(&x, "mid", "");
        if (m->direction == SDP_DIR_NONE && s->direction != SDP_DIR_NONE)
            ext_attr(&x, "direction", "session");
        ext_lines(&x, m->lines);
        if (!rtp) {
            /* No RTP description to hold these: keep them as SDP lines. */
            ext_bandwidths(&x, m->bandwidths);
            for (const struct sdp_extmap *e = m->extmaps; e; e = e->next)
                ext_extmap(&x, e);
            for (const struct sdp_rtcp_fb *fb = m->fb_all; fb; fb = fb->next) {
                ext_line_start(&x);
                buf_lit(b, "a=rtcp-fb:* ");
                buf_put_xml(b, fb->type);
                if (fb->subtype) {
                    buf_putc(b, ' ');
                    buf_put_xml(b, fb->subtype);
                }
                ext_line_end(&x);
            }
            for (const struct sdp_msid *ms = m->msids; ms; ms = ms->next) {
                ext_line_start(&x);
                buf_lit(b, "a=msid:");
                buf_put_xml(b, ms->stream);
                if (ms->track) {
                    buf_putc(b, ' ');
                    buf_put_xml(b, ms->track);
                }
                ext_line_end(&x);
            }
            for (const struct sdp_ssrc *xs = m->ssrcs; xs; xs = xs->next)
                for (const struct sdp_attr *a = xs->attrs; a; a = a->next) {
                    ext_line_start(&x);
                    buf_lit(b, "a=ssrc:");
                    buf_put_u64(b, xs->ssrc);
                    buf_putc(b, ' ');
                    buf_put_xml(b, a->name);
                    if (a->value) {
                        buf_putc(b, ':');
                        buf_put_xml(b, a->value);
                    }
                    ext_line_end(&x);
                }
            for (const struct sdp_ssrc_group *g = m->ssrc_groups; g; g = g->next) {
                ext_line_start(&x);
                buf_lit(b, "a=ssrc-group:");
                buf_put_xml(b, g->semantics);
                for (unsigned i = 0; i < g->nssrcs; i++) {
                    buf_putc(b, ' ');
                    buf_put_u64(b, g->ssrcs[i]);
                }
                ext_line_end(&x);
            }
            if (m->rtcp_mux)
                ext_line(&x, "a=rtcp-mux", NULL);
            if (m->rtcp_rsize)
                ext_line(&x, "a=rtcp-rsize", NULL);
        }
        if (m->setup && !m->fingerprints && !sc.fingerprint)
            ext_line(&x, "a=setup:", m->setup);
        if (m->ice_options)
            ext_line(&x, "a=ice-options:", m->ice_options);
        if (m->rtcp_mux_only)
            ext_line(&x, "a=rtcp-mux-only", NULL);
        if (m->extmap_allow_mixed && (s->extmap_allow_mixed || !rtp))
            ext_line(&x, "a=extmap-allow-mixed", NULL);
        for (const struct sdp_extmap *e = m->extmaps; rtp && e; e = e->next)
            if (e->attributes)
                ext_extmap(&x, e);
        if (m->ptime) {
            snprintf(num, sizeof(num), "%u", m->ptime);
            ext_line(&x, "a=ptime:", num);
        }
        if (m->maxptime) {
            snprintf(num, sizeof(num), "%u", m->maxptime);
            ext_line(&x, "a=maxptime:", num);
        }
        /* The sctpmap element is for Jingle peers; the SDP form it came from
         * (a=sctp-port, or the legacy a=sctpmap) travels here exactly. */
        if (m->sctp_port >= 0) {
            snprintf(num, sizeof(num), "%d", m->sctp_port);
            ext_line(&x, "a=sctp-port:", num);
        }
        if (m->sctpmap)
            ext_line(&x, "a=sctpmap:", m->sctpmap);
        if (m->max_message_size >= 0) {
            snprintf(num, sizeof(num), "%lld", (long long)m->max_message_size);
            ext_line(&x, "a=max-message-size:", num);
        }
        for (const struct sdp_rid *r = m->rids; r; r = r->next) {
            ext_line_start(&x);
            buf_lit(b, "a=rid:");
            buf_put_xml(b, r->id);
            buf_putc(b, ' ');
            buf_put_xml(b, r->direction);
            if (r->params) {
                buf_putc(b, ' ');
                buf_put_xml(b, r->params);
            }
            ext_line_end(&x);
        }
        if (m->simulcast)
            ext_line(&x, "a=simulcast:", m->simulcast);
        ext_attrs(&x, m->other);
    }
    if (m->end_of_candidates)
        ext_line(&x, "a=end-of-candidates", NULL);
    ext_end(&x);
}

static void write_session_ext(struct buf *b, const struct sdp_session *s)
{
    struct ext x;
    ext_begin(&x, b);
    if (s->o_sess_id) {
        ext_ensure(&x);
        buf_lit(b, " o=\"");
        buf_put_xml(b, s->o_username);
        buf_putc(b, ' ');
        buf_put_xml(b, s->o_sess_id);
        buf_putc(b, ' ');
        buf_put_xml(b, s->o_sess_version);
        buf_putc(b, ' ');
        buf_put_xml(b, s->o_nettype);
        buf_putc(b, ' ');
        buf_put_xml(b, s->o_addrtype);
        buf_putc(b, ' ');
        buf_put_xml(b, s->o_address);
        buf_putc(b, '"');
    }
    if (s->name && strcmp(s->name, "-") != 0)
        ext_attr(&x, "s", s->name);
    if (s->t_start && (strcmp(s->t_start, "0") != 0 || strcmp(s->t_stop, "0") != 0)) {
        ext_ensure(&x);
        buf_lit(b, " t=\"");
        buf_put_xml(b, s->t_start);
        buf_putc(b, ' ');
        buf_put_xml(b, s->t_stop);
        buf_putc(b, '"');
    }
    if (s->c_addrtype) {
        ext_ensure(&x);
        buf_lit(b, " c=\"");
        buf_put_xml(b, s->c_addrtype);
        buf_putc(b, ' ');
        buf_put_xml(b, s->c_address);
        buf_putc(b, '"');
    }
    /* Where session-level DTLS and ICE facts were (Firefox writes them
     * there): the transports carry the values, this only says where. */
    const struct sess_carry sc = sess_carry_of(s);
    if (sc.fingerprint || sc.setup || sc.ufrag || sc.pwd || s->extmap_allow_mixed) {
        ext_ensure(&x);
        buf_lit(b, " session-level=\"");
        int first = 1;
        const char *names[5] = {"fingerprint", "setup", "ice-ufrag", "ice-pwd", "extmap-allow-mixed"};
        const int have[5] = {sc.fingerprint, sc.setup, sc.ufrag, sc.pwd, s->extmap_allow_mixed};
        for (int i = 0; i < 5; i++) {
            if (!have[i])
                continue;
            if (!first)
                buf_putc(b, ' ');
            buf_puts(b, names[i]);
            first = 0;
        }
        buf_putc(b, '"');
    }
    if (s->direction != SDP_DIR_NONE)
        ext_attr(&x, "direction", sdp_direction_name(s->direction));
    ext_lines(&x, s->lines);
    ext_bandwidths(&x, s->bandwidths);
    if (s->msid_semantic)
        ext_line(&x, "a=msid-semantic:", s->msid_semantic);
    if (s->ice_lite)
        ext_line(&x, "a=ice-lite", NULL);
    if (s->ice_options)
        ext_line(&x, "a=ice-options:", s->ice_options);
    if (s->ice_ufrag && !sc.ufrag)
        ext_line(&x, "a=ice-ufrag:", s->ice_ufrag);
    if (s->ice_pwd && !sc.pwd)
        ext_line(&x, "a=ice-pwd:", s->ice_pwd);
    if (!sc.fingerprint)
        for (const struct sdp_fingerprint *f = s->fingerprints; f; f = f->next) {
            ext_line_start(&x);
            buf_lit(b, "a=fingerprint:");
            buf_put_xml(b, f->hash);
            buf_putc(b, ' ');
            buf_put_xml(b, f->value);
            ext_line_end(&x);
        }
    if (s->setup && !sc.setup)
        ext_line(&x, "a=setup:", s->setup);
    for (const struct sdp_extmap *e = s->extmaps; e; e = e->next)
        ext_extmap(&x, e);
    ext_attrs(&x, s->other);
    ext_end(&x);
}

/* A media section without a mid still needs a content name: its index, made
 * unique against the mids of the others. */
static const char *content_name(const struct sdp_session *s, const struct sdp_media *m,
                                char *tmp, size_t n)
{
    if (m->mid)
        return m->mid;
    int len = snprintf(tmp, n, "%u", m->index);
    for (;;) {
        const struct sdp_media *o = s->media;
        while (o && !(o->mid && strcmp(o->mid, tmp) == 0))
            o = o->next;
        if (!o || len < 0 || (size_t)len + 2 > n)
            return tmp;
        tmp[len++] = '-';
        tmp[len] = '\0';
    }
}

static void write_content(struct buf *b, const struct sdp_session *s,
                          const struct sdp_media *m, const struct jingle_write_opts *o)
{
    char tmp[80];
    const enum jingle_action a = o->action;
    const char *creator = m->jingle_creator;
    if (!creator)
        creator = (a == JINGLE_CONTENT_ADD && o->author == JINGLE_ROLE_RESPONDER)
                      ? "responder" : "initiator";
    buf_lit(b, "<content");
    attr(b, "creator", creator);
    attr(b, "disposition", m->jingle_disposition);
    attr(b, "name", content_name(s, m, tmp, sizeof(tmp)));
    const int full = a != JINGLE_TRANSPORT_INFO && a != JINGLE_CONTENT_REMOVE &&
                     a != JINGLE_CONTENT_REJECT;
    if (full) {
        enum sdp_direction d = m->direction != SDP_DIR_NONE ? m->direction : s->direction;
        attr(b, "senders", jingle_senders_name(senders_from_direction(d, o->author)));
    }
    if (a == JINGLE_CONTENT_REMOVE || a == JINGLE_CONTENT_REJECT) {
        buf_lit(b, "/>");
        return;
    }
    buf_putc(b, '>');
    if (full && sdp_media_is_rtp(m))
        write_description(b, s, m, o->author);
    write_transport(b, s, m, full);
    write_media_ext(b, s, m, full);
    buf_lit(b, "</content>");
}

static void write_open(struct buf *b, const struct jingle_write_opts *o)
{
    if (o->wrap_iq) {
        buf_lit(b, "<iq xmlns=\"jabber:client\" type=\"set\"");
        attr_esc(b, "id", o->iq_id);
        attr_esc(b, "from", o->iq_from);
        attr_esc(b, "to", o->iq_to);
        buf_putc(b, '>');
    }
    open_ns(b, "jingle", JINGLE_NS);
    attr(b, "action", jingle_action_name(o->action));
    attr_esc(b, "initiator", o->initiator);
    attr_esc(b, "responder", o->responder);
    attr_esc(b, "sid", o->sid);
    buf_putc(b, '>');
}

static void write_close(struct buf *b, const struct jingle_write_opts *o)
{
    if (o->info) {
        open_ns(b, o->info, o->info_ns ? o->info_ns : JINGLE_NS_RTP_INFO);
        buf_lit(b, "/>");
    }
    if (o->reason) {
        buf_lit(b, "<reason><");
        buf_puts(b, o->reason);
        buf_lit(b, "/>");
        if (o->reason_text) {
            buf_lit(b, "<text>");
            buf_put_xml_strict(b, o->reason_text);
            buf_lit(b, "</text>");
        }
        buf_lit(b, "</reason>");
    }
    buf_lit(b, "</jingle>");
    if (o->wrap_iq)
        buf_lit(b, "</iq>");
}

static int bad(struct jingle_error *err, int code, const char *what)
{
    if (err)
        snprintf(err->what, sizeof(err->what), "%s", what);
    return code;
}

/* Reason conditions of XEP-0166 (the element names inside <reason/>). */
static int valid_reason(const char *r)
{
    static const char *const names[] = {
        "alternative-session", "busy", "cancel", "connectivity-error", "decline",
        "expired", "failed-application", "failed-transport", "general-error",
        "gone", "incompatible-parameters", "media-error", "security-error",
        "success", "timeout", "unsupported-applications", "unsupported-transports",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i], r) == 0)
            return 1;
    return 0;
}

static int check_opts(const struct jingle_write_opts *o, struct jingle_error *err)
{
    if (!jingle_action_name(o->action))
        return bad(err, SDP_EINVAL, "no Jingle action given");
    if (!o->sid || !*o->sid)
        return bad(err, SDP_EINVAL, "a Jingle session needs a sid");
    if (o->reason && !valid_reason(o->reason))
        return bad(err, SDP_EINVAL, "reason is not an XEP-0166 condition (success, busy, decline, ...)");
    if (o->info) {
        for (const char *p = o->info; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || *p == '-'))
                return bad(err, SDP_EINVAL, "session-info payload name must be lower-case letters");
    }
    return 0;
}

int jingle_write(const struct sdp_session *s, const struct jingle_write_opts *o,
                 struct buf *b, struct jingle_error *err)
{
    int rc = check_opts(o, err);
    if (rc)
        return rc;
    /* Jingle text runs about twice the SDP it comes from: one allocation
     * instead of a chain of doublings. */
    if (s && s->text_len)
        buf_reserve(b, s->text_len * 5 / 2 + 512);
    write_open(b, o);
    /* Strings of a parsed description that held no XML special character
     * need no escaping: skip the per-character scan. */
    const int raw_before = b->raw_text;
    b->raw_text = s && s->xml_safe;
    const int with_contents = s && o->action != JINGLE_SESSION_TERMINATE &&
                              o->action != JINGLE_SESSION_INFO;
    if (with_contents) {
        for (const struct sdp_media *m = s->media; m; m = m->next)
            write_content(b, s, m, o);
        const int full = o->action != JINGLE_TRANSPORT_INFO &&
                         o->action != JINGLE_CONTENT_REMOVE &&
                         o->action != JINGLE_CONTENT_REJECT;
        if (full) {
            for (const struct sdp_group *g = s->groups; g; g = g->next) {
                open_ns(b, "group", JINGLE_NS_GROUPING);
                attr(b, "semantics", g->semantics);
                buf_putc(b, '>');
                for (unsigned i = 0; i < g->nmids; i++) {
                    buf_lit(b, "<content");
                    attr(b, "name", g->mids[i]);
                    buf_lit(b, "/>");
                }
                buf_lit(b, "</group>");
            }
            write_session_ext(b, s);
        }
    }
    b->raw_text = raw_before;
    write_close(b, o);
    if (buf_failed(b))
        return bad(err, SDP_ENOMEM, "out of memory or Jingle text too large");
    return 0;
}

int jingle_write_candidate(const char *candidate, const char *mid, int mline_index,
                           const struct sdp_session *offer,
                           const char *ufrag, const char *pwd,
                           const struct jingle_write_opts *o,
                           struct buf *b, struct jingle_error *err)
{
    int rc = check_opts(o, err);
    if (rc)
        return rc;
    struct sdp_session *s = sdp_session_new();
    if (!s)
        return bad(err, SDP_ENOMEM, "out of memory");
    struct sdp_media *m = sdp_media_append(s);
    const struct sdp_media *om = NULL;
    if (!m) {
        rc = bad(err, SDP_ENOMEM, "out of memory");
        goto out;
    }
    if (offer) {
        om = mid ? sdp_media_by_mid(offer, mid)
                 : (mline_index >= 0 ? sdp_media_by_index(offer, (unsigned)mline_index) : NULL);
        if (!om) {
            rc = bad(err, SDP_EINVAL, mid ? "candidate names an sdpMid that the description does not have"
                                          : "candidate's sdpMLineIndex is outside the description");
            goto out;
        }
    }
    if (!mid && om)
        mid = om->mid;
    /* The transport's credentials: given, else the description's. */
    if (om && !ufrag && !(candidate && strstr(candidate, " ufrag ")))
        ufrag = om->ice_ufrag ? om->ice_ufrag : offer->ice_ufrag;
    if (om && !pwd)
        pwd = om->ice_pwd ? om->ice_pwd : offer->ice_pwd;
    if (!mid) {
        rc = bad(err, SDP_EINVAL, "candidate has neither sdpMid nor a usable sdpMLineIndex");
        goto out;
    }
    m->mid = sdp_strdup(s, mid);
    m->media = sdp_strdup(s, om ? om->media : "application");
    m->proto = sdp_strdup(s, om ? om->proto : "UDP/DTLS/SCTP");
    if (!m->mid || !m->media || !m->proto) {
        rc = bad(err, SDP_ENOMEM, "out of memory");
        goto out;
    }
    if (candidate && *candidate) {
        struct sdp_candidate *c = arena_alloc(&s->arena, sizeof(*c));
        struct sdp_error se = {0};
        if (!c) {
            rc = bad(err, SDP_ENOMEM, "out of memory");
            goto out;
        }
        rc = sdp_candidate_parse(&s->arena, candidate, strlen(candidate), c, &se);
        if (rc) {
            bad(err, rc, se.what);
            goto out;
        }
        m->candidates = c;
        /* The candidate's ufrag names the ICE generation it belongs to: it
         * becomes the transport's, and is not repeated on the candidate. */
        if (!ufrag && c->ufrag)
            ufrag = c->ufrag;
        if (ufrag && c->ufrag && strcmp(ufrag, c->ufrag) == 0)
            c->ufrag = NULL;
    } else {
        m->end_of_candidates = 1;
    }
    m->ice_ufrag = ufrag ? sdp_strdup(s, ufrag) : NULL;
    m->ice_pwd = pwd ? sdp_strdup(s, pwd) : NULL;
    struct jingle_write_opts ti = *o;
    ti.action = JINGLE_TRANSPORT_INFO;
    rc = jingle_write(s, &ti, b, err);
out:
    sdp_session_free(s);
    return rc;
}

int jingle_is_ice_restart(const struct sdp_session *older, const struct sdp_session *newer)
{
    for (const struct sdp_media *n = newer->media; n; n = n->next) {
        const struct sdp_media *o = n->mid ? sdp_media_by_mid(older, n->mid)
                                           : sdp_media_by_index(older, n->index);
        if (!o)
            continue;
        const char *ou = o->ice_ufrag ? o->ice_ufrag : older->ice_ufrag;
        const char *op = o->ice_pwd ? o->ice_pwd : older->ice_pwd;
        const char *nu = n->ice_ufrag ? n->ice_ufrag : newer->ice_ufrag;
        const char *np = n->ice_pwd ? n->ice_pwd : newer->ice_pwd;
        if (!ou || !nu || !op || !np)
            continue;
        if (strcmp(ou, nu) != 0 || strcmp(op, np) != 0)
            return 1;
    }
    return 0;
}
