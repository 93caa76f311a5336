/* fuzz_c2s: hostile clients and a hostile server against the session
 * layer (component/c2s.c).
 *
 * Two hosted users, alice and bob, log in (SCRAM-SHA-256) on fake
 * transports, with call signaling (calls.c) on; then the input is cut into
 * records, each one element given
 * to alice's stream, to bob's, or arriving from the XMPP server for a
 * hosted JID. Everything c2s sends must be one well-formed element (checked
 * by parsing it again with xmlin), nothing may crash or leak, and every
 * session must end cleanly however the input left it.
 *
 * Record format: one selector byte (low 2 bits: 0 alice, 1 bob, 2 from the
 * server, 3 close a stream; bit 2: advance the clock 2 s), then the
 * element up to the next NUL byte. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "calls.h"
#include "config.h"
#include "log.h"
#include "sasl.h"
#include "services.h"
#include "store.h"
#include "xmlin.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

struct fake {
    void *session;
    int closed;     /* close() called: gone() follows */
    int gone;
    unsigned sent;
    char last[1024];    /* the last element sent, if short */
};

static xmpp_ctx_t *ctx;
static struct store *store;
static struct sasl_server *sasl;
static struct xmlin *xin;
static struct epode_config cfg;
static struct services sv;
static struct c2s *c2s;
static struct calls *calls;
static uint64_t clock_ms = 1000000;
/* SCRAM-SHA-256 SaltedPassword of each user, derived once: a login per
 * input then costs a few HMACs instead of PBKDF2 */
static unsigned char salted[2][32];

static void check_element(const char *xml, size_t len)
{
    xmpp_stanza_t *st = NULL;
    char err[128];
    int rc = xmlin_parse(xin, xml, len, &st, err, sizeof(err));
    if (rc != XMLIN_OK) {
        fprintf(stderr, "c2s sent something that is not one element (%s): %.*s\n", err, (int)len, xml);
        abort();
    }
    xmpp_stanza_release(st);
}

static void f_open(void *t, const char *from, const char *id)
{
    (void)t;
    if (!from || !id || !id[0])
        abort();
}

static int f_send(void *t, const char *xml, size_t len)
{
    struct fake *f = t;
    if (f->gone)
        abort(); /* a session used after gone() */
    check_element(xml, len);
    f->sent++;
    size_t n = len < sizeof(f->last) - 1 ? len : 0;
    memcpy(f->last, xml, n);
    f->last[n] = '\0';
    return 0;
}

static void f_close(void *t, const char *cond, const char *text)
{
    struct fake *f = t;
    (void)cond, (void)text;
    f->closed = 1;
}

static const struct stream_out fake_out = {f_open, f_send, f_close};

static int sv_send(void *ud, const char *to, const char *xml, size_t len)
{
    (void)ud;
    check_element(xml, len);
    if (c2s && to)
        c2s_deliver_text(c2s, to, xml, len);
    return 0;
}

static int remote_send(void *ud, const char *xml, size_t len)
{
    (void)ud;
    check_element(xml, len);
    return 0;
}

static int local_send(void *ud, const char *to, const char *xml, size_t len)
{
    (void)ud;
    check_element(xml, len);
    return c2s ? c2s_deliver_text(c2s, to, xml, len) : -1;
}

static int user_exists(void *ud, const char *bare)
{
    (void)ud;
    return c2s ? c2s_user_exists(c2s, bare) : 0;
}

static uint64_t now(void *ud)
{
    (void)ud;
    return clock_ms;
}

static time_t fixed_time(void)
{
    return 1700000000;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_init(LOG_ERROR + 1, stderr);
    ctx = xmpp_ctx_new(NULL, NULL);
    struct store_error err;
    store = store_open(":memory:", &err);
    if (!store || store_user_create(store, "alice@webrtc.localhost", "alicepass") ||
        store_user_create(store, "bob@webrtc.localhost", "bobpass"))
        abort();
    config_defaults(&cfg);
    snprintf(cfg.domain, sizeof(cfg.domain), "webrtc.localhost");
    cfg.clients_anonymous = 1;
    cfg.clients_rate = 20;
    sasl = sasl_server_new(store, cfg.domain, 1);
    const char *users[2][2] = {{"alice@webrtc.localhost", "alicepass"}, {"bob@webrtc.localhost", "bobpass"}};
    for (int i = 0; i < 2; i++) {
        struct store_scram k;
        if (store_user_get_scram(store, users[i][0], STORE_SCRAM_SHA256, &k) ||
            !PKCS5_PBKDF2_HMAC(users[i][1], (int)strlen(users[i][1]), k.salt, (int)k.salt_len, (int)k.iterations,
                               EVP_sha256(), 32, salted[i]))
            abort();
    }
    xin = xmlin_new(ctx, NULL);
    sv.cfg = &cfg;
    sv.send = sv_send;
    sv.user_exists = user_exists;
    sv.now = fixed_time;
    return sasl && xin ? 0 : -1;
}

static void feed(struct fake *f, const char *xml)
{
    if (f->closed || f->gone)
        return;
    const struct stream_in *in = c2s_stream_in(c2s);
    xmpp_stanza_t *st = NULL;
    char err[128];
    int rc = xmlin_parse(xin, xml, strlen(xml), &st, err, sizeof(err));
    if (rc != XMLIN_OK) {
        in->error(f->session, xmlin_condition(rc), err);
        return;
    }
    in->element(f->session, st);
    xmpp_stanza_release(st);
}

static void b64(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* The text between the first '>' and the next '<' of f->last. */
static int last_text(struct fake *f, char *out, size_t size)
{
    const char *gt = strchr(f->last, '>');
    const char *lt = gt ? strchr(gt, '<') : NULL;
    if (!gt || !lt || (size_t)(lt - gt - 1) >= size)
        return -1;
    memcpy(out, gt + 1, (size_t)(lt - gt - 1));
    out[lt - gt - 1] = '\0';
    return 0;
}

/* A SCRAM-SHA-256 login as `user` (index into salted[]), then bind. */
static void login(struct fake *f, const char *user, int idx)
{
    const struct stream_in *in = c2s_stream_in(c2s);
    struct stream_peer peer = {"127.0.0.1", 1, "fuzz"};
    const char *why;
    f->session = in->attach(in->ud, &fake_out, f, &peer, &why);
    if (!f->session)
        abort();
    in->open(f->session, "webrtc.localhost", "en", "1.0");
    char first_bare[128], msg[2048], enc[2048], chal64[1024];
    unsigned char chal[768];
    snprintf(first_bare, sizeof(first_bare), "n=%s,r=fuzzclientnonce", user);
    snprintf(msg, sizeof(msg), "n,,%s", first_bare);
    b64((const unsigned char *)msg, strlen(msg), enc);
    snprintf(msg, sizeof(msg), "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>%s</auth>",
             enc);
    feed(f, msg);
    if (last_text(f, chal64, sizeof(chal64)))
        abort();
    int cl = EVP_DecodeBlock(chal, (const unsigned char *)chal64, (int)strlen(chal64));
    if (cl <= 0)
        abort();
    while (cl > 0 && chal[cl - 1] == '\0')
        cl--; /* EVP_DecodeBlock keeps the padding's zero bytes */
    chal[cl] = '\0';
    const char *r = strstr((const char *)chal, "r=");
    const char *comma = r ? strchr(r, ',') : NULL;
    if (!comma)
        abort();
    char without[512], auth_msg[1536];
    snprintf(without, sizeof(without), "c=biws,%.*s", (int)(comma - r), r);
    snprintf(auth_msg, sizeof(auth_msg), "%s,%s,%s", first_bare, (const char *)chal, without);
    unsigned char ckey[32], skey[32], sig[32], proof[32];
    unsigned int l = 32;
    HMAC(EVP_sha256(), salted[idx], 32, (const unsigned char *)"Client Key", 10, ckey, &l);
    EVP_Digest(ckey, 32, skey, NULL, EVP_sha256(), NULL);
    HMAC(EVP_sha256(), skey, 32, (const unsigned char *)auth_msg, strlen(auth_msg), sig, &l);
    for (int i = 0; i < 32; i++)
        proof[i] = ckey[i] ^ sig[i];
    char proof64[64];
    b64(proof, 32, proof64);
    snprintf(msg, sizeof(msg), "%s,p=%s", without, proof64);
    b64((const unsigned char *)msg, strlen(msg), enc);
    snprintf(msg, sizeof(msg), "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>", enc);
    feed(f, msg);
    if (!strstr(f->last, "<success"))
        abort(); /* the login itself must work */
    in->open(f->session, "webrtc.localhost", "en", "1.0");
    feed(f, "<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            "<resource>r</resource></bind></iq>");
    feed(f, "<presence xmlns='jabber:client'/>");
}

static void end(struct fake *f)
{
    if (f->session && !f->gone) {
        f->gone = 1;
        c2s_stream_in(c2s)->gone(f->session);
    }
}

/* Forgets the calls an input left in the store. */
static void sqlite_reset_calls(void)
{
    static const char *const sids[] = {"s1", "s2", "s3", "call", "x"};
    for (size_t i = 0; i < sizeof(sids) / sizeof(sids[0]); i++)
        store_jingle_session_delete(store, sids[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct calls_opts ko = {.cfg = &cfg, .store = store, .xctx = ctx, .remote_send = remote_send,
                            .local_send = local_send};
    calls = calls_new(&ko);
    struct c2s_opts o = {.cfg = &cfg, .store = store, .xctx = ctx, .sasl = sasl, .services = &sv,
                         .remote_send = remote_send, .calls = calls, .now_ms = now};
    c2s = c2s_new(&o);
    if (!c2s)
        abort();
    /* a roster to work on: bob in alice's, both ways */
    const char *g[] = {"Friends"};
    struct store_roster_item it = {"bob@webrtc.localhost", "Bob", g, 1, STORE_SUB_BOTH, 0, 0, 0};
    store_roster_item_put(store, "alice@webrtc.localhost", &it);
    it.jid = "alice@webrtc.localhost";
    store_roster_item_put(store, "bob@webrtc.localhost", &it);

    struct fake a = {0}, b = {0};
    login(&a, "alice", 0);
    login(&b, "bob", 1);

    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    size_t i = 0;
    while (i < size) {
        unsigned sel = (unsigned char)copy[i++];
        const char *rec = copy + i;
        size_t n = strlen(rec);
        i += n + 1;
        if (sel & 4)
            clock_ms += 2000;
        switch (sel & 3) {
        case 0:
            feed(&a, rec);
            break;
        case 1:
            feed(&b, rec);
            break;
        case 2: {
            xmpp_stanza_t *st = NULL;
            char err[128];
            if (xmlin_parse(xin, rec, n, &st, err, sizeof(err)) == XMLIN_OK) {
                c2s_handle_remote(c2s, st);
                xmpp_stanza_release(st);
            }
            break;
        }
        default: {
            struct fake *f = (sel & 8) ? &b : &a;
            if (!f->gone)
                c2s_stream_in(c2s)->closed(f->session);
            break;
        }
        }
        c2s_tick(c2s);
        /* the transport ends a closed stream from the loop, later */
        if (a.closed)
            end(&a);
        if (b.closed)
            end(&b);
    }
    free(copy);
    c2s_shutdown(c2s);
    end(&a);
    end(&b);
    c2s_free(c2s);
    c2s = NULL;
    calls_free(calls);
    calls = NULL;
    /* calls recorded in the store would make the next input differ */
    sqlite_reset_calls();
    /* the next input starts from the same roster */
    struct store_roster *r = NULL;
    const char *owners[] = {"alice@webrtc.localhost", "bob@webrtc.localhost"};
    for (int k = 0; k < 2; k++) {
        if (store_roster_get(store, owners[k], &r) == 0) {
            for (size_t j = 0; j < r->n; j++)
                store_roster_item_remove(store, owners[k], r->items[j].jid);
            store_roster_free(r);
        }
    }
    return 0;
}
