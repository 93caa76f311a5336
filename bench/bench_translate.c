/* bench_translate - microseconds per translation, for each SDP file given.
 *
 * For every file it measures, each over about BENCH_SECONDS (default 0.3):
 *   sdp2jingle       SDP text -> Jingle XML text (what the daemon sends)
 *   jingle2sdp       Jingle XML text -> SDP text (expat reader)
 *   stanza2sdp       a libstrophe stanza already parsed -> SDP text (what the
 *                    daemon does with a stanza it received)
 *   expat_bare       expat alone parsing that Jingle text: the floor for any
 *                    path that starts from text
 *   strophe_parse    xmpp_stanza_new_from_string on that text (reference)
 *   strophe_to_text  xmpp_stanza_to_text of that stanza (reference)
 * and prints one JSON object per line: {"file","op","us","iters"}. */
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "jingle.h"
#include "jingle_stanza.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile size_t sink;

struct ctx {
    const char *sdp;
    size_t sdp_len;
    const char *xml;
    size_t xml_len;
    xmpp_stanza_t *stanza;
    xmpp_ctx_t *xctx;
    enum jingle_role role;
    enum jingle_action action;
};

static int op_sdp2jingle(struct ctx *c)
{
    struct sdp_error err;
    struct sdp_session *s = sdp_session_parse(c->sdp, c->sdp_len, &err);
    if (!s)
        return -1;
    struct buf b;
    buf_init(&b, 0);
    struct jingle_write_opts o = {.action = c->action, .sid = "bench", .author = c->role,
                                  .wrap_iq = 1, .iq_id = "b1", .iq_to = "bob@example.com/x"};
    struct jingle_error je;
    int rc = jingle_write(s, &o, &b, &je);
    sink += b.len;
    buf_free(&b);
    sdp_session_free(s);
    return rc;
}

static int op_jingle2sdp(struct ctx *c)
{
    struct jingle_error err;
    struct jingle *j = jingle_parse_xml(c->xml, c->xml_len, &err);
    if (!j)
        return -1;
    size_t n;
    char *t = jingle_to_sdp(j, c->role, &n);
    sink += n;
    free(t);
    jingle_free(j);
    return t ? 0 : -1;
}

static int op_stanza2sdp(struct ctx *c)
{
    struct jingle_error err;
    struct jingle *j = jingle_from_stanza(c->stanza, &err);
    if (!j)
        return -1;
    size_t n;
    char *t = jingle_to_sdp(j, c->role, &n);
    sink += n;
    free(t);
    jingle_free(j);
    return t ? 0 : -1;
}

static void XMLCALL noop_start(void *ud, const XML_Char *n, const XML_Char **a)
{
    (void)ud, (void)n, (void)a;
}

static void XMLCALL noop_end(void *ud, const XML_Char *n)
{
    (void)ud, (void)n;
}

static int op_expat_bare(struct ctx *c)
{
    /* the same parser set-up as the reader (namespaces on), empty handlers */
    XML_Parser p = XML_ParserCreateNS("UTF-8", '\x01');
    XML_SetElementHandler(p, noop_start, noop_end);
    int rc = XML_Parse(p, c->xml, (int)c->xml_len, XML_TRUE) == XML_STATUS_OK ? 0 : -1;
    XML_ParserFree(p);
    return rc;
}

static int op_strophe_parse(struct ctx *c)
{
    xmpp_stanza_t *st = xmpp_stanza_new_from_string(c->xctx, c->xml);
    if (!st)
        return -1;
    xmpp_stanza_release(st);
    return 0;
}

static int op_strophe_to_text(struct ctx *c)
{
    char *t;
    size_t n;
    if (xmpp_stanza_to_text(c->stanza, &t, &n) != XMPP_EOK)
        return -1;
    sink += n;
    xmpp_free(c->xctx, t);
    return 0;
}

static void measure(const char *file, const char *name, int (*fn)(struct ctx *), struct ctx *c,
                    double seconds)
{
    const char *only = getenv("BENCH_ONLY"); /* one operation, for profilers */
    if (only && strcmp(only, name) != 0)
        return;
    if (fn(c) != 0) {
        printf("{\"file\":\"%s\",\"op\":\"%s\",\"error\":\"failed\"}\n", file, name);
        return;
    }
    /* warm up, then size the batch so the clock is read rarely */
    long iters = 0;
    double t0 = now(), t;
    while ((t = now()) - t0 < seconds / 10) {
        fn(c);
        iters++;
    }
    long batch = iters > 10 ? iters / 10 : 1;
    iters = 0;
    t0 = now();
    do {
        for (long i = 0; i < batch; i++)
            fn(c);
        iters += batch;
        t = now();
    } while (t - t0 < seconds);
    printf("{\"file\":\"%s\",\"op\":\"%s\",\"us\":%.2f,\"iters\":%ld}\n", file, name,
           (t - t0) * 1e6 / (double)iters, iters);
    fflush(stdout);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b, 0);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        buf_append(&b, tmp, n);
    fclose(f);
    return buf_steal(&b, len);
}

int main(int argc, char **argv)
{
    const char *env = getenv("BENCH_SECONDS");
    double seconds = env ? atof(env) : 0.3;
    if (seconds <= 0)
        seconds = 0.3;
    xmpp_initialize();
    xmpp_ctx_t *xctx = xmpp_ctx_new(NULL, NULL);
    for (int i = 1; i < argc; i++) {
        const char *base = strrchr(argv[i], '/');
        base = base ? base + 1 : argv[i];
        struct ctx c = {.xctx = xctx};
        char *sdp = slurp(argv[i], &c.sdp_len);
        if (!sdp) {
            fprintf(stderr, "bench_translate: cannot read %s\n", argv[i]);
            continue;
        }
        c.sdp = sdp;
        const int answer = strstr(base, "answer") != NULL;
        c.role = answer ? JINGLE_ROLE_RESPONDER : JINGLE_ROLE_INITIATOR;
        c.action = answer ? JINGLE_SESSION_ACCEPT : JINGLE_SESSION_INITIATE;
        /* the Jingle text the reader paths start from: our own output */
        struct sdp_error err;
        struct sdp_session *s = sdp_session_parse(sdp, c.sdp_len, &err);
        if (!s) {
            printf("{\"file\":\"%s\",\"op\":\"parse\",\"error\":\"%s\"}\n", base, err.what);
            free(sdp);
            continue;
        }
        struct buf b;
        buf_init(&b, 0);
        struct jingle_write_opts o = {.action = c.action, .sid = "bench", .author = c.role,
                                      .wrap_iq = 1, .iq_id = "b1", .iq_to = "bob@example.com/x"};
        struct jingle_error je;
        jingle_write(s, &o, &b, &je);
        sdp_session_free(s);
        c.xml = b.data;
        c.xml_len = b.len;
        c.stanza = xmpp_stanza_new_from_string(xctx, b.data);
        printf("{\"file\":\"%s\",\"op\":\"sizes\",\"sdp_bytes\":%zu,\"jingle_bytes\":%zu}\n", base,
               c.sdp_len, c.xml_len);
        measure(base, "sdp2jingle", op_sdp2jingle, &c, seconds);
        measure(base, "jingle2sdp", op_jingle2sdp, &c, seconds);
        measure(base, "expat_bare", op_expat_bare, &c, seconds);
        if (c.stanza) {
            measure(base, "stanza2sdp", op_stanza2sdp, &c, seconds);
            measure(base, "strophe_parse", op_strophe_parse, &c, seconds);
            measure(base, "strophe_to_text", op_strophe_to_text, &c, seconds);
            xmpp_stanza_release(c.stanza);
        }
        buf_free(&b);
        free(sdp);
    }
    xmpp_ctx_free(xctx);
    xmpp_shutdown();
    return 0;
}
