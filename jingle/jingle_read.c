/* jingle_read.c - Jingle elements -> SDP model.
 *
 * A small state machine fed SAX-style by the XML front ends (expat for text,
 * a tree walk for libstrophe stanzas), so both read exactly the same way.
 * Elements it does not know are skipped with their subtree, as XEP-0166
 * asks; malformed values of known elements are errors that name the element
 * and the content they are in. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "jingle.h"

enum kind {
    K_ROOT,
    K_IQ,
    K_JINGLE,
    K_CONTENT,
    K_DESC,
    K_PT,
    K_PT_PARAM,
    K_SOURCE,
    K_SOURCE_PARAM,
    K_SSRC_GROUP,
    K_SSRC_GROUP_SOURCE,
    K_BANDWIDTH,
    K_TRANSPORT,
    K_TRANSPORT_DC,
    K_FINGERPRINT,
    K_CANDIDATE,
    K_CANDIDATE_EXT,
    K_EXT,
    K_EXT_LINE,
    K_GROUP,
    K_GROUP_CONTENT,
    K_REASON,
    K_REASON_TEXT,
    K_LEAF,     /* known element without children of interest */
    K_SKIP,     /* unknown: ignore with its subtree */
};

#define MAX_TEXT 8192u
#define MAX_GROUP_MIDS 64u
#define MAX_GROUP_SSRCS 64u
#define MAX_CANDIDATES 512u

struct frame {
    enum kind kind;
};

struct jingle_reader {
    struct jingle *j;
    struct sdp_session *s;
    struct frame stack[JINGLE_MAX_DEPTH + 1];
    int depth;
    int failed;
    char error[240];

    int seen_jingle;
    int borrow;                     /* attribute strings outlive the model */
    struct sdp_media *m;            /* current content */
    struct sdp_payload *pt;         /* current payload-type */
    int pt_raw;                     /* a parameter without value was seen */
    struct buf pt_rawbuf;
    struct sdp_ssrc *src;
    struct sdp_ssrc_group *sgroup;
    struct sdp_group *group;
    struct sdp_fingerprint *fp;
    struct sdp_candidate *cand;
    struct sdp_bandwidth *bw;
    const char *fp_setup;
    int ext_session;                /* current <sdp/> is at jingle level */
    unsigned ncandidates;
    /* per content */
    int c_has_desc;
    int c_rtp;
    int c_ext_c;                    /* ext said something about c= */
    int c_sctp_number;              /* from sctpmap, -1 none */
    char *c_sctp_streams;
    int c_has_dc_transport;
    int c_ext_media;
    int c_ext_port;
    /* character data of the current text element, from the arena, grown
     * on demand up to MAX_TEXT */
    char *text;
    size_t textlen;
    size_t textcap;
    /* session-level facts to spread to media at the end */
    char *sess_levels;
};

static int rfail(struct jingle_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int rfail(struct jingle_reader *r, const char *fmt, ...)
{
    if (r->failed)
        return -1;
    r->failed = 1;
    va_list ap;
    int n = 0;
    if (r->m && r->m->mid)
        n = snprintf(r->error, sizeof(r->error), "content '%.40s': ", r->m->mid);
    else if (r->m)
        n = snprintf(r->error, sizeof(r->error), "content %u: ", r->m->index);
    if (n < 0 || (size_t)n >= sizeof(r->error))
        n = 0;
    va_start(ap, fmt);
    vsnprintf(r->error + n, sizeof(r->error) - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int oom(struct jingle_reader *r)
{
    return rfail(r, "out of memory or Jingle too large");
}

struct jingle *jingle_new(void)
{
    struct jingle *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->sdp = sdp_session_new();
    if (!j->sdp) {
        free(j);
        return NULL;
    }
    return j;
}

void jingle_free(struct jingle *j)
{
    if (!j)
        return;
    if (j->keep && j->keep_release)
        j->keep_release(j->keep);
    sdp_session_free(j->sdp);
    free(j);
}

struct jingle_reader *jingle_reader_new(void)
{
    struct jingle_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->j = jingle_new();
    if (!r->j) {
        free(r);
        return NULL;
    }
    r->s = r->j->sdp;
    buf_init(&r->pt_rawbuf, 4096);
    r->stack[0].kind = K_ROOT;
    return r;
}

void jingle_reader_borrow_strings(struct jingle_reader *r)
{
    r->borrow = 1;
}

void jingle_reader_free(struct jingle_reader *r)
{
    if (!r)
        return;
    jingle_free(r->j);
    buf_free(&r->pt_rawbuf);
    free(r);
}

const char *jingle_reader_error(const struct jingle_reader *r)
{
    return r->failed ? r->error : NULL;
}

const char *jingle_attrs_array_get(const void *ctx, const char *name)
{
    for (const char *const *a = ctx; a && a[0]; a += 2)
        if (strcmp(a[0], name) == 0)
            return a[1];
    return NULL;
}

static const char *get(const struct jingle_attrs *attrs, const char *name)
{
    return attrs->get(attrs->ctx, name);
}

static char *dup(struct jingle_reader *r, const char *s)
{
    if (!s)
        return NULL;
    if (r->borrow) {
        r->s->xml_safe = 0;
        return (char *)s; /* lives as long as the model (jingle.keep) */
    }
    char *p = sdp_strdup(r->s, s);
    if (!p)
        oom(r);
    return p;
}

/* A decimal attribute within [0,max]; `def` when absent. -1 on error. */
static int num_attr(struct jingle_reader *r, const struct jingle_attrs *attrs, const char *name,
                    const char *elem, uint64_t max, int64_t def, int64_t *out)
{
    const char *v = get(attrs, name);
    uint64_t u;
    if (!v) {
        *out = def;
        return 0;
    }
    if (sdp_parse_uint(v, strlen(v), max, &u))
        return rfail(r, "<%s %s='%.40s'>: must be a number from 0 to %llu",
                     elem, name, v, (unsigned long long)max);
    *out = (int64_t)u;
    return 0;
}

static int need_attr(struct jingle_reader *r, const struct jingle_attrs *attrs, const char *name,
                     const char *elem, const char **out)
{
    *out = get(attrs, name);
    if (!*out || !**out)
        return rfail(r, "<%s/> without the required '%s' attribute", elem, name);
    return 0;
}

static int check_text(struct jingle_reader *r, const char *v, const char *what)
{
    for (const char *c = v; *c; c++)
        if (((unsigned char)*c < ' ' && *c != '\t') || *c == 0x7f)
            return rfail(r, "%s contains a control character", what);
    return 0;
}

static enum jingle_senders senders_parse(const char *s)
{
    if (!s)
        return JINGLE_SENDERS_UNSET;
    for (int i = JINGLE_SENDERS_BOTH; i <= JINGLE_SENDERS_NONE; i++)
        if (strcmp(jingle_senders_name((enum jingle_senders)i), s) == 0)
            return (enum jingle_senders)i;
    return (enum jingle_senders)-1;
}

/* The namespaces the reader knows, looked up once per element. */
enum ns {
    NS_OTHER = 0, NS_JINGLE, NS_RTP, NS_RTCP_FB, NS_HDREXT, NS_SSMA, NS_MSID,
    NS_GROUPING, NS_DTLS, NS_ICE_UDP, NS_DTLS_SCTP, NS_WEBRTC_DC, NS_EPODE,
};

static enum ns ns_code(const char *ns)
{
#define NS_ENTRY(uri, code) {uri, sizeof(uri) - 1, code}
    static const struct {
        const char *uri;
        size_t len;
        enum ns code;
    } known[] = {
        NS_ENTRY(JINGLE_NS, NS_JINGLE), NS_ENTRY(JINGLE_NS_RTP, NS_RTP),
        NS_ENTRY(JINGLE_NS_RTCP_FB, NS_RTCP_FB), NS_ENTRY(JINGLE_NS_HDREXT, NS_HDREXT),
        NS_ENTRY(JINGLE_NS_SSMA, NS_SSMA), NS_ENTRY(JINGLE_NS_MSID, NS_MSID),
        NS_ENTRY(JINGLE_NS_GROUPING, NS_GROUPING), NS_ENTRY(JINGLE_NS_DTLS, NS_DTLS),
        NS_ENTRY(JINGLE_NS_ICE_UDP, NS_ICE_UDP), NS_ENTRY(JINGLE_NS_DTLS_SCTP, NS_DTLS_SCTP),
        NS_ENTRY(JINGLE_NS_WEBRTC_DC, NS_WEBRTC_DC), NS_ENTRY(EPODE_NS_SDP, NS_EPODE),
    };
#undef NS_ENTRY
    if (!ns)
        return NS_OTHER;
    /* lengths tell most of them apart before any comparison */
    const size_t n = strlen(ns);
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (n == known[i].len && memcmp(ns, known[i].uri, n) == 0)
            return known[i].code;
    return NS_OTHER;
}

/* ------------------------------------------------------------------ */
/* Element starts                                                      */

static enum kind start_content(struct jingle_reader *r, const struct jingle_attrs *attrs)
{
    const char *name;
    if (need_attr(r, attrs, "name", "content", &name))
        return K_SKIP;
    if (!sdp_is_token(name)) {
        rfail(r, "content name '%.40s' cannot be an SDP mid (letters, digits and -._~!#$%%&'*+^` only)", name);
        return K_SKIP;
    }
    if (r->s->nmedia >= SDP_MAX_MEDIA) {
        rfail(r, "more than %u contents", SDP_MAX_MEDIA);
        return K_SKIP;
    }
    for (struct sdp_media *o = r->s->media; o; o = o->next)
        if (o->mid && strcmp(o->mid, name) == 0) {
            rfail(r, "two contents named '%.40s'", name);
            return K_SKIP;
        }
    struct sdp_media *m = sdp_media_append(r->s);
    if (!m) {
        oom(r);
        return K_SKIP;
    }
    r->m = m;
    m->mid = dup(r, name);
    const char *creator = get(attrs, "creator");
    if (creator && strcmp(creator, "initiator") != 0 && strcmp(creator, "responder") != 0) {
        rfail(r, "creator must be 'initiator' or 'responder', not '%.20s'", creator);
        return K_SKIP;
    }
    m->jingle_creator = dup(r, creator);
    m->jingle_disposition = dup(r, get(attrs, "disposition"));
    int sd = (int)senders_parse(get(attrs, "senders"));
    if (sd < 0) {
        rfail(r, "senders must be both, initiator, responder or none");
        return K_SKIP;
    }
    m->jingle_senders = sd;
    r->c_has_desc = 0;
    r->c_rtp = 0;
    r->c_ext_c = 0;
    r->c_sctp_number = -1;
    r->c_sctp_streams = NULL;
    r->c_has_dc_transport = 0;
    r->c_ext_media = 0;
    r->c_ext_port = 0;
    r->ncandidates = 0;
    return K_CONTENT;
}

static enum kind start_payload(struct jingle_reader *r, const struct jingle_attrs *attrs)
{
    struct sdp_media *m = r->m;
    int64_t id = 0, clock = 0, channels, ptime, maxptime;
    if (!get(attrs, "id")) {
        rfail(r, "<payload-type/> without the required 'id' attribute");
        return K_SKIP;
    }
    const char *name = get(attrs, "name");
    if (num_attr(r, attrs, "id", "payload-type", 127, -1, &id) ||
        num_attr(r, attrs, "clockrate", "payload-type", UINT32_MAX, -1, &clock))
        return K_SKIP;
    channels = ptime = maxptime = 0;
    /* id, name and clockrate are the usual ones; look further only when the
     * element has more */
    if (attrs->count < 0 || attrs->count > 1 + (name != NULL) + (clock >= 0))
        if (num_attr(r, attrs, "channels", "payload-type", 255, 0, &channels) ||
            num_attr(r, attrs, "ptime", "payload-type", 100000, 0, &ptime) ||
            num_attr(r, attrs, "maxptime", "payload-type", 100000, 0, &maxptime))
            return K_SKIP;
    for (struct sdp_payload *p = m->payloads; p; p = p->next)
        if (p->pt == (unsigned)id) {
            rfail(r, "payload-type id %u appears twice", (unsigned)id);
            return K_SKIP;
        }
    struct sdp_payload *p = arena_alloc(&r->s->arena, sizeof(*p));
    if (!p) {
        oom(r);
        return K_SKIP;
    }
    p->pt = (unsigned)id;
    if (name && *name) {
        if (!sdp_is_token(name)) {
            rfail(r, "payload-type %u: name '%.40s' is not a valid encoding name", p->pt, name);
            return K_SKIP;
        }
        p->name = dup(r, name);
        if (clock < 0)
            clock = strcmp(m->media ? m->media : "", "video") == 0 ? 90000 : 8000;
    } else if (!sdp_payload_is_static(p->pt)) {
        rfail(r, "payload-type %u: a dynamic payload type needs a name", p->pt);
        return K_SKIP;
    }
    p->clockrate = clock < 0 ? 0 : (uint32_t)clock;
    p->channels = (unsigned)channels;
    if (ptime && !m->ptime)
        m->ptime = (unsigned)ptime;
    if (maxptime && !m->maxptime)
        m->maxptime = (unsigned)maxptime;
    sdp_list_append(r->s, &m->payloads, p);
    m->npayloads++;
    r->pt = p;
    r->pt_raw = 0;
    buf_reset(&r->pt_rawbuf);
    return K_PT;
}

static enum kind start_rtcp_fb(struct jingle_reader *r, const char *name, const struct jingle_attrs *attrs)
{
    struct sdp_rtcp_fb *fb = arena_alloc(&r->s->arena, sizeof(*fb));
    if (!fb) {
        oom(r);
        return K_SKIP;
    }
    if (strcmp(name, "rtcp-fb-trr-int") == 0) {
        int64_t v;
        if (num_attr(r, attrs, "value", "rtcp-fb-trr-int", UINT32_MAX, 0, &v))
            return K_SKIP;
        fb->type = dup(r, "trr-int");
        fb->subtype = dup(r, get(attrs, "value") ? get(attrs, "value") : "0");
    } else {
        const char *type;
        if (need_attr(r, attrs, "type", "rtcp-fb", &type))
            return K_SKIP;
        if (!sdp_is_token(type)) {
            rfail(r, "<rtcp-fb type='%.40s'>: type must be one token", type);
            return K_SKIP;
        }
        const char *sub = get(attrs, "subtype");
        if (sub && (!*sub || check_text(r, sub, "rtcp-fb subtype")))
            return K_SKIP;
        fb->type = dup(r, type);
        fb->subtype = dup(r, sub);
    }
    sdp_list_append(r->s, r->pt ? &r->pt->fb : &r->m->fb_all, fb);
    return K_LEAF;
}


static enum kind start_hdrext(struct jingle_reader *r, const struct jingle_attrs *attrs)
{
    int64_t id = 0;
    const char *uri;
    if (!get(attrs, "id")) {
        rfail(r, "<rtp-hdrext/> without the required 'id' attribute");
        return K_SKIP;
    }
    if (num_attr(r, attrs, "id", "rtp-hdrext", 4095, 0, &id) ||
        need_attr(r, attrs, "uri", "rtp-hdrext", &uri))
        return K_SKIP;
    if (id == 0) {
        rfail(r, "<rtp-hdrext id='0'>: id must be 1 to 4095");
        return K_SKIP;
    }
    for (const char *c = uri; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f) {
            rfail(r, "<rtp-hdrext uri='%.60s'>: URI must not contain spaces", uri);
            return K_SKIP;
        }
    for (struct sdp_extmap *x = r->m->extmaps; x; x = x->next)
        if (x->id == (unsigned)id) {
            rfail(r, "rtp-hdrext id %u appears twice", (unsigned)id);
            return K_SKIP;
        }
    struct sdp_extmap *e = arena_alloc(&r->s->arena, sizeof(*e));
    if (!e) {
        oom(r);
        return K_SKIP;
    }
    e->id = (unsigned)id;
    e->uri = dup(r, uri);
    int sd = (int)senders_parse(get(attrs, "senders"));
    if (sd < 0) {
        rfail(r, "<rtp-hdrext senders=...>: must be both, initiator, responder or none");
        return K_SKIP;
    }
    e->jingle_senders = sd;
    sdp_list_append(r->s, &r->m->extmaps, e);
    return K_LEAF;
}

static enum kind start_source(struct jingle_reader *r, const struct jingle_attrs *attrs)
{
    int64_t ssrc = 0;
    if (!get(attrs, "ssrc")) {
        rfail(r, "<source/> without the required 'ssrc' attribute");
        return K_SKIP;
    }
    if (num_attr(r, attrs, "ssrc", "source", UINT32_MAX, 0, &ssrc))
        return K_SKIP;
    struct sdp_ssrc *x = arena_alloc(&r->s->arena, sizeof(*x));
    if (!x) {
        oom(r);
        return K_SKIP;
    }
    x->ssrc = (uint32_t)ssrc;
    sdp_list_append(r->s, &r->m->ssrcs, x);
    r->src = x;
    return K_SOURCE;
}

static enum kind start_source_param(struct jingle_reader *r, const struct jingle_attrs *attrs)
{
    const char *name;
    if (need_attr(r, attrs, "name", "parameter", &name))
        return K_SKIP;
    const char *value = get(attrs, "value");
    if (check_text(r, name, "source parameter name") ||
        (value && check_text(r, value, "source parameter value")))
        return K_SKIP;
    if (!sdp_is_token(name)) {
        rfail(r, "source %u: parameter name '%.40s' must be one token", r->src->ssrc, name);
        return K_SKIP;
    }
    struct sdp_attr *a = arena_alloc(&r->s->arena, sizeof(*a));
    if (!a) {
        oom(r);
        return K_SKIP;
    }
    a->name = dup(r, name);
    a->value = dup(r, value);
    sdp_list_append(r->s, &r->src->attrs, a);
    return K_LEAF;
}

static enum kind start_ssrc_group(struct jingle_reader *r, const struct jingle_attrs *attrs)
{
    const char *sem;
    if (need_attr(r, attrs, "semantics", "ssrc-group", &sem))
        return K_SKIP;
    struct sdp_ssrc_group *g = arena_alloc(&r->s->arena, sizeof(*g));
    if (!g || !(g->ssrcs = arena_alloc(&r->s->arena, sizeof(uint32_t) * MAX_GROUP_SSRCS))) {
        oom(r);
        return K_SKIP;
    }
    if (!sdp_is_token(sem)) {
        rfail(r, "<ssrc-group semantics='%.40s'>: must be one token", sem);
        return K_SKIP;
    }
    g->semantics = dup(r, sem);
    sdp_list_append(r->s, &r->m->ssrc_groups, g);
    r->sgroup = g;
    return K_SSRC_GROUP;
}

static enum kind start_candidate(struct jingle_reader *r, const struct jingle_attrs *attrs)
{
    /* Rebuild the SDP candidate text and parse it with the SDP parser, so a
     * Jingle candidate is held to exactly the rules of an SDP one. */
    static const char *const required[] = {"component", "foundation", "ip", "port",
                                           "priority", "protocol", "type"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!get(attrs, required[i]) || !*get(attrs, required[i])) {
            rfail(r, "<candidate/> without the required '%s' attribute", required[i]);
            return K_SKIP;
        }
    if (++r->ncandidates > MAX_CANDIDATES) {
        rfail(r, "more than %u candidates in one transport", MAX_CANDIDATES);
        return K_SKIP;
    }
    struct buf b;
    buf_init(&b, 2048);
    buf_puts(&b, "candidate:");
    buf_puts(&b, get(attrs, "foundation"));
    buf_putc(&b, ' ');
    buf_puts(&b, get(attrs, "component"));
    buf_putc(&b, ' ');
    buf_puts(&b, get(attrs, "protocol"));
    buf_putc(&b, ' ');
    buf_puts(&b, get(attrs, "priority"));
    buf_putc(&b, ' ');
    buf_puts(&b, get(attrs, "ip"));
    buf_putc(&b, ' ');
    buf_puts(&b, get(attrs, "port"));
    buf_puts(&b, " typ ");
    buf_puts(&b, get(attrs, "type"));
    static const char *const opt[][2] = {
        {"rel-addr", "raddr"}, {"rel-port", "rport"}, {"tcptype", "tcptype"},
        {"generation", "generation"}, {"network", "network-id"}, {"network-cost", "network-cost"},
    };
    int left = attrs->count < 0 ? -1 : attrs->count - 7 - (get(attrs, "id") != NULL);
    for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]) && left != 0; i++) {
        const char *v = get(attrs, opt[i][0]);
        if (!v)
            continue;
        left--;
        buf_putc(&b, ' ');
        buf_puts(&b, opt[i][1]);
        buf_putc(&b, ' ');
        buf_puts(&b, v);
    }
    enum kind k = K_CANDIDATE;
    struct sdp_candidate *c = arena_alloc(&r->s->arena, sizeof(*c));
    struct sdp_error se = {0};
    if (!c || buf_failed(&b)) {
        oom(r);
        k = K_SKIP;
    } else if (memchr(b.data, '\0', b.len) || sdp_candidate_parse(&r->s->arena, b.data, b.len, c, &se)) {
        /* se.what reads "a=candidate: ..." */
        rfail(r, "<candidate/>: %s", se.what[0] ? se.what + (strncmp(se.what, "a=candidate: ", 13) == 0 ? 13 : 0)
                                                 : "invalid attribute value");
        k = K_SKIP;
    } else {
        sdp_list_append(r->s, &r->m->candidates, c);
        r->cand = c;
    }
    buf_free(&b);
    return k;
}

static enum kind start_ice_transport(struct jingle_reader *r, const struct jingle_attrs *attrs)
{
    const char *ufrag = get(attrs, "ufrag"), *pwd = get(attrs, "pwd");
    if (ufrag && !sdp_is_ice_string(ufrag)) {
        rfail(r, "transport ufrag '%.40s' is not ICE characters (letters, digits, + and /)", ufrag);
        return K_SKIP;
    }
    if (pwd && !sdp_is_ice_string(pwd)) {
        rfail(r, "transport pwd is not ICE characters (letters, digits, + and /)");
        return K_SKIP;
    }
    r->m->ice_ufrag = dup(r, ufrag);
    r->m->ice_pwd = dup(r, pwd);
    return K_TRANSPORT;
}

static enum kind start_ext(struct jingle_reader *r, const struct jingle_attrs *attrs, int session)
{
    r->ext_session = session;
    r->j->has_epode_ext |= session;
    struct sdp_session *s = r->s;
    struct sdp_media *m = r->m;
    struct sdp_error se = {0};
    static const char *const session_keys[] = {"o", "s", "t", "c", "session-level", "direction", NULL};
    static const char *const media_keys[] = {"port", "proto", "media", "fmt", "c", "rtcp", "mid", "direction", NULL};
    int left = attrs->count; /* stop once every attribute was found */
    for (const char *const *key = session ? session_keys : media_keys; *key && left != 0; key++) {
        const char *k = *key, *v = get(attrs, k);
        if (!v)
            continue;
        left--;
        if (check_text(r, v, "Epode extension attribute"))
            return K_SKIP;
        if (session) {
            if (strcmp(k, "o") == 0) {
                if (sdp_origin_set(s, v, strlen(v), &se)) {
                    rfail(r, "Epode extension: bad o= value: %s", se.what);
                    return K_SKIP;
                }
            } else if (strcmp(k, "s") == 0) {
                if (!*v) {
                    rfail(r, "Epode extension: empty session name");
                    return K_SKIP;
                }
                s->name = dup(r, v);
            } else if (strcmp(k, "t") == 0) {
                const char *sp = strchr(v, ' ');
                if (!sp || sp == v || !sp[1] || strchr(sp + 1, ' ')) {
                    rfail(r, "Epode extension: t must be \"<start> <stop>\"");
                    return K_SKIP;
                }
                s->t_start = sdp_strndup(s, v, (size_t)(sp - v));
                s->t_stop = dup(r, sp + 1);
            } else if (strcmp(k, "c") == 0) {
                struct buf b;
                buf_init(&b, 512);
                buf_puts(&b, "c=IN ");
                buf_puts(&b, v);
                if (buf_failed(&b) || sdp_line_apply(s, NULL, b.data, b.len, &se)) {
                    buf_free(&b);
                    rfail(r, "Epode extension: %s", se.what);
                    return K_SKIP;
                }
                buf_free(&b);
            } else if (strcmp(k, "session-level") == 0) {
                r->sess_levels = dup(r, v);
            } else if (strcmp(k, "direction") == 0) {
                s->direction = sdp_direction_from_name(v, strlen(v));
            }
        } else {
            if (strcmp(k, "port") == 0) {
                const char *sl = strchr(v, '/');
                uint64_t port, n = 0;
                if (sdp_parse_uint(v, sl ? (size_t)(sl - v) : strlen(v), 65535, &port) ||
                    (sl && (sdp_parse_uint(sl + 1, strlen(sl + 1), 65535, &n) || n == 0))) {
                    rfail(r, "Epode extension: bad port '%.20s'", v);
                    return K_SKIP;
                }
                m->port = (unsigned)port;
                m->nports = (unsigned)n;
                r->c_ext_port = 1;
            } else if (strcmp(k, "proto") == 0) {
                if (!*v || strchr(v, ' ')) {
                    rfail(r, "Epode extension: bad proto '%.40s'", v);
                    return K_SKIP;
                }
                m->proto = dup(r, v);
            } else if (strcmp(k, "media") == 0) {
                if (!sdp_is_token(v)) {
                    rfail(r, "Epode extension: bad media '%.40s'", v);
                    return K_SKIP;
                }
                m->media = dup(r, v);
                r->c_ext_media = 1;
            } else if (strcmp(k, "fmt") == 0) {
                if (!*v || *v == ' ' || v[strlen(v) - 1] == ' ') {
                    rfail(r, "Epode extension: bad fmt '%.40s'", v);
                    return K_SKIP;
                }
                m->fmt = dup(r, v);
            } else if (strcmp(k, "c") == 0) {
                r->c_ext_c = 1;
                if (*v) {
                    struct buf b;
                    buf_init(&b, 512);
                    buf_puts(&b, "c=IN ");
                    buf_puts(&b, v);
                    m->c_addrtype = NULL;
                    if (buf_failed(&b) || sdp_line_apply(s, m, b.data, b.len, &se)) {
                        buf_free(&b);
                        rfail(r, "Epode extension: %s", se.what);
                        return K_SKIP;
                    }
                    buf_free(&b);
                }
            } else if (strcmp(k, "rtcp") == 0) {
                struct buf b;
                buf_init(&b, 512);
                buf_puts(&b, "a=rtcp:");
                buf_puts(&b, v);
                if (m->rtcp_port >= 0 || buf_failed(&b) ||
                    sdp_line_apply(s, m, b.data, b.len, &se)) {
                    buf_free(&b);
                    rfail(r, "Epode extension: %s", se.what[0] ? se.what : "a=rtcp given twice");
                    return K_SKIP;
                }
                buf_free(&b);
            } else if (strcmp(k, "mid") == 0 && !*v) {
                m->mid = NULL;
            } else if (strcmp(k, "direction") == 0 && strcmp(v, "session") == 0) {
                /* senders restated the session-level direction */
                m->jingle_senders = JINGLE_SENDERS_UNSET;
            }
        }
    }
    return K_EXT;
}

static enum kind start_element(struct jingle_reader *r, enum kind parent,
                               const char *ns, const char *name, const struct jingle_attrs *attrs)
{
    const enum ns nsc = ns_code(ns);
    switch (parent) {
    case K_ROOT:
        if (strcmp(name, "iq") == 0) {
            r->j->iq_id = dup(r, get(attrs, "id"));
            r->j->iq_type = dup(r, get(attrs, "type"));
            r->j->iq_from = dup(r, get(attrs, "from"));
            r->j->iq_to = dup(r, get(attrs, "to"));
            return K_IQ;
        }
        /* A bare <jingle/> is read like one inside an <iq/>. */
        /* fall through */
    case K_IQ:
        if (strcmp(name, "jingle") == 0 && (nsc == NS_JINGLE)) {
            if (r->seen_jingle) {
                rfail(r, "more than one <jingle/> element");
                return K_SKIP;
            }
            r->seen_jingle = 1;
            const char *action = get(attrs, "action");
            r->j->action = jingle_action_from_name(action);
            if (!action) {
                rfail(r, "<jingle/> without the required 'action' attribute");
                return K_SKIP;
            }
            if (r->j->action == JINGLE_ACTION_NONE) {
                rfail(r, "unknown Jingle action '%.40s'", action);
                return K_SKIP;
            }
            const char *sid = get(attrs, "sid");
            if (!sid || !*sid) {
                rfail(r, "<jingle/> without the required 'sid' attribute");
                return K_SKIP;
            }
            r->j->sid = dup(r, sid);
            r->j->initiator = dup(r, get(attrs, "initiator"));
            r->j->responder = dup(r, get(attrs, "responder"));
            return K_JINGLE;
        }
        if (parent == K_ROOT)
            rfail(r, "expected <iq/> or <jingle xmlns='%s'/>, got <%.40s/>", JINGLE_NS, name);
        return K_SKIP;
    case K_JINGLE:
        if ((nsc == NS_JINGLE)) {
            if (strcmp(name, "content") == 0)
                return start_content(r, attrs);
            if (strcmp(name, "reason") == 0)
                return K_REASON;
            return K_SKIP;
        }
        if ((nsc == NS_GROUPING) && strcmp(name, "group") == 0) {
            const char *sem;
            if (need_attr(r, attrs, "semantics", "group", &sem))
                return K_SKIP;
            struct sdp_group *g = arena_alloc(&r->s->arena, sizeof(*g));
            if (!g || !(g->mids = arena_alloc(&r->s->arena, sizeof(char *) * MAX_GROUP_MIDS))) {
                oom(r);
                return K_SKIP;
            }
            if (!sdp_is_token(sem)) {
                rfail(r, "<group semantics='%.40s'>: must be one token", sem);
                return K_SKIP;
            }
            g->semantics = dup(r, sem);
            sdp_list_append(r->s, &r->s->groups, g);
            r->group = g;
            return K_GROUP;
        }
        if ((nsc == NS_EPODE) && strcmp(name, "sdp") == 0)
            return start_ext(r, attrs, 1);
        /* Anything else in another namespace is a session-info payload
         * (ringing, active, hold, mute, ...). */
        if (!r->j->info) {
            r->j->info = dup(r, name);
            r->j->info_ns = dup(r, ns);
            r->j->info_creator = dup(r, get(attrs, "creator"));
            r->j->info_name = dup(r, get(attrs, "name"));
        }
        return K_SKIP;
    case K_CONTENT:
        if (strcmp(name, "description") == 0) {
            if (r->c_has_desc) {
                rfail(r, "more than one <description/>");
                return K_SKIP;
            }
            r->c_has_desc = 1;
            if ((nsc == NS_RTP)) {
                const char *media;
                if (need_attr(r, attrs, "media", "description", &media))
                    return K_SKIP;
                if (!sdp_is_token(media)) {
                    rfail(r, "<description media='%.20s'>: not a media type", media);
                    return K_SKIP;
                }
                r->c_rtp = 1;
                r->m->media = dup(r, media);
                return K_DESC;
            }
            return K_SKIP;
        }
        if (strcmp(name, "transport") == 0) {
            if ((nsc == NS_ICE_UDP)) {
                return start_ice_transport(r, attrs);
            }
            if ((nsc == NS_WEBRTC_DC)) {
                int64_t port = 0, mms = 0;
                if (num_attr(r, attrs, "sctp-port", "transport", 65535, -1, &port) ||
                    num_attr(r, attrs, "max-message-size", "transport", INT64_MAX, -1, &mms))
                    return K_SKIP;
                r->c_has_dc_transport = 1;
                if (port >= 0)
                    r->m->sctp_port = (int)port;
                if (mms >= 0)
                    r->m->max_message_size = mms;
                return K_TRANSPORT_DC;
            }
            return K_SKIP;
        }
        if ((nsc == NS_EPODE) && strcmp(name, "sdp") == 0)
            return start_ext(r, attrs, 0);
        return K_SKIP;
    case K_DESC:
        if ((nsc == NS_RTP)) {
            if (strcmp(name, "payload-type") == 0)
                return start_payload(r, attrs);
            if (strcmp(name, "rtcp-mux") == 0) {
                r->m->rtcp_mux = 1;
                return K_LEAF;
            }
            if (strcmp(name, "rtcp-reduced-size") == 0 || strcmp(name, "rtcp-rsize") == 0) {
                r->m->rtcp_rsize = 1;
                return K_LEAF;
            }
            if (strcmp(name, "bandwidth") == 0) {
                const char *type;
                if (need_attr(r, attrs, "type", "bandwidth", &type))
                    return K_SKIP;
                struct sdp_bandwidth *bw = arena_alloc(&r->s->arena, sizeof(*bw));
                if (!bw) {
                    oom(r);
                    return K_SKIP;
                }
                if (!sdp_is_token(type)) {
                    rfail(r, "<bandwidth type='%.20s'>: must be one token", type);
                    return K_SKIP;
                }
                bw->type = dup(r, type);
                sdp_list_append(r->s, &r->m->bandwidths, bw);
                r->bw = bw;
                const char *v = get(attrs, "value");
                if (v) {
                    uint64_t u;
                    if (sdp_parse_uint(v, strlen(v), UINT64_MAX / 2, &u)) {
                        rfail(r, "<bandwidth value='%.20s'>: must be a number", v);
                        return K_SKIP;
                    }
                    bw->value = u;
                    r->bw = NULL;
                    return K_LEAF;
                }
                return K_BANDWIDTH;
            }
            return K_SKIP;
        }
        if ((nsc == NS_RTCP_FB) &&
            (strcmp(name, "rtcp-fb") == 0 || strcmp(name, "rtcp-fb-trr-int") == 0))
            return start_rtcp_fb(r, name, attrs);
        if ((nsc == NS_HDREXT)) {
            if (strcmp(name, "rtp-hdrext") == 0)
                return start_hdrext(r, attrs);
            if (strcmp(name, "extmap-allow-mixed") == 0) {
                /* bit 2: from the description; bit 1: from an SDP line */
                r->m->extmap_allow_mixed |= 2;
                return K_LEAF;
            }
            return K_SKIP;
        }
        if ((nsc == NS_SSMA)) {
            if (strcmp(name, "source") == 0)
                return start_source(r, attrs);
            if (strcmp(name, "ssrc-group") == 0)
                return start_ssrc_group(r, attrs);
            return K_SKIP;
        }
        if ((nsc == NS_MSID) && strcmp(name, "stream") == 0) {
            const char *id;
            if (need_attr(r, attrs, "id", "stream", &id))
                return K_SKIP;
            const char *track = get(attrs, "track");
            for (const char *c = id; *c; c++)
                if ((unsigned char)*c <= ' ' || *c == 0x7f) {
                    rfail(r, "<stream id='%.40s'>: must be one token", id);
                    return K_SKIP;
                }
            if (track)
                for (const char *c = track; *c; c++)
                    if ((unsigned char)*c <= ' ' || *c == 0x7f) {
                        rfail(r, "<stream track='%.40s'>: must be one token", track);
                        return K_SKIP;
                    }
            struct sdp_msid *ms = arena_alloc(&r->s->arena, sizeof(*ms));
            if (!ms) {
                oom(r);
                return K_SKIP;
            }
            ms->stream = dup(r, id);
            ms->track = dup(r, track && *track ? track : NULL);
            sdp_list_append(r->s, &r->m->msids, ms);
            return K_LEAF;
        }
        return K_SKIP;
    case K_PT:
        if ((nsc == NS_RTP) && strcmp(name, "parameter") == 0) {
            const char *pname = get(attrs, "name");
            const char *value = get(attrs, "value");
            if ((!pname || !*pname) && value && *value) {
                /* A nameless parameter is the whole fmtp text (the form
                 * Conversations writes for "a=fmtp:<id> <value>"). */
                if (check_text(r, value, "parameter value"))
                    return K_SKIP;
                if (r->pt_rawbuf.len)
                    buf_putc(&r->pt_rawbuf, ';');
                buf_puts(&r->pt_rawbuf, value);
                r->pt_raw = 1;
                return K_LEAF;
            }
            if (!pname || !*pname) {
                rfail(r, "payload-type %u: <parameter/> without a name or value", r->pt->pt);
                return K_SKIP;
            }
            if (check_text(r, pname, "parameter name") || (value && check_text(r, value, "parameter value")))
                return K_SKIP;
            if (strchr(pname, ';') || strchr(pname, ' ') || (value && strchr(value, ';'))) {
                rfail(r, "payload-type %u: parameter '%.40s' contains ';' or a space", r->pt->pt, pname);
                return K_SKIP;
            }
            /* Kept in both forms; at the end of the payload-type the key=value
             * list wins unless a parameter had no value (StanzaJS writes RED's
             * "111/111" that way). */
            if (r->pt_rawbuf.len)
                buf_putc(&r->pt_rawbuf, ';');
            buf_puts(&r->pt_rawbuf, pname);
            if (value) {
                buf_putc(&r->pt_rawbuf, '=');
                buf_puts(&r->pt_rawbuf, value);
                struct sdp_param *q = arena_alloc(&r->s->arena, sizeof(*q));
                if (!q) {
                    oom(r);
                    return K_SKIP;
                }
                q->name = dup(r, pname);
                q->value = dup(r, value);
                sdp_list_append(r->s, &r->pt->params, q);
            } else {
                r->pt_raw = 1;
            }
            return K_LEAF;
        }
        if ((nsc == NS_RTCP_FB) &&
            (strcmp(name, "rtcp-fb") == 0 || strcmp(name, "rtcp-fb-trr-int") == 0))
            return start_rtcp_fb(r, name, attrs);
        return K_SKIP;
    case K_SOURCE:
        if (((nsc == NS_SSMA) || (nsc == NS_RTP)) && strcmp(name, "parameter") == 0)
            return start_source_param(r, attrs);
        return K_SKIP;
    case K_SSRC_GROUP:
        if ((nsc == NS_SSMA) && strcmp(name, "source") == 0) {
            int64_t ssrc = 0;
            if (!get(attrs, "ssrc")) {
                rfail(r, "<ssrc-group><source/> without the required 'ssrc' attribute");
                return K_SKIP;
            }
            if (num_attr(r, attrs, "ssrc", "source", UINT32_MAX, 0, &ssrc))
                return K_SKIP;
            if (r->sgroup->nssrcs >= MAX_GROUP_SSRCS) {
                rfail(r, "ssrc-group with more than %u sources", MAX_GROUP_SSRCS);
                return K_SKIP;
            }
            r->sgroup->ssrcs[r->sgroup->nssrcs++] = (uint32_t)ssrc;
            return K_LEAF;
        }
        return K_SKIP;
    case K_TRANSPORT_DC:
        if ((nsc == NS_ICE_UDP) && strcmp(name, "transport") == 0) {
            return start_ice_transport(r, attrs);
        }
        return K_SKIP;
    case K_TRANSPORT:
        if ((nsc == NS_ICE_UDP)) {
            if (strcmp(name, "candidate") == 0)
                return start_candidate(r, attrs);
            if (strcmp(name, "gathering-complete") == 0) {
                r->m->end_of_candidates = 1;
                return K_LEAF;
            }
            return K_SKIP;
        }
        if ((nsc == NS_DTLS) && strcmp(name, "fingerprint") == 0) {
            const char *hash;
            if (need_attr(r, attrs, "hash", "fingerprint", &hash))
                return K_SKIP;
            if (!sdp_is_token(hash)) {
                rfail(r, "<fingerprint hash='%.20s'>: must be one token", hash);
                return K_SKIP;
            }
            const char *setup = get(attrs, "setup");
            if (setup && strcmp(setup, "actpass") != 0 && strcmp(setup, "active") != 0 &&
                strcmp(setup, "passive") != 0 && strcmp(setup, "holdconn") != 0) {
                rfail(r, "<fingerprint setup='%.20s'>: must be actpass, active, passive or holdconn", setup);
                return K_SKIP;
            }
            struct sdp_fingerprint *fp = arena_alloc(&r->s->arena, sizeof(*fp));
            if (!fp) {
                oom(r);
                return K_SKIP;
            }
            fp->hash = dup(r, hash);
            if (setup && !r->m->setup)
                r->m->setup = dup(r, setup);
            r->fp = fp;
            return K_FINGERPRINT;
        }
        if ((nsc == NS_DTLS_SCTP) && strcmp(name, "sctpmap") == 0) {
            int64_t number = 0;
            if (num_attr(r, attrs, "number", "sctpmap", 65535, 5000, &number))
                return K_SKIP;
            r->c_sctp_number = (int)number;
            const char *streams = get(attrs, "streams");
            if (streams) {
                uint64_t u;
                if (sdp_parse_uint(streams, strlen(streams), 65535, &u)) {
                    rfail(r, "<sctpmap streams='%.20s'>: must be a number", streams);
                    return K_SKIP;
                }
                r->c_sctp_streams = dup(r, streams);
            }
            return K_LEAF;
        }
        return K_SKIP;
    case K_CANDIDATE:
        if ((nsc == NS_EPODE) && strcmp(name, "candidate-ext") == 0)
            return K_CANDIDATE_EXT;
        return K_SKIP;
    case K_EXT:
        if ((nsc == NS_EPODE) && strcmp(name, "line") == 0)
            return K_EXT_LINE;
        return K_SKIP;
    case K_GROUP:
        if ((nsc == NS_GROUPING) && strcmp(name, "content") == 0) {
            const char *cname;
            if (need_attr(r, attrs, "name", "group/content", &cname))
                return K_SKIP;
            if (r->group->nmids >= MAX_GROUP_MIDS) {
                rfail(r, "group with more than %u contents", MAX_GROUP_MIDS);
                return K_SKIP;
            }
            if (!sdp_is_token(cname)) {
                rfail(r, "<group><content name='%.40s'>: not a valid SDP mid", cname);
                return K_SKIP;
            }
            r->group->mids[r->group->nmids++] = dup(r, cname);
            return K_LEAF;
        }
        return K_SKIP;
    case K_REASON:
        if ((nsc == NS_JINGLE)) {
            if (strcmp(name, "text") == 0)
                return K_REASON_TEXT;
            if (!r->j->reason)
                r->j->reason = dup(r, name);
            return K_SKIP;
        }
        return K_SKIP;
    default:
        return K_SKIP;
    }
}

int jingle_reader_start(struct jingle_reader *r, const char *ns, const char *name,
                        const struct jingle_attrs *attrs)
{
    if (r->failed)
        return -1;
    if (r->depth >= JINGLE_MAX_DEPTH)
        return rfail(r, "XML nested deeper than %d elements", JINGLE_MAX_DEPTH);
    enum kind parent = r->stack[r->depth].kind;
    enum kind k = parent == K_SKIP || parent == K_LEAF ? K_SKIP
                                                       : start_element(r, parent, ns, name, attrs);
    r->stack[++r->depth].kind = k;
    r->textlen = 0;
    return r->failed ? -1 : 0;
}

int jingle_reader_text(struct jingle_reader *r, const char *s, size_t len)
{
    if (r->failed)
        return -1;
    switch (r->stack[r->depth].kind) {
    case K_FINGERPRINT: case K_BANDWIDTH: case K_EXT_LINE: case K_REASON_TEXT:
    case K_CANDIDATE_EXT:
        if (len > MAX_TEXT - 1 - r->textlen)
            return rfail(r, "element text longer than %u bytes", MAX_TEXT - 1);
        if (r->textlen + len + 1 > r->textcap) {
            size_t cap = r->textcap ? r->textcap : 256;
            while (cap < r->textlen + len + 1)
                cap *= 2;
            char *t = arena_alloc_raw(&r->s->arena, cap);
            if (!t)
                return oom(r);
            if (r->textlen)
                memcpy(t, r->text, r->textlen);
            r->text = t;
            r->textcap = cap;
        }
        memcpy(r->text + r->textlen, s, len);
        r->textlen += len;
        r->text[r->textlen] = '\0';
        return 0;
    default:
        return 0;
    }
}

static void trim(char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\n' || **s == '\r' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\n' || (*s)[*n - 1] == '\r' ||
                  (*s)[*n - 1] == '\t'))
        (*n)--;
}

static int end_payload(struct jingle_reader *r)
{
    struct sdp_payload *p = r->pt;
    if (r->pt_raw) {
        p->params = NULL;
        p->fmtp_raw = sdp_strndup(r->s, r->pt_rawbuf.data, r->pt_rawbuf.len);
        if (!p->fmtp_raw)
            return oom(r);
    }
    r->pt = NULL;
    return 0;
}

static int end_content(struct jingle_reader *r)
{
    struct sdp_media *m = r->m;
    if (!m->media)
        m->media = dup(r, "application");
    if (!m->proto) {
        if (r->c_rtp)
            m->proto = dup(r, m->fingerprints || m->setup ? "UDP/TLS/RTP/SAVPF" : "RTP/AVPF");
        else
            m->proto = dup(r, "UDP/DTLS/SCTP");
    }
    if (!sdp_media_is_rtp(m) && !m->fmt)
        m->fmt = dup(r, "webrtc-datachannel");
    if (!r->c_rtp && sdp_media_is_rtp(m))
        return rfail(r, "an RTP content without an RTP <description/>");
    if (r->c_rtp && !m->payloads)
        return rfail(r, "RTP <description/> without any <payload-type/>");
    if (!r->c_ext_port)
        m->port = 9;    /* the JSEP placeholder port: media goes where ICE says */
    if (!r->c_ext_c && !m->c_addrtype) {
        m->c_addrtype = dup(r, "IP4");
        m->c_address = dup(r, "0.0.0.0");
    }
    if (r->c_sctp_number >= 0 && m->sctp_port < 0 && !m->sctpmap) {
        if (strstr(m->proto, "UDP/DTLS/SCTP") || strstr(m->proto, "TCP/DTLS/SCTP")) {
            m->sctp_port = r->c_sctp_number;
        } else {
            char tmp[64];
            snprintf(tmp, sizeof(tmp), "%d webrtc-datachannel%s%s", r->c_sctp_number,
                     r->c_sctp_streams ? " " : "", r->c_sctp_streams ? r->c_sctp_streams : "");
            m->sctpmap = sdp_strdup(r->s, tmp);
        }
    }
    r->m = NULL;
    return r->failed ? -1 : 0;
}

int jingle_reader_end(struct jingle_reader *r)
{
    if (r->failed)
        return -1;
    if (r->depth == 0)
        return rfail(r, "unbalanced element end");
    enum kind k = r->stack[r->depth].kind;
    char *t = r->text ? r->text : (char *)"";
    size_t n = r->textlen;
    struct sdp_error se;
    se.line = 0;
    se.what[0] = '\0';
    switch (k) {
    case K_CONTENT:
        end_content(r);
        break;
    case K_PT:
        end_payload(r);
        break;
    case K_SOURCE:
        r->src = NULL;
        break;
    case K_SSRC_GROUP:
        if (r->sgroup->nssrcs == 0)
            rfail(r, "ssrc-group '%s' without sources", r->sgroup->semantics);
        r->sgroup = NULL;
        break;
    case K_GROUP:
        /* an empty group is legal SDP ("a=group:BUNDLE" before any m-line) */
        r->group = NULL;
        break;
    case K_FINGERPRINT: {
        trim(&t, &n);
        int ok = n >= 2;
        for (size_t i = 0; i < n && ok; i++)
            ok = (t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f') ||
                 (t[i] >= 'A' && t[i] <= 'F') || t[i] == ':';
        if (!ok) {
            rfail(r, "<fingerprint/> must hold hex bytes separated by colons");
            break;
        }
        r->fp->value = sdp_strndup(r->s, t, n);
        if (!r->fp->value) {
            oom(r);
            break;
        }
        sdp_list_append(r->s, &r->m->fingerprints, r->fp);
        r->fp = NULL;
        break;
    }
    case K_BANDWIDTH: {
        trim(&t, &n);
        uint64_t u;
        if (sdp_parse_uint(t, n, UINT64_MAX / 2, &u)) {
            rfail(r, "<bandwidth/> must hold a number");
            break;
        }
        r->bw->value = u;
        r->bw = NULL;
        break;
    }
    case K_EXT_LINE: {
        struct sdp_media *m = r->ext_session ? NULL : r->m;
        /* An a=extmap carried here adds, to the rtp-hdrext of the same id,
         * the extension attributes no XEP has a place for. */
        if (m && n > 9 && memcmp(t, "a=extmap:", 9) == 0) {
            struct sdp_session *tmp = sdp_session_new();
            struct sdp_media *tm = tmp ? sdp_media_append(tmp) : NULL;
            if (!tm) {
                sdp_session_free(tmp);
                oom(r);
                break;
            }
            if (sdp_line_apply(tmp, tm, t, n, &se)) {
                sdp_session_free(tmp);
                rfail(r, "Epode extension line: %s", se.what);
                break;
            }
            struct sdp_extmap *e = m->extmaps, *te = tm->extmaps;
            while (e && e->id != te->id)
                e = e->next;
            if (e && strcmp(e->uri, te->uri) == 0) {
                e->attributes = te->attributes ? sdp_strdup(r->s, te->attributes) : NULL;
                e->direction = te->direction;
                sdp_session_free(tmp);
                break;
            }
            sdp_session_free(tmp);
        }
        if (sdp_line_apply(r->s, m, t, n, &se))
            rfail(r, "Epode extension line: %s", se.what);
        break;
    }
    case K_CANDIDATE_EXT: {
        /* "name value name value ..." appended to the candidate */
        struct buf b;
        buf_init(&b, 4096);
        buf_puts(&b, "candidate:x 1 udp 1 0.0.0.0 1 typ host ");
        buf_append(&b, t, n);
        struct sdp_candidate tmp;
        if (buf_failed(&b) || sdp_candidate_parse(&r->s->arena, b.data, b.len, &tmp, &se)) {
            buf_free(&b);
            rfail(r, "Epode candidate extension: %s", se.what);
            break;
        }
        buf_free(&b);
        if (r->cand) {
            if (tmp.ufrag)
                r->cand->ufrag = tmp.ufrag;
            for (struct sdp_attr *a = tmp.ext; a;) {
                struct sdp_attr *next = a->next;
                if (strcmp(a->name, "transport") == 0 && strcasecmp(a->value, r->cand->transport) == 0)
                    r->cand->transport = a->value; /* the case it was written in */
                else
                    sdp_list_append(r->s, &r->cand->ext, a);
                a = next;
            }
        }
        break;
    }
    case K_CANDIDATE:
        r->cand = NULL;
        break;
    case K_REASON_TEXT:
        r->j->reason_text = sdp_strndup(r->s, t, n);
        break;
    default:
        break;
    }
    r->depth--;
    r->textlen = 0;
    return r->failed ? -1 : 0;
}

static struct sdp_ssrc *find_ssrc(struct sdp_media *m, uint32_t id)
{
    for (struct sdp_ssrc *x = m->ssrcs; x; x = x->next)
        if (x->ssrc == id)
            return x;
    return NULL;
}

/* Some Jingle clients name SSRCs in an <ssrc-group/> without a <source/>
 * for them (StanzaJS keeps only the first source of an FID pair). SDP
 * needs an a=ssrc line for each: give the missing one the cname of the
 * group's first source, which is what FID and SIM members share. */
static int repair_ssrc_groups(struct jingle_reader *r, struct sdp_media *m)
{
    for (struct sdp_ssrc_group *g = m->ssrc_groups; g; g = g->next) {
        const char *cname = NULL;
        struct sdp_ssrc *first = find_ssrc(m, g->ssrcs[0]);
        for (struct sdp_attr *a = first ? first->attrs : NULL; a; a = a->next)
            if (strcmp(a->name, "cname") == 0)
                cname = a->value;
        for (unsigned i = 0; i < g->nssrcs; i++) {
            struct sdp_ssrc *x = find_ssrc(m, g->ssrcs[i]);
            if (x && x->attrs)
                continue;
            if (!x) {
                x = arena_alloc(&r->s->arena, sizeof(*x));
                if (!x)
                    return oom(r);
                x->ssrc = g->ssrcs[i];
                sdp_list_append(r->s, &m->ssrcs, x);
            }
            struct sdp_attr *a = arena_alloc(&r->s->arena, sizeof(*a));
            if (!a)
                return oom(r);
            a->name = dup(r, "cname");
            a->value = dup(r, cname ? cname : "-");
            x->attrs = a;
        }
    }
    return 0;
}

struct jingle *jingle_reader_finish(struct jingle_reader *r, struct jingle_error *err)
{
    for (struct sdp_media *m = r->s ? r->s->media : NULL; m && !r->failed; m = m->next)
        repair_ssrc_groups(r, m);
    /* A whole description (not a change to one) must be self-contained. */
    if (!r->failed && (r->j->action == JINGLE_SESSION_INITIATE || r->j->action == JINGLE_SESSION_ACCEPT))
        for (struct sdp_group *g = r->s->groups; g; g = g->next)
            for (unsigned i = 0; i < g->nmids; i++)
                if (!sdp_media_by_mid(r->s, g->mids[i])) {
                    rfail(r, "<group semantics='%s'> names content '%s', which this %s does not have",
                          g->semantics, g->mids[i], jingle_action_name(r->j->action));
                    break;
                }
    if (!r->failed && !r->seen_jingle)
        rfail(r, "no <jingle xmlns='%s'/> element", JINGLE_NS);
    if (!r->failed && r->depth != 0)
        rfail(r, "document ended inside an element");
    if (r->failed) {
        if (err)
            snprintf(err->what, sizeof(err->what), "%s", r->error);
        return NULL;
    }
    struct sdp_session *s = r->s;
    /* extmap-allow-mixed: our own extension says where the SDP had it.
     * Without it, the attribute on every RTP description is the
     * session-level one browsers write. */
    int rtp = 0, mixed = 0;
    for (struct sdp_media *m = s->media; m; m = m->next)
        if (sdp_media_is_rtp(m)) {
            rtp++;
            mixed += m->extmap_allow_mixed;
        }
    int session_mixed = r->j->has_epode_ext
                            ? (r->sess_levels && strstr(r->sess_levels, "extmap-allow-mixed") != NULL)
                            : (rtp && mixed == rtp);
    if (session_mixed)
        s->extmap_allow_mixed = 1;
    for (struct sdp_media *m = s->media; m; m = m->next)
        m->extmap_allow_mixed = session_mixed ? (m->extmap_allow_mixed & 1) : (m->extmap_allow_mixed != 0);
    /* Facts the original SDP held at session level go back there when every
     * media section agrees. */
    if (r->sess_levels && s->media) {
        struct sdp_media *first = s->media;
        if (strstr(r->sess_levels, "fingerprint")) {
            s->fingerprints = first->fingerprints;
            for (struct sdp_media *m = s->media; m; m = m->next)
                m->fingerprints = NULL;
        }
        if (strstr(r->sess_levels, "setup")) {
            s->setup = first->setup;
            for (struct sdp_media *m = s->media; m; m = m->next)
                m->setup = NULL;
        }
        if (strstr(r->sess_levels, "ice-ufrag")) {
            s->ice_ufrag = first->ice_ufrag;
            for (struct sdp_media *m = s->media; m; m = m->next)
                m->ice_ufrag = NULL;
        }
        if (strstr(r->sess_levels, "ice-pwd")) {
            s->ice_pwd = first->ice_pwd;
            for (struct sdp_media *m = s->media; m; m = m->next)
                m->ice_pwd = NULL;
        }
    }
    struct jingle *j = r->j;
    r->j = NULL;
    r->s = NULL;
    return j;
}

static enum sdp_direction direction_from_senders(int sd, enum jingle_role author)
{
    switch (sd) {
    case JINGLE_SENDERS_BOTH: return SDP_DIR_SENDRECV;
    case JINGLE_SENDERS_NONE: return SDP_DIR_INACTIVE;
    case JINGLE_SENDERS_INITIATOR:
        return author == JINGLE_ROLE_INITIATOR ? SDP_DIR_SENDONLY : SDP_DIR_RECVONLY;
    case JINGLE_SENDERS_RESPONDER:
        return author == JINGLE_ROLE_RESPONDER ? SDP_DIR_SENDONLY : SDP_DIR_RECVONLY;
    default: return SDP_DIR_NONE;
    }
}

void jingle_apply_senders(struct jingle *j, enum jingle_role author)
{
    for (struct sdp_media *m = j->sdp->media; m; m = m->next) {
        if (m->jingle_senders)
            m->direction = direction_from_senders(m->jingle_senders, author);
        for (struct sdp_extmap *e = m->extmaps; e; e = e->next)
            if (e->jingle_senders)
                e->direction = direction_from_senders(e->jingle_senders, author);
    }
}

char *jingle_to_sdp(struct jingle *j, enum jingle_role author, size_t *len)
{
    jingle_apply_senders(j, author);
    return sdp_session_to_text(j->sdp, len);
}
