/* sessions_load.c - load generator for browser sessions: XMPP over WebSocket
 * (RFC 7395) or over BOSH (XEP-0124/0206), SASL ANONYMOUS, on libuv.
 *
 * One process, one thread, one loop. It opens N sessions at a bounded
 * concurrency (connect; open the stream; SASL ANONYMOUS; restart; bind;
 * initial presence unless --no-presence), keeps them idle, checks that every
 * one still answers (an iq ping to the domain: "sessions held"), runs a
 * message ping-pong between pairs of them for a fixed time, and closes them
 * all. Between the phases it reads the server's VmRSS and CPU time from
 * /proc. The figures go out as one JSON object (stdout or --json FILE);
 * progress goes to stderr. bench/sessions runs it against each server.
 *
 * WebSocket is spoken directly on TCP: an HTTP/1.1 upgrade with the `xmpp`
 * sub-protocol, the accept key checked, RFC 6455 client frames (masked),
 * server frames unmasked, fragments reassembled, pings answered. BOSH is
 * HTTP/1.1 with keep-alive, at most two connections and two requests per
 * session, one request always held (hold=1): the long-poll loop a browser
 * library runs. The XML the servers send is scanned, not validated: enough
 * to split elements and read the attributes and texts the load needs.
 *
 * Every phase has a time limit; the process ends by itself. Loopback use
 * only: it opens thousands of connections as fast as the server accepts. */
#include <uv.h>

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_HTTPBIND "http://jabber.org/protocol/httpbind"
#define NS_XBOSH "urn:xmpp:xbosh"
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#define SL_MAX_INPUT (4u << 20)     /* bytes buffered per connection */
#define SL_MAX_HEAD (64u << 10)     /* bytes of an HTTP response head */
#define MAX_ERRS 48              /* distinct error kinds counted */
#define MAX_PIDS 8

/* ------------------------------------------------------------ buffers */

/* A growable byte buffer with a hard cap; freed when emptied, so that an
 * idle connection holds no buffer at all. */
struct buf {
    char *p;
    size_t len, cap;
};

/* Appends n bytes. Returns 0, or -1 past `limit` or out of memory. */
static int buf_add(struct buf *b, const void *d, size_t n, size_t limit)
{
    if (n > limit || b->len > limit - n)
        return -1;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    return 0;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Drops the first n bytes; frees the memory once nothing is left. */
static void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        buf_free(b);
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

/* printf into a reusable buffer (replacing its content). Returns 0 or -1. */
__attribute__((format(printf, 2, 3))) static int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n + 1 > b->cap) {
        char *p = realloc(b->p, (size_t)n + 1);
        if (!p)
            return -1;
        b->p = p;
        b->cap = (size_t)n + 1;
    }
    va_start(ap, fmt);
    vsnprintf(b->p, b->cap, fmt, ap);
    va_end(ap);
    b->len = (size_t)n;
    return 0;
}

/* ------------------------------------------------------------ XML scanning */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *skip_past(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    const char *f = memmem(p, (size_t)(end - p), lit, n);
    return f ? f + n : NULL;
}

/* p at the '<' of a start tag: returns the byte after its '>' (NULL if the
 * tag is incomplete); *empty = 1 for an empty-element tag. */
static const char *tag_end(const char *p, const char *end, int *empty)
{
    char q = 0;
    for (p++; p < end; p++) {
        if (q) {
            if (*p == q)
                q = 0;
        } else if (*p == '"' || *p == '\'') {
            q = *p;
        } else if (*p == '>') {
            *empty = p[-1] == '/';
            return p + 1;
        }
    }
    return NULL;
}

/* p at the '<' of a start tag: returns the byte after the whole element,
 * or NULL if it is incomplete or malformed. */
static const char *elem_end(const char *p, const char *end)
{
    int depth = 0, empty = 0;
    while (p && p < end) {
        if (*p != '<') {
            p = memchr(p, '<', (size_t)(end - p));
            continue;
        }
        if (end - p >= 4 && !memcmp(p, "<!--", 4)) {
            p = skip_past(p + 4, end, "-->");
        } else if (end - p >= 9 && !memcmp(p, "<![CDATA[", 9)) {
            p = skip_past(p + 9, end, "]]>");
        } else if (end - p >= 2 && p[1] == '?') {
            p = skip_past(p + 2, end, "?>");
        } else if (end - p >= 2 && p[1] == '/') {
            p = memchr(p, '>', (size_t)(end - p));
            if (!p || depth == 0)
                return NULL;
            p++;
            if (--depth == 0)
                return p;
        } else {
            p = tag_end(p, end, &empty);
            if (!p)
                return NULL;
            if (!empty)
                depth++;
            else if (depth == 0)
                return p;
        }
    }
    return NULL;
}

/* The next element at the current level from *pos: comments, processing
 * instructions and text are skipped. Returns 1 with [*el, *el_end) set, 0
 * at the parent's end tag or the end of the input, -1 if malformed. */
static int next_elem(const char **pos, const char *end, const char **el, const char **el_end)
{
    const char *p = *pos;
    for (;;) {
        p = p < end ? memchr(p, '<', (size_t)(end - p)) : NULL;
        if (!p)
            return 0;
        if (end - p >= 4 && !memcmp(p, "<!--", 4)) {
            p = skip_past(p + 4, end, "-->");
        } else if (end - p >= 2 && p[1] == '?') {
            p = skip_past(p + 2, end, "?>");
        } else if (end - p >= 2 && p[1] == '/') {
            return 0;
        } else {
            const char *e = elem_end(p, end);
            if (!e)
                return -1;
            *el = p;
            *el_end = e;
            *pos = e;
            return 1;
        }
        if (!p)
            return -1;
    }
}

/* The local name (after any prefix) of the element at el. */
static void elem_name(const char *el, const char *end, const char **n, size_t *nlen)
{
    const char *p = el + 1, *s = p;
    while (p < end && !is_space(*p) && *p != '>' && *p != '/') {
        if (*p == ':')
            s = p + 1;
        p++;
    }
    *n = s;
    *nlen = (size_t)(p - s);
}

static int name_is(const char *n, size_t nlen, const char *want)
{
    return nlen == strlen(want) && !memcmp(n, want, nlen);
}

/* The raw (still escaped) value of attribute `name` of the start tag at el.
 * Returns 0, or -1 when absent. */
static int elem_attr(const char *el, const char *end, const char *name, const char **v, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = el + 1;
    while (p < end && !is_space(*p) && *p != '>' && *p != '/')
        p++;
    for (;;) {
        while (p < end && is_space(*p))
            p++;
        if (p >= end || *p == '>' || *p == '/')
            return -1;
        const char *a = p;
        while (p < end && *p != '=' && !is_space(*p) && *p != '>')
            p++;
        size_t al = (size_t)(p - a);
        while (p < end && is_space(*p))
            p++;
        if (p >= end || *p != '=')
            return -1;
        p++;
        while (p < end && is_space(*p))
            p++;
        if (p >= end || (*p != '"' && *p != '\''))
            return -1;
        char q = *p++;
        const char *vs = p;
        p = memchr(p, q, (size_t)(end - p));
        if (!p)
            return -1;
        if (al == nl && !memcmp(a, name, nl)) {
            *v = vs;
            *vlen = (size_t)(p - vs);
            return 0;
        }
        p++;
    }
}

static int attr_is(const char *el, const char *end, const char *name, const char *want)
{
    const char *v;
    size_t vl;
    return !elem_attr(el, end, name, &v, &vl) && name_is(v, vl, want);
}

/* The text of the first element inside [el, end) whose local name is
 * `name` (up to its first child or end tag). Returns 0, or -1. */
static int child_text(const char *el, const char *end, const char *name, const char **t, size_t *tlen)
{
    const char *p = el + 1;
    while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
        if (p + 1 < end && p[1] != '/' && p[1] != '!' && p[1] != '?') {
            const char *n;
            size_t nl;
            elem_name(p, end, &n, &nl);
            if (name_is(n, nl, name)) {
                int empty = 0;
                const char *s = tag_end(p, end, &empty);
                if (!s || empty)
                    return -1;
                const char *e = memchr(s, '<', (size_t)(end - s));
                if (!e)
                    return -1;
                *t = s;
                *tlen = (size_t)(e - s);
                return 0;
            }
        }
        p++;
    }
    return -1;
}

/* The local name of the first child element of el (a stream error's or
 * SASL failure's condition), into out. */
static void first_child_name(const char *el, const char *end, char *out, size_t outlen)
{
    int empty = 0;
    const char *p = tag_end(el, end, &empty), *c, *ce, *n;
    size_t nl;
    snprintf(out, outlen, "?");
    if (!p || empty || next_elem(&p, end, &c, &ce) != 1)
        return;
    elem_name(c, ce, &n, &nl);
    snprintf(out, outlen, "%.*s", (int)(nl < 40 ? nl : 40), n);
}

/* A malloc'd NUL-terminated copy of XML text with the five predefined
 * entities and numeric ASCII references resolved. NULL when out of memory. */
static char *xml_unescape_dup(const char *s, size_t n)
{
    char *o = malloc(n + 1), *w = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n;) {
        static const struct { const char *e; char c; } ents[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''},
        };
        int done = 0;
        if (s[i] == '&') {
            for (size_t k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
                size_t el = strlen(ents[k].e);
                if (n - i >= el && !memcmp(s + i, ents[k].e, el)) {
                    *w++ = ents[k].c;
                    i += el;
                    done = 1;
                    break;
                }
            }
            if (!done && n - i > 3 && s[i + 1] == '#') {
                const char *semi = memchr(s + i, ';', n - i);
                unsigned long v = 0;
                int hex = s[i + 2] == 'x';
                for (const char *d = s + i + 2 + hex; semi && d < semi; d++)
                    v = v * (hex ? 16 : 10) + (unsigned long)(*d >= 'a' ? *d - 'a' + 10 : *d >= 'A' ? *d - 'A' + 10 : *d - '0');
                if (semi && v > 0 && v < 128) {
                    *w++ = (char)v;
                    i = (size_t)(semi - s) + 1;
                    done = 1;
                }
            }
        }
        if (!done)
            *w++ = s[i++];
    }
    *w = '\0';
    return o;
}

/* s escaped for an XML attribute value, into out (truncated to fit). */
static void xml_escape(char *out, size_t outlen, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < outlen; s++) {
        const char *r = NULL;
        switch (*s) {
        case '&': r = "&amp;"; break;
        case '<': r = "&lt;"; break;
        case '>': r = "&gt;"; break;
        case '"': r = "&quot;"; break;
        case '\'': r = "&apos;"; break;
        }
        if (r) {
            size_t rl = strlen(r);
            memcpy(out + o, r, rl);
            o += rl;
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

/* ------------------------------------------------------------ the model */

enum sess_state {
    S_NEW,          /* not started */
    S_CONNECTING,   /* TCP connect, WebSocket upgrade or BOSH creation sent */
    S_OPENING,      /* stream opened, waiting for the features */
    S_AUTH,         /* <auth mechanism='ANONYMOUS'/> sent */
    S_RESTART,      /* stream restarted, waiting for the features */
    S_BINDING,      /* bind iq sent */
    S_READY,        /* bound: idle, verified, playing ping-pong */
    S_CLOSING,      /* <close/> or BOSH terminate sent */
    S_CLOSED,       /* closed by us, the server agreeing */
    S_FAILED,       /* failed while opening, or dropped by the server */
};

enum conn_state { C_CONNECTING, C_UPGRADING, C_OPEN, C_CLOSING };

/* What a BOSH request carries (to know what its response answers). */
enum req_kind { K_NONE, K_CREATE, K_RESTART, K_POLL, K_DATA, K_TERM };

enum phase { PH_OPEN, PH_SETTLE, PH_IDLE, PH_VERIFY, PH_PINGPONG, PH_DRAIN, PH_CLOSE, PH_AFTER, PH_DONE };

struct bench;
struct sess;

struct conn {
    uv_tcp_t tcp;
    struct sess *s;
    unsigned char slot;   /* index in s->c[] */
    unsigned char st;     /* enum conn_state */
    unsigned char busy;   /* BOSH: a request is outstanding on it */
    unsigned char kind;   /* BOSH: enum req_kind of that request */
    unsigned wq;          /* writes queued in libuv */
    struct buf in;        /* received, not yet consumed */
    struct buf out;       /* BOSH: the request waiting for the connect */
    struct buf msg;       /* WebSocket: fragments of a message */
    char ws_key[25];      /* WebSocket: Sec-WebSocket-Key sent */
};

struct sess {
    struct bench *b;
    unsigned char st;             /* enum sess_state */
    unsigned char pinger;         /* sends the pings of its pair */
    unsigned char verify_pending; /* a verification iq is out */
    unsigned char verified;
    unsigned char outstanding;    /* BOSH requests without a response */
    unsigned char restart_pending, terminate_pending;
    struct conn *c[2];            /* WebSocket: c[0] only */
    char *jid;                    /* full JID from bind */
    char *sid;                    /* BOSH session id */
    uint64_t rid;                 /* BOSH: the last rid sent */
    uint64_t t0;                  /* set-up (or close) start, ns */
    uint64_t deadline;            /* set-up / close limit, ns */
    struct buf pend;              /* BOSH: stanzas waiting for a request */
    struct sess *peer;            /* ping-pong partner */
    uint32_t seq;                 /* pinger: number of the ping in flight */
    uint64_t t_ping;              /* pinger: when it left, ns (0: none) */
};

struct opts {
    int bosh;
    char host[64];
    int port;
    char path[256];
    char domain[256];
    char origin[320];
    unsigned sessions, concurrency, sources, verify_window;
    unsigned pairs;
    double duration, warmup, settle, idle, after;
    double setup_timeout, open_timeout, phase_timeout, ping_timeout;
    int presence, verify;
    int wait;
    int pids[MAX_PIDS];
    int npids;
    const char *json_path;
    const char *label;
    int quiet;
};

struct errcount {
    char what[64];
    unsigned n;
};

struct sample {
    long rss_kb;     /* sum of VmRSS, -1 if a process was gone */
    double cpu_s;    /* sum of utime+stime */
    double self_cpu_s; /* this process's own user+system time */
};

struct bench {
    struct opts o;
    uv_loop_t *loop;
    uv_timer_t tick;
    struct sockaddr_in addr;
    struct sess *sess;
    uint64_t rng;
    char rbuf[64 << 10];      /* read buffer shared by every connection */
    struct buf scratch, body, chunk;

    enum phase phase;
    uint64_t phase_start, phase_until, t_last_progress;
    unsigned next_start, in_flight, ready, failed, dropped, held_at_open;
    unsigned conns_open, conns_max;
    unsigned long long connects;
    struct errcount errs[MAX_ERRS];
    unsigned errs_other;

    uint64_t t_open_start, t_open_end;
    uint64_t t_open_99;       /* when 99% of the sessions were ready */
    unsigned n99;
    uint32_t *setup_us;       /* per ready session, microseconds */
    unsigned nsetup;
    uint32_t *close_us;       /* per session closed by the server's answer */
    unsigned nclose;

    unsigned verify_next, verify_inflight, verify_sent, verify_ok;
    uint64_t t_verify_start, t_verify_end;

    unsigned npairs;
    uint64_t pp_measure_start, pp_measure_end;
    int pp_sending;
    unsigned long long round_trips, rt_all, lost, pings_sent;
    uint32_t *rtt_us;
    size_t nrtt, rtt_cap;

    unsigned closing, closed_clean, closed_eof, close_forced, close_started, close_next;
    int in_open_more, in_close_more;   /* re-entrancy guards */
    uint64_t t_close_start, t_close_end;

    struct sample s_before, s_open_peak, s_open, s_verify, s_pp_start, s_pp, s_close;
    long client_rss_peak;
    char loadavg[64];
    int exit_code;
};

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static uint64_t rnd(struct bench *b)
{
    /* xorshift64*: masking keys and WebSocket keys need no more for a
     * load test on loopback */
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return b->rng * 0x2545F4914F6CDD1DULL;
}

/* ------------------------------------------------------------ /proc */

static long proc_rss_kb(int pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "VmRSS:", 6)) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

static double proc_cpu_s(int pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')');
    if (!p)
        return -1;
    /* after ") ": state(3) ppid ... utime is field 14, stime 15 */
    int field = 2;
    for (p++; *p && field < 14; p++)
        if (*p == ' ')
            field++;
    char *e;
    unsigned long long ut = strtoull(p, &e, 10);
    unsigned long long st = strtoull(e, NULL, 10);
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(ut + st) / (double)(hz > 0 ? hz : 100);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru))
        return 0;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* The server's memory and CPU time (and ours) now. */
static struct sample sample_server(struct bench *b)
{
    struct sample s = {b->o.npids ? 0 : -1, 0, self_cpu_s()};
    for (int i = 0; i < b->o.npids; i++) {
        long r = proc_rss_kb(b->o.pids[i]);
        double c = proc_cpu_s(b->o.pids[i]);
        if (r < 0 || s.rss_kb < 0)
            s.rss_kb = -1;
        else
            s.rss_kb += r;
        if (c >= 0)
            s.cpu_s += c;
    }
    return s;
}

/* ------------------------------------------------------------ errors */

__attribute__((format(printf, 2, 3))) static void err_count(struct bench *b, const char *fmt, ...)
{
    char what[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    /* the kinds are JSON keys: keep them plain */
    for (char *p = what; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == ':' || *p == '.'))
            *p = '_';
    for (int i = 0; i < MAX_ERRS; i++) {
        if (!b->errs[i].what[0]) {
            snprintf(b->errs[i].what, sizeof(b->errs[i].what), "%s", what);
            b->errs[i].n = 1;
            return;
        }
        if (!strcmp(b->errs[i].what, what)) {
            b->errs[i].n++;
            return;
        }
    }
    b->errs_other++;
}

/* ------------------------------------------------------------ connections */

static void open_more(struct bench *b);
static void sess_fail(struct sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ws_input(struct conn *c);
static void bosh_input(struct conn *c);
static void bosh_pump(struct sess *s);
static void sess_closed(struct sess *s, int clean);
static void close_more(struct bench *b);

struct wreq {
    uv_write_t req;
    struct conn *c;
    char data[];
};

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct bench *b = c->s->b;
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->msg);
    free(c);
    b->conns_open--;
}

/* Closes the connection and detaches it from its session; the memory goes
 * in the close callback, so `c` stays readable until the loop turns. */
static void conn_close(struct conn *c)
{
    if (c->st == C_CLOSING)
        return;
    c->st = C_CLOSING;
    if (c->s->c[c->slot] == c)
        c->s->c[c->slot] = NULL;
    if (c->busy) {
        c->busy = 0;
        if (c->s->outstanding)
            c->s->outstanding--;
    }
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = w->c;
    c->wq--;
    free(w);
    if (status < 0 && status != UV_ECANCELED && c->st != C_CLOSING)
        sess_fail(c->s, "write:%s", uv_err_name(status));
}

/* Writes n bytes in order: directly when nothing is queued, the rest (or
 * all) copied and queued. Returns 0, or -1 (the session then fails). */
static int conn_write(struct conn *c, const char *d, size_t n)
{
    if (c->st == C_CLOSING)
        return -1;
    if (c->wq == 0) {
        uv_buf_t ub = uv_buf_init((char *)d, (unsigned)n);
        int r = uv_try_write((uv_stream_t *)&c->tcp, &ub, 1);
        if (r >= 0) {
            d += r;
            n -= (size_t)r;
            if (n == 0)
                return 0;
        } else if (r != UV_EAGAIN) {
            return -1;
        }
    }
    struct wreq *w = malloc(sizeof(*w) + n);
    if (!w)
        return -1;
    w->c = c;
    memcpy(w->data, d, n);
    uv_buf_t ub = uv_buf_init(w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &ub, 1, on_write) < 0) {
        free(w);
        return -1;
    }
    c->wq++;
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *out)
{
    struct conn *c = h->data;
    (void)hint;
    *out = uv_buf_init(c->s->b->rbuf, sizeof(c->s->b->rbuf));
}

static void on_eof(struct conn *c, const char *why)
{
    struct sess *s = c->s;
    if (s->st == S_CLOSING) {
        /* a server that closes the connection after its <close/> or
         * terminate: the session is over either way */
        conn_close(c);
        if (!s->c[0] && !s->c[1])
            sess_closed(s, 0);
        return;
    }
    if (s->b->o.bosh && !c->busy) {
        conn_close(c);   /* an idle keep-alive connection the server closed */
        return;
    }
    sess_fail(s, "%s", why);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *ub)
{
    struct conn *c = st->data;
    (void)ub;
    if (c->st == C_CLOSING)
        return;
    if (nread < 0) {
        on_eof(c, nread == UV_EOF ? "eof" : uv_err_name((int)nread));
        return;
    }
    if (nread == 0)
        return;
    if (buf_add(&c->in, c->s->b->rbuf, (size_t)nread, SL_MAX_INPUT)) {
        sess_fail(c->s, "input-too-large");
        return;
    }
    if (c->s->b->o.bosh)
        bosh_input(c);
    else
        ws_input(c);
}

static void ws_send_upgrade(struct conn *c);

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    free(req);
    if (status == UV_ECANCELED || c->st == C_CLOSING)
        return;
    if (status < 0) {
        sess_fail(c->s, "connect:%s", uv_err_name(status));
        return;
    }
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0) {
        sess_fail(c->s, "read_start:%s", uv_err_name(r));
        return;
    }
    if (!c->s->b->o.bosh) {
        ws_send_upgrade(c);
        return;
    }
    c->st = C_OPEN;
    if (c->out.len) {
        if (conn_write(c, c->out.p, c->out.len)) {
            sess_fail(c->s, "write");
            return;
        }
        buf_free(&c->out);
    }
}

/* A new connection for s in slot `slot`, connecting. NULL on failure (the
 * reason counted in the errors). */
static struct conn *conn_new(struct sess *s, int slot)
{
    struct bench *b = s->b;
    struct conn *c = calloc(1, sizeof(*c));
    uv_connect_t *req = malloc(sizeof(*req));
    if (!c || !req) {
        free(c);
        free(req);
        err_count(b, "oom");
        return NULL;
    }
    c->s = s;
    c->slot = (unsigned char)slot;
    int r = uv_tcp_init_ex(b->loop, &c->tcp, AF_INET);
    if (r < 0) {
        err_count(b, "socket:%s", uv_err_name(r));
        free(c);
        free(req);
        return NULL;
    }
    c->tcp.data = c;
    b->conns_open++;
    if (b->conns_open > b->conns_max)
        b->conns_max = b->conns_open;
    s->c[slot] = c;
    c->st = C_CONNECTING;
    uv_os_fd_t fd;
    if (b->o.sources > 1 && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
        /* the port is chosen at connect time, per destination: without
         * this, bind() reserves a port for every destination at once */
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        struct sockaddr_in src;
        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(b->connects % b->o.sources));
        r = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0);
        if (r < 0) {
            free(req);
            sess_fail(s, "bind:%s", uv_err_name(r));
            return NULL;
        }
    }
    b->connects++;
    uv_tcp_nodelay(&c->tcp, 1);
    req->data = c;
    r = uv_tcp_connect(req, &c->tcp, (const struct sockaddr *)&b->addr, on_connect);
    if (r < 0) {
        free(req);
        sess_fail(s, "connect:%s", uv_err_name(r));
        return NULL;
    }
    return c;
}

/* ------------------------------------------------------------ WebSocket */

/* A number in base 10 or 16 at [p, end), at most 15 digits. Returns the
 * byte after its digits, or NULL when there is no digit. */
static const char *parse_num(const char *p, const char *end, int base, unsigned long long *v)
{
    const char *s = p;
    *v = 0;
    for (; p < end && p - s < 15; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0'
              : base == 16 && *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
              : base == 16 && *p >= 'A' && *p <= 'F' ? *p - 'A' + 10 : -1;
        if (d < 0)
            break;
        *v = *v * (unsigned)base + (unsigned)d;
    }
    return p == s ? NULL : p;
}

/* The status code of an HTTP/1.x response head of n bytes (not
 * NUL-terminated). Returns it, or -1 when the status line is not one. */
static int http_status(const char *p, size_t n)
{
    if (n < 12 || memcmp(p, "HTTP/1.", 7) || p[8] != ' ')
        return -1;
    int code = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        code = code * 10 + (p[i] - '0');
    }
    return code;
}

static void base64(char *out, const unsigned char *in, int n)
{
    EVP_EncodeBlock((unsigned char *)out, in, n);
}

static void ws_send_upgrade(struct conn *c)
{
    struct bench *b = c->s->b;
    unsigned char key[16];
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = rnd(b);
        memcpy(key + i, &r, 8);
    }
    base64(c->ws_key, key, 16);
    char origin[400] = "";
    if (b->o.origin[0])
        snprintf(origin, sizeof(origin), "Origin: %s\r\n", b->o.origin);
    if (buf_printf(&b->scratch,
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n"
                   "%s\r\n",
                   b->o.path, b->o.host, b->o.port, c->ws_key, origin) ||
        conn_write(c, b->scratch.p, b->scratch.len)) {
        sess_fail(c->s, "write");
        return;
    }
    c->st = C_UPGRADING;
}

/* One client frame (FIN set, masked) with the payload. */
static int ws_send_frame(struct conn *c, int opcode, const char *d, size_t n)
{
    struct bench *b = c->s->b;
    struct buf *f = &b->scratch;
    unsigned char h[14];
    size_t hl = 2;
    h[0] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        h[1] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    uint32_t m32 = (uint32_t)rnd(b);
    unsigned char mask[4];
    memcpy(mask, &m32, 4);
    memcpy(h + hl, mask, 4);
    hl += 4;
    f->len = 0;
    if (buf_add(f, h, hl, SIZE_MAX / 2) || buf_add(f, d, n, SIZE_MAX / 2))
        return -1;
    unsigned char *p = (unsigned char *)f->p + hl;
    for (size_t i = 0; i < n; i++)
        p[i] ^= mask[i & 3];
    return conn_write(c, f->p, f->len);
}

static void on_element(struct sess *s, const char *el, const char *end);

/* A complete text message from the server: one element (RFC 7395). */
static void ws_message(struct conn *c, const char *d, size_t n)
{
    const char *end = d + n;
    while (d < end && is_space(*d))
        d++;
    if (d == end)
        return;   /* white space: a keepalive */
    const char *e = *d == '<' ? elem_end(d, end) : NULL;
    if (!e) {
        sess_fail(c->s, "ws-not-one-element");
        return;
    }
    on_element(c->s, d, e);
}

/* The upgrade response head in c->in: 101, the right accept key and the
 * xmpp sub-protocol. Returns bytes consumed, 0 if incomplete, -1 failed. */
static long ws_upgrade_response(struct conn *c)
{
    const char *p = c->in.p, *end = p + c->in.len;
    const char *he = memmem(p, c->in.len, "\r\n\r\n", 4);
    if (!he)
        return c->in.len > SL_MAX_HEAD ? (sess_fail(c->s, "ws-head-too-large"), -1) : 0;
    int code = http_status(p, c->in.len);
    if (code < 0) {
        sess_fail(c->s, "ws-bad-status-line");
        return -1;
    }
    if (code != 101) {
        sess_fail(c->s, "ws-http-%d", code);
        return -1;
    }
    char want[64], cat[64];
    unsigned char sha[SHA_DIGEST_LENGTH];
    snprintf(cat, sizeof(cat), "%s%s", c->ws_key, WS_GUID);
    SHA1((const unsigned char *)cat, strlen(cat), sha);
    base64(want, sha, SHA_DIGEST_LENGTH);
    int accept_ok = 0, proto_ok = 0;
    for (const char *l = memmem(p, (size_t)(end - p), "\r\n", 2); l && l < he; l = memmem(l + 2, (size_t)(he - l), "\r\n", 2)) {
        const char *ls = l + 2, *le = memmem(ls, (size_t)(end - ls), "\r\n", 2);
        const char *colon = memchr(ls, ':', (size_t)(le - ls));
        if (!colon)
            continue;
        const char *v = colon + 1;
        while (v < le && is_space(*v))
            v++;
        const char *ve = le;
        while (ve > v && is_space(ve[-1]))
            ve--;
        size_t nl = (size_t)(colon - ls), vl = (size_t)(ve - v);
        if (nl == 20 && !strncasecmp(ls, "Sec-WebSocket-Accept", 20))
            accept_ok = vl == strlen(want) && !memcmp(v, want, vl);
        else if (nl == 22 && !strncasecmp(ls, "Sec-WebSocket-Protocol", 22))
            proto_ok = vl == 4 && !memcmp(v, "xmpp", 4);
    }
    if (!accept_ok) {
        sess_fail(c->s, "ws-bad-accept");
        return -1;
    }
    if (!proto_ok) {
        sess_fail(c->s, "ws-no-xmpp-protocol");
        return -1;
    }
    return (long)(he + 4 - p);
}

static void ws_input(struct conn *c)
{
    struct sess *s = c->s;
    while (c->st != C_CLOSING && c->in.len) {
        if (c->st == C_UPGRADING) {
            long used = ws_upgrade_response(c);
            if (used <= 0)
                return;
            buf_consume(&c->in, (size_t)used);
            c->st = C_OPEN;
            char dom[600], open[800];
            xml_escape(dom, sizeof(dom), s->b->o.domain);
            int n = snprintf(open, sizeof(open), "<open xmlns='" NS_FRAMING "' to='%s' version='1.0'/>", dom);
            if (ws_send_frame(c, 1, open, (size_t)n)) {
                sess_fail(s, "write");
                return;
            }
            s->st = S_OPENING;
            continue;
        }
        const unsigned char *p = (const unsigned char *)c->in.p;
        size_t n = c->in.len;
        if (n < 2)
            return;
        int fin = p[0] & 0x80, op = p[0] & 0x0f;
        uint64_t len = p[1] & 0x7f;
        size_t hl = 2;
        if (p[1] & 0x80) {
            sess_fail(s, "ws-masked-server-frame");
            return;
        }
        if (len == 126) {
            if (n < 4)
                return;
            len = (uint64_t)p[2] << 8 | p[3];
            hl = 4;
        } else if (len == 127) {
            if (n < 10)
                return;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[2 + i];
            hl = 10;
        }
        if (len > SL_MAX_INPUT) {
            sess_fail(s, "ws-frame-too-large");
            return;
        }
        if (n < hl + len)
            return;
        const char *d = (const char *)p + hl;
        switch (op) {
        case 0x0:
        case 0x1:
            if ((op == 0x1) != (c->msg.len == 0)) {
                sess_fail(s, "ws-bad-fragment");
                return;
            }
            if (!fin || c->msg.len) {
                if (buf_add(&c->msg, d, (size_t)len, SL_MAX_INPUT)) {
                    sess_fail(s, "ws-message-too-large");
                    return;
                }
                /* an empty first fragment leaves msg empty: keep a byte to
                 * remember a message is under way */
                if (!fin && c->msg.len == 0 && buf_add(&c->msg, " ", 1, SL_MAX_INPUT)) {
                    sess_fail(s, "oom");
                    return;
                }
            }
            if (fin) {
                if (c->msg.len) {
                    ws_message(c, c->msg.p, c->msg.len);
                    buf_free(&c->msg);
                } else {
                    ws_message(c, d, (size_t)len);
                }
            }
            break;
        case 0x8: {
            /* the server closes: answer with a close frame, then drop */
            int code = len >= 2 ? (unsigned char)d[0] << 8 | (unsigned char)d[1] : 1005;
            unsigned char cc[2] = {0x03, 0xe8};
            ws_send_frame(c, 0x8, (const char *)cc, 2);
            if (s->st == S_CLOSING) {
                on_eof(c, "ws-close");
            } else {
                sess_fail(s, "ws-close-%d", code);
            }
            return;
        }
        case 0x9:
            if (ws_send_frame(c, 0xA, d, (size_t)len)) {
                sess_fail(s, "write");
                return;
            }
            break;
        case 0xA:
            break;
        default:
            sess_fail(s, "ws-opcode-%d", op);
            return;
        }
        buf_consume(&c->in, hl + (size_t)len);
    }
}

/* ------------------------------------------------------------ BOSH */

/* The connection for the next request: an open idle one, else a new one
 * in a free slot. NULL when both are busy (or connecting fails). */
static struct conn *bosh_pick_conn(struct sess *s)
{
    for (int i = 0; i < 2; i++)
        if (s->c[i] && s->c[i]->st == C_OPEN && !s->c[i]->busy)
            return s->c[i];
    for (int i = 0; i < 2; i++)
        if (!s->c[i])
            return conn_new(s, i);
    return NULL;
}

/* Sends one request of the given kind (K_DATA takes s->pend). Returns 0,
 * -1 if no connection could take it. */
static int bosh_request(struct sess *s, int kind)
{
    struct bench *b = s->b;
    struct conn *c = bosh_pick_conn(s);
    if (!c)
        return -1;
    char dom[600];
    xml_escape(dom, sizeof(dom), b->o.domain);
    unsigned long long rid = ++s->rid;
    const char *sid = s->sid ? s->sid : "";
    int r = 0;
    switch (kind) {
    case K_CREATE:
        r = buf_printf(&b->body,
                       "<body content='text/xml; charset=utf-8' hold='1' rid='%llu' to='%s' ver='1.6' wait='%d' "
                       "xml:lang='en' xmpp:version='1.0' xmlns='" NS_HTTPBIND "' xmlns:xmpp='" NS_XBOSH "'/>",
                       rid, dom, b->o.wait);
        break;
    case K_RESTART:
        r = buf_printf(&b->body,
                       "<body rid='%llu' sid='%s' to='%s' xml:lang='en' xmpp:restart='true' xmlns='" NS_HTTPBIND
                       "' xmlns:xmpp='" NS_XBOSH "'/>",
                       rid, sid, dom);
        break;
    case K_POLL:
        r = buf_printf(&b->body, "<body rid='%llu' sid='%s' xmlns='" NS_HTTPBIND "'/>", rid, sid);
        break;
    case K_DATA:
        r = buf_printf(&b->body, "<body rid='%llu' sid='%s' xmlns='" NS_HTTPBIND "'>", rid, sid) ||
            buf_add(&b->body, s->pend.p, s->pend.len, SIZE_MAX / 2) || buf_add(&b->body, "</body>", 7, SIZE_MAX / 2);
        buf_free(&s->pend);
        break;
    case K_TERM:
        r = buf_printf(&b->body,
                       "<body rid='%llu' sid='%s' type='terminate' xmlns='" NS_HTTPBIND
                       "'><presence type='unavailable' xmlns='jabber:client'/></body>",
                       rid, sid);
        break;
    }
    char origin[400] = "";
    if (b->o.origin[0])
        snprintf(origin, sizeof(origin), "Origin: %s\r\n", b->o.origin);
    if (r || buf_printf(&b->scratch,
                        "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: text/xml; charset=utf-8\r\n"
                        "Content-Length: %zu\r\n%s\r\n",
                        b->o.path, b->o.host, b->o.port, b->body.len, origin) ||
        buf_add(&b->scratch, b->body.p, b->body.len, SIZE_MAX / 2))
        return -1;
    c->busy = 1;
    c->kind = (unsigned char)kind;
    s->outstanding++;
    if (c->st == C_OPEN)
        return conn_write(c, b->scratch.p, b->scratch.len);
    return buf_add(&c->out, b->scratch.p, b->scratch.len, SL_MAX_INPUT);
}

/* Sends what waits, within two requests; keeps one request held. */
static void bosh_pump(struct sess *s)
{
    if (s->st == S_FAILED || s->st == S_CLOSED || !s->sid)
        return;
    while (s->outstanding < 2) {
        int kind;
        if (s->restart_pending)
            kind = K_RESTART;
        else if (s->terminate_pending)
            kind = K_TERM;
        else if (s->pend.len)
            kind = K_DATA;
        else
            break;
        if (bosh_request(s, kind)) {
            sess_fail(s, "bosh-request");
            return;
        }
        if (kind == K_RESTART)
            s->restart_pending = 0;
        if (kind == K_TERM)
            s->terminate_pending = 0;
    }
    if (s->outstanding == 0 && s->st != S_CLOSING && bosh_request(s, K_POLL))
        sess_fail(s, "bosh-request");
}

static void verify_more(struct bench *b);

/* A response body for a request of `kind`. */
static void bosh_body(struct sess *s, int kind, const char *d, size_t n)
{
    const char *end = d + n, *pos = d, *el, *ee;
    if (next_elem(&pos, end, &el, &ee) != 1) {
        sess_fail(s, "bosh-no-body");
        return;
    }
    const char *nm;
    size_t nl;
    elem_name(el, ee, &nm, &nl);
    if (!name_is(nm, nl, "body")) {
        sess_fail(s, "bosh-not-body");
        return;
    }
    if (kind == K_CREATE) {
        const char *v;
        size_t vl;
        if (elem_attr(el, ee, "sid", &v, &vl)) {
            sess_fail(s, "bosh-no-sid");
            return;
        }
        s->sid = xml_unescape_dup(v, vl);
        if (!s->sid) {
            sess_fail(s, "oom");
            return;
        }
        s->st = S_OPENING;
    }
    if (kind == K_TERM) {
        sess_closed(s, 1);
        return;
    }
    if (attr_is(el, ee, "type", "terminate")) {
        const char *v;
        size_t vl;
        if (s->st == S_CLOSING) {
            sess_closed(s, 1);
            return;
        }
        if (elem_attr(el, ee, "condition", &v, &vl))
            v = "none", vl = 4;
        sess_fail(s, "bosh-terminate:%.*s", (int)(vl < 40 ? vl : 40), v);
        return;
    }
    int empty = 0;
    const char *p = tag_end(el, ee, &empty);
    if (!p || empty)
        return;
    const char *c, *ce;
    int r;
    while ((r = next_elem(&p, ee, &c, &ce)) == 1) {
        on_element(s, c, ce);
        if (s->st == S_FAILED || s->st == S_CLOSED)
            return;
    }
    if (r < 0)
        sess_fail(s, "bosh-bad-xml");
}

/* Decodes a chunked body at p (after the head) into b->chunk. Returns the
 * bytes the chunked body took, 0 if incomplete, -1 if malformed. */
static long http_dechunk(struct bench *b, const char *p, const char *end)
{
    const char *start = p;
    b->chunk.len = 0;
    for (;;) {
        const char *le = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!le)
            return 0;
        unsigned long long sz;
        if (!parse_num(p, le, 16, &sz))
            return -1;
        p = le + 2;
        if (sz == 0) {
            /* no trailers are expected: the final CRLF */
            if (end - p < 2)
                return 0;
            return (long)(p + 2 - start);
        }
        if ((size_t)(end - p) < sz + 2)
            return 0;
        if (buf_add(&b->chunk, p, sz, SL_MAX_INPUT))
            return -1;
        p += sz + 2;
    }
}

static void bosh_input(struct conn *c)
{
    struct sess *s = c->s;
    struct bench *b = s->b;
    while (c->st != C_CLOSING && c->in.len) {
        const char *p = c->in.p, *end = p + c->in.len;
        const char *he = memmem(p, c->in.len, "\r\n\r\n", 4);
        if (!he) {
            if (c->in.len > SL_MAX_HEAD)
                sess_fail(s, "http-head-too-large");
            return;
        }
        int code = http_status(p, c->in.len);
        if (code < 0) {
            sess_fail(s, "http-bad-status-line");
            return;
        }
        long clen = -1;
        int chunked = 0, close_after = !memcmp(p, "HTTP/1.0", 8);
        for (const char *l = memmem(p, (size_t)(he - p) + 2, "\r\n", 2); l && l < he;
             l = memmem(l + 2, (size_t)(he - l), "\r\n", 2)) {
            const char *ls = l + 2, *le = memmem(ls, (size_t)(end - ls), "\r\n", 2);
            const char *colon = memchr(ls, ':', (size_t)(le - ls));
            if (!colon)
                continue;
            const char *v = colon + 1;
            while (v < le && is_space(*v))
                v++;
            size_t nl = (size_t)(colon - ls), vl = (size_t)(le - v);
            unsigned long long u;
            if (nl == 14 && !strncasecmp(ls, "Content-Length", 14))
                clen = parse_num(v, le, 10, &u) && u <= SL_MAX_INPUT ? (long)u : -1;
            else if (nl == 17 && !strncasecmp(ls, "Transfer-Encoding", 17))
                chunked = vl >= 7 && memmem(v, vl, "chunked", 7);
            else if (nl == 10 && !strncasecmp(ls, "Connection", 10))
                close_after = vl >= 5 && !strncasecmp(v, "close", 5);
        }
        const char *body = he + 4;
        size_t blen, total;
        if (chunked) {
            long used = http_dechunk(b, body, end);
            if (used < 0) {
                sess_fail(s, "http-bad-chunks");
                return;
            }
            if (used == 0)
                return;
            total = (size_t)(body - p) + (size_t)used;
            body = b->chunk.p ? b->chunk.p : "";
            blen = b->chunk.len;
        } else {
            if (clen < 0) {
                sess_fail(s, "http-no-length");
                return;
            }
            if ((size_t)(end - body) < (size_t)clen)
                return;
            blen = (size_t)clen;
            total = (size_t)(body - p) + blen;
        }
        if (!c->busy) {
            sess_fail(s, "http-unrequested-response");
            return;
        }
        int kind = c->kind;
        c->busy = 0;
        c->kind = K_NONE;
        s->outstanding--;
        if (code != 200) {
            sess_fail(s, "http-%d", code);
            return;
        }
        bosh_body(s, kind, body, blen);
        buf_consume(&c->in, total);
        /* Two connections stay open while the ping-pong needs them;
         * otherwise the one that just went idle closes when the session
         * has another (the server holds the newer request, on either), so
         * that an idle session keeps one connection, as it would once a
         * browser's keep-alive ran out, and 19,000 sessions stay under
         * 20,000 open files on either side. */
        if (close_after ||
            (c->st != C_CLOSING && !c->busy && s->c[!c->slot] && b->phase != PH_PINGPONG && b->phase != PH_DRAIN))
            conn_close(c);
        if (s->st != S_FAILED && s->st != S_CLOSED)
            bosh_pump(s);
    }
}

/* ------------------------------------------------------------ XMPP */

/* Sends one top-level element (already namespace-qualified). */
static void sess_send(struct sess *s, const char *xml, size_t n)
{
    if (s->st == S_FAILED || s->st == S_CLOSED)
        return;
    if (s->b->o.bosh) {
        if (buf_add(&s->pend, xml, n, SL_MAX_INPUT)) {
            sess_fail(s, "pending-too-large");
            return;
        }
        bosh_pump(s);
        return;
    }
    if (!s->c[0] || ws_send_frame(s->c[0], 1, xml, n))
        sess_fail(s, "write");
}

__attribute__((format(printf, 2, 3))) static void sess_sendf(struct sess *s, const char *fmt, ...)
{
    char x[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(x, sizeof(x), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(x)) {
        sess_fail(s, "stanza-too-long");
        return;
    }
    sess_send(s, x, (size_t)n);
}

static void send_ping(struct sess *s)
{
    struct bench *b = s->b;
    char to[1200];
    xml_escape(to, sizeof(to), s->peer->jid);
    s->seq++;
    s->t_ping = now_ns();
    b->pings_sent++;
    sess_sendf(s, "<message xmlns='jabber:client' to='%s' id='p%u' type='chat'><body>ping</body></message>", to,
               (unsigned)s->seq);
}

static void sess_ready(struct sess *s)
{
    struct bench *b = s->b;
    uint64_t t = now_ns();
    if (b->o.presence)
        sess_sendf(s, "<presence xmlns='jabber:client'/>");
    if (s->st == S_FAILED)
        return;
    s->st = S_READY;
    b->ready++;
    /* one straggler waiting for its set-up timeout sets the time to open
     * all N: the time to 99% says how fast the bulk went */
    if (b->ready == b->n99)
        b->t_open_99 = t;
    b->in_flight--;
    b->setup_us[b->nsetup++] = (uint32_t)((t - s->t0) / 1000);
    open_more(b);
}

static void on_iq(struct sess *s, const char *el, const char *end)
{
    struct bench *b = s->b;
    const char *id, *v;
    size_t idl, vl;
    if (elem_attr(el, end, "id", &id, &idl))
        id = "", idl = 0;
    int result = attr_is(el, end, "type", "result"), error = attr_is(el, end, "type", "error");
    if (result || error) {
        if (name_is(id, idl, "bind_1") && s->st == S_BINDING) {
            if (!result || child_text(el, end, "jid", &v, &vl) || vl == 0) {
                sess_fail(s, "bind-failed");
                return;
            }
            s->jid = xml_unescape_dup(v, vl);
            if (!s->jid) {
                sess_fail(s, "oom");
                return;
            }
            sess_ready(s);
        } else if (name_is(id, idl, "v") && s->verify_pending) {
            s->verify_pending = 0;
            s->verified = 1;
            b->verify_inflight--;
            b->verify_ok++;
            if (b->phase == PH_VERIFY)
                verify_more(b);
        }
        return;
    }
    /* a get or set from the server (a ping, say): answer as a client does */
    char from[1200] = "", idx[300], fromattr[1300] = "";
    if (!elem_attr(el, end, "from", &v, &vl) && vl < 1000) {
        char *f = xml_unescape_dup(v, vl);
        if (f) {
            xml_escape(from, sizeof(from), f);
            free(f);
        }
        snprintf(fromattr, sizeof(fromattr), " to='%s'", from);
    }
    char *raw = xml_unescape_dup(id, idl < 200 ? idl : 200);
    xml_escape(idx, sizeof(idx), raw ? raw : "");
    free(raw);
    if (memmem(el, (size_t)(end - el), "urn:xmpp:ping", 13))
        sess_sendf(s, "<iq xmlns='jabber:client' type='result' id='%s'%s/>", idx, fromattr);
    else
        sess_sendf(s,
                   "<iq xmlns='jabber:client' type='error' id='%s'%s><error type='cancel'>"
                   "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
                   idx, fromattr);
}

static void on_message(struct sess *s, const char *el, const char *end)
{
    struct bench *b = s->b;
    const char *t, *v;
    size_t tl, vl;
    if (child_text(el, end, "body", &t, &tl))
        return;
    if (name_is(t, tl, "ping")) {
        if (elem_attr(el, end, "from", &v, &vl) || vl >= 1000)
            return;
        char from[1200], id[64] = "";
        char *f = xml_unescape_dup(v, vl);
        if (!f)
            return;
        xml_escape(from, sizeof(from), f);
        free(f);
        if (!elem_attr(el, end, "id", &v, &vl) && vl < 40)
            snprintf(id, sizeof(id), "%.*s", (int)vl, v);
        sess_sendf(s, "<message xmlns='jabber:client' to='%s' id='%s' type='chat'><body>pong</body></message>", from,
                   id);
        return;
    }
    if (!name_is(t, tl, "pong") || !s->pinger || !s->t_ping)
        return;
    char want[24];
    snprintf(want, sizeof(want), "p%u", (unsigned)s->seq);
    if (elem_attr(el, end, "id", &v, &vl) || !name_is(v, vl, want))
        return;   /* the answer to a ping already counted lost */
    uint64_t t_now = now_ns();
    b->rt_all++;
    if (t_now >= b->pp_measure_start && t_now <= b->pp_measure_end && b->pp_measure_start) {
        b->round_trips++;
        if (s->t_ping >= b->pp_measure_start) {
            if (b->nrtt == b->rtt_cap) {
                size_t cap = b->rtt_cap ? b->rtt_cap * 2 : 65536;
                uint32_t *r = realloc(b->rtt_us, cap * sizeof(*r));
                if (r) {
                    b->rtt_us = r;
                    b->rtt_cap = cap;
                }
            }
            if (b->nrtt < b->rtt_cap)
                b->rtt_us[b->nrtt++] = (uint32_t)((t_now - s->t_ping) / 1000);
        }
    }
    s->t_ping = 0;
    if (b->pp_sending && s->peer->st == S_READY)
        send_ping(s);
}

static void on_element(struct sess *s, const char *el, const char *end)
{
    const char *n;
    size_t nl;
    char cond[64];
    elem_name(el, end, &n, &nl);
    if (name_is(n, nl, "message")) {
        on_message(s, el, end);
    } else if (name_is(n, nl, "iq")) {
        on_iq(s, el, end);
    } else if (name_is(n, nl, "presence")) {
        /* our own presence, reflected */
    } else if (name_is(n, nl, "features")) {
        if (s->st == S_OPENING) {
            if (!memmem(el, (size_t)(end - el), "ANONYMOUS", 9)) {
                sess_fail(s, "no-sasl-anonymous");
                return;
            }
            s->st = S_AUTH;
            sess_sendf(s, "<auth xmlns='" NS_SASL "' mechanism='ANONYMOUS'/>");
        } else if (s->st == S_RESTART) {
            if (!memmem(el, (size_t)(end - el), NS_BIND, strlen(NS_BIND))) {
                sess_fail(s, "no-bind-feature");
                return;
            }
            s->st = S_BINDING;
            sess_sendf(s, "<iq xmlns='jabber:client' type='set' id='bind_1'><bind xmlns='" NS_BIND "'/></iq>");
        }
    } else if (name_is(n, nl, "challenge")) {
        if (s->st == S_AUTH)
            sess_sendf(s, "<response xmlns='" NS_SASL "'/>");
    } else if (name_is(n, nl, "success")) {
        if (s->st != S_AUTH) {
            sess_fail(s, "unexpected-success");
            return;
        }
        s->st = S_RESTART;
        if (s->b->o.bosh) {
            s->restart_pending = 1;
            bosh_pump(s);
        } else {
            char dom[600];
            xml_escape(dom, sizeof(dom), s->b->o.domain);
            sess_sendf(s, "<open xmlns='" NS_FRAMING "' to='%s' version='1.0'/>", dom);
        }
    } else if (name_is(n, nl, "failure")) {
        first_child_name(el, end, cond, sizeof(cond));
        sess_fail(s, "sasl-failure:%s", cond);
    } else if (name_is(n, nl, "open")) {
        /* the server's stream header (WebSocket) */
    } else if (name_is(n, nl, "close")) {
        if (s->st == S_CLOSING) {
            /* our close answered: end the WebSocket connection too */
            if (s->c[0]) {
                unsigned char cc[2] = {0x03, 0xe8};
                ws_send_frame(s->c[0], 0x8, (const char *)cc, 2);
            }
            sess_closed(s, 1);
        } else {
            sess_fail(s, "server-close");
        }
    } else if (name_is(n, nl, "error")) {
        first_child_name(el, end, cond, sizeof(cond));
        sess_fail(s, "stream-error:%s", cond);
    }
}

/* ------------------------------------------------------------ sessions */

static void sess_drop_conns(struct sess *s)
{
    for (int i = 0; i < 2; i++)
        if (s->c[i])
            conn_close(s->c[i]);
}

static void sess_fail(struct sess *s, const char *fmt, ...)
{
    struct bench *b = s->b;
    char what[64];
    va_list ap;
    if (s->st == S_FAILED || s->st == S_CLOSED)
        return;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    int was = s->st;
    s->st = S_FAILED;
    sess_drop_conns(s);
    if (s->verify_pending) {
        s->verify_pending = 0;
        b->verify_inflight--;
    }
    if (was == S_READY) {
        b->dropped++;
        err_count(b, "dropped:%s", what);
    } else if (was == S_CLOSING) {
        b->closing--;
        err_count(b, "close:%s", what);
        close_more(b);
    } else {
        b->failed++;
        b->in_flight--;
        err_count(b, "%s", what);
        open_more(b);
    }
}

static void sess_closed(struct sess *s, int clean)
{
    struct bench *b = s->b;
    if (s->st != S_CLOSING)
        return;
    s->st = S_CLOSED;
    sess_drop_conns(s);
    b->closing--;
    if (clean)
        b->closed_clean++;
    else
        b->closed_eof++;
    b->close_us[b->nclose++] = (uint32_t)((now_ns() - s->t0) / 1000);
    close_more(b);
}

static void sess_start(struct sess *s)
{
    struct bench *b = s->b;
    s->t0 = now_ns();
    s->deadline = s->t0 + (uint64_t)(b->o.setup_timeout * 1e9);
    s->st = S_CONNECTING;
    b->in_flight++;
    if (b->o.bosh) {
        s->rid = 1 + (rnd(b) >> 34);   /* well below 2^53 for every later rid */
        if (bosh_request(s, K_CREATE) && s->st != S_FAILED)
            sess_fail(s, "bosh-request");
    } else if (!conn_new(s, 0) && s->st != S_FAILED) {
        sess_fail(s, "connect");
    }
}

static void open_more(struct bench *b)
{
    /* sess_start can fail synchronously and call back here: the outer
     * call's loop goes on (its condition is re-read), the inner returns,
     * so that a run of failures does not recurse */
    if (b->in_open_more)
        return;
    b->in_open_more = 1;
    while (b->phase == PH_OPEN && b->in_flight < b->o.concurrency && b->next_start < b->o.sessions)
        sess_start(&b->sess[b->next_start++]);
    b->in_open_more = 0;
    if (b->phase == PH_OPEN && b->next_start >= b->o.sessions && b->in_flight == 0 && !b->t_open_end)
        b->t_open_end = now_ns();
}

static void sess_close_start(struct sess *s)
{
    struct bench *b = s->b;
    s->st = S_CLOSING;
    s->t0 = now_ns();
    s->deadline = s->t0 + (uint64_t)(b->o.phase_timeout * 1e9);
    b->closing++;
    b->close_started++;
    if (b->o.bosh) {
        s->terminate_pending = 1;
        bosh_pump(s);
    } else if (!s->c[0] || ws_send_frame(s->c[0], 1, "<close xmlns='" NS_FRAMING "'/>", strlen("<close xmlns='" NS_FRAMING "'/>"))) {
        sess_fail(s, "write");
    }
}

/* Starts closing ready sessions, at most verify_window at once (BOSH needs
 * a second connection for the terminate while the held request is out). */
static void close_more(struct bench *b)
{
    if (b->in_close_more || b->phase != PH_CLOSE)
        return;
    b->in_close_more = 1;
    while (b->closing < b->o.verify_window && b->close_next < b->o.sessions) {
        struct sess *s = &b->sess[b->close_next++];
        if (s->st == S_READY)
            sess_close_start(s);
    }
    if (b->close_next >= b->o.sessions && b->closing == 0 && !b->t_close_end)
        b->t_close_end = now_ns();
    b->in_close_more = 0;
}

/* ------------------------------------------------------------ phases */

static double secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

static void progress(struct bench *b, const char *what)
{
    if (b->o.quiet)
        return;
    long crss = proc_rss_kb(getpid());
    fprintf(stderr, "sessions_load[%s %s]: %s ready=%u failed=%u dropped=%u in_flight=%u conns=%u server_rss=%ldkB client_rss=%ldkB\n",
            b->o.label, b->o.bosh ? "bosh" : "websocket", what, b->ready, b->failed, b->dropped, b->in_flight,
            b->conns_open, sample_server(b).rss_kb, crss);
}

static void phase_set(struct bench *b, enum phase p, double seconds)
{
    b->phase = p;
    b->phase_start = now_ns();
    b->phase_until = b->phase_start + (uint64_t)(seconds * 1e9);
}

static void verify_more(struct bench *b)
{
    char dom[600];
    xml_escape(dom, sizeof(dom), b->o.domain);
    while (b->verify_inflight < b->o.verify_window && b->verify_next < b->o.sessions) {
        struct sess *s = &b->sess[b->verify_next++];
        if (s->st != S_READY)
            continue;
        s->verify_pending = 1;
        b->verify_inflight++;
        b->verify_sent++;
        sess_sendf(s, "<iq xmlns='jabber:client' type='get' id='v' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>", dom);
    }
}

static void pingpong_start(struct bench *b)
{
    struct sess *prev = NULL;
    b->npairs = 0;
    for (unsigned i = 0; i < b->o.sessions && b->npairs < b->o.pairs; i++) {
        struct sess *s = &b->sess[i];
        if (s->st != S_READY)
            continue;
        if (!prev) {
            prev = s;
            continue;
        }
        prev->peer = s;
        s->peer = prev;
        prev->pinger = 1;
        b->npairs++;
        prev = NULL;
    }
    uint64_t t = now_ns();
    b->pp_measure_start = t + (uint64_t)(b->o.warmup * 1e9);
    b->pp_measure_end = b->pp_measure_start + (uint64_t)(b->o.duration * 1e9);
    b->pp_sending = 1;
    for (unsigned i = 0; i < b->o.sessions; i++)
        if (b->sess[i].pinger && b->sess[i].st == S_READY)
            send_ping(&b->sess[i]);
}

static void finish(struct bench *b);

/* Timeouts of sessions, then the next phase when this one is over. */
static void on_tick(uv_timer_t *t)
{
    struct bench *b = t->data;
    uint64_t now = now_ns();
    long crss = proc_rss_kb(getpid());
    if (crss > b->client_rss_peak)
        b->client_rss_peak = crss;

    for (unsigned i = 0; i < b->o.sessions; i++) {
        struct sess *s = &b->sess[i];
        if (s->st > S_NEW && s->st < S_READY && now > s->deadline)
            sess_fail(s, "setup-timeout");
        else if (s->st == S_CLOSING && now > s->deadline) {
            sess_drop_conns(s);
            s->st = S_CLOSED;
            b->closing--;
            b->close_forced++;
            close_more(b);
        } else if (s->pinger && s->t_ping && now - s->t_ping > (uint64_t)(b->o.ping_timeout * 1e9)) {
            b->lost++;
            s->t_ping = 0;
            if (b->pp_sending && s->st == S_READY && s->peer->st == S_READY)
                send_ping(s);
        }
    }

    if (now - b->t_last_progress >= 1000000000ull) {
        b->t_last_progress = now;
        if (b->phase == PH_OPEN)
            progress(b, "opening");
        else if (b->phase == PH_CLOSE)
            progress(b, "closing");
    }

    switch (b->phase) {
    case PH_OPEN: {
        struct sample sm = sample_server(b);
        if (sm.rss_kb > b->s_open_peak.rss_kb)
            b->s_open_peak = sm;
        if (now > b->phase_until) {
            /* the whole phase is over its limit: what is still opening
             * fails, and nothing new starts */
            b->next_start = b->o.sessions;
            for (unsigned i = 0; i < b->o.sessions; i++)
                if (b->sess[i].st > S_NEW && b->sess[i].st < S_READY)
                    sess_fail(&b->sess[i], "open-phase-timeout");
        }
        if (b->next_start >= b->o.sessions && b->in_flight == 0) {
            if (!b->t_open_end)
                b->t_open_end = now;
            progress(b, "opened");
            phase_set(b, PH_SETTLE, b->o.settle);
        }
        break;
    }
    case PH_SETTLE:
        if (now >= b->phase_until) {
            b->s_open = sample_server(b);
            b->held_at_open = b->ready - b->dropped;
            phase_set(b, PH_IDLE, b->o.idle);
        }
        break;
    case PH_IDLE:
        if (now >= b->phase_until) {
            phase_set(b, PH_VERIFY, b->o.phase_timeout);
            if (b->o.verify) {
                b->t_verify_start = now;
                verify_more(b);
            }
        }
        break;
    case PH_VERIFY:
        if (b->o.verify)
            verify_more(b);
        if (!b->o.verify || (b->verify_next >= b->o.sessions && b->verify_inflight == 0) || now >= b->phase_until) {
            b->t_verify_end = now;
            b->s_verify = sample_server(b);
            progress(b, "verified");
            b->s_pp_start = b->s_verify;
            phase_set(b, PH_PINGPONG, b->o.warmup + b->o.duration);
            pingpong_start(b);
        }
        break;
    case PH_PINGPONG:
        if (now >= b->phase_until) {
            b->pp_sending = 0;
            phase_set(b, PH_DRAIN, b->o.ping_timeout);
        }
        break;
    case PH_DRAIN: {
        int left = 0;
        for (unsigned i = 0; i < b->o.sessions && !left; i++)
            left = b->sess[i].pinger && b->sess[i].t_ping && b->sess[i].st == S_READY;
        if (!left || now >= b->phase_until) {
            b->s_pp = sample_server(b);
            progress(b, "ping-pong done");
            b->t_close_start = now;
            phase_set(b, PH_CLOSE, b->o.open_timeout);
            close_more(b);
        }
        break;
    }
    case PH_CLOSE:
        close_more(b);
        if ((b->close_next >= b->o.sessions && b->closing == 0) || now >= b->phase_until) {
            if (!b->t_close_end)
                b->t_close_end = now;
            for (unsigned i = 0; i < b->o.sessions; i++)
                sess_drop_conns(&b->sess[i]);
            phase_set(b, PH_AFTER, b->o.after);
        }
        break;
    case PH_AFTER:
        /* every handle closes within a loop turn or two; the second
         * limit only guards against a bug here hanging the run */
        if (now >= b->phase_until && (b->conns_open == 0 || now - b->phase_until > 30000000000ull)) {
            b->s_close = sample_server(b);
            phase_set(b, PH_DONE, 0);
            finish(b);
        }
        break;
    case PH_DONE:
        break;
    }
}

/* ------------------------------------------------------------ report */

static int cmp_u32(const void *a, const void *c)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)c;
    return x < y ? -1 : x > y;
}

/* The p-th percentile (0..100) of a sorted array, in milliseconds. */
static double pct_ms(const uint32_t *v, size_t n, double p)
{
    if (n == 0)
        return -1;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i] / 1000.0;
}

static void json_num(FILE *f, const char *k, double v, int last)
{
    if (v < 0)
        fprintf(f, "\"%s\":null%s", k, last ? "" : ",");
    else
        fprintf(f, "\"%s\":%.3f%s", k, v, last ? "" : ",");
}

static void write_json(struct bench *b, FILE *f)
{
    qsort(b->setup_us, b->nsetup, sizeof(uint32_t), cmp_u32);
    qsort(b->rtt_us, b->nrtt, sizeof(uint32_t), cmp_u32);
    qsort(b->close_us, b->nclose, sizeof(uint32_t), cmp_u32);
    double open_s = secs(b->t_open_end - b->t_open_start);
    double pp_s = b->o.duration;
    long delta = b->s_open.rss_kb >= 0 && b->s_before.rss_kb >= 0 ? b->s_open.rss_kb - b->s_before.rss_kb : -1;
    fprintf(f, "{\"label\":\"%s\",\"transport\":\"%s\",\"url\":\"http://%s:%d%s\",\"domain\":\"%s\",", b->o.label,
            b->o.bosh ? "bosh" : "websocket", b->o.host, b->o.port, b->o.path, b->o.domain);
    fprintf(f, "\"sessions\":%u,\"concurrency\":%u,\"sources\":%u,\"presence\":%s,", b->o.sessions, b->o.concurrency,
            b->o.sources, b->o.presence ? "true" : "false");
    fprintf(f, "\"open\":{\"ready\":%u,\"failed\":%u,", b->ready, b->failed);
    json_num(f, "wall_s", open_s, 0);
    json_num(f, "rate_per_s", open_s > 0 ? b->ready / open_s : -1, 0);
    double open99_s = b->t_open_99 ? secs(b->t_open_99 - b->t_open_start) : -1;
    json_num(f, "wall_99_s", open99_s, 0);
    json_num(f, "rate_99_per_s", open99_s > 0 ? b->n99 / open99_s : -1, 0);
    json_num(f, "setup_ms_p50", pct_ms(b->setup_us, b->nsetup, 50), 0);
    json_num(f, "setup_ms_p99", pct_ms(b->setup_us, b->nsetup, 99), 0);
    json_num(f, "setup_ms_max", pct_ms(b->setup_us, b->nsetup, 100), 1);
    fprintf(f, "},\"errors\":{");
    int first = 1;
    for (int i = 0; i < MAX_ERRS && b->errs[i].what[0]; i++) {
        fprintf(f, "%s\"%s\":%u", first ? "" : ",", b->errs[i].what, b->errs[i].n);
        first = 0;
    }
    if (b->errs_other)
        fprintf(f, "%s\"other\":%u", first ? "" : ",", b->errs_other);
    fprintf(f, "},\"server\":{\"pids\":[");
    for (int i = 0; i < b->o.npids; i++)
        fprintf(f, "%s%d", i ? "," : "", b->o.pids[i]);
    fprintf(f, "],\"rss_kb_before\":%ld,\"rss_kb_open\":%ld,\"rss_kb_open_peak\":%ld,\"rss_kb_verified\":%ld,"
               "\"rss_kb_pingpong\":%ld,\"rss_kb_closed\":%ld,",
            b->s_before.rss_kb, b->s_open.rss_kb, b->s_open_peak.rss_kb, b->s_verify.rss_kb, b->s_pp.rss_kb,
            b->s_close.rss_kb);
    json_num(f, "bytes_per_session", delta >= 0 && b->held_at_open ? delta * 1024.0 / b->held_at_open : -1, 0);
    json_num(f, "cpu_s_open", b->s_open.cpu_s - b->s_before.cpu_s, 0);
    json_num(f, "cpu_s_pingpong", b->s_pp.cpu_s - b->s_pp_start.cpu_s, 0);
    json_num(f, "cpu_s_close", b->s_close.cpu_s - b->s_pp.cpu_s, 0);
    json_num(f, "cpu_s_total", b->s_close.cpu_s - b->s_before.cpu_s, 1);
    fprintf(f, "},\"held\":{\"at_rss\":%u,\"idle_s\":%.1f,\"checked\":%s,\"sent\":%u,\"answered\":%u,\"dropped\":%u,",
            b->held_at_open, b->o.idle, b->o.verify ? "true" : "false", b->verify_sent, b->verify_ok, b->dropped);
    json_num(f, "check_wall_s", b->o.verify ? secs(b->t_verify_end - b->t_verify_start) : -1, 1);
    fprintf(f, "},\"pingpong\":{\"pairs\":%u,\"warmup_s\":%.1f,\"duration_s\":%.1f,\"round_trips\":%llu,"
               "\"round_trips_all\":%llu,\"pings_sent\":%llu,\"lost\":%llu,",
            b->npairs, b->o.warmup, pp_s, b->round_trips, b->rt_all, b->pings_sent, b->lost);
    json_num(f, "messages_per_s", pp_s > 0 ? 2.0 * (double)b->round_trips / pp_s : -1, 0);
    json_num(f, "rtt_ms_p50", pct_ms(b->rtt_us, b->nrtt, 50), 0);
    json_num(f, "rtt_ms_p99", pct_ms(b->rtt_us, b->nrtt, 99), 0);
    json_num(f, "rtt_ms_max", pct_ms(b->rtt_us, b->nrtt, 100), 1);
    fprintf(f, "},\"close\":{\"started\":%u,\"clean\":%u,\"eof\":%u,\"forced\":%u,", b->close_started,
            b->closed_clean, b->closed_eof, b->close_forced);
    json_num(f, "close_ms_p50", pct_ms(b->close_us, b->nclose, 50), 0);
    json_num(f, "close_ms_p99", pct_ms(b->close_us, b->nclose, 99), 0);
    json_num(f, "wall_s", secs(b->t_close_end - b->t_close_start), 1);
    fprintf(f, "},\"client\":{\"rss_kb_peak\":%ld,\"connections_peak\":%u,\"connects\":%llu,", b->client_rss_peak,
            b->conns_max, b->connects);
    json_num(f, "cpu_s_open", b->s_open.self_cpu_s - b->s_before.self_cpu_s, 0);
    json_num(f, "cpu_s_pingpong", b->s_pp.self_cpu_s - b->s_pp_start.self_cpu_s, 1);
    fprintf(f, "},\"loadavg_before\":\"%s\"}\n", b->loadavg);
}

static void finish(struct bench *b)
{
    FILE *f = stdout;
    if (b->o.json_path && !(f = fopen(b->o.json_path, "w"))) {
        fprintf(stderr, "sessions_load: %s: %s\n", b->o.json_path, strerror(errno));
        f = stdout;
        b->exit_code = 1;
    }
    write_json(b, f);
    if (f != stdout)
        fclose(f);
    uv_timer_stop(&b->tick);
    uv_close((uv_handle_t *)&b->tick, NULL);
}

/* ------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr,
            "usage: sessions_load --url http://127.0.0.1:PORT/PATH --domain D [options]\n"
            "  --transport ws|bosh     websocket (RFC 7395) or BOSH (XEP-0206); default ws\n"
            "  --sessions N            sessions to open (10000)\n"
            "  --concurrency N         set-ups in flight at once (200)\n"
            "  --sources N             source addresses 127.0.0.1..127.0.0.N (1)\n"
            "  --origin URL            Origin header sent (none)\n"
            "  --pid PID               server process whose VmRSS/CPU is read (repeatable)\n"
            "  --settle S              seconds after the last set-up before reading RSS (3)\n"
            "  --idle S                seconds the sessions stay idle before the check (5)\n"
            "  --no-check              skip the iq ping every session sends after the idle time\n"
            "  --pairs K               ping-pong pairs (100)\n"
            "  --duration S            ping-pong measured seconds (10), after --warmup S (1)\n"
            "  --no-presence           no initial presence after bind\n"
            "  --wait S                BOSH wait attribute (60)\n"
            "  --setup-timeout S       one session's set-up limit (30)\n"
            "  --open-timeout S        limit of the whole opening, and of the whole closing (600)\n"
            "  --phase-timeout S       limit of the check phase and of one session's close (60)\n"
            "  --window N              checks and closes in flight at once (500)\n"
            "  --after S               seconds after closing before the last RSS (2)\n"
            "  --label TEXT            name of the target in the output\n"
            "  --json FILE             write the result there instead of stdout\n"
            "  --quiet                 no progress lines on stderr\n");
    exit(2);
}

static double num_arg(const char *opt, const char *v, double lo, double hi)
{
    char *e;
    errno = 0;
    double d = strtod(v, &e);
    if (errno || e == v || *e || d < lo || d > hi) {
        fprintf(stderr, "sessions_load: %s wants a number from %g to %g, not '%s'\n", opt, lo, hi, v);
        exit(2);
    }
    return d;
}

static void parse_url(struct opts *o, const char *url)
{
    const char *p = url;
    if (strncmp(p, "http://", 7)) {
        fprintf(stderr, "sessions_load: --url must be http://HOST:PORT/PATH (plain, loopback)\n");
        exit(2);
    }
    p += 7;
    const char *colon = strchr(p, ':'), *slash = strchr(p, '/');
    if (!colon || !slash || colon > slash || (size_t)(colon - p) >= sizeof(o->host)) {
        fprintf(stderr, "sessions_load: --url needs a host, a port and a path\n");
        exit(2);
    }
    snprintf(o->host, sizeof(o->host), "%.*s", (int)(colon - p), p);
    char port[8];
    snprintf(port, sizeof(port), "%.*s", (int)(slash - colon - 1 < 7 ? slash - colon - 1 : 7), colon + 1);
    o->port = (int)num_arg("--url port", port, 1, 65535);
    snprintf(o->path, sizeof(o->path), "%s", slash);
}

int main(int argc, char **argv)
{
    struct bench *b = calloc(1, sizeof(*b));
    if (!b)
        return 1;
    struct opts *o = &b->o;
    o->sessions = 10000;
    o->concurrency = 200;
    o->sources = 1;
    o->verify_window = 500;
    o->pairs = 100;
    o->duration = 10;
    o->warmup = 1;
    o->settle = 3;
    o->idle = 5;
    o->after = 2;
    o->setup_timeout = 30;
    o->open_timeout = 600;
    o->phase_timeout = 60;
    o->ping_timeout = 5;
    o->presence = 1;
    o->verify = 1;
    o->wait = 60;
    o->label = "server";
    int have_url = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKE() (v ? (i++, v) : (usage(), ""))
        if (!strcmp(a, "--transport")) {
            const char *t = TAKE();
            if (!strcmp(t, "ws") || !strcmp(t, "websocket"))
                o->bosh = 0;
            else if (!strcmp(t, "bosh"))
                o->bosh = 1;
            else
                usage();
        } else if (!strcmp(a, "--url")) {
            parse_url(o, TAKE());
            have_url = 1;
        } else if (!strcmp(a, "--domain")) {
            snprintf(o->domain, sizeof(o->domain), "%s", TAKE());
        } else if (!strcmp(a, "--origin")) {
            snprintf(o->origin, sizeof(o->origin), "%s", TAKE());
        } else if (!strcmp(a, "--sessions")) {
            o->sessions = (unsigned)num_arg(a, TAKE(), 1, 1000000);
        } else if (!strcmp(a, "--concurrency")) {
            o->concurrency = (unsigned)num_arg(a, TAKE(), 1, 100000);
        } else if (!strcmp(a, "--sources")) {
            o->sources = (unsigned)num_arg(a, TAKE(), 1, 250);
        } else if (!strcmp(a, "--pid")) {
            if (o->npids == MAX_PIDS)
                usage();
            o->pids[o->npids++] = (int)num_arg(a, TAKE(), 1, 1 << 22);
        } else if (!strcmp(a, "--settle")) {
            o->settle = num_arg(a, TAKE(), 0, 3600);
        } else if (!strcmp(a, "--idle")) {
            o->idle = num_arg(a, TAKE(), 0, 86400);
        } else if (!strcmp(a, "--no-check")) {
            o->verify = 0;
        } else if (!strcmp(a, "--window")) {
            o->verify_window = (unsigned)num_arg(a, TAKE(), 1, 100000);
        } else if (!strcmp(a, "--pairs")) {
            o->pairs = (unsigned)num_arg(a, TAKE(), 0, 500000);
        } else if (!strcmp(a, "--duration")) {
            o->duration = num_arg(a, TAKE(), 0.1, 3600);
        } else if (!strcmp(a, "--warmup")) {
            o->warmup = num_arg(a, TAKE(), 0, 3600);
        } else if (!strcmp(a, "--no-presence")) {
            o->presence = 0;
        } else if (!strcmp(a, "--wait")) {
            o->wait = (int)num_arg(a, TAKE(), 1, 3600);
        } else if (!strcmp(a, "--setup-timeout")) {
            o->setup_timeout = num_arg(a, TAKE(), 0.1, 3600);
        } else if (!strcmp(a, "--open-timeout")) {
            o->open_timeout = num_arg(a, TAKE(), 1, 86400);
        } else if (!strcmp(a, "--phase-timeout")) {
            o->phase_timeout = num_arg(a, TAKE(), 1, 3600);
        } else if (!strcmp(a, "--after")) {
            o->after = num_arg(a, TAKE(), 0, 3600);
        } else if (!strcmp(a, "--label")) {
            o->label = TAKE();
        } else if (!strcmp(a, "--json")) {
            o->json_path = TAKE();
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else {
            usage();
        }
#undef TAKE
    }
    if (!have_url || !o->domain[0])
        usage();
    /* both go into the JSON as they are */
    for (const char *p = o->label; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
            fprintf(stderr, "sessions_load: --label may not hold quotes, backslashes or control characters\n");
            return 2;
        }
    for (const char *p = o->domain; *p; p++)
        if (*p == '"' || *p == '\\' || *p == '\'' || *p == '<' || *p == '&' || (unsigned char)*p <= 0x20) {
            fprintf(stderr, "sessions_load: --domain may not hold quotes, backslashes, <, & or spaces\n");
            return 2;
        }
    if (uv_ip4_addr(o->host, o->port, &b->addr)) {
        fprintf(stderr, "sessions_load: %s is not an IPv4 address\n", o->host);
        return 2;
    }

    /* One descriptor a connection (two for a busy BOSH session). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)o->sessions + 64)
        fprintf(stderr, "sessions_load: warning: %llu open files allowed for %u sessions\n",
                (unsigned long long)rl.rlim_cur, o->sessions);

    b->rng = now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
    b->n99 = (unsigned)(((uint64_t)o->sessions * 99 + 99) / 100);
    b->sess = calloc(o->sessions, sizeof(*b->sess));
    b->setup_us = calloc(o->sessions, sizeof(uint32_t));
    b->close_us = calloc(o->sessions, sizeof(uint32_t));
    if (!b->sess || !b->setup_us || !b->close_us)
        return 1;
    for (unsigned i = 0; i < o->sessions; i++)
        b->sess[i].b = b;

    b->loop = uv_default_loop();
    uv_timer_init(b->loop, &b->tick);
    b->tick.data = b;
    uv_timer_start(&b->tick, on_tick, 100, 100);

    /* the load averages before the run: whether something else was busy */
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fgets(b->loadavg, sizeof(b->loadavg), la)) {
            int spaces = 0;
            for (char *p = b->loadavg; *p; p++)
                if ((*p == ' ' && ++spaces == 3) || *p == '\n' || *p == '"')
                    *p = '\0';
        }
        fclose(la);
    }
    b->s_before = sample_server(b);
    b->s_open_peak = b->s_before;
    b->t_open_start = now_ns();
    phase_set(b, PH_OPEN, o->open_timeout);
    open_more(b);
    uv_run(b->loop, UV_RUN_DEFAULT);

    int rc = b->exit_code;
    for (unsigned i = 0; i < o->sessions; i++) {
        free(b->sess[i].jid);
        free(b->sess[i].sid);
        buf_free(&b->sess[i].pend);
    }
    uv_loop_close(b->loop);
    free(b->sess);
    free(b->setup_us);
    free(b->close_us);
    free(b->rtt_us);
    buf_free(&b->scratch);
    buf_free(&b->body);
    buf_free(&b->chunk);
    free(b);
    return rc;
}
