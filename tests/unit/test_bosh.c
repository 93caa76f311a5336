/* Unit tests for bosh/bosh.c, the BOSH connection manager: a fake session
 * layer (an echo server), a fake HTTP side recording every response, and
 * a virtual clock. Every 200 response is checked to be one well-formed
 * <body/> in the httpbind namespace. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <strophe.h>

#include "bosh.h"
#include "check.h"
#include "xmlin.h"

#define DOMAIN "webrtc.localhost"
#define MAXRESP 512

static xmpp_ctx_t *ctx;
static struct xmlin *checker;
static uint64_t now;

/* ---- the fake HTTP side ---- */

struct resp {
    uintptr_t req;
    int status;
    char ctype[64];
    char *body;
};

static struct resp resps[MAXRESP];
static int nresp;
static int double_answers; /* a request answered twice */
static int bad_bodies;     /* a 200 response that is not a <body/> */
static uintptr_t next_req = 1;
static int in_respond;

static void fake_respond(void *ud, void *req, int status, const char *ctype, const char *body, size_t len)
{
    (void)ud;
    in_respond++;
    for (int i = 0; i < nresp; i++)
        if (resps[i].req == (uintptr_t)req)
            double_answers++;
    if (nresp < MAXRESP) {
        struct resp *r = &resps[nresp++];
        r->req = (uintptr_t)req;
        r->status = status;
        snprintf(r->ctype, sizeof(r->ctype), "%s", ctype);
        r->body = malloc(len + 1);
        memcpy(r->body, body, len);
        r->body[len] = '\0';
        if (strlen(r->body) != len)
            bad_bodies++;
    }
    if (status == 200) {
        xmpp_stanza_t *st = NULL;
        char err[128];
        if (xmlin_parse(checker, body, len, &st, err, sizeof(err)) != 0 || !st ||
            strcmp(xmpp_stanza_get_name(st), "body") != 0 || strcmp(xmpp_stanza_get_ns(st), BOSH_NS) != 0) {
            fprintf(stderr, "not a BOSH body (%s): %.*s\n", err, (int)len, body);
            bad_bodies++;
        }
        if (st)
            xmpp_stanza_release(st);
    }
    in_respond--;
}

static void resps_reset(void)
{
    for (int i = 0; i < nresp; i++)
        free(resps[i].body);
    nresp = 0;
}

/* The response to request `req`, or NULL. */
static struct resp *resp_of(uintptr_t req)
{
    for (int i = 0; i < nresp; i++)
        if (resps[i].req == req)
            return &resps[i];
    return NULL;
}

/* The answer's status and type, -1 and NULL when there is none (a
 * missing answer fails the check instead of crashing the test). */
static int status_of(uintptr_t req)
{
    struct resp *r = resp_of(req);
    return r ? r->status : -1;
}

static const char *ctype_of(uintptr_t req)
{
    struct resp *r = resp_of(req);
    return r ? r->ctype : NULL;
}

static const char *body_of(uintptr_t req)
{
    struct resp *r = resp_of(req);
    return r ? r->body : NULL;
}

/* How many times `needle` occurs in all responses recorded. */
static int count_in_responses(const char *needle)
{
    int n = 0;
    for (int i = 0; i < nresp; i++)
        for (const char *p = resps[i].body; (p = strstr(p, needle)); p++)
            n++;
    return n;
}

/* ---- the fake session layer: an echo server ---- */

struct fake {
    const struct stream_out *out;
    void *t;
    int opens, elements, errors, closeds;
    char last_to[64], last_lang[16], last_version[8];
    char elems[16][256]; /* text of the first elements received */
    char last_error[64];
    int send_failed;
};

static struct fake *fakes[256];
static int nfakes;
static int gone_calls;
static int gone_reentrant; /* gone() while one of our callbacks runs */
static int depth;          /* our callbacks on the stack */
static int refuse_attach;
static int send_failures;  /* out->send() refused (over max_pending) */
static int silent_open;    /* open() answers nothing */
static const char *authid_text = "stream-1";

static void *fake_attach(void *ud, const struct stream_out *out, void *t, const struct stream_peer *peer,
                         const char **why)
{
    (void)ud;
    (void)peer;
    if (refuse_attach) {
        *why = "too many sessions";
        return NULL;
    }
    struct fake *f = calloc(1, sizeof(*f));
    f->out = out;
    f->t = t;
    fakes[nfakes++] = f;
    return f;
}

static void fake_open(void *s, const char *to, const char *lang, const char *version)
{
    struct fake *f = s;
    depth++;
    f->opens++;
    snprintf(f->last_to, sizeof(f->last_to), "%s", to ? to : "(null)");
    snprintf(f->last_lang, sizeof(f->last_lang), "%s", lang ? lang : "(null)");
    snprintf(f->last_version, sizeof(f->last_version), "%s", version ? version : "(null)");
    if (!silent_open) {
        f->out->open(f->t, DOMAIN, authid_text);
        char feat[200];
        int n = snprintf(feat, sizeof(feat),
                         "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><f%d xmlns='urn:x'/>"
                         "</stream:features>",
                         f->opens);
        f->out->send(f->t, feat, (size_t)n);
    }
    depth--;
}

static int fake_push(struct fake *f, const char *xml)
{
    int rc = f->out->send(f->t, xml, strlen(xml));
    if (rc < 0) {
        f->send_failed++;
        send_failures++;
        f->out->close(f->t, "policy-violation", "output buffer full");
    }
    return rc;
}

/* Echoes messages: <message><body>X</body></message> comes back as two
 * messages "echo1:X" and "echo2:X" (two sends from one element), "close"
 * closes the stream with conflict, "big" sends more than the cap. */
static void fake_element(void *s, xmpp_stanza_t *el)
{
    struct fake *f = s;
    depth++;
    if (f->elements < 16) {
        char *text = NULL;
        size_t len = 0;
        xmpp_stanza_to_text(el, &text, &len);
        snprintf(f->elems[f->elements], sizeof(f->elems[0]), "%s", text ? text : "");
        xmpp_free(ctx, text);
    }
    f->elements++;
    xmpp_stanza_t *b = xmpp_stanza_get_child_by_name(el, "body");
    char *txt = b ? xmpp_stanza_get_text(b) : NULL;
    if (txt && strcmp(xmpp_stanza_get_name(el), "message") == 0) {
        if (strcmp(txt, "close") == 0) {
            fake_push(f, "<message xmlns='jabber:client'><body>last words</body></message>");
            f->out->close(f->t, "conflict", "Replaced by <new> & 'other'");
        } else if (strcmp(txt, "big") == 0) {
            char big[1200];
            memset(big, 'x', sizeof(big));
            memcpy(big, "<message xmlns='jabber:client'><body>", 37);
            strcpy(big + sizeof(big) - 20, "</body></message>");
            while (fake_push(f, big) == 0)
                ;
        } else {
            char out[300];
            snprintf(out, sizeof(out), "<message xmlns='jabber:client'><body>echo1:%s</body></message>", txt);
            fake_push(f, out);
            snprintf(out, sizeof(out), "<message xmlns='jabber:client'><body>echo2:%s</body></message>", txt);
            fake_push(f, out);
        }
    }
    xmpp_free(ctx, txt);
    depth--;
}

static void fake_error(void *s, const char *cond, const char *text)
{
    struct fake *f = s;
    depth++;
    f->errors++;
    snprintf(f->last_error, sizeof(f->last_error), "%s", cond);
    (void)text;
    f->out->close(f->t, cond, NULL);
    depth--;
}

static void fake_closed(void *s)
{
    struct fake *f = s;
    depth++;
    f->closeds++;
    fake_push(f, "<presence xmlns='jabber:client' type='unavailable'/>");
    f->out->close(f->t, NULL, NULL);
    depth--;
}

static void fake_gone(void *s)
{
    struct fake *f = s;
    if (depth || in_respond)
        gone_reentrant++;
    gone_calls++;
    for (int i = 0; i < nfakes; i++)
        if (fakes[i] == f)
            fakes[i] = NULL;
    free(f);
}

static const struct stream_in fake_in = {
    .attach = fake_attach,
    .open = fake_open,
    .element = fake_element,
    .error = fake_error,
    .closed = fake_closed,
    .gone = fake_gone,
};

static const struct bosh_http_ops fake_ops = {.respond = fake_respond};
static const struct stream_peer peer = {.addr = "127.0.0.1", .secure = 1, .transport = "bosh"};

/* ---- helpers ---- */

static struct bosh *setup(const struct bosh_opts *o)
{
    struct bosh_opts d;
    bosh_opts_defaults(&d);
    d.domain = DOMAIN;
    resps_reset();
    nfakes = 0;
    gone_calls = 0;
    refuse_attach = 0;
    silent_open = 0;
    authid_text = "stream-1";
    now = 1000000;
    struct bosh *b = bosh_new(ctx, o ? o : &d, &fake_in, &fake_ops, NULL);
    CHECK(b != NULL);
    return b;
}

static void teardown(struct bosh *b)
{
    bosh_free(b);
    for (int i = 0; i < nfakes; i++)
        CHECK(fakes[i] == NULL); /* every attached session got gone() */
    resps_reset();
}

/* Sends a body on a new request; returns the request id. */
static uintptr_t post(struct bosh *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static uintptr_t post(struct bosh *b, const char *fmt, ...)
{
    char body[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    uintptr_t r = next_req++;
    bosh_request(b, (void *)r, body, (size_t)n, &peer, now);
    return r;
}

/* Sends the same body again on request `r` (a retransmission). */
static uintptr_t post_raw(struct bosh *b, const char *body)
{
    uintptr_t r = next_req++;
    bosh_request(b, (void *)r, body, strlen(body), &peer, now);
    return r;
}

/* The value of attribute `name` in `text` (first occurrence), or "". */
static const char *attr_in(const char *text, const char *name)
{
    static char v[256];
    char pat[64];
    snprintf(pat, sizeof(pat), " %s='", name);
    v[0] = '\0';
    const char *p = text ? strstr(text, pat) : NULL;
    if (!p)
        return v;
    p += strlen(pat);
    size_t i = 0;
    while (p[i] && p[i] != '\'' && i + 1 < sizeof(v)) {
        v[i] = p[i];
        i++;
    }
    v[i] = '\0';
    return v;
}

/* Creates a session at rid `rid` (hold/wait as given, extra attributes
 * appended) and flushes; copies the sid into `sid`. Returns the request. */
static uintptr_t create(struct bosh *b, uint64_t rid, const char *extra, char sid[64])
{
    uintptr_t r = post(b,
                       "<body content='text/xml; charset=utf-8' hold='1' rid='%llu' to='" DOMAIN
                       "' ver='1.6' wait='60' xml:lang='en' xmpp:version='1.0' "
                       "xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' %s/>",
                       (unsigned long long)rid, extra ? extra : "");
    bosh_flush(b);
    snprintf(sid, 64, "%s", attr_in(body_of(r), "sid"));
    return r;
}

static uintptr_t msg(struct bosh *b, const char *sid, uint64_t rid, const char *text)
{
    return post(b,
                "<body rid='%llu' sid='%s' xmlns='http://jabber.org/protocol/httpbind'>"
                "<message to='a@b' xmlns='jabber:client'><body>%s</body></message></body>",
                (unsigned long long)rid, sid, text);
}

static uintptr_t empty(struct bosh *b, const char *sid, uint64_t rid)
{
    return post(b, "<body rid='%llu' sid='%s' xmlns='http://jabber.org/protocol/httpbind'/>",
                (unsigned long long)rid, sid);
}

static struct bosh_stats stats(struct bosh *b)
{
    struct bosh_stats st;
    bosh_get_stats(b, &st);
    return st;
}

/* ---- tests ---- */

static void test_creation(void)
{
    struct bosh *b = setup(NULL);
    uintptr_t r = post(b,
                       "<body content='text/xml; charset=utf-8' hold='3' rid='1573741820' to='" DOMAIN
                       "' ver='1.6' wait='90' ack='1' xml:lang='en' xmpp:version='1.0' "
                       "xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh'/>");
    CHECK(resp_of(r) == NULL); /* the features go out at the flush */
    CHECK_INT(nfakes, 1);
    CHECK_INT(fakes[0]->opens, 1);
    CHECK_STR(fakes[0]->last_to, DOMAIN);
    CHECK_STR(fakes[0]->last_lang, "en");
    CHECK_STR(fakes[0]->last_version, "1.0");
    bosh_flush(b);
    const char *t = body_of(r);
    CHECK(t != NULL);
    CHECK_INT(status_of(r), 200);
    CHECK_STR(ctype_of(r), "text/xml; charset=utf-8");
    CHECK_INT(strlen(attr_in(t, "sid")), 32);
    CHECK_STR(attr_in(t, "wait"), "60");  /* min(90, wait_max) */
    CHECK_STR(attr_in(t, "hold"), "1");   /* min(3, hold_max) */
    CHECK_STR(attr_in(t, "requests"), "2");
    CHECK_STR(attr_in(t, "inactivity"), "60");
    CHECK_STR(attr_in(t, "polling"), "2");
    CHECK_STR(attr_in(t, "maxpause"), "120");
    CHECK_STR(attr_in(t, "ver"), "1.6"); /* the lower of the two */
    CHECK_STR(attr_in(t, "ack"), "1573741820");
    CHECK_STR(attr_in(t, "from"), DOMAIN);
    CHECK_STR(attr_in(t, "authid"), "stream-1");
    CHECK_STR(attr_in(t, "secure"), "true");
    CHECK_STR(attr_in(t, "xmpp:version"), "1.0");
    CHECK_STR(attr_in(t, "xmlns:xmpp"), "urn:xmpp:xbosh");
    CHECK_STR(attr_in(t, "xmlns:stream"), "http://etherx.jabber.org/streams");
    CHECK_CONTAINS(t, "<stream:features");
    CHECK_CONTAINS(t, "<f1 xmlns='urn:x'/>");
    CHECK_INT(stats(b).sessions, 1);
    CHECK_INT(stats(b).created_total, 1);
    CHECK_INT(stats(b).held, 0);
    teardown(b);

    /* A newer client gets ver 1.11; another Content-Type when asked. */
    b = setup(NULL);
    r = post(b, "<body rid='5' to='" DOMAIN "' ver='1.20' content='text/html' "
                "xmlns='http://jabber.org/protocol/httpbind'/>");
    bosh_flush(b);
    CHECK_STR(attr_in(body_of(r), "ver"), "1.11");
    CHECK_STR(ctype_of(r), "text/html");
    CHECK_STR(attr_in(body_of(r), "ack"), ""); /* not asked */
    CHECK_STR(fakes[0]->last_version, "(null)");
    teardown(b);

    /* Two sessions get different sids. */
    b = setup(NULL);
    char s1[64], s2[64];
    create(b, 10, NULL, s1);
    create(b, 10, NULL, s2);
    CHECK(strcmp(s1, s2) != 0);
    CHECK_INT(stats(b).sessions, 2);
    teardown(b);
}

static void test_creation_refused(void)
{
    struct bosh *b = setup(NULL);
    uintptr_t r = post(b, "<body rid='1' to='example.com' ver='1.11' xmlns='http://jabber.org/protocol/httpbind'/>");
    CHECK_STR(attr_in(body_of(r), "condition"), "host-unknown");
    CHECK_STR(attr_in(body_of(r), "type"), "terminate");
    r = post(b, "<body rid='1' ver='1.11' xmlns='http://jabber.org/protocol/httpbind'/>");
    CHECK_STR(attr_in(body_of(r), "condition"), "improper-addressing");
    r = post(b, "<body rid='x1' to='" DOMAIN "' ver='1.11' xmlns='http://jabber.org/protocol/httpbind'/>");
    CHECK_STR(attr_in(body_of(r), "condition"), "bad-request");
    r = post(b, "<body rid='1' to='" DOMAIN "' ver='1.11' wait='-1' xmlns='http://jabber.org/protocol/httpbind'/>");
    CHECK_STR(attr_in(body_of(r), "condition"), "bad-request");
    /* a legacy client (no ver) gets the HTTP code */
    r = post(b, "<body rid='0' to='" DOMAIN "' xmlns='http://jabber.org/protocol/httpbind'/>");
    CHECK_INT(status_of(r), 400);
    CHECK_STR(ctype_of(r), "text/plain; charset=utf-8");
    /* a header injection through 'content' */
    r = post(b, "<body rid='1' to='" DOMAIN "' ver='1.11' content='text/xml&#10;X: y' "
                "xmlns='http://jabber.org/protocol/httpbind'/>");
    CHECK_STR(attr_in(body_of(r), "condition"), "bad-request");
    CHECK_STR(ctype_of(r), "text/xml; charset=utf-8");
    refuse_attach = 1;
    r = post(b, "<body rid='1' to='" DOMAIN "' ver='1.11' xmlns='http://jabber.org/protocol/httpbind'/>");
    CHECK_STR(attr_in(body_of(r), "condition"), "policy-violation");
    CHECK_INT(nfakes, 0);
    CHECK_INT(stats(b).sessions, 0);
    CHECK_INT(gone_calls, 0);
    teardown(b);
}

/* The session layer sends nothing at open: the creation response waits
 * for output or for `wait`. */
static void test_creation_held(void)
{
    struct bosh *b = setup(NULL);
    silent_open = 1;
    uintptr_t r = post(b, "<body rid='100' to='" DOMAIN "' ver='1.11' wait='10' hold='1' "
                          "xmlns='http://jabber.org/protocol/httpbind'/>");
    bosh_flush(b);
    CHECK(resp_of(r) == NULL);
    CHECK_INT(stats(b).held, 1);
    now += 9999;
    bosh_tick(b, now);
    CHECK(resp_of(r) == NULL);
    now += 1;
    bosh_tick(b, now);
    CHECK(resp_of(r) != NULL);
    CHECK_STR(attr_in(body_of(r), "wait"), "10");
    CHECK_INT(strlen(attr_in(body_of(r), "sid")), 32);
    CHECK(strstr(body_of(r), "features") == NULL);
    CHECK_STR(attr_in(body_of(r), "authid"), "");
    teardown(b);

    /* Output after a while goes on the creation response. */
    b = setup(NULL);
    silent_open = 1;
    authid_text = "a'<&\"b";
    r = post(b, "<body rid='100' to='" DOMAIN "' ver='1.11' wait='10' xmlns='http://jabber.org/protocol/httpbind'/>");
    now += 500;
    bosh_tick(b, now);
    fakes[0]->out->open(fakes[0]->t, DOMAIN, authid_text);
    fake_push(fakes[0], "<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>");
    CHECK(resp_of(r) == NULL);
    bosh_flush(b);
    CHECK_CONTAINS(body_of(r), "authid='a&apos;&lt;&amp;&quot;b'");
    CHECK_CONTAINS(body_of(r), "<stream:features");
    CHECK_INT(bad_bodies, 0);
    teardown(b);
}

static void test_restart(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 200, NULL, sid);
    uintptr_t r1 = empty(b, sid, 201);
    bosh_flush(b);
    CHECK(resp_of(r1) == NULL); /* held */
    uintptr_t r2 = post(b,
                        "<body rid='202' sid='%s' to='" DOMAIN "' xml:lang='de' xmpp:restart='true' "
                        "xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh'/>",
                        sid);
    CHECK_INT(fakes[0]->opens, 2);
    CHECK_STR(fakes[0]->last_lang, "de");
    CHECK_STR(fakes[0]->last_version, "1.0"); /* from the creation request */
    /* hold=1: the older request goes out with what was pending, the new
     * features; the restart request waits. */
    CHECK_CONTAINS(body_of(r1), "<f2 xmlns='urn:x'/>");
    CHECK_STR(attr_in(body_of(r1), "xmlns:stream"), "http://etherx.jabber.org/streams");
    CHECK_STR(attr_in(body_of(r1), "sid"), "");
    CHECK_STR(attr_in(body_of(r1), "authid"), "");
    CHECK(resp_of(r2) == NULL);
    /* a restart with another prefix for urn:xmpp:xbosh */
    uintptr_t r3 = post(b,
                        "<body rid='203' sid='%s' to='" DOMAIN "' x:restart='1' "
                        "xmlns='http://jabber.org/protocol/httpbind' xmlns:x='urn:xmpp:xbosh'/>",
                        sid);
    bosh_flush(b);
    CHECK_INT(fakes[0]->opens, 3);
    CHECK(resp_of(r2) != NULL);
    CHECK_CONTAINS(body_of(r2), "<f3 xmlns='urn:x'/>");
    CHECK(resp_of(r3) == NULL);
    teardown(b);
}

static void test_elements(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 300, NULL, sid);
    uintptr_t r = post(b,
                       "<body rid='301' sid='%s' xmlns='http://jabber.org/protocol/httpbind'>"
                       "<message to='a@b'><body>one</body></message>\n  "
                       "<iq type='get' id='1' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>"
                       "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AA==</auth>"
                       "</body>",
                       sid);
    CHECK_INT(fakes[0]->elements, 3);
    CHECK_CONTAINS(fakes[0]->elems[0], "<message");
    CHECK_CONTAINS(fakes[0]->elems[0], "xmlns=\"jabber:client\""); /* qualified for the session layer */
    CHECK_CONTAINS(fakes[0]->elems[1], "<iq");
    CHECK_CONTAINS(fakes[0]->elems[2], "xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\"");
    /* both echoes of one element go out in one response, at the flush */
    CHECK(resp_of(r) == NULL);
    bosh_flush(b);
    CHECK_CONTAINS(body_of(r), "echo1:one</body></message><message xmlns='jabber:client'><body>echo2:one");
    CHECK_INT(count_in_responses("echo1:one"), 1);
    /* character data in the wrapper is refused */
    uintptr_t r2 = post(b, "<body rid='302' sid='%s' xmlns='http://jabber.org/protocol/httpbind'>hello</body>", sid);
    CHECK_STR(attr_in(body_of(r2), "condition"), "bad-request");
    bosh_flush(b);
    CHECK_INT(gone_calls, 1);
    teardown(b);
}

/* Several elements sent in one loop iteration leave in one response. */
static void test_flush_batching(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 400, NULL, sid);
    uintptr_t r = empty(b, sid, 401);
    bosh_flush(b);
    CHECK(resp_of(r) == NULL);
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>m1</body></message>");
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>m2</body></message>");
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>m3</body></message>");
    CHECK(resp_of(r) == NULL);
    bosh_flush(b);
    CHECK_CONTAINS(body_of(r), "m1</body></message><message xmlns='jabber:client'><body>m2</body></message>"
                               "<message xmlns='jabber:client'><body>m3");
    CHECK(strstr(body_of(r), "xmlns:stream") == NULL);
    int before = nresp;
    bosh_flush(b);
    CHECK_INT(nresp, before);
    /* output with no request held waits for the next one */
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>m4</body></message>");
    bosh_flush(b);
    CHECK_INT(nresp, before);
    uintptr_t r2 = empty(b, sid, 402);
    bosh_flush(b);
    CHECK_CONTAINS(body_of(r2), "m4");
    teardown(b);
}

static void test_wait_and_hold(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 500, NULL, sid); /* wait 60 */
    uintptr_t r1 = empty(b, sid, 501);
    bosh_flush(b);
    now += 59999;
    bosh_tick(b, now);
    CHECK(resp_of(r1) == NULL);
    now += 1;
    bosh_tick(b, now);
    CHECK_STR(body_of(r1), "<body xmlns='http://jabber.org/protocol/httpbind'/>");

    /* hold overflow: a new request makes the held one answer at once */
    uintptr_t r2 = empty(b, sid, 502);
    now += 3000;
    uintptr_t r3 = msg(b, sid, 503, "x");
    /* at once, before any flush, with the output of 503 (the oldest held
     * request carries what is pending) */
    CHECK_CONTAINS(body_of(r2), "echo1:x");
    CHECK(resp_of(r3) == NULL);
    bosh_flush(b);
    CHECK(resp_of(r3) == NULL);
    CHECK_INT(stats(b).held, 1);
    teardown(b);

    /* hold=2 (when allowed): two wait, the third pushes the first out */
    struct bosh_opts o;
    bosh_opts_defaults(&o);
    o.domain = DOMAIN;
    o.hold_max = 2;
    o.requests_max = 3;
    b = setup(&o);
    uintptr_t c = post(b, "<body rid='10' to='" DOMAIN "' ver='1.11' hold='2' wait='30' "
                          "xmlns='http://jabber.org/protocol/httpbind'/>");
    bosh_flush(b);
    snprintf(sid, sizeof(sid), "%s", attr_in(body_of(c), "sid"));
    CHECK_STR(attr_in(body_of(c), "hold"), "2");
    CHECK_STR(attr_in(body_of(c), "requests"), "3");
    r1 = empty(b, sid, 11);
    r2 = empty(b, sid, 12);
    bosh_flush(b);
    CHECK(resp_of(r1) == NULL && resp_of(r2) == NULL);
    CHECK_INT(stats(b).held, 2);
    now += 2500;
    r3 = msg(b, sid, 13, "y");
    CHECK_CONTAINS(body_of(r1), "echo1:y");
    CHECK(resp_of(r2) == NULL);
    bosh_flush(b);
    CHECK(resp_of(r2) == NULL);
    CHECK(resp_of(r3) == NULL);
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>z</body></message>");
    bosh_flush(b);
    /* output goes on the oldest held request */
    CHECK_CONTAINS(body_of(r2), "<body>z</body>");
    CHECK(resp_of(r3) == NULL);
    teardown(b);
}

static void test_inactivity(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 600, NULL, sid);
    CHECK_INT(stats(b).held, 0);
    now += 60000;
    bosh_tick(b, now);
    CHECK_INT(gone_calls, 0); /* exactly the limit: still there */
    now += 1;
    bosh_tick(b, now);
    CHECK_INT(gone_calls, 1);
    CHECK_INT(gone_reentrant, 0);
    CHECK_INT(stats(b).sessions, 0);
    CHECK_INT(stats(b).expired_total, 1);
    now += 100000;
    bosh_tick(b, now);
    CHECK_INT(gone_calls, 1);
    uintptr_t r = empty(b, sid, 601);
    CHECK_STR(attr_in(body_of(r), "condition"), "item-not-found");

    /* A held request keeps the session alive past inactivity, until its
     * wait ends; then inactivity counts from that answer. */
    char sid2[64];
    create(b, 700, NULL, sid2);
    empty(b, sid2, 701);
    bosh_flush(b);
    now += 60000;
    bosh_tick(b, now); /* the held request is answered now */
    CHECK_INT(gone_calls, 1);
    now += 59000;
    bosh_tick(b, now);
    CHECK_INT(gone_calls, 1);
    now += 1001;
    bosh_tick(b, now);
    CHECK_INT(gone_calls, 2);
    teardown(b);
}

static void test_out_of_order(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 800, NULL, sid);
    uintptr_t r2 = msg(b, sid, 802, "second");
    CHECK_INT(fakes[0]->elements, 0); /* waits for 801 */
    CHECK(resp_of(r2) == NULL);
    uintptr_t r1 = msg(b, sid, 801, "first");
    CHECK_INT(fakes[0]->elements, 2);
    CHECK_CONTAINS(fakes[0]->elems[0], "first");
    CHECK_CONTAINS(fakes[0]->elems[1], "second");
    /* 801 was answered when 802 was processed (hold=1), with the output of
     * both, in order; 802 waits */
    const char *t = body_of(r1);
    CHECK(t && strstr(t, "echo2:first") && strstr(t, "echo1:second"));
    if (t && strstr(t, "echo2:first") && strstr(t, "echo1:second"))
        CHECK(strstr(t, "echo2:first") < strstr(t, "echo1:second"));
    bosh_flush(b);
    CHECK(resp_of(r2) == NULL);
    CHECK_INT(count_in_responses("echo1:first"), 1);
    CHECK_INT(count_in_responses("echo1:second"), 1);
    teardown(b);
}

/* A response lost on the way: the client sends the same rid again and gets
 * the same bytes; nothing is processed twice or lost. */
static void test_network_flap(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 900, NULL, sid);
    char body901[300];
    snprintf(body901, sizeof(body901),
             "<body rid='901' sid='%s' xmlns='http://jabber.org/protocol/httpbind'>"
             "<message to='a@b' xmlns='jabber:client'><body>hi</body></message></body>",
             sid);
    uintptr_t r1 = post_raw(b, body901);
    bosh_flush(b);
    CHECK_CONTAINS(body_of(r1), "echo1:hi");
    char *first = strdup(body_of(r1));
    /* lost: the client sends 901 again */
    uintptr_t r1b = post_raw(b, body901);
    CHECK_STR(body_of(r1b), first);
    CHECK_INT(fakes[0]->elements, 1); /* not processed twice */
    CHECK_INT(stats(b).retransmits_total, 1);
    free(first);

    /* The connection of a held request breaks before the answer: output
     * waits, and the same rid sent again gets it. */
    char body902[200];
    snprintf(body902, sizeof(body902), "<body rid='902' sid='%s' xmlns='http://jabber.org/protocol/httpbind'/>", sid);
    uintptr_t r2 = post_raw(b, body902);
    bosh_flush(b);
    CHECK_INT(stats(b).held, 1);
    bosh_request_gone(b, (void *)r2);
    CHECK_INT(stats(b).held, 0);
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>while-away</body></message>");
    bosh_flush(b);
    CHECK(resp_of(r2) == NULL); /* never answered: it is gone */
    uintptr_t r2b = post_raw(b, body902);
    bosh_flush(b);
    CHECK_CONTAINS(body_of(r2b), "while-away");
    CHECK(resp_of(r2) == NULL);
    /* and that one is lost too: the cache gives it again */
    uintptr_t r2c = post_raw(b, body902);
    CHECK_STR(body_of(r2c), body_of(r2b));

    /* Two requests out at once, both answers lost, both sent again. */
    uintptr_t r3 = msg(b, sid, 903, "a");
    uintptr_t r4 = msg(b, sid, 904, "b");
    bosh_flush(b);
    CHECK(resp_of(r4) == NULL); /* 903 carried both echoes; 904 waits */
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>for-904</body></message>");
    bosh_flush(b);
    CHECK(resp_of(r4) != NULL);
    char *t3 = strdup(body_of(r3)), *t4 = strdup(body_of(r4));
    uintptr_t r3b = msg(b, sid, 903, "a");
    uintptr_t r4b = msg(b, sid, 904, "b");
    CHECK_STR(body_of(r3b), t3);
    CHECK_STR(body_of(r4b), t4);
    free(t3);
    free(t4);
    CHECK_INT(fakes[0]->elements, 3);

    /* A client that re-sends a request we still hold (it gave up on the
     * connection without us knowing): the old one is released empty, the
     * new one carries the output. */
    char body905[200];
    snprintf(body905, sizeof(body905), "<body rid='905' sid='%s' xmlns='http://jabber.org/protocol/httpbind'/>", sid);
    uintptr_t r5 = post_raw(b, body905);
    bosh_flush(b);
    uintptr_t r5b = post_raw(b, body905);
    CHECK_STR(body_of(r5), "<body xmlns='http://jabber.org/protocol/httpbind'/>");
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>late</body></message>");
    bosh_flush(b);
    CHECK_CONTAINS(body_of(r5b), "late");

    /* every message went out exactly once, on distinct requests, except
     * the replays asked for */
    CHECK_INT(count_in_responses("echo1:a"), 2);  /* r3 and its replay */
    CHECK_INT(count_in_responses("while-away"), 2); /* r2b and its replay */
    CHECK_INT(count_in_responses("late"), 1);
    CHECK_INT(double_answers, 0);

    /* Too old for the cache (requests=2): item-not-found. */
    uintptr_t old = post_raw(b, body901);
    CHECK_STR(attr_in(body_of(old), "condition"), "item-not-found");
    bosh_flush(b);
    CHECK_INT(gone_calls, 1);
    teardown(b);
}

/* A lost early request: the later one waits, then both are processed once. */
static void test_flap_early(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 1000, NULL, sid);
    uintptr_t r2 = msg(b, sid, 1002, "two");
    bosh_request_gone(b, (void *)r2);
    uintptr_t r2b = msg(b, sid, 1002, "two"); /* sent again, 1001 still missing */
    CHECK_INT(fakes[0]->elements, 0);
    uintptr_t r1 = msg(b, sid, 1001, "one");
    bosh_flush(b);
    CHECK_INT(fakes[0]->elements, 2);
    CHECK(resp_of(r2) == NULL);
    /* 1001 carries both echoes; 1002 (on its new connection) waits */
    CHECK_CONTAINS(body_of(r1), "echo1:two");
    CHECK(resp_of(r2b) == NULL);
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>three</body></message>");
    bosh_flush(b);
    CHECK_CONTAINS(body_of(r2b), "three");
    CHECK(resp_of(r2) == NULL);
    CHECK_INT(count_in_responses("echo1:one"), 1);
    CHECK_INT(count_in_responses("echo1:two"), 1);
    teardown(b);
}

static void test_acks(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 1100, "ack='1'", sid);
    uintptr_t r1 = empty(b, sid, 1101);
    bosh_flush(b);
    now += 3000;
    uintptr_t r2 = msg(b, sid, 1102, "x");
    /* 1101 is answered while 1102 was received: ack='1102' */
    CHECK_STR(attr_in(body_of(r1), "ack"), "1102");
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>y</body></message>");
    bosh_flush(b);
    /* no ack when it would be the rid answered */
    CHECK(resp_of(r2) != NULL);
    CHECK_STR(attr_in(body_of(r2), "ack"), "");
    /* 1101 can still be sent again */
    uintptr_t again = empty(b, sid, 1101);
    CHECK_STR(body_of(again), body_of(r1));
    /* the client acknowledges 1101 only: 1102 stays, 1101 is dropped */
    now += 3000;
    post(b, "<body rid='1103' sid='%s' ack='1101' xmlns='http://jabber.org/protocol/httpbind'/>", sid);
    again = msg(b, sid, 1102, "x");
    CHECK_STR(body_of(again), body_of(r2));
    again = empty(b, sid, 1101);
    CHECK_STR(attr_in(body_of(again), "condition"), "item-not-found");
    teardown(b);

    /* no 'ack' on a request in an ack session: every response arrived */
    b = setup(NULL);
    create(b, 1200, "ack='1'", sid);
    r1 = empty(b, sid, 1201);
    now += 3000;
    msg(b, sid, 1202, "x"); /* answers 1201 */
    CHECK(resp_of(r1) != NULL);
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>y</body></message>");
    bosh_flush(b); /* answers 1202 */
    now += 3000;
    empty(b, sid, 1203);
    again = msg(b, sid, 1202, "x");
    CHECK_STR(attr_in(body_of(again), "condition"), "item-not-found");
    teardown(b);
}

static void test_rid_window(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 1200, NULL, sid);
    uintptr_t r = empty(b, sid, 1203); /* window is 1201..1202 */
    CHECK_STR(attr_in(body_of(r), "type"), "terminate");
    CHECK_STR(attr_in(body_of(r), "condition"), "item-not-found");
    CHECK_INT(gone_calls, 0);
    bosh_flush(b);
    CHECK_INT(gone_calls, 1);
    CHECK_INT(stats(b).sessions, 0);

    /* a legacy client gets HTTP 404 */
    uintptr_t c = post(b, "<body rid='50' to='" DOMAIN "' xmlns='http://jabber.org/protocol/httpbind'/>");
    bosh_flush(b);
    snprintf(sid, sizeof(sid), "%s", attr_in(body_of(c), "sid"));
    CHECK_STR(attr_in(body_of(c), "ver"), "");
    r = empty(b, sid, 70);
    CHECK_INT(status_of(r), 404);

    /* unknown sid */
    r = empty(b, "0123456789abcdef0123456789abcdef", 1);
    CHECK_STR(attr_in(body_of(r), "condition"), "item-not-found");
    r = empty(b, "x", 1);
    CHECK_STR(attr_in(body_of(r), "condition"), "item-not-found");
    teardown(b);
}

static void hexsha1(const char *in, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(in, strlen(in), md, &n, EVP_sha1(), NULL);
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void test_keys(void)
{
    /* K(1) = sha1(seed) ... K(5); newkey = K(5), then K(4), K(3)... */
    char k[6][41];
    hexsha1("seed", k[1]);
    for (int i = 2; i <= 5; i++)
        hexsha1(k[i - 1], k[i]);

    struct bosh *b = setup(NULL);
    char sid[64], extra[80];
    snprintf(extra, sizeof(extra), "newkey='%s'", k[5]);
    create(b, 1300, extra, sid);
    uintptr_t r = post(b,
                       "<body rid='1301' sid='%s' key='%s' xmlns='http://jabber.org/protocol/httpbind'>"
                       "<message xmlns='jabber:client'><body>k4</body></message></body>",
                       sid, k[4]);
    CHECK_INT(fakes[0]->elements, 1);
    /* switching to a new sequence: key K(3) with a newkey */
    char n[3][41];
    hexsha1("seed2", n[1]);
    hexsha1(n[1], n[2]);
    post(b, "<body rid='1302' sid='%s' key='%s' newkey='%s' xmlns='http://jabber.org/protocol/httpbind'/>", sid, k[3],
         n[2]);
    post(b, "<body rid='1303' sid='%s' key='%s' xmlns='http://jabber.org/protocol/httpbind'/>", sid, n[1]);
    CHECK_INT(stats(b).sessions, 1);
    CHECK_INT(gone_calls, 0);
    /* a wrong key: not processed, item-not-found */
    r = post(b,
             "<body rid='1304' sid='%s' key='%s' xmlns='http://jabber.org/protocol/httpbind'>"
             "<message xmlns='jabber:client'><body>evil</body></message></body>",
             sid, k[2]);
    bosh_flush(b);
    CHECK_STR(attr_in(body_of(r), "condition"), "item-not-found");
    CHECK_INT(gone_calls, 1);
    CHECK_INT(stats(b).sessions, 0);
    teardown(b);

    /* a missing key once keys are in use */
    b = setup(NULL);
    create(b, 1400, extra, sid);
    r = empty(b, sid, 1401);
    CHECK_STR(attr_in(body_of(r), "condition"), "item-not-found");
    teardown(b);
}

static void test_malformed(void)
{
    struct bosh *b = setup(NULL);
    uintptr_t r = post(b, "this is not xml");
    CHECK_INT(status_of(r), 400);
    r = post(b, "<body xmlns='http://jabber.org/protocol/httpbind' rid='1'");
    CHECK_INT(status_of(r), 400);
    r = post(b, "<html rid='1' to='" DOMAIN "'/>");
    CHECK_INT(status_of(r), 400);
    r = post(b, "<body rid='1' to='" DOMAIN "' xmlns='jabber:client'/>");
    CHECK_INT(status_of(r), 400);
    r = post(b, "<!DOCTYPE body><body rid='1' to='" DOMAIN "' xmlns='http://jabber.org/protocol/httpbind'/>");
    CHECK_INT(status_of(r), 400);
    r = post_raw(b, "");
    CHECK_INT(status_of(r), 400);
    CHECK_INT(stats(b).sessions, 0);
    CHECK(stats(b).errors_total >= 6);

    /* too big: 413 */
    char *big = malloc(70000);
    memset(big, ' ', 70000);
    memcpy(big, "<body", 5);
    uintptr_t rb = next_req++;
    bosh_request(b, (void *)rb, big, 70000, &peer, now);
    CHECK_INT(status_of(rb), 413);
    free(big);

    /* A known session: the stream error goes to the session layer, which
     * closes the stream; the client gets it in a terminate. */
    char sid[64];
    create(b, 1500, NULL, sid);
    r = post(b, "<body rid='1501' sid='%s' xmlns='http://jabber.org/protocol/httpbind'><message></body>", sid);
    CHECK_INT(fakes[0]->errors, 1);
    CHECK_STR(fakes[0]->last_error, "not-well-formed");
    bosh_flush(b);
    CHECK_STR(attr_in(body_of(r), "type"), "terminate");
    CHECK_STR(attr_in(body_of(r), "condition"), "remote-stream-error");
    CHECK_CONTAINS(body_of(r), "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><not-well-formed "
                               "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
    CHECK_INT(gone_calls, 1);

    /* restricted XML in a known session */
    create(b, 1600, NULL, sid);
    r = post(b, "<body rid='1601' sid='%s' xmlns='http://jabber.org/protocol/httpbind'><!-- c --></body>", sid);
    bosh_flush(b);
    CHECK_CONTAINS(body_of(r), "<restricted-xml");
    /* broken XML naming a session but not its next rid: 400 only */
    create(b, 1700, NULL, sid);
    r = post(b, "<body rid='1705' sid='%s' xmlns='http://jabber.org/protocol/httpbind'><x></body>", sid);
    CHECK_INT(status_of(r), 400);
    CHECK_INT(stats(b).sessions, 1);
    /* a wrong namespace naming that session: bad-request terminate */
    r = post(b, "<body rid='1701' sid='%s' xmlns='urn:wrong'/>", sid);
    CHECK_STR(attr_in(body_of(r), "condition"), "bad-request");
    /* missing rid in that session */
    create(b, 1800, NULL, sid);
    r = post(b, "<body sid='%s' xmlns='http://jabber.org/protocol/httpbind'/>", sid);
    CHECK_STR(attr_in(body_of(r), "condition"), "bad-request");
    bosh_flush(b);
    CHECK_INT(stats(b).sessions, 0);
    CHECK_INT(gone_reentrant, 0);
    teardown(b);
}

static void test_pending_cap(void)
{
    struct bosh_opts o;
    bosh_opts_defaults(&o);
    o.domain = DOMAIN;
    o.max_pending = 5000;
    struct bosh *b = setup(&o);
    char sid[64];
    create(b, 1900, NULL, sid);
    /* no request held: "big" sends until the cap refuses */
    uintptr_t r = msg(b, sid, 1901, "big");
    bosh_flush(b);
    CHECK_INT(send_failures, 1);
    CHECK_STR(attr_in(body_of(r), "type"), "terminate");
    CHECK_STR(attr_in(body_of(r), "condition"), "remote-stream-error");
    CHECK_CONTAINS(body_of(r), "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>");
    /* what fitted went out first: 4 messages of 1200 bytes */
    CHECK_INT(count_in_responses("xxxxxxxxxx</body></message>"), 4);
    CHECK(strlen(body_of(r)) < 5000 + 1000);
    CHECK_INT(gone_calls, 1);
    teardown(b);
}

static void test_server_close(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 2000, NULL, sid);
    uintptr_t r1 = empty(b, sid, 2001);
    bosh_flush(b);
    uintptr_t r2 = msg(b, sid, 2002, "close");
    CHECK_INT(gone_calls, 0); /* never from inside close */
    bosh_flush(b);
    CHECK(resp_of(r1) != NULL);
    CHECK_STR(attr_in(body_of(r2), "type"), "terminate");
    CHECK_INT(gone_calls, 1);
    CHECK_INT(gone_reentrant, 0);
    const char *t = body_of(r1)[0] && strstr(body_of(r1), "terminate") ? body_of(r1) : body_of(r2);
    CHECK_STR(attr_in(t, "type"), "terminate");
    CHECK_STR(attr_in(t, "condition"), "remote-stream-error");
    CHECK_CONTAINS(t, "<body>last words</body></message><stream:error xmlns:stream='http://etherx.jabber.org/"
                      "streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
                      "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Replaced by &lt;new&gt; &amp; "
                      "&apos;other&apos;</text></stream:error></body>");
    CHECK_INT(stats(b).sessions, 0);
    uintptr_t r3 = empty(b, sid, 2003);
    CHECK_STR(attr_in(body_of(r3), "condition"), "item-not-found");

    /* Closed while no request is held: the terminate waits for the next
     * request; gone() comes at the flush all the same. */
    create(b, 2100, NULL, sid);
    int g = gone_calls;
    struct fake *f = fakes[nfakes - 1];
    fake_push(f, "<message xmlns='jabber:client'><body>bye</body></message>");
    f->out->close(f->t, NULL, NULL);
    CHECK_INT(fake_push(f, "<message xmlns='jabber:client'/>"), -1); /* nothing after close */
    bosh_flush(b);
    CHECK_INT(gone_calls, g + 1);
    CHECK_INT(stats(b).sessions, 1); /* kept for its terminate */
    uintptr_t r4 = empty(b, sid, 2101);
    CHECK_STR(attr_in(body_of(r4), "type"), "terminate");
    CHECK_STR(attr_in(body_of(r4), "condition"), "");
    CHECK_CONTAINS(body_of(r4), "bye");
    bosh_flush(b);
    CHECK_INT(stats(b).sessions, 0);
    CHECK_INT(gone_calls, g + 1);

    /* A long text in a stream error is cut at 1 kB, on a character
     * boundary (each character here is two bytes). */
    create(b, 2150, NULL, sid);
    f = fakes[nfakes - 1];
    uintptr_t r5 = empty(b, sid, 2151);
    bosh_flush(b);
    char longtext[3002];
    longtext[0] = 'x'; /* then 1500 two-byte characters: byte 1024 is the
                          second half of one */
    for (int i = 0; i < 1500; i++)
        memcpy(longtext + 1 + 2 * i, "\xc3\xa9", 2);
    longtext[3001] = '\0';
    f->out->close(f->t, "not a condition!", longtext);
    bosh_flush(b);
    const char *lt = body_of(r5);
    CHECK_CONTAINS(lt, "<undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text");
    const char *tx = lt ? strstr(lt, "'>x\xc3") : NULL;
    const char *te = lt ? strstr(lt, "</text>") : NULL;
    CHECK(tx && te);
    if (tx && te)
        CHECK_INT(te - (tx + 2), 1023);
    CHECK_INT(bad_bodies, 0);

    /* ... or until inactivity, if the client never comes back */
    create(b, 2200, NULL, sid);
    f = fakes[nfakes - 1];
    f->out->close(f->t, "system-shutdown", NULL);
    bosh_flush(b);
    CHECK_INT(stats(b).sessions, 1);
    now += 61000;
    bosh_tick(b, now);
    CHECK_INT(stats(b).sessions, 0);
    CHECK_INT(stats(b).expired_total, 0); /* it had ended already */
    teardown(b);
}

static void test_client_terminate(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 2300, NULL, sid);
    uintptr_t r1 = empty(b, sid, 2301);
    bosh_flush(b);
    uintptr_t r2 = post(b,
                        "<body rid='2302' sid='%s' type='terminate' xmlns='http://jabber.org/protocol/httpbind'>"
                        "<presence type='unavailable' xmlns='jabber:client'/></body>",
                        sid);
    struct bosh_stats st = stats(b);
    CHECK_INT(st.sessions, 1);
    bosh_flush(b);
    CHECK_INT(gone_calls, 1);
    CHECK_INT(gone_reentrant, 0);
    CHECK(resp_of(r1) != NULL);
    CHECK(resp_of(r2) != NULL);
    CHECK_STR(attr_in(body_of(r2), "type"), "terminate");
    CHECK_STR(attr_in(body_of(r2), "condition"), "");
    CHECK_INT(count_in_responses("type='unavailable'"), 1);
    CHECK_INT(stats(b).sessions, 0);
    CHECK_INT(stats(b).held, 0);
    teardown(b);

    /* terminate is allowed as one request over the limit */
    b = setup(NULL);
    create(b, 2400, NULL, sid);
    empty(b, sid, 2401);
    /* 2402 is on its way when the client terminates with 2403 */
    uintptr_t t = post(b, "<body rid='2403' sid='%s' type='terminate' xmlns='http://jabber.org/protocol/httpbind'/>",
                       sid);
    CHECK(resp_of(t) == NULL);
    msg(b, sid, 2402, "late"); /* three at once: allowed, one is a terminate */
    CHECK_INT(count_in_responses("policy-violation"), 0);
    bosh_flush(b);
    CHECK_STR(attr_in(body_of(t), "type"), "terminate");
    CHECK_STR(attr_in(body_of(t), "condition"), "");
    CHECK_INT(fakes[0] ? 1 : 0, 0);
    CHECK_INT(gone_calls, 1);
    teardown(b);
}

static void test_pause(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 2500, NULL, sid);
    uintptr_t r1 = empty(b, sid, 2501);
    bosh_flush(b);
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>before-pause</body></message>");
    uintptr_t r2 = post(b, "<body rid='2502' sid='%s' pause='100' xmlns='http://jabber.org/protocol/httpbind'/>", sid);
    /* both answered at once; the pause response carries no payload */
    CHECK_CONTAINS(body_of(r1), "before-pause");
    CHECK_STR(body_of(r2), "<body xmlns='http://jabber.org/protocol/httpbind'/>");
    now += 99000;
    bosh_tick(b, now);
    CHECK_INT(gone_calls, 0); /* inactivity is 100 s for now */
    /* the next request ends the pause */
    uintptr_t r3 = empty(b, sid, 2503);
    bosh_flush(b);
    now += 60000;
    bosh_tick(b, now);
    CHECK(resp_of(r3) != NULL);
    now += 60001;
    bosh_tick(b, now);
    CHECK_INT(gone_calls, 1);

    /* a pause over maxpause is not granted */
    create(b, 2600, NULL, sid);
    post(b, "<body rid='2601' sid='%s' pause='500' xmlns='http://jabber.org/protocol/httpbind'/>", sid);
    now += 60000;
    bosh_tick(b, now);
    now += 60001;
    bosh_tick(b, now);
    CHECK_INT(gone_calls, 2);
    /* and a pause that is not a number is a bad request */
    create(b, 2700, NULL, sid);
    uintptr_t r = post(b, "<body rid='2701' sid='%s' pause='soon' xmlns='http://jabber.org/protocol/httpbind'/>", sid);
    CHECK_STR(attr_in(body_of(r), "condition"), "bad-request");
    teardown(b);
}

static void test_polling(void)
{
    /* hold=1, requests=2: with one held, an empty request sooner than
     * `polling` is too much (section 11); a non-empty one is fine, and so is
     * an empty one after the interval. */
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 2800, NULL, sid);
    empty(b, sid, 2801);
    now += 1000;
    msg(b, sid, 2802, "fine");
    bosh_flush(b);
    CHECK_INT(stats(b).sessions, 1);
    now += 2000;
    empty(b, sid, 2803); /* 2802 was held: 2 outstanding, but 2 s later */
    bosh_flush(b);
    CHECK_INT(stats(b).sessions, 1);
    now += 1999;
    uintptr_t r = empty(b, sid, 2804);
    CHECK_STR(attr_in(body_of(r), "condition"), "policy-violation");
    bosh_flush(b);
    CHECK_INT(stats(b).sessions, 0);

    /* too many at once: held 2901, early 2903, then 2902 makes three */
    create(b, 2900, NULL, sid);
    empty(b, sid, 2901);
    now += 5000;
    msg(b, sid, 2903, "c");
    r = msg(b, sid, 2902, "b");
    CHECK_STR(attr_in(body_of(r), "condition"), "policy-violation");
    teardown(b);

    /* A polling session (hold=0): every request is answered at once; two
     * empty polls within `polling` seconds end it, unless the first one
     * brought something. */
    b = setup(NULL);
    uintptr_t c = post(b, "<body rid='10' to='" DOMAIN "' ver='1.11' hold='0' wait='60' "
                          "xmlns='http://jabber.org/protocol/httpbind'/>");
    CHECK(resp_of(c) != NULL); /* not held at all */
    snprintf(sid, sizeof(sid), "%s", attr_in(body_of(c), "sid"));
    CHECK_STR(attr_in(body_of(c), "hold"), "0");
    CHECK_STR(attr_in(body_of(c), "requests"), "1");
    CHECK_STR(attr_in(body_of(c), "inactivity"), "64");
    CHECK_CONTAINS(body_of(c), "<f1 ");
    now += 2000;
    empty(b, sid, 11);
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>p</body></message>");
    now += 500;
    uintptr_t p = empty(b, sid, 12); /* soon, but 11 was empty... */
    CHECK_STR(attr_in(body_of(p), "condition"), "policy-violation");
    teardown(b);

    b = setup(NULL);
    c = post(b, "<body rid='10' to='" DOMAIN "' ver='1.11' hold='0' xmlns='http://jabber.org/protocol/httpbind'/>");
    snprintf(sid, sizeof(sid), "%s", attr_in(body_of(c), "sid"));
    now += 2000;
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>p</body></message>");
    uintptr_t p1 = empty(b, sid, 11);
    CHECK_CONTAINS(body_of(p1), "<body>p</body>");
    now += 500;
    uintptr_t p2 = empty(b, sid, 12); /* soon, but 11 brought something */
    CHECK_STR(body_of(p2), "<body xmlns='http://jabber.org/protocol/httpbind'/>");
    CHECK_INT(stats(b).sessions, 1);
    teardown(b);
}

static void test_shutdown(void)
{
    struct bosh *b = setup(NULL);
    char sid[64], sid2[64];
    create(b, 3000, NULL, sid);
    uintptr_t r1 = empty(b, sid, 3001);
    create(b, 4000, NULL, sid2); /* nothing held */
    fake_push(fakes[0], "<message xmlns='jabber:client'><body>final</body></message>");
    bosh_shutdown(b);
    CHECK_INT(gone_calls, 2);
    CHECK_INT(gone_reentrant, 0);
    CHECK_STR(attr_in(body_of(r1), "condition"), "system-shutdown");
    CHECK_CONTAINS(body_of(r1), "final");
    CHECK_INT(stats(b).sessions, 0);
    CHECK_INT(stats(b).held, 0);
    uintptr_t r2 = empty(b, sid, 3002);
    CHECK_STR(attr_in(body_of(r2), "condition"), "system-shutdown");
    uintptr_t r3 = post(b, "<body rid='1' to='" DOMAIN "' ver='1.11' xmlns='http://jabber.org/protocol/httpbind'/>");
    CHECK_STR(attr_in(body_of(r3), "condition"), "system-shutdown");
    bosh_tick(b, now + 1000000);
    teardown(b);
}

static void test_request_gone(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    create(b, 3100, NULL, sid);
    uintptr_t r1 = empty(b, sid, 3101);
    bosh_flush(b);
    bosh_request_gone(b, (void *)r1);
    bosh_request_gone(b, (void *)r1);          /* twice: ignored */
    bosh_request_gone(b, (void *)(uintptr_t)999999); /* unknown: ignored */
    CHECK_INT(stats(b).held, 0);
    now += 61000;
    bosh_tick(b, now); /* its wait ends: nothing goes to the glue */
    CHECK(resp_of(r1) == NULL);
    CHECK_INT(gone_calls, 0);
    now += 61000;
    bosh_tick(b, now); /* then inactivity */
    CHECK_INT(gone_calls, 1);
    CHECK(resp_of(r1) == NULL);

    /* bosh_free: held requests get no answer, sessions get gone() */
    create(b, 3200, NULL, sid);
    uintptr_t r2 = empty(b, sid, 3201);
    bosh_flush(b);
    bosh_free(b);
    CHECK(resp_of(r2) == NULL);
    CHECK_INT(gone_calls, 2);
    CHECK_INT(gone_reentrant, 0);
    resps_reset();
}

/* An idle session (one held request) is small. */
static void test_memory(void)
{
    struct bosh *b = setup(NULL);
    char sid[64];
    for (int i = 0; i < 100; i++) {
        create(b, 5000, NULL, sid);
        empty(b, sid, 5001);
    }
    bosh_flush(b);
    CHECK_INT(stats(b).sessions, 100);
    CHECK_INT(stats(b).held, 100);
    teardown(b);
}

int main(void)
{
    xmpp_initialize();
    ctx = xmpp_ctx_new(NULL, NULL);
    checker = xmlin_new(ctx, NULL);

    test_creation();
    test_creation_refused();
    test_creation_held();
    test_restart();
    test_elements();
    test_flush_batching();
    test_wait_and_hold();
    test_inactivity();
    test_out_of_order();
    test_network_flap();
    test_flap_early();
    test_acks();
    test_rid_window();
    test_keys();
    test_malformed();
    test_pending_cap();
    test_server_close();
    test_client_terminate();
    test_pause();
    test_polling();
    test_shutdown();
    test_request_gone();
    test_memory();

    CHECK_INT(double_answers, 0);
    CHECK_INT(bad_bodies, 0);
    CHECK_INT(gone_reentrant, 0);
    xmlin_free(checker);
    xmpp_ctx_free(ctx);
    xmpp_shutdown();
    return check_report("test_bosh");
}
