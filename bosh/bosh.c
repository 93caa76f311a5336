/* bosh.c - see bosh.h. The BOSH connection manager as pure logic.
 *
 * Requests of a session live on one list, s->reqs, ordered by rid:
 *   held   rid <= s->rid_processed: the body was processed, the request
 *          waits for output or for `wait` to pass;
 *   early  rid >  s->rid_processed: arrived before a predecessor; its
 *          parsed body waits (rq->body) until every lower rid arrived.
 * A request whose HTTP connection went away stays on the list with
 * rq->req == NULL (an "orphan"): the client will send the same rid again
 * and it takes the orphan's place. Responses always go out oldest first,
 * so the rids answered are exactly those up to s->answered_hi; the held
 * ones follow. Output (s->pending) goes on the oldest held request that
 * still has a connection; orphans older than it are answered empty.
 *
 * Every response is remembered for replay (rids cache_lo..answered_hi):
 * the plain empty body costs nothing (no node), any other one is a node
 * in s->cache. So an idle session with one held request costs its struct
 * and one request record, nothing else.
 *
 * The session layer's gone() is called from bosh_flush()/bosh_tick() (the
 * dirty list) or bosh_shutdown()/bosh_free(), never from inside one of its
 * own calls. A terminated session stays (without its session layer) until
 * its terminate response reached a live request, or until inactivity. */
#include "bosh.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <utlist.h>
#include <uthash.h>

#include "xmlin.h"

#define XBOSH_NS "urn:xmpp:xbosh"
#define STREAMS_NS "http://etherx.jabber.org/streams"
#define XMPP_STREAMS_NS "urn:ietf:params:xml:ns:xmpp-streams"
#define PLAIN_BODY "<body xmlns='" BOSH_NS "'/>"
#define TEXT_PLAIN "text/plain; charset=utf-8"
#define RID_MAX 9007199254740991ULL /* 2^53 - 1, XEP-0124 section 14.1 */
#define VER_MAJOR 1
#define VER_MINOR 11
#define SID_BYTES 16 /* 128 bits */
#define KEY_HEX 40   /* SHA-1 in hex */
#define ATTRS_MAX 64 /* attributes per element */
#define STR_MAX 1024 /* longest from/authid/content kept */
/* A response is the pending output plus at most: the stream error that
 * close() adds (8 kB), from and authid escaped (6 x 1 kB each), the other
 * attributes. */
#define RESPONSE_SLACK 32768

struct bosh_session;

struct bosh_req {
    UT_hash_handle hh;         /* b->reqs, by `req`, while req != NULL */
    void *req;                 /* the glue's handle; NULL: connection gone */
    struct bosh_session *s;
    struct bosh_req *next;     /* s->reqs, by rid */
    uint64_t rid;
    uint64_t since_ms;         /* when it was processed (held) or arrived (early) */
    xmpp_stanza_t *body;       /* early: the body to process in its turn */
};

/* A remembered response that is not the plain empty body. */
struct bosh_cached {
    struct bosh_cached *next;  /* by rid */
    uint64_t rid;
    size_t len;
    char text[];
};

struct bosh_session {
    UT_hash_handle hh;         /* b->sessions, by sid */
    struct bosh *b;
    void *handle;              /* the session layer's; NULL before attach and after gone */
    struct bosh_req *reqs;     /* held then early, by rid */
    struct bosh_cached *cache; /* by rid */
    struct bosh_session *dprev, *dnext; /* b->dirty */
    char *pending;             /* output not yet sent (NULL when none) */
    size_t pending_len, pending_cap;
    char *key;                 /* what SHA-1(next key) must be, lower-case hex; NULL: no keys */
    char *content;             /* Content-Type the client asked for; NULL: default */
    char *from, *authid;       /* for the creation response; freed once it is out */
    const char *term_cond;     /* terminate condition (static string); NULL: none */
    uint64_t rid_processed;    /* highest rid processed; every lower one was too */
    uint64_t answered_hi;      /* highest rid answered */
    uint64_t cache_lo;         /* lowest rid whose response is remembered */
    uint64_t creation_rid;     /* rid of the creation request until answered; 0 after */
    uint64_t last_payload_rid; /* last rid answered with payloads */
    uint64_t last_empty_rid;   /* last new request that was empty (polling rule) */
    uint64_t last_answer_ms;
    uint64_t last_arrival_ms;  /* of the last new request */
    unsigned wait, hold, requests, inactivity, polling;
    unsigned cur_inactivity;   /* inactivity, or the pause asked for */
    unsigned n_held, n_early;
    unsigned short ver_major, ver_minor; /* 0.0: a legacy client (no 'ver') */
    unsigned acks : 1;         /* client asked for acknowledgements */
    unsigned xmpp_v1 : 1;      /* client sent xmpp:version */
    unsigned dirty : 1;        /* on b->dirty */
    unsigned closing : 1;      /* terminated: no more input or output */
    unsigned term_delivered : 1; /* the terminate response reached a live request */
    unsigned gone_done : 1;    /* in->gone() was called (or never attached) */
    char sid[SID_BYTES * 2 + 1];
};

struct bosh {
    xmpp_ctx_t *ctx;
    struct bosh_opts o;
    char *domain;
    struct stream_in in;
    struct bosh_http_ops ops;
    void *ud;
    struct xmlin *parser;
    struct bosh_session *sessions; /* by sid */
    struct bosh_req *reqs;         /* live requests, by handle */
    struct bosh_session *dirty;    /* sessions with output or closed since the last flush */
    uint64_t now_ms;
    int shutting_down;
    struct bosh_stats st;
};

/* ---- small helpers ---- */

/* A growable output buffer with a hard cap; `oom` is set on failure and
 * later appends are dropped, so callers check once at the end. */
struct dbuf {
    char *p;
    size_t len, cap, max;
    int oom;
};

static void dbuf_add(struct dbuf *d, const char *s, size_t n)
{
    if (d->oom)
        return;
    if (n > d->max - d->len) {
        d->oom = 1;
        return;
    }
    if (d->len + n + 1 > d->cap) {
        size_t cap = d->cap ? d->cap : 256;
        while (cap < d->len + n + 1)
            cap *= 2;
        char *p = realloc(d->p, cap);
        if (!p) {
            d->oom = 1;
            return;
        }
        d->p = p;
        d->cap = cap;
    }
    memcpy(d->p + d->len, s, n);
    d->len += n;
    d->p[d->len] = '\0';
}

static void dbuf_str(struct dbuf *d, const char *s)
{
    dbuf_add(d, s, strlen(s));
}

static void dbuf_u64(struct dbuf *d, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
    dbuf_add(d, tmp, (size_t)n);
}

/* Appends `s` escaped for an attribute value in single quotes, or for
 * character data. */
static void dbuf_esc(struct dbuf *d, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *e = NULL;
        switch (*s) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '\'': e = "&apos;"; break;
        case '"': e = "&quot;"; break;
        default: break;
        }
        if (e) {
            dbuf_add(d, run, (size_t)(s - run));
            dbuf_str(d, e);
            run = s + 1;
        }
    }
    dbuf_add(d, run, (size_t)(s - run));
}

/* ` name='value'` with value escaped. */
static void dbuf_attr(struct dbuf *d, const char *name, const char *value)
{
    dbuf_str(d, " ");
    dbuf_str(d, name);
    dbuf_str(d, "='");
    dbuf_esc(d, value);
    dbuf_str(d, "'");
}

static void dbuf_attr_u(struct dbuf *d, const char *name, uint64_t v)
{
    dbuf_str(d, " ");
    dbuf_str(d, name);
    dbuf_str(d, "='");
    dbuf_u64(d, v);
    dbuf_str(d, "'");
}

/* Decimal digits only, at most `maxdig` of them, value <= max. */
static int parse_u64(const char *s, int maxdig, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    int n = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++, n++) {
        if (*s < '0' || *s > '9' || n >= maxdig)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_uint(const char *s, unsigned *out)
{
    uint64_t v;
    if (parse_u64(s, 9, 999999999, &v) < 0)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_rid(const char *s, uint64_t *out)
{
    uint64_t v;
    if (parse_u64(s, 16, RID_MAX, &v) < 0 || v == 0)
        return -1;
    *out = v;
    return 0;
}

static int is_true(const char *v)
{
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static char *dup_bounded(const char *s)
{
    size_t n = strnlen(s, STR_MAX);
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* 40 hex digits: copied lower-case into out[41]. */
static int key_norm(const char *k, char out[KEY_HEX + 1])
{
    if (!k || strlen(k) != KEY_HEX)
        return -1;
    for (int i = 0; i < KEY_HEX; i++) {
        char c = k[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -1;
        out[i] = c;
    }
    out[KEY_HEX] = '\0';
    return 0;
}

/* hex(SHA-1(k)) into out[41]; k is the key as text (XEP-0124 section 15.3). */
static int sha1_hex(const char *k, char out[KEY_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    if (!EVP_Digest(k, strlen(k), md, &n, EVP_sha1(), NULL) || n * 2 != KEY_HEX)
        return -1;
    for (unsigned int i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[KEY_HEX] = '\0';
    return 0;
}

/* A stream error condition we may write as an element name. */
static int cond_name_ok(const char *c)
{
    size_t n = 0;
    for (; c[n]; n++)
        if (!((c[n] >= 'a' && c[n] <= 'z') || c[n] == '-') || n >= 64)
            return 0;
    return n > 0;
}

/* What the client may ask for as Content-Type: printable ASCII. */
static int content_ok(const char *c)
{
    size_t n = 0;
    for (; c[n]; n++)
        if (c[n] < 0x20 || c[n] > 0x7e || n >= 128)
            return 0;
    return n > 0;
}

static const char *attr(xmpp_stanza_t *st, const char *name)
{
    return xmpp_stanza_get_attribute(st, name);
}

/* xmlin names attributes of the XML namespace "xml:NAME" and those of
 * urn:xmpp:xbosh (XEP-0206) "xmpp:NAME", whatever prefix the client used. */
static const char *attr_lang(xmpp_stanza_t *st)
{
    return attr(st, "xml:lang");
}

static const char *attr_xbosh(xmpp_stanza_t *st, const char *local)
{
    char name[32];
    snprintf(name, sizeof(name), "xmpp:%s", local);
    return attr(st, name);
}

/* ---- responding ---- */

static void respond(struct bosh *b, void *req, int status, const char *ctype, const char *text, size_t len)
{
    if (status != 200)
        b->st.errors_total++;
    b->ops.respond(b->ud, req, status, ctype, text, len);
}

static void respond_http_error(struct bosh *b, void *req, int status)
{
    const char *t;
    switch (status) {
    case 400: t = "bad-request\n"; break;
    case 403: t = "policy-violation\n"; break;
    case 404: t = "item-not-found\n"; break;
    case 413: t = "request body too large\n"; break;
    default: t = "service unavailable\n"; break;
    }
    respond(b, req, status, TEXT_PLAIN, t, strlen(t));
}

/* A terminal binding error on a request that belongs to no live session
 * (or for which nothing else is to be said). Legacy clients (no 'ver')
 * get the HTTP code that XEP-0124 section 17.1 maps the condition to. */
static void respond_terminate(struct bosh *b, void *req, const char *cond, int legacy, const char *ctype)
{
    if (legacy) {
        int code = 0;
        if (strcmp(cond, "bad-request") == 0)
            code = 400;
        else if (strcmp(cond, "policy-violation") == 0)
            code = 403;
        else if (strcmp(cond, "item-not-found") == 0)
            code = 404;
        if (code) {
            respond_http_error(b, req, code);
            return;
        }
    }
    char text[160];
    int n = snprintf(text, sizeof(text), "<body xmlns='%s' type='terminate' condition='%s'/>", BOSH_NS, cond);
    b->st.errors_total++;
    b->ops.respond(b->ud, req, 200, ctype ? ctype : BOSH_CONTENT_TYPE, text, (size_t)n);
}

static const char *session_ctype(const struct bosh_session *s)
{
    return s->content ? s->content : BOSH_CONTENT_TYPE;
}

/* ---- sessions: bookkeeping ---- */

static void mark_dirty(struct bosh_session *s)
{
    if (!s->dirty) {
        s->dirty = 1;
        DL_APPEND2(s->b->dirty, s, dprev, dnext);
    }
}

static void cache_trim(struct bosh_session *s)
{
    uint64_t keep = s->requests ? s->requests : 1;
    if (s->answered_hi + 1 > keep && s->answered_hi + 1 - keep > s->cache_lo)
        s->cache_lo = s->answered_hi + 1 - keep;
    while (s->cache && s->cache->rid < s->cache_lo) {
        struct bosh_cached *c = s->cache;
        s->cache = c->next;
        free(c);
    }
}

static void cache_put(struct bosh_session *s, uint64_t rid, const char *text, size_t len)
{
    if (len == sizeof(PLAIN_BODY) - 1 && memcmp(text, PLAIN_BODY, len) == 0)
        return; /* implied: an answered rid without a node got the plain body */
    struct bosh_cached *c = malloc(sizeof(*c) + len + 1);
    if (!c) {
        /* Forget it and everything before it: a retransmission then ends
         * the session (item-not-found) instead of getting the wrong body. */
        s->cache_lo = rid + 1;
        cache_trim(s);
        return;
    }
    c->next = NULL;
    c->rid = rid;
    c->len = len;
    memcpy(c->text, text, len);
    c->text[len] = '\0';
    struct bosh_cached **pp = &s->cache;
    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
}

static void req_unhash(struct bosh *b, struct bosh_req *rq)
{
    if (rq->req) {
        HASH_DEL(b->reqs, rq);
        rq->req = NULL;
    }
}

static void req_free(struct bosh *b, struct bosh_req *rq)
{
    req_unhash(b, rq);
    if (rq->body)
        xmpp_stanza_release(rq->body);
    free(rq);
}

/* Frees a session. Live requests still on it are answered with a
 * terminate (condition `cond`) when `cond` is set, else dropped. The
 * session layer must have been told gone() already (or never attached). */
static void session_free(struct bosh_session *s, const char *cond)
{
    struct bosh *b = s->b;
    HASH_DEL(b->sessions, s);
    if (s->dirty)
        DL_DELETE2(b->dirty, s, dprev, dnext);
    while (s->reqs) {
        struct bosh_req *rq = s->reqs;
        s->reqs = rq->next;
        void *req = rq->req;
        req_free(b, rq);
        if (req && cond)
            respond_terminate(b, req, cond, 0, session_ctype(s));
    }
    while (s->cache) {
        struct bosh_cached *c = s->cache;
        s->cache = c->next;
        free(c);
    }
    free(s->pending);
    free(s->key);
    free(s->content);
    free(s->from);
    free(s->authid);
    free(s);
}

/* Tells the session layer, once. Callers are never inside a call from it. */
static void session_gone(struct bosh_session *s)
{
    if (!s->gone_done) {
        void *h = s->handle;
        s->gone_done = 1;
        s->handle = NULL;
        if (h)
            s->b->in.gone(h);
    }
}

/* ---- answering held requests ---- */

enum answer_kind {
    ANSWER_EMPTY,     /* no payloads */
    ANSWER_DATA,      /* pending output */
    ANSWER_DATA_TERM, /* pending output, then type='terminate' */
    ANSWER_TERM,      /* type='terminate', no payloads */
};

static int has_stream_prefix(const char *p, size_t n)
{
    static const char pat[] = "<stream:";
    if (!p)
        return 0;
    for (size_t i = 0; i + sizeof(pat) - 1 <= n; i++)
        if (p[i] == '<' && memcmp(p + i, pat, sizeof(pat) - 1) == 0)
            return 1;
    return 0;
}

/* The <body/> answering `rid`. */
static void build_body(struct bosh_session *s, uint64_t rid, enum answer_kind kind, struct dbuf *d)
{
    struct bosh *b = s->b;
    int creation = rid == s->creation_rid;
    int payload = (kind == ANSWER_DATA || kind == ANSWER_DATA_TERM) && s->pending_len > 0;
    int terminate = kind == ANSWER_DATA_TERM || kind == ANSWER_TERM;

    dbuf_str(d, "<body xmlns='" BOSH_NS "'");
    if (creation) {
        dbuf_attr(d, "sid", s->sid);
        dbuf_attr_u(d, "wait", s->wait);
        dbuf_attr_u(d, "requests", s->requests);
        dbuf_attr_u(d, "hold", s->hold);
        dbuf_attr_u(d, "inactivity", s->inactivity);
        dbuf_attr_u(d, "polling", s->polling);
        dbuf_attr_u(d, "maxpause", b->o.max_pause);
        if (s->ver_major) {
            char ver[16];
            snprintf(ver, sizeof(ver), "%u.%u", s->ver_major, s->ver_minor);
            dbuf_attr(d, "ver", ver);
        }
        if (s->acks)
            dbuf_attr_u(d, "ack", rid);
        dbuf_attr(d, "from", s->from ? s->from : b->domain);
        if (s->authid)
            dbuf_attr(d, "authid", s->authid);
        /* 'secure' is about the hop from the connection manager to the
         * XMPP server (XEP-0124 section 7.2). Here that hop is a function
         * call inside one process: nothing can read or alter it. */
        dbuf_str(d, " secure='true' xmpp:version='1.0' xmlns:xmpp='" XBOSH_NS "' xmlns:stream='" STREAMS_NS "'");
    } else {
        /* XEP-0124 section 9.1: ack is the highest rid received with all
         * lower ones received, left out when it is the rid answered. */
        if (s->acks && s->rid_processed != rid)
            dbuf_attr_u(d, "ack", s->rid_processed);
        if ((payload && has_stream_prefix(s->pending, s->pending_len)))
            dbuf_str(d, " xmlns:stream='" STREAMS_NS "'");
    }
    if (terminate) {
        dbuf_str(d, " type='terminate'");
        if (s->term_cond)
            dbuf_attr(d, "condition", s->term_cond);
    }
    if (payload) {
        dbuf_str(d, ">");
        dbuf_add(d, s->pending, s->pending_len);
        dbuf_str(d, "</body>");
    } else {
        dbuf_str(d, "/>");
    }
}

/* Answers the oldest held request (s->reqs must be held). Output goes on
 * it only when it has a connection and `allow_payload`. */
static void answer_front(struct bosh_session *s, int allow_payload)
{
    struct bosh *b = s->b;
    struct bosh_req *rq = s->reqs;
    enum answer_kind kind;

    if (s->closing) {
        if (s->term_delivered)
            kind = ANSWER_TERM;
        else if (rq->req)
            kind = ANSWER_DATA_TERM;
        else
            kind = ANSWER_EMPTY; /* the terminate waits for a live request */
    } else if (rq->req && allow_payload && s->pending_len) {
        kind = ANSWER_DATA;
    } else {
        kind = ANSWER_EMPTY;
    }

    struct dbuf d = {.max = b->o.max_pending + RESPONSE_SLACK};
    build_body(s, rq->rid, kind, &d);

    /* State first, respond last: the glue may do anything in respond. */
    s->reqs = rq->next;
    s->n_held--;
    s->answered_hi = rq->rid;
    s->last_answer_ms = b->now_ms;
    void *req = rq->req;
    req_unhash(b, rq);
    uint64_t rid = rq->rid;
    free(rq);

    if (kind == ANSWER_DATA || kind == ANSWER_DATA_TERM) {
        if (s->pending_len)
            s->last_payload_rid = rid;
        free(s->pending);
        s->pending = NULL;
        s->pending_len = s->pending_cap = 0;
    }
    if (kind == ANSWER_DATA_TERM) {
        s->term_delivered = 1;
        mark_dirty(s); /* to be freed at the next flush */
    }
    if (rid == s->creation_rid) {
        s->creation_rid = 0;
        free(s->from);
        free(s->authid);
        s->from = s->authid = NULL;
    }
    if (d.oom) {
        /* Cannot even say what happened: end the session. */
        free(d.p);
        if (!s->closing) {
            s->closing = 1;
            s->term_cond = "internal-server-error";
        }
        s->term_delivered = 1;
        mark_dirty(s);
        if (req)
            respond_http_error(b, req, 503);
        return;
    }
    cache_put(s, rid, d.p, d.len);
    cache_trim(s);
    if (req)
        respond(b, req, 200, session_ctype(s), d.p, d.len);
    free(d.p);
}

static struct bosh_req *first_live_held(struct bosh_session *s)
{
    for (struct bosh_req *rq = s->reqs; rq && rq->rid <= s->rid_processed; rq = rq->next)
        if (rq->req)
            return rq;
    return NULL;
}

/* Pending output onto the oldest held request with a connection (orphans
 * before it are answered empty, to keep rid order). */
static void deliver_pending(struct bosh_session *s)
{
    struct bosh_req *live = first_live_held(s);
    if (!live || !s->pending_len)
        return;
    while (s->reqs != live)
        answer_front(s, 0);
    answer_front(s, 1);
}

/* A terminated session: the terminate goes on the oldest live held
 * request (with the output before it); every later request, held or
 * early, gets a plain terminate. Orphans before it are answered empty. */
static void deliver_terminate(struct bosh_session *s)
{
    struct bosh *b = s->b;
    if (!s->term_delivered) {
        struct bosh_req *live = first_live_held(s);
        if (!live)
            return;
        while (s->reqs != live)
            answer_front(s, 0);
        answer_front(s, 1);
    }
    while (s->reqs && s->reqs->rid <= s->rid_processed)
        answer_front(s, 0);
    /* Early requests will never be processed. */
    while (s->reqs) {
        struct bosh_req *rq = s->reqs;
        s->reqs = rq->next;
        s->n_early--;
        void *req = rq->req;
        req_free(b, rq);
        if (req)
            respond_terminate(b, req, s->term_cond ? s->term_cond : "item-not-found", 0, session_ctype(s));
    }
}

/* Ends the session from the BOSH side with a terminal binding condition.
 * `req` (not on the session's list, may be NULL) is the request that
 * caused it and is answered last. */
static void session_terminate(struct bosh_session *s, const char *cond, void *req)
{
    struct bosh *b = s->b;
    if (!s->closing) {
        s->closing = 1;
        s->term_cond = cond;
    }
    deliver_terminate(s);
    if (req) {
        respond_terminate(b, req, cond, !s->ver_major, session_ctype(s));
        s->term_delivered = 1;
    }
    mark_dirty(s);
}

/* At most `hold` requests wait; the oldest ones are answered. */
static void enforce_hold(struct bosh_session *s)
{
    while (s->n_held > s->hold)
        answer_front(s, 1);
}

/* ---- stream_out, called by the session layer ---- */

static void out_open(void *t, const char *from, const char *id)
{
    struct bosh_session *s = t;
    if (!s->creation_rid || s->closing)
        return; /* a restart: nothing visible in BOSH */
    free(s->from);
    free(s->authid);
    s->from = from ? dup_bounded(from) : NULL;
    s->authid = id ? dup_bounded(id) : NULL;
}

static int pending_add(struct bosh_session *s, const char *xml, size_t len, int force)
{
    size_t max = s->b->o.max_pending;
    if (!force && len > max - (s->pending_len < max ? s->pending_len : max))
        return -1;
    if (s->pending_len + len + 1 > s->pending_cap) {
        size_t cap = s->pending_cap ? s->pending_cap : 512;
        while (cap < s->pending_len + len + 1)
            cap *= 2;
        char *p = realloc(s->pending, cap);
        if (!p)
            return -1;
        s->pending = p;
        s->pending_cap = cap;
    }
    memcpy(s->pending + s->pending_len, xml, len);
    s->pending_len += len;
    s->pending[s->pending_len] = '\0';
    return 0;
}

static int out_send(void *t, const char *xml, size_t len)
{
    struct bosh_session *s = t;
    if (s->closing || pending_add(s, xml, len, 0) < 0)
        return -1;
    mark_dirty(s);
    return 0;
}

static void out_close(void *t, const char *cond, const char *text)
{
    struct bosh_session *s = t;
    if (s->closing)
        return;
    s->closing = 1;
    s->term_cond = NULL;
    if (cond) {
        struct dbuf d = {.max = 8192};
        dbuf_str(&d, "<stream:error xmlns:stream='" STREAMS_NS "'><");
        dbuf_str(&d, cond_name_ok(cond) ? cond : "undefined-condition");
        dbuf_str(&d, " xmlns='" XMPP_STREAMS_NS "'/>");
        if (text && *text) {
            /* at most 1 kB of it, cut at a character boundary */
            char cut[1025];
            size_t n = strnlen(text, sizeof(cut) - 1);
            while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
                n--;
            memcpy(cut, text, n);
            cut[n] = '\0';
            dbuf_str(&d, "<text xmlns='" XMPP_STREAMS_NS "'>");
            dbuf_esc(&d, cut);
            dbuf_str(&d, "</text>");
        }
        dbuf_str(&d, "</stream:error>");
        /* Past max_pending if need be: this is the last thing said. */
        if (!d.oom)
            pending_add(s, d.p, d.len, 1);
        free(d.p);
        s->term_cond = "remote-stream-error";
    }
    mark_dirty(s);
}

static const struct stream_out bosh_out = {
    .open = out_open,
    .send = out_send,
    .close = out_close,
};

/* ---- processing a request's body, in rid order ---- */

/* 0 when the key sequence holds (XEP-0124 section 15), -1 when not. */
static int key_check(struct bosh_session *s, xmpp_stanza_t *body)
{
    char k[KEY_HEX + 1], h[KEY_HEX + 1], nk[KEY_HEX + 1];
    const char *newkey = attr(body, "newkey");
    if (s->key) {
        if (key_norm(attr(body, "key"), k) < 0 || sha1_hex(k, h) < 0 || strcmp(h, s->key) != 0)
            return -1;
        if (newkey) {
            if (key_norm(newkey, nk) < 0)
                return -1;
            memcpy(s->key, nk, sizeof(nk));
        } else {
            memcpy(s->key, k, sizeof(k));
        }
    } else if (newkey) {
        if (key_norm(newkey, nk) < 0 || !(s->key = malloc(KEY_HEX + 1)))
            return -1;
        memcpy(s->key, nk, sizeof(nk));
    }
    return 0;
}

/* Hands the body's children to the session layer, in order; stops when
 * the session closed (from inside element). */
static void deliver_children(struct bosh_session *s, xmpp_stanza_t *body)
{
    for (xmpp_stanza_t *c = xmpp_stanza_get_children(body); c && !s->closing; c = xmpp_stanza_get_next(c)) {
        if (!xmpp_stanza_is_tag(c))
            continue; /* whitespace; anything else was refused on arrival */
        /* XEP-0206 section 2: payloads should carry their namespace; a
         * child without one is jabber:client (nothing is inherited from
         * the httpbind <body/>). */
        const char *ns = xmpp_stanza_get_ns(c);
        if (!ns || !*ns)
            xmpp_stanza_set_ns(c, "jabber:client");
        s->b->in.element(s->handle, c);
    }
}

/* Processes the early request at the front of the queue (its rid is
 * rid_processed + 1); it becomes held. */
static void process(struct bosh_session *s, struct bosh_req *rq)
{
    struct bosh *b = s->b;
    xmpp_stanza_t *body = rq->body;
    rq->body = NULL;
    s->rid_processed = rq->rid;
    s->n_early--;
    s->n_held++;
    rq->since_ms = b->now_ms;

    if (key_check(s, body) < 0) {
        /* MUST NOT process it: the request is answered with the terminate. */
        xmpp_stanza_release(body);
        session_terminate(s, "item-not-found", NULL);
        return;
    }

    /* Section 9.2: in a session with acknowledgements, 'ack' is the
     * highest rid whose response (and every earlier one) the client got;
     * no 'ack' means it got them all. Those need not be kept. */
    if (s->acks) {
        uint64_t ack = s->answered_hi;
        const char *a = attr(body, "ack");
        if ((!a || parse_rid(a, &ack) == 0) && ack + 1 > s->cache_lo) {
            s->cache_lo = ack < s->answered_hi ? ack + 1 : s->answered_hi + 1;
            cache_trim(s);
        }
    }

    unsigned pause = 0;
    if (attr(body, "pause"))
        parse_uint(attr(body, "pause"), &pause); /* checked on arrival */
    int terminate = attr(body, "type") && strcmp(attr(body, "type"), "terminate") == 0;
    int restart = is_true(attr_xbosh(body, "restart"));

    deliver_children(s, body);
    if (restart && !s->closing) {
        const char *to = attr(body, "to");
        const char *ver = attr_xbosh(body, "version");
        b->in.open(s->handle, to ? to : b->domain, attr_lang(body), ver ? ver : (s->xmpp_v1 ? "1.0" : NULL));
    }
    if (terminate && !s->closing) {
        b->in.closed(s->handle);
        if (!s->closing)
            out_close(s, NULL, NULL); /* the session layer should have */
    }
    xmpp_stanza_release(body);

    if (s->closing) {
        mark_dirty(s);
        return;
    }
    if (pause && pause <= b->o.max_pause) {
        /* XEP-0124 section 10: answer everything now, the pause request
         * itself without payloads; inactivity is `pause` until the next
         * request. */
        s->cur_inactivity = pause;
        while (s->reqs != rq)
            answer_front(s, 1);
        answer_front(s, 0);
        if (s->pending_len)
            mark_dirty(s);
        return;
    }
    enforce_hold(s);
    if (s->pending_len)
        mark_dirty(s);
}

/* Processes every early request whose turn has come. */
static void process_ready(struct bosh_session *s)
{
    for (;;) {
        struct bosh_req *rq = s->reqs;
        while (rq && rq->rid <= s->rid_processed)
            rq = rq->next;
        if (!rq || rq->rid != s->rid_processed + 1 || s->closing)
            return;
        process(s, rq);
    }
}

/* ---- arrival of a request ---- */

/* Checks what can be checked of a body before its turn: no character
 * data beside whitespace, a numeric pause. 0 or -1. */
static int body_valid(xmpp_stanza_t *body)
{
    unsigned pause;
    if (attr(body, "pause") && parse_uint(attr(body, "pause"), &pause) < 0)
        return -1;
    for (xmpp_stanza_t *c = xmpp_stanza_get_children(body); c; c = xmpp_stanza_get_next(c)) {
        if (xmpp_stanza_is_tag(c))
            continue;
        const char *t = xmpp_stanza_get_text_ptr(c);
        for (; t && *t; t++)
            if (*t != ' ' && *t != '\t' && *t != '\r' && *t != '\n')
                return -1;
    }
    return 0;
}

static int body_is_pause_or_terminate(xmpp_stanza_t *body)
{
    const char *type = attr(body, "type");
    return attr(body, "pause") != NULL || (type && strcmp(type, "terminate") == 0);
}

static int body_has_elements(xmpp_stanza_t *body)
{
    for (xmpp_stanza_t *c = xmpp_stanza_get_children(body); c; c = xmpp_stanza_get_next(c))
        if (xmpp_stanza_is_tag(c))
            return 1;
    return 0;
}

/* The client sent a rid again. */
static void repeat_request(struct bosh_session *s, void *req, uint64_t rid)
{
    struct bosh *b = s->b;
    if (rid > s->answered_hi) {
        /* Still held: the client gave up on the old connection. The new
         * one takes its place; the old one (if the glue still has it) is
         * released with an empty body, so nothing is said twice. */
        struct bosh_req *rq = s->reqs;
        while (rq && rq->rid != rid)
            rq = rq->next;
        if (!rq) {
            session_terminate(s, "item-not-found", req);
            return;
        }
        void *old = rq->req;
        req_unhash(b, rq);
        rq->req = req;
        HASH_ADD_PTR(b->reqs, req, rq);
        b->st.retransmits_total++;
        if (s->pending_len || s->closing)
            mark_dirty(s);
        if (old)
            b->ops.respond(b->ud, old, 200, session_ctype(s), PLAIN_BODY, sizeof(PLAIN_BODY) - 1);
        return;
    }
    if (rid < s->cache_lo) {
        session_terminate(s, "item-not-found", req);
        return;
    }
    b->st.retransmits_total++;
    for (struct bosh_cached *c = s->cache; c; c = c->next) {
        if (c->rid == rid) {
            b->ops.respond(b->ud, req, 200, session_ctype(s), c->text, c->len);
            return;
        }
    }
    b->ops.respond(b->ud, req, 200, session_ctype(s), PLAIN_BODY, sizeof(PLAIN_BODY) - 1);
}

/* A request for an existing session; takes ownership of `body`. */
static void session_request(struct bosh_session *s, void *req, xmpp_stanza_t *body)
{
    struct bosh *b = s->b;
    uint64_t rid;

    if (parse_rid(attr(body, "rid"), &rid) < 0 || body_valid(body) < 0) {
        xmpp_stanza_release(body);
        if (s->closing)
            respond_terminate(b, req, "bad-request", !s->ver_major, session_ctype(s));
        else
            session_terminate(s, "bad-request", req);
        return;
    }

    if (rid <= s->rid_processed) {
        xmpp_stanza_release(body);
        repeat_request(s, req, rid);
        return;
    }

    /* An early request sent again. */
    for (struct bosh_req *rq = s->reqs; rq; rq = rq->next) {
        if (rq->rid == rid) {
            xmpp_stanza_release(body);
            void *old = rq->req;
            req_unhash(b, rq);
            rq->req = req;
            HASH_ADD_PTR(b->reqs, req, rq);
            b->st.retransmits_total++;
            if (old)
                b->ops.respond(b->ud, old, 200, session_ctype(s), PLAIN_BODY, sizeof(PLAIN_BODY) - 1);
            return;
        }
    }

    int pause_or_term = body_is_pause_or_terminate(body);
    int restart = is_true(attr_xbosh(body, "restart"));
    int empty = !pause_or_term && !restart && !body_has_elements(body);
    /* XEP-0124 section 11: one request more is allowed when it pauses or
     * terminates the session, whichever order the requests arrive in. */
    unsigned extra = pause_or_term ? 1 : 0;
    for (struct bosh_req *e = s->reqs; e && !extra; e = e->next)
        if (e->body && body_is_pause_or_terminate(e->body))
            extra = 1;

    if (rid > s->rid_processed + s->requests + extra) {
        xmpp_stanza_release(body);
        session_terminate(s, "item-not-found", req);
        return;
    }
    if (s->closing) {
        /* The terminate has not reached the client yet: this request
         * carries it (older orphans are answered empty first). */
        xmpp_stanza_release(body);
        if (!s->term_delivered) {
            while (s->reqs && s->reqs->rid <= s->rid_processed)
                answer_front(s, 0);
            struct dbuf d = {.max = b->o.max_pending + RESPONSE_SLACK};
            build_body(s, rid, ANSWER_DATA_TERM, &d);
            s->term_delivered = 1;
            free(s->pending);
            s->pending = NULL;
            s->pending_len = s->pending_cap = 0;
            if (d.oom)
                respond_http_error(b, req, 503);
            else
                respond(b, req, 200, session_ctype(s), d.p, d.len);
            free(d.p);
        } else {
            respond_terminate(b, req, s->term_cond ? s->term_cond : "item-not-found", 0, session_ctype(s));
        }
        mark_dirty(s);
        return;
    }

    /* Overactivity (XEP-0124 section 11) and polling (section 12). */
    unsigned outstanding = s->n_held + s->n_early + 1;
    uint64_t since_last = b->now_ms - s->last_arrival_ms;
    uint64_t polling_ms = (uint64_t)s->polling * 1000;
    int violation = outstanding > s->requests + extra;
    if (s->hold > 0 && outstanding == s->requests && empty && since_last < polling_ms)
        violation = 1;
    if (s->hold == 0 && empty && s->last_empty_rid && s->last_empty_rid + 1 == rid && since_last < polling_ms &&
        s->last_payload_rid != s->last_empty_rid)
        violation = 1;
    if (violation) {
        xmpp_stanza_release(body);
        session_terminate(s, "policy-violation", req);
        return;
    }
    s->last_arrival_ms = b->now_ms;
    s->last_empty_rid = empty ? rid : 0;
    s->cur_inactivity = s->inactivity; /* a pause ends with the next request */

    struct bosh_req *rq = calloc(1, sizeof(*rq));
    if (!rq) {
        xmpp_stanza_release(body);
        respond_http_error(b, req, 503);
        return;
    }
    rq->req = req;
    rq->s = s;
    rq->rid = rid;
    rq->since_ms = b->now_ms;
    rq->body = body;
    HASH_ADD_PTR(b->reqs, req, rq);
    struct bosh_req **pp = &s->reqs;
    while (*pp && (*pp)->rid < rid)
        pp = &(*pp)->next;
    rq->next = *pp;
    *pp = rq;
    s->n_early++;
    process_ready(s);
}

/* Session creation (XEP-0124 section 7, XEP-0206 section 3). Takes
 * ownership of `body`. */
static void create_session(struct bosh *b, void *req, xmpp_stanza_t *body, const struct stream_peer *peer)
{
    const char *ver = attr(body, "ver");
    int legacy = ver == NULL;
    uint64_t rid;
    unsigned wait = b->o.wait_max, hold = 1;
    const char *content = attr(body, "content");
    const char *to = attr(body, "to");
    struct bosh_session *s = NULL;

    if (parse_rid(attr(body, "rid"), &rid) < 0 || (attr(body, "wait") && parse_uint(attr(body, "wait"), &wait) < 0) ||
        (attr(body, "hold") && parse_uint(attr(body, "hold"), &hold) < 0) || (content && !content_ok(content)) ||
        body_valid(body) < 0) {
        respond_terminate(b, req, "bad-request", legacy, NULL);
        goto out;
    }
    if (!to || !*to) {
        respond_terminate(b, req, "improper-addressing", 0, NULL);
        goto out;
    }
    if (strcasecmp(to, b->domain) != 0) {
        respond_terminate(b, req, "host-unknown", 0, NULL);
        goto out;
    }

    s = calloc(1, sizeof(*s));
    if (!s) {
        respond_http_error(b, req, 503);
        goto out;
    }
    s->b = b;
    unsigned char raw[SID_BYTES];
    struct bosh_session *dup = NULL;
    do {
        if (RAND_bytes(raw, sizeof(raw)) != 1) {
            free(s);
            s = NULL;
            respond_terminate(b, req, "internal-server-error", 0, NULL);
            goto out;
        }
        for (size_t i = 0; i < sizeof(raw); i++)
            snprintf(s->sid + 2 * i, 3, "%02x", raw[i]);
        HASH_FIND_STR(b->sessions, s->sid, dup);
    } while (dup);

    if (ver) {
        /* "major.minor", each a separate integer (section 7.1) */
        uint64_t ma = 0, mi = 0;
        const char *dot = strchr(ver, '.');
        char major[12];
        if (!dot || (size_t)(dot - ver) >= sizeof(major)) {
            ma = 0;
        } else {
            memcpy(major, ver, (size_t)(dot - ver));
            major[dot - ver] = '\0';
            if (parse_u64(major, 5, 65535, &ma) < 0 || parse_u64(dot + 1, 5, 65535, &mi) < 0)
                ma = 0;
        }
        if (ma == 0) {
            ma = VER_MAJOR;
            mi = VER_MINOR;
        }
        if (ma > VER_MAJOR || (ma == VER_MAJOR && mi > VER_MINOR)) {
            ma = VER_MAJOR;
            mi = VER_MINOR;
        }
        s->ver_major = (unsigned short)ma;
        s->ver_minor = (unsigned short)mi;
    }
    s->wait = wait < b->o.wait_max ? wait : b->o.wait_max;
    s->hold = hold < b->o.hold_max ? hold : b->o.hold_max;
    if (s->wait == 0)
        s->hold = 0; /* wait='0' asks for polling too (section 7.1) */
    s->requests = s->hold + 1 < b->o.requests_max ? s->hold + 1 : b->o.requests_max;
    if (s->requests == 0)
        s->requests = 1;
    s->polling = b->o.polling;
    /* Section 12: a polling session gets a longer inactivity, by more
     * than the polling interval. */
    s->inactivity = b->o.inactivity + (s->hold == 0 ? 2 * b->o.polling : 0);
    s->cur_inactivity = s->inactivity;
    s->acks = is_true(attr(body, "ack"));
    s->xmpp_v1 = attr_xbosh(body, "version") != NULL;
    s->rid_processed = rid - 1;
    s->answered_hi = rid - 1;
    s->cache_lo = rid;
    s->creation_rid = rid;
    s->last_answer_ms = b->now_ms;
    s->last_arrival_ms = b->now_ms;
    if (content && !(s->content = dup_bounded(content))) {
        free(s);
        respond_http_error(b, req, 503);
        goto out;
    }
    if (key_check(s, body) < 0) {
        free(s->content);
        free(s->key);
        free(s);
        respond_terminate(b, req, "bad-request", legacy, NULL);
        goto out;
    }

    const char *why = NULL;
    void *h = b->in.attach(b->in.ud, &bosh_out, s, peer, &why);
    if (!h) {
        free(s->content);
        free(s->key);
        free(s);
        respond_terminate(b, req, "policy-violation", 0, NULL);
        goto out;
    }
    s->handle = h;
    HASH_ADD_STR(b->sessions, sid, s);
    b->st.created_total++;

    struct bosh_req *rq = calloc(1, sizeof(*rq));
    if (!rq) {
        session_terminate(s, "internal-server-error", req);
        goto out;
    }
    rq->req = req;
    rq->s = s;
    rq->rid = rid;
    rq->since_ms = b->now_ms;
    HASH_ADD_PTR(b->reqs, req, rq);
    s->reqs = rq;
    s->n_held = 1;
    s->rid_processed = rid;

    b->in.open(h, to, attr_lang(body), attr_xbosh(body, "version"));
    deliver_children(s, body);
    if (s->closing) {
        mark_dirty(s);
        goto out;
    }
    enforce_hold(s);
    if (s->pending_len)
        mark_dirty(s);
out:
    xmpp_stanza_release(body);
}

/* ---- a body that does not parse ---- */

/* Finds attribute `name` in the start tag at the head of `p` (a tolerant
 * scan for a body the XML parser refused). 0 and the value in out, or -1. */
static int raw_attr(const char *p, size_t len, const char *name, char *out, size_t outlen)
{
    const char *end = p + len;
    while (p < end && *p != '<')
        p++;
    if (p >= end)
        return -1;
    p++;
    while (p < end && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n' && *p != '>' && *p != '/')
        p++;
    size_t nlen = strlen(name);
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        if (p >= end || *p == '>' || *p == '/')
            return -1;
        const char *an = p;
        while (p < end && *p != '=' && *p != ' ' && *p != '>' && *p != '\t' && *p != '\r' && *p != '\n')
            p++;
        size_t alen = (size_t)(p - an);
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        if (p >= end || *p != '=')
            return -1;
        p++;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        if (p >= end || (*p != '\'' && *p != '"'))
            return -1;
        char q = *p++;
        const char *v = p;
        while (p < end && *p != q)
            p++;
        if (p >= end)
            return -1;
        size_t vlen = (size_t)(p - v);
        p++;
        if (alen == nlen && memcmp(an, name, nlen) == 0) {
            if (vlen + 1 > outlen)
                return -1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return 0;
        }
    }
}

/* The body did not parse. When it plainly names a live session and is
 * that session's next request (with the right key, if keys are used),
 * the session layer hears of the stream error (in->error) and closes the
 * stream; otherwise HTTP 400. */
static void unparsable_request(struct bosh *b, void *req, const char *data, size_t len, const char *cond,
                               const char *why)
{
    char sid[sizeof(((struct bosh_session *)0)->sid)], ridtxt[24], key[KEY_HEX + 8];
    struct bosh_session *s = NULL;
    uint64_t rid;
    if (raw_attr(data, len, "sid", sid, sizeof(sid)) == 0)
        HASH_FIND_STR(b->sessions, sid, s);
    if (!s || s->closing || !s->handle || raw_attr(data, len, "rid", ridtxt, sizeof(ridtxt)) < 0 ||
        parse_rid(ridtxt, &rid) < 0 || rid != s->rid_processed + 1) {
        respond_http_error(b, req, 400);
        return;
    }
    if (s->key) {
        char k[KEY_HEX + 1], h[KEY_HEX + 1];
        if (raw_attr(data, len, "key", key, sizeof(key)) < 0 || key_norm(key, k) < 0 || sha1_hex(k, h) < 0 ||
            strcmp(h, s->key) != 0) {
            respond_http_error(b, req, 400);
            return;
        }
    }
    struct bosh_req *rq = calloc(1, sizeof(*rq));
    if (!rq) {
        respond_http_error(b, req, 503);
        return;
    }
    /* It takes its place in rid order, as a held request. */
    rq->req = req;
    rq->s = s;
    rq->rid = rid;
    rq->since_ms = b->now_ms;
    HASH_ADD_PTR(b->reqs, req, rq);
    struct bosh_req **pp = &s->reqs;
    while (*pp && (*pp)->rid < rid)
        pp = &(*pp)->next;
    rq->next = *pp;
    *pp = rq;
    s->rid_processed = rid;
    s->n_held++;
    s->last_arrival_ms = b->now_ms;
    b->in.error(s->handle, cond, why);
    if (!s->closing)
        out_close(s, cond, why);
    mark_dirty(s);
}

/* ---- public ---- */

void bosh_opts_defaults(struct bosh_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->wait_max = 60;
    o->hold_max = 1;
    o->requests_max = 2;
    o->inactivity = 60;
    o->polling = 2;
    o->max_pause = 120;
    o->max_body = 65536 + 4096;
    o->max_pending = 1024 * 1024;
}

struct bosh *bosh_new(xmpp_ctx_t *ctx, const struct bosh_opts *o, const struct stream_in *in,
                      const struct bosh_http_ops *ops, void *ud)
{
    if (!ctx || !o || !in || !ops || !ops->respond || !o->domain || !*o->domain)
        return NULL;
    struct bosh *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    struct bosh_opts d;
    bosh_opts_defaults(&d);
    b->ctx = ctx;
    b->o = *o;
    if (!b->o.wait_max)
        b->o.wait_max = d.wait_max;
    if (!b->o.hold_max)
        b->o.hold_max = d.hold_max;
    if (!b->o.requests_max)
        b->o.requests_max = d.requests_max;
    if (!b->o.inactivity)
        b->o.inactivity = d.inactivity;
    if (!b->o.polling)
        b->o.polling = d.polling;
    if (!b->o.max_pause)
        b->o.max_pause = d.max_pause;
    if (!b->o.max_body)
        b->o.max_body = d.max_body;
    if (!b->o.max_pending)
        b->o.max_pending = d.max_pending;
    b->in = *in;
    b->ops = *ops;
    b->ud = ud;
    b->domain = strdup(o->domain);
    b->o.domain = b->domain;
    struct xmlin_limits lim = {
        .max_bytes = b->o.max_body,
        .max_depth = 32,
        .max_attrs = ATTRS_MAX,
        .max_children = 4096,
    };
    b->parser = b->domain ? xmlin_new(ctx, &lim) : NULL;
    if (!b->parser) {
        free(b->domain);
        free(b);
        return NULL;
    }
    return b;
}

void bosh_free(struct bosh *b)
{
    if (!b)
        return;
    struct bosh_session *s, *tmp;
    HASH_ITER(hh, b->sessions, s, tmp) {
        session_gone(s);
        session_free(s, NULL);
    }
    xmlin_free(b->parser);
    free(b->domain);
    free(b);
}

void bosh_request(struct bosh *b, void *req, const char *data, size_t len, const struct stream_peer *peer,
                  uint64_t now_ms)
{
    struct bosh_req *known = NULL;
    if (now_ms > b->now_ms)
        b->now_ms = now_ms;
    HASH_FIND_PTR(b->reqs, &req, known);
    if (known)
        return; /* the glue reused a handle it still owes an answer on */
    if (len > b->o.max_body) {
        respond_http_error(b, req, 413);
        return;
    }

    char err[128] = "";
    xmpp_stanza_t *body = NULL;
    int rc = xmlin_parse(b->parser, data, len, &body, err, sizeof(err));
    if (rc < 0 || !body) {
        if (body)
            xmpp_stanza_release(body);
        if (b->shutting_down) {
            respond_http_error(b, req, 400);
            return;
        }
        const char *cond = rc < 0 ? xmlin_condition(rc) : NULL;
        unparsable_request(b, req, data, len, cond ? cond : "not-well-formed", err[0] ? err : NULL);
        return;
    }

    const char *sidv = attr(body, "sid");
    struct bosh_session *s = NULL;
    if (sidv && strlen(sidv) < sizeof(s->sid))
        HASH_FIND_STR(b->sessions, sidv, s);

    const char *name = xmpp_stanza_get_name(body);
    const char *ns = xmpp_stanza_get_ns(body);
    if (!name || strcmp(name, "body") != 0 || !ns || strcmp(ns, BOSH_NS) != 0) {
        /* Not a BOSH body. A live session that it names, at its turn,
         * ends with bad-request; anything else is an HTTP 400. */
        uint64_t rid;
        if (s && !s->closing && parse_rid(attr(body, "rid"), &rid) == 0 && rid > s->rid_processed &&
            rid <= s->rid_processed + s->requests)
            session_terminate(s, "bad-request", req);
        else
            respond_http_error(b, req, 400);
        xmpp_stanza_release(body);
        return;
    }

    if (b->shutting_down) {
        respond_terminate(b, req, "system-shutdown", 0, NULL);
        xmpp_stanza_release(body);
        return;
    }
    if (!sidv) {
        create_session(b, req, body, peer);
        return;
    }
    if (!s) {
        /* Unknown, expired or ended: section 14.3. */
        respond_terminate(b, req, "item-not-found", 0, NULL);
        xmpp_stanza_release(body);
        return;
    }
    session_request(s, req, body);
}

void bosh_request_gone(struct bosh *b, void *req)
{
    struct bosh_req *rq = NULL;
    HASH_FIND_PTR(b->reqs, &req, rq);
    if (!rq)
        return;
    /* It stays in its place as an orphan: its rid was processed (or will
     * be), and the client will send it again. */
    req_unhash(b, rq);
}

/* Sessions with output, and closed ones (gone, then freed once their
 * terminate went out). Sessions may be added while this runs: the session
 * layer's gone() may send to others. */
void bosh_flush(struct bosh *b)
{
    struct bosh_session *s;
    while ((s = b->dirty)) {
        DL_DELETE2(b->dirty, s, dprev, dnext);
        s->dirty = 0;
        if (s->closing) {
            deliver_terminate(s);
            session_gone(s);
            if (s->term_delivered)
                session_free(s, NULL);
        } else if (s->pending_len) {
            deliver_pending(s);
        }
    }
}

void bosh_tick(struct bosh *b, uint64_t now_ms)
{
    if (now_ms > b->now_ms)
        b->now_ms = now_ms;
    bosh_flush(b);
    struct bosh_session *s, *tmp;
    HASH_ITER(hh, b->sessions, s, tmp) {
        /* Wait expiry: held requests are in rid order and were processed
         * in that order, so the oldest expires first. */
        while (s->reqs && s->reqs->rid <= s->rid_processed &&
               b->now_ms - s->reqs->since_ms >= (uint64_t)s->wait * 1000)
            answer_front(s, 1);
        if (s->n_held == 0 && b->now_ms - s->last_answer_ms > (uint64_t)s->cur_inactivity * 1000) {
            /* Section 10: the client is gone. Its early requests (if any)
             * are told the session does not exist. */
            if (!s->closing)
                b->st.expired_total++;
            session_gone(s);
            session_free(s, "item-not-found");
        }
    }
    bosh_flush(b);
}

void bosh_shutdown(struct bosh *b)
{
    b->shutting_down = 1;
    struct bosh_session *s, *tmp;
    HASH_ITER(hh, b->sessions, s, tmp) {
        if (!s->closing) {
            s->closing = 1;
            s->term_cond = "system-shutdown";
        }
        deliver_terminate(s);
        session_gone(s);
    }
    /* gone() may have sent to sessions already told: nothing more goes
     * out. */
    HASH_ITER(hh, b->sessions, s, tmp)
        session_free(s, "system-shutdown");
}

void bosh_get_stats(const struct bosh *b, struct bosh_stats *out)
{
    *out = b->st;
    out->sessions = HASH_COUNT(b->sessions);
    out->held = HASH_COUNT(b->reqs);
}
