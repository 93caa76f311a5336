/* libFuzzer target: the BOSH connection manager (bosh/bosh.c) fed any
 * sequence of requests, virtual time steps, lost connections and session
 * layer actions. It must never crash or leak, answer a request at most
 * once, answer only with a well-formed httpbind <body/> (or an HTTP error),
 * and never call gone() from inside a call of the session layer.
 *
 * Input: steps separated by NUL bytes. The first byte of a step picks what
 * it does, the rest is its argument:
 *   'P' body   POST `body`; "$SID" in it becomes the sid of the latest
 *              session created, so the fuzzer can reach live sessions
 *   'T' n      time passes: n (one byte) * 250 ms, then bosh_tick
 *   'G' n      the connection of the n-th unanswered request breaks
 *   'F'        bosh_flush
 *   'S' text   the latest session layer sends `text` as one element (when
 *              it is one: the contract says whole elements only)
 *   'C' cond   the latest session layer closes its stream (cond, or a
 *              normal close when empty)
 *   'X'        bosh_shutdown
 * Any other first byte posts the whole step as a body. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>

#include "bosh.h"
#include "xmlin.h"

#define MAXREQ 256
#define MAXSESS 64

static xmpp_ctx_t *ctx;
static struct xmlin *checker;

static struct {
    uintptr_t id;
    int answered;
    int gone;
} reqs[MAXREQ];
static int nreqs;
static int depth, in_respond;
static char sid[64];

struct fake {
    const struct stream_out *out;
    void *t;
    int alive;
};
static struct fake fakes[MAXSESS];
static int nfakes;
static struct fake *latest;

static void fail(const char *what, const char *text, size_t len)
{
    fprintf(stderr, "fuzz_bosh: %s: %.*s\n", what, (int)(len > 2000 ? 2000 : len), text ? text : "");
    abort();
}

static void on_respond(void *ud, void *req, int status, const char *ctype, const char *body, size_t len)
{
    (void)ud;
    (void)ctype;
    in_respond++;
    int found = 0;
    for (int i = 0; i < nreqs; i++) {
        if (reqs[i].id == (uintptr_t)req) {
            if (reqs[i].answered)
                fail("request answered twice", body, len);
            if (reqs[i].gone)
                fail("request answered after its connection went away", body, len);
            reqs[i].answered = 1;
            found = 1;
        }
    }
    if (!found)
        fail("answer to an unknown request", body, len);
    if (status == 200) {
        xmpp_stanza_t *st = NULL;
        char err[128];
        if (xmlin_parse(checker, body, len, &st, err, sizeof(err)) != 0 || !st)
            fail("response is not well-formed", body, len);
        if (strcmp(xmpp_stanza_get_name(st), "body") != 0 || !xmpp_stanza_get_ns(st) ||
            strcmp(xmpp_stanza_get_ns(st), BOSH_NS) != 0)
            fail("response is not an httpbind body", body, len);
        const char *s = xmpp_stanza_get_attribute(st, "sid");
        if (s && strlen(s) < sizeof(sid))
            snprintf(sid, sizeof(sid), "%s", s);
        xmpp_stanza_release(st);
    } else if (status < 400 || status > 599) {
        fail("odd HTTP status", body, len);
    }
    in_respond--;
}

static void *on_attach(void *ud, const struct stream_out *out, void *t, const struct stream_peer *peer,
                       const char **why)
{
    (void)ud;
    (void)peer;
    if (nfakes == MAXSESS) {
        *why = "full";
        return NULL;
    }
    struct fake *f = &fakes[nfakes++];
    f->out = out;
    f->t = t;
    f->alive = 1;
    latest = f;
    return f;
}

static void on_open(void *s, const char *to, const char *lang, const char *version)
{
    struct fake *f = s;
    (void)to;
    (void)lang;
    (void)version;
    depth++;
    f->out->open(f->t, "webrtc.localhost", "id'<&>\"");
    static const char feat[] = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"
                               "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>";
    f->out->send(f->t, feat, sizeof(feat) - 1);
    depth--;
}

/* Sends `el` as the session layer would: written out by libstrophe. The
 * contract says the session layer sends well-formed elements only, and what
 * xmlin parsed is not always that when written back (<xml:x/> becomes
 * xmlns='http://www.w3.org/XML/1998/namespace'): that is xmlin's to fix, so
 * such text is not sent here. */
static void send_element(struct fake *f, xmpp_stanza_t *el)
{
    char *text = NULL, err[64];
    size_t len = 0;
    if (xmpp_stanza_to_text(el, &text, &len) != XMPP_EOK)
        return;
    xmpp_stanza_t *again = NULL;
    if (xmlin_parse(checker, text, len, &again, err, sizeof(err)) == 0 && f->out->send(f->t, text, len) < 0)
        f->out->close(f->t, "policy-violation", NULL);
    if (again)
        xmpp_stanza_release(again);
    xmpp_free(ctx, text);
}

/* Echoes every element; a <message type='close'/> closes the stream. */
static void on_element(void *s, xmpp_stanza_t *el)
{
    struct fake *f = s;
    depth++;
    const char *type = xmpp_stanza_get_type(el);
    if (type && strcmp(type, "close") == 0) {
        f->out->close(f->t, "conflict", "replaced <by> & 'other'");
    } else {
        send_element(f, el);
    }
    depth--;
}

static void on_error(void *s, const char *cond, const char *text)
{
    struct fake *f = s;
    depth++;
    f->out->close(f->t, cond, text);
    depth--;
}

static void on_closed(void *s)
{
    struct fake *f = s;
    depth++;
    f->out->close(f->t, NULL, NULL);
    depth--;
}

static void on_gone(void *s)
{
    struct fake *f = s;
    if (depth || in_respond)
        fail("gone() called re-entrantly", NULL, 0);
    if (!f->alive)
        fail("gone() called twice", NULL, 0);
    f->alive = 0;
    if (latest == f)
        latest = NULL;
}

static const struct stream_in fake_in = {
    .attach = on_attach,
    .open = on_open,
    .element = on_element,
    .error = on_error,
    .closed = on_closed,
    .gone = on_gone,
};
static const struct bosh_http_ops fake_ops = {.respond = on_respond};
static const struct stream_peer peer = {.addr = "127.0.0.1", .secure = 1, .transport = "bosh"};

/* `body` with every "$SID" replaced by the latest sid. */
static void post(struct bosh *b, const uint8_t *p, size_t n, uint64_t now)
{
    char buf[16384];
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof(buf) - 64; i++) {
        if (i + 4 <= n && memcmp(p + i, "$SID", 4) == 0) {
            size_t l = strlen(sid);
            memcpy(buf + o, sid, l);
            o += l;
            i += 3;
        } else {
            buf[o++] = (char)p[i];
        }
    }
    if (nreqs == MAXREQ)
        return;
    uintptr_t id = (uintptr_t)(nreqs + 1);
    reqs[nreqs].id = id;
    reqs[nreqs].answered = 0;
    reqs[nreqs].gone = 0;
    nreqs++;
    bosh_request(b, (void *)id, buf, o, &peer, now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        xmpp_initialize();
        ctx = xmpp_ctx_new(NULL, NULL);
        checker = xmlin_new(ctx, NULL);
    }
    nreqs = 0;
    nfakes = 0;
    latest = NULL;
    sid[0] = '\0';

    struct bosh_opts o;
    bosh_opts_defaults(&o);
    o.domain = "webrtc.localhost";
    o.max_pending = 4096; /* small, so the cap is reached */
    o.hold_max = 2;
    o.requests_max = 3;
    struct bosh *b = bosh_new(ctx, &o, &fake_in, &fake_ops, NULL);
    if (!b)
        abort();
    uint64_t now = 1000;

    size_t i = 0;
    while (i < size) {
        size_t j = i;
        while (j < size && data[j] != 0)
            j++;
        const uint8_t *step = data + i;
        size_t n = j - i;
        i = j + 1;
        if (n == 0)
            continue;
        const uint8_t *arg = step + 1;
        size_t alen = n - 1;
        switch (step[0]) {
        case 'P':
            post(b, arg, alen, now);
            break;
        case 'T':
            now += (alen ? arg[0] : 1) * 250u;
            bosh_tick(b, now);
            break;
        case 'G': {
            int want = alen ? arg[0] : 0, k = 0;
            for (int r = 0; r < nreqs; r++) {
                if (!reqs[r].answered && !reqs[r].gone && k++ == want) {
                    reqs[r].gone = 1;
                    bosh_request_gone(b, (void *)reqs[r].id);
                    break;
                }
            }
            break;
        }
        case 'F':
            bosh_flush(b);
            break;
        case 'S':
            /* The session layer only ever sends whole elements: what
             * parses, as libstrophe writes it. */
            if (latest && latest->alive) {
                xmpp_stanza_t *st = NULL;
                char err[64];
                if (xmlin_parse(checker, (const char *)arg, alen, &st, err, sizeof(err)) == 0 && st)
                    send_element(latest, st);
                if (st)
                    xmpp_stanza_release(st);
            }
            break;
        case 'C':
            if (latest && latest->alive) {
                char cond[64];
                size_t l = alen < sizeof(cond) - 1 ? alen : sizeof(cond) - 1;
                memcpy(cond, arg, l);
                cond[l] = '\0';
                latest->out->close(latest->t, l ? cond : NULL, l ? "fuzz" : NULL);
            }
            break;
        case 'X':
            bosh_shutdown(b);
            break;
        default:
            post(b, step, n, now);
            break;
        }
    }
    bosh_flush(b);
    /* In every session the stats must add up. */
    struct bosh_stats st;
    bosh_get_stats(b, &st);
    unsigned long open_reqs = 0;
    for (int r = 0; r < nreqs; r++)
        if (!reqs[r].answered && !reqs[r].gone)
            open_reqs++;
    if (st.held != open_reqs) {
        fprintf(stderr, "held %lu, unanswered %lu\n", st.held, open_reqs);
        abort();
    }
    bosh_free(b);
    for (int k = 0; k < nfakes; k++)
        if (fakes[k].alive)
            fail("a session never got gone()", NULL, 0);
    return 0;
}
