/* link.c - XEP-0114 over libstrophe, driven by libuv. See link.h. */
#include "link.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "log.h"

/* A stanza waiting for the link, as text. */
struct qitem {
    struct qitem *next;
    size_t len;
    char xml[];
};

enum link_state {
    LINK_IDLE,          /* not started, or waiting to reconnect */
    LINK_CONNECTING,    /* TCP connect and handshake under way */
    LINK_UP,
    LINK_STOPPING,
    LINK_STOPPED,
};

struct link {
    uv_loop_t *loop;
    xmpp_ctx_t *ctx;
    xmpp_conn_t *conn;
    struct link_callbacks cb;

    char *host;
    char *domain;
    char *secret;
    char *ping_to;
    struct link_opts o;

    enum link_state state;
    int dead;                   /* ping timed out: stop writing, queue instead */
    int ever_up;
    unsigned attempt;           /* failed attempts since the last success */

    uv_poll_t *poll;            /* NULL when no socket is watched */
    int fd;
    int poll_events;
    uv_prepare_t prepare;
    uv_timer_t tick;            /* libstrophe timers and keepalive */
    uv_timer_t reconnect;
    uv_timer_t stop_timer;

    /* keepalive */
    char ping_id[40];
    uint64_t ping_sent_ms;      /* 0: none outstanding */
    uint64_t last_ping_ms;
    unsigned long ping_seq;

    /* waiting stanzas */
    struct qitem *qhead, **qtail;
    unsigned qcount;
    size_t qbytes;

    struct link_stats stats;
    int handles_open;
};

static void link_connect(struct link *l);
static void schedule_reconnect(struct link *l);

/* ------------------------------------------------------------------ */
/* The socket                                                          */

static void poll_closed(uv_handle_t *h)
{
    free(h);
}

static void unwatch(struct link *l)
{
    if (l->poll) {
        uv_poll_stop(l->poll);
        uv_close((uv_handle_t *)l->poll, poll_closed);
        l->poll = NULL;
    }
    l->fd = -1;
    l->poll_events = 0;
}

static void run_strophe(struct link *l)
{
    /* Non-blocking: sends what is queued, reads what arrived, runs
     * libstrophe's timers. Never xmpp_run() or a positive timeout. */
    xmpp_run_once(l->ctx, 0);
}

static void update_events(struct link *l);

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct link *l = h->data;
    (void)events;
    if (status < 0)
        log_debug("link", "poll error=%s", uv_strerror(status));
    run_strophe(l);
    update_events(l);
}

static void update_events(struct link *l)
{
    if (!l->poll || !l->conn)
        return;
    int want = UV_READABLE;
    if (xmpp_conn_is_connecting(l->conn) || xmpp_conn_send_queue_len(l->conn) > 0)
        want |= UV_WRITABLE;
    if (want != l->poll_events) {
        uv_poll_start(l->poll, want, on_poll);
        l->poll_events = want;
    }
}

static int on_sockopt(xmpp_conn_t *conn, void *sock)
{
    (void)conn;
    int fd = *(int *)sock;
    int one = 1;
    /* Nagle would hold a large stanza's tail for a delayed ACK. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    return 0;
}

/* libstrophe reports the socket only through the sockopt callback, which
 * has no user data: the link keeps a pointer per connection here. */
struct sock_watch {
    xmpp_conn_t *conn;
    struct link *link;
};

static int on_sockopt_watch(xmpp_conn_t *conn, void *sock);

/* libstrophe's sockopt callback carries no user data and a connection has
 * no user pointer: this table (the one piece of process-wide state here)
 * maps a connection to its link. One link per process in practice. */
#define MAX_LINKS 8
static struct sock_watch watches[MAX_LINKS];

static void watch_register(struct link *l)
{
    for (int i = 0; i < MAX_LINKS; i++)
        if (!watches[i].conn) {
            watches[i].conn = l->conn;
            watches[i].link = l;
            return;
        }
}

static void watch_unregister(xmpp_conn_t *conn)
{
    for (int i = 0; i < MAX_LINKS; i++)
        if (watches[i].conn == conn)
            watches[i].conn = NULL;
}

static int on_sockopt_watch(xmpp_conn_t *conn, void *sock)
{
    on_sockopt(conn, sock);
    for (int i = 0; i < MAX_LINKS; i++) {
        if (watches[i].conn != conn)
            continue;
        struct link *l = watches[i].link;
        unwatch(l);
        l->poll = calloc(1, sizeof(*l->poll));
        if (!l->poll)
            return -1;
        l->fd = *(int *)sock;
        if (uv_poll_init_socket(l->loop, l->poll, l->fd) != 0) {
            free(l->poll);
            l->poll = NULL;
            return -1;
        }
        l->poll->data = l;
        l->poll_events = UV_READABLE | UV_WRITABLE;
        uv_poll_start(l->poll, l->poll_events, on_poll);
        return 0;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Queue                                                               */

static void queue_flush(struct link *l)
{
    while (l->qhead && l->state == LINK_UP && !l->dead) {
        struct qitem *q = l->qhead;
        l->qhead = q->next;
        if (!l->qhead)
            l->qtail = &l->qhead;
        xmpp_send_raw(l->conn, q->xml, q->len);
        l->stats.stanzas_out++;
        l->qcount--;
        l->qbytes -= q->len;
        free(q);
    }
}

static void queue_clear(struct link *l)
{
    while (l->qhead) {
        struct qitem *q = l->qhead;
        l->qhead = q->next;
        free(q);
    }
    l->qtail = &l->qhead;
    l->qcount = 0;
    l->qbytes = 0;
}

int link_send(struct link *l, const char *xml, size_t len)
{
    if (l->state == LINK_UP && !l->dead && !l->qhead) {
        xmpp_send_raw(l->conn, xml, len);
        l->stats.stanzas_out++;
        return 0;
    }
    if (l->state == LINK_STOPPED || l->qcount >= l->o.queue_max ||
        len > l->o.queue_max_bytes - l->qbytes) {
        l->stats.queue_overflows++;
        return -1;
    }
    /* +1: libstrophe's xmpp_send_raw() reads the text as a C string */
    struct qitem *q = malloc(sizeof(*q) + len + 1);
    if (!q) {
        l->stats.queue_overflows++;
        return -1;
    }
    q->next = NULL;
    q->len = len;
    memcpy(q->xml, xml, len);
    q->xml[len] = '\0';
    *l->qtail = q;
    l->qtail = &q->next;
    l->qcount++;
    l->qbytes += len;
    l->stats.queued++;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Keepalive                                                           */

static uint64_t now_ms(struct link *l)
{
    return uv_now(l->loop);
}

static void send_ping(struct link *l)
{
    char xml[512];
    snprintf(l->ping_id, sizeof(l->ping_id), "epode-ping-%lu", ++l->ping_seq);
    int n = snprintf(xml, sizeof(xml),
                     "<iq type='get' from='%s' to='%s' id='%s'><ping xmlns='urn:xmpp:ping'/></iq>",
                     l->domain, l->ping_to, l->ping_id);
    if (n > 0 && (size_t)n < sizeof(xml)) {
        xmpp_send_raw(l->conn, xml, (size_t)n);
        l->ping_sent_ms = now_ms(l);
        l->last_ping_ms = l->ping_sent_ms;
    }
}

static void on_tick(uv_timer_t *t)
{
    struct link *l = t->data;
    if (l->conn)
        run_strophe(l);
    if (l->state != LINK_UP)
        return;
    uint64_t now = now_ms(l);
    if (l->ping_sent_ms && now - l->ping_sent_ms > (uint64_t)l->o.ping_timeout * 1000) {
        log_warn("link", "no answer to a ping in %us: the link is dead, reconnecting", l->o.ping_timeout);
        l->ping_sent_ms = 0;
        /* from now on stanzas wait in the queue: what is written after the
         * stream close would be lost */
        l->dead = 1;
        xmpp_disconnect(l->conn);
        return;
    }
    if (!l->ping_sent_ms && now - l->last_ping_ms >= (uint64_t)l->o.ping_interval * 1000)
        send_ping(l);
    update_events(l);
}

static void on_prepare(uv_prepare_t *p)
{
    struct link *l = p->data;
    /* Before the loop sleeps, hand libstrophe's queue to the socket:
     * without this a round trip waits for the next tick. The queue length
     * libstrophe reports leaves out its own writes (stream header,
     * handshake), so run it whenever a connection exists. */
    if (l->conn && (l->state == LINK_CONNECTING || l->state == LINK_UP || l->state == LINK_STOPPING))
        run_strophe(l);
    update_events(l);
}

/* ------------------------------------------------------------------ */
/* Connection                                                          */

static int on_stanza(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *ud)
{
    struct link *l = ud;
    (void)conn;
    l->stats.stanzas_in++;
    const char *name = xmpp_stanza_get_name(stanza);
    const char *id = xmpp_stanza_get_id(stanza);
    if (name && strcmp(name, "iq") == 0 && id && l->ping_id[0] && strcmp(id, l->ping_id) == 0) {
        /* any answer, even an error, proves the link alive */
        l->ping_sent_ms = 0;
        return 1;
    }
    if (l->cb.stanza)
        l->cb.stanza(l, stanza, l->cb.ud);
    return 1;
}

static void release_conn(struct link *l)
{
    if (!l->conn)
        return;
    watch_unregister(l->conn);
    xmpp_conn_release(l->conn);
    l->conn = NULL;
}

static const char *stream_error_name(xmpp_error_type_t t)
{
    switch (t) {
    case XMPP_SE_NOT_AUTHORIZED: return "not-authorized";
    case XMPP_SE_HOST_UNKNOWN: return "host-unknown";
    case XMPP_SE_CONFLICT: return "conflict";
    case XMPP_SE_INVALID_FROM: return "invalid-from";
    case XMPP_SE_SYSTEM_SHUTDOWN: return "system-shutdown";
    case XMPP_SE_CONN_TIMEOUT: return "connection-timeout";
    case XMPP_SE_HOST_GONE: return "host-gone";
    case XMPP_SE_POLICY_VIOLATION: return "policy-violation";
    case XMPP_SE_XML_NOT_WELL_FORMED: return "not-well-formed";
    case XMPP_SE_INVALID_XML: return "invalid-xml";
    case XMPP_SE_INTERNAL_SERVER_ERROR: return "internal-server-error";
    default: return "stream error";
    }
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t event, int error,
                    xmpp_stream_error_t *se, void *ud)
{
    struct link *l = ud;
    (void)conn;
    if (event == XMPP_CONN_CONNECT) {
        l->state = LINK_UP;
        l->dead = 0;
        l->attempt = 0;
        l->ever_up = 1;
        l->stats.connects++;
        l->ping_sent_ms = 0;
        l->last_ping_ms = now_ms(l);
        log_info("link", "connected server=%s:%u domain=%s queued=%u", l->host, l->o.port, l->domain,
                 l->qcount);
        queue_flush(l);
        if (l->cb.state)
            l->cb.state(l, 1, l->cb.ud);
        return;
    }
    if (event != XMPP_CONN_DISCONNECT && event != XMPP_CONN_FAIL)
        return;
    /* The socket is gone or going: stop watching it before its number can
     * be reused. */
    unwatch(l);
    const int was_up = l->state == LINK_UP;
    if (was_up) {
        l->stats.disconnects++;
        if (l->cb.state)
            l->cb.state(l, 0, l->cb.ud);
    }
    if (l->state == LINK_STOPPING) {
        l->state = LINK_STOPPED;
        log_info("link", "stream closed");
        uv_timer_stop(&l->stop_timer);
        if (l->cb.stopped)
            l->cb.stopped(l, l->cb.ud);
        return;
    }
    /* libstrophe gives error 0 for stream errors: look at the stream
     * error itself. */
    if (se) {
        const char *cond = stream_error_name(se->type);
        const char *text = se->text ? se->text : "";
        enum link_fatal fatal = 0;
        char why[400];
        switch (se->type) {
        case XMPP_SE_NOT_AUTHORIZED:
            fatal = LINK_FATAL_AUTH;
            snprintf(why, sizeof(why),
                     "the server at %s:%u rejected the component secret for %s (not-authorized%s%s): "
                     "check [epode] secret against the server's component configuration",
                     l->host, l->o.port, l->domain, *text ? ": " : "", text);
            break;
        case XMPP_SE_HOST_UNKNOWN:
        case XMPP_SE_INVALID_FROM:
        case XMPP_SE_IMPROPER_ADDR:
            fatal = LINK_FATAL_DOMAIN;
            snprintf(why, sizeof(why),
                     "the server at %s:%u does not serve %s as a component (%s%s%s): "
                     "add it to the server's component listener",
                     l->host, l->o.port, l->domain, cond, *text ? ": " : "", text);
            break;
        case XMPP_SE_CONFLICT:
            if (!was_up) {
                fatal = LINK_FATAL_CONFLICT;
                snprintf(why, sizeof(why),
                         "another component is already connected as %s to %s:%u (conflict)",
                         l->domain, l->host, l->o.port);
            }
            break;
        case XMPP_SE_INTERNAL_SERVER_ERROR:
            if (!was_up)
                log_warn("link", "the server refused the component with internal-server-error; on Openfire "
                         "this means no shared secret is configured for %s (retrying)", l->domain);
            break;
        default:
            break;
        }
        if (fatal && (!l->ever_up || fatal == LINK_FATAL_AUTH)) {
            log_error("link", "%s", why);
            l->state = LINK_STOPPED;
            if (l->cb.fatal)
                l->cb.fatal(l, fatal, why, l->cb.ud);
            return;
        }
        log_warn("link", "stream error from server condition=%s text=\"%s\"", cond, text);
    } else if (error && !was_up && (error == ECONNRESET || error == EPIPE)) {
        log_warn("link", "the server at %s:%u closed the connection before the handshake completed: "
                 "it refuses the component (Openfire does this, without a reason, when the subdomain "
                 "is not allowed, has no secret, or is already connected) error=%s",
                 l->host, l->o.port, strerror(error));
    } else if (error) {
        log_warn("link", "%s server=%s:%u error=%s", was_up ? "connection lost" : "cannot connect",
                 l->host, l->o.port, strerror(error));
    } else if (was_up) {
        log_warn("link", "disconnected server=%s:%u", l->host, l->o.port);
    } else {
        log_warn("link", "cannot connect server=%s:%u: nothing accepts the connection there "
                 "(is the XMPP server running, with a component listener on that port?)",
                 l->host, l->o.port);
    }
    l->state = LINK_IDLE;
    schedule_reconnect(l);
}

static void on_reconnect_timer(uv_timer_t *t)
{
    struct link *l = t->data;
    if (l->state == LINK_IDLE)
        link_connect(l);
}

static void schedule_reconnect(struct link *l)
{
    /* exponential backoff with jitter: a fleet of components restarted
     * together does not reconnect in step */
    uint64_t base = (uint64_t)l->o.reconnect_min * 1000;
    for (unsigned i = 0; i < l->attempt && base < (uint64_t)l->o.reconnect_max * 1000; i++)
        base *= 2;
    if (base > (uint64_t)l->o.reconnect_max * 1000)
        base = (uint64_t)l->o.reconnect_max * 1000;
    unsigned r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (unsigned)l->attempt * 7919u;
    uint64_t delay = base / 2 + (base ? r % (base / 2 + 1) : 0);
    l->attempt++;
    log_info("link", "reconnecting in %.1fs attempt=%u queued=%u", (double)delay / 1000.0, l->attempt,
             l->qcount);
    uv_timer_start(&l->reconnect, on_reconnect_timer, delay, 0);
}

static void link_connect(struct link *l)
{
    release_conn(l);
    l->conn = xmpp_conn_new(l->ctx);
    if (!l->conn) {
        log_error("link", "out of memory creating the connection");
        schedule_reconnect(l);
        return;
    }
    xmpp_conn_set_jid(l->conn, l->domain);
    xmpp_conn_set_pass(l->conn, l->secret);
    watch_register(l);
    xmpp_conn_set_sockopt_callback(l->conn, on_sockopt_watch);
    /* libstrophe (0.12 to 0.14) dereferences stream-management state that
     * component connections never allocate, on the first stanza received:
     * a client connect attempt to an empty domain allocates it and fails at
     * once, without network traffic (see ../shared/LAB.md). */
    xmpp_connect_client(l->conn, "", 1, NULL, NULL);
    xmpp_handler_add(l->conn, on_stanza, NULL, NULL, NULL, l);
    l->state = LINK_CONNECTING;
    log_info("link", "connecting server=%s:%u domain=%s", l->host, l->o.port, l->domain);
    if (xmpp_connect_component(l->conn, l->host, (unsigned short)l->o.port, on_conn, l) != XMPP_EOK) {
        log_warn("link", "cannot start connecting to %s:%u", l->host, l->o.port);
        l->state = LINK_IDLE;
        schedule_reconnect(l);
        return;
    }
    run_strophe(l);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */

struct link *link_new(uv_loop_t *loop, xmpp_ctx_t *ctx, const struct link_opts *o,
                      const struct link_callbacks *cb)
{
    struct link *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->loop = loop;
    l->ctx = ctx;
    l->cb = *cb;
    l->o = *o;
    l->fd = -1;
    l->qtail = &l->qhead;
    l->host = strdup(o->host);
    l->domain = strdup(o->domain);
    l->secret = strdup(o->secret);
    l->ping_to = strdup(o->ping_to ? o->ping_to : o->domain);
    if (!l->host || !l->domain || !l->secret || !l->ping_to) {
        link_free(l);
        return NULL;
    }
    uv_prepare_init(loop, &l->prepare);
    uv_timer_init(loop, &l->tick);
    uv_timer_init(loop, &l->reconnect);
    uv_timer_init(loop, &l->stop_timer);
    l->prepare.data = l->tick.data = l->reconnect.data = l->stop_timer.data = l;
    l->handles_open = 1;
    return l;
}

int link_start(struct link *l)
{
    uv_prepare_start(&l->prepare, on_prepare);
    uv_timer_start(&l->tick, on_tick, 100, 100);
    link_connect(l);
    return 0;
}

static void on_stop_timeout(uv_timer_t *t)
{
    struct link *l = t->data;
    if (l->state == LINK_STOPPED)
        return;
    log_warn("link", "the server did not close the stream in time; closing the socket");
    unwatch(l);
    release_conn(l);
    l->state = LINK_STOPPED;
    if (l->cb.stopped)
        l->cb.stopped(l, l->cb.ud);
}

void link_stop(struct link *l)
{
    uv_timer_stop(&l->reconnect);
    if (l->state != LINK_UP) {
        /* nothing to close gracefully */
        if (l->conn && xmpp_conn_is_connecting(l->conn))
            unwatch(l);
        release_conn(l);
        if (l->qcount)
            log_warn("link", "stopping while down: %u stanzas were not sent", l->qcount);
        l->state = LINK_STOPPED;
        if (l->cb.stopped)
            l->cb.stopped(l, l->cb.ud);
        return;
    }
    l->state = LINK_STOPPING;
    /* what is in libstrophe's queue goes out before the stream close */
    run_strophe(l);
    xmpp_disconnect(l->conn);
    run_strophe(l);
    uv_timer_start(&l->stop_timer, on_stop_timeout, 3000, 0);
}

static void handle_closed(uv_handle_t *h)
{
    (void)h;
}

void link_free(struct link *l)
{
    if (!l)
        return;
    unwatch(l);
    release_conn(l);
    queue_clear(l);
    if (l->handles_open) {
        uv_close((uv_handle_t *)&l->prepare, handle_closed);
        uv_close((uv_handle_t *)&l->tick, handle_closed);
        uv_close((uv_handle_t *)&l->reconnect, handle_closed);
        uv_close((uv_handle_t *)&l->stop_timer, handle_closed);
        /* the handles live in *l: let the loop finish closing them */
        uv_run(l->loop, UV_RUN_NOWAIT);
    }
    free(l->host);
    free(l->domain);
    if (l->secret) {
        memset(l->secret, 0, strlen(l->secret));
        free(l->secret);
    }
    free(l->ping_to);
    free(l);
}

int link_is_up(const struct link *l)
{
    return l->state == LINK_UP;
}

void link_get_stats(const struct link *l, struct link_stats *out)
{
    *out = l->stats;
    out->queued = l->qcount;
}
