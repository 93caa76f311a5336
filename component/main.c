/* main.c - the epode daemon: configuration, signals, wiring. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <strophe.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "c2s.h"
#include "calls.h"
#include "config.h"
#include "control.h"
#include "http.h"
#include "link.h"
#include "log.h"
#include "sasl.h"
#include "services.h"
#include "store.h"

#define DEFAULT_CONFIG "/etc/epode/epode.conf"

/* Exit statuses (documented in docs/epode.md): */
enum {
    EXIT_OK = 0,
    EXIT_FATAL = 1,     /* retrying cannot help: bad secret, unusable database */
    EXIT_USAGE = 2,     /* bad flags or configuration */
};

static const char usage_text[] =
    "Usage: epode [--config FILE] [options]\n"
    "\n"
    "Epode lets web browsers and XMPP Jingle clients call each other. It runs as\n"
    "an external component (XEP-0114) of an XMPP server.\n"
    "\n"
    "Options (each overrides the configuration file):\n"
    "  --config FILE        configuration file (default " DEFAULT_CONFIG " if it exists)\n"
    "  --domain DOMAIN      the component's domain, e.g. webrtc.example.com\n"
    "  --server HOST:PORT   the XMPP server's component listener (default 127.0.0.1:5275)\n"
    "  --secret SECRET      the component secret (prefer secret_file in the configuration:\n"
    "                       command lines are visible to other users)\n"
    "  --listen HOST:PORT   the HTTP side for browsers (default 127.0.0.1:5290)\n"
    "  --db PATH            the SQLite database (default /var/lib/epode/epode.db)\n"
    "  --log-level LEVEL    debug, info, warn or error (default info)\n"
    "  --check-config       validate the configuration and exit\n"
    "  --help               this text\n"
    "  --version            the version\n"
    "\n"
    "Signals: SIGTERM and SIGINT stop Epode gracefully.\n"
    "Exit status: 0 stopped normally, 1 a fatal error (the message says what to fix),\n"
    "2 a usage or configuration error.\n";

struct daemon {
    struct epode_config cfg;
    uv_loop_t *loop;
    xmpp_ctx_t *xctx;
    struct link *link;
    struct services services;
    struct control *control;
    struct store *store;
    struct http_server *http;
    struct sasl_server *sasl;
    struct c2s *c2s;
    struct calls *calls;
    uv_timer_t tick;
    uv_signal_t sigterm, sigint, sighup;
    int exit_code;
    int stopping;
};

static void strophe_log(void *ud, xmpp_log_level_t level, const char *area, const char *msg)
{
    (void)ud;
    enum log_level l = level == XMPP_LEVEL_ERROR ? LOG_ERROR
                       : level == XMPP_LEVEL_WARN ? LOG_WARN
                       : level == XMPP_LEVEL_INFO ? LOG_DEBUG /* chatty: connection steps */
                                                  : LOG_DEBUG;
    if (!log_enabled(l))
        return;
    /* stanza text only at debug level, and truncated */
    log_msg(l, "strophe", "%s: %.300s", area, msg);
}

static int user_exists(void *ud, const char *bare)
{
    struct daemon *d = ud;
    if (d->c2s)
        return c2s_user_exists(d->c2s, bare);
    return d->store && store_user_exists(d->store, bare) == 0;
}

/* Sends to the XMPP server, through the link. */
static int send_remote(void *ud, const char *xml, size_t len)
{
    struct daemon *d = ud;
    if (!d->link)
        return -1; /* shutting down: the link is gone */
    return link_send(d->link, xml, len);
}

/* Where Epode's own answers go: a hosted user's session, or the link. */
static int send_xml(void *ud, const char *to, const char *xml, size_t len)
{
    struct daemon *d = ud;
    if (to && d->c2s) {
        const char *at = strchr(to, '@');
        const char *slash = strchr(to, '/');
        if (at && (!slash || at < slash)) {
            const char *dom = at + 1;
            size_t dl = strcspn(dom, "/");
            if (dl == strlen(d->cfg.domain) && strncasecmp(dom, d->cfg.domain, dl) == 0)
                {
                /* nobody online for it: an answer to a session that has
                 * just ended, nothing to keep */
                c2s_deliver_text(d->c2s, to, xml, len);
                return 0;
            }
        }
    }
    return send_remote(d, xml, len);
}

/* Call signaling for a hosted user's session(s). */
static int send_local(void *ud, const char *to, const char *xml, size_t len)
{
    struct daemon *d = ud;
    return d->c2s ? c2s_deliver_text(d->c2s, to, xml, len) : -1;
}

static uint64_t loop_now_ms(void *ud)
{
    struct daemon *d = ud;
    return uv_now(d->loop);
}

static void on_tick(uv_timer_t *t)
{
    struct daemon *d = t->data;
    c2s_tick(d->c2s);
    calls_flush(d->calls);
}

static void on_stanza(struct link *l, xmpp_stanza_t *st, void *ud)
{
    struct daemon *d = ud;
    (void)l;
    if (log_enabled(LOG_DEBUG)) {
        char *text;
        size_t len;
        if (xmpp_stanza_to_text(st, &text, &len) == XMPP_EOK) {
            log_debug("router", "in: %.400s", text);
            xmpp_free(d->xctx, text);
        }
    }
    if (c2s_handle_remote(d->c2s, st))
        return;
    if (services_handle(&d->services, st))
        return;
    const char *name = xmpp_stanza_get_name(st);
    const char *type = xmpp_stanza_get_type(st);
    if (!name)
        return;
    if (strcmp(name, "iq") == 0) {
        if (type && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0))
            services_reply_error(&d->services, st, "cancel", "service-unavailable", NULL);
        return;
    }
    if (strcmp(name, "message") == 0) {
        /* RFC 6121 8.5.2: nobody here takes messages yet */
        services_reply_error(&d->services, st, "cancel", "service-unavailable", NULL);
        return;
    }
    /* presence: nothing to do until hosted users exist */
}

static void on_state(struct link *l, int up, void *ud)
{
    (void)l, (void)ud;
    log_info("epode", "link %s", up ? "up" : "down");
}

static void close_all(struct daemon *d)
{
    if (!uv_is_closing((uv_handle_t *)&d->tick)) {
        uv_timer_stop(&d->tick);
        uv_close((uv_handle_t *)&d->tick, NULL);
    }
    http_stop(d->http);
    control_stop(d->control);
    d->control = NULL;
    uv_signal_stop(&d->sigterm);
    uv_signal_stop(&d->sigint);
    uv_signal_stop(&d->sighup);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
}

static void on_stopped(struct link *l, void *ud)
{
    struct daemon *d = ud;
    (void)l;
    log_info("epode", "stopped");
    close_all(d);
    uv_stop(d->loop);
}

static void on_fatal(struct link *l, enum link_fatal what, const char *why, void *ud)
{
    struct daemon *d = ud;
    (void)l, (void)what;
    fprintf(stderr, "epode: %s\n", why);
    d->exit_code = EXIT_FATAL;
    close_all(d);
    uv_stop(d->loop);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    if (signum == SIGHUP) {
        log_info("epode", "SIGHUP: configuration reload is not supported; restart to apply changes");
        return;
    }
    if (d->stopping) {
        log_warn("epode", "second signal: stopping now");
        close_all(d);
        uv_stop(d->loop);
        return;
    }
    d->stopping = 1;
    log_info("epode", "signal %s: stopping gracefully", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    /* browsers first: their unavailable presence still goes out on the
     * link, which flushes its queue before it closes */
    c2s_shutdown(d->c2s);
    link_stop(d->link);
}

static void control_status(void *ud, char *buf, size_t len)
{
    struct daemon *d = ud;
    struct link_stats st;
    link_get_stats(d->link, &st);
    snprintf(buf, len,
             "version %s\ndomain %s\nlink %s\nconnects %lu\ndisconnects %lu\nstanzas_in %lu\n"
             "stanzas_out %lu\nqueued %lu\nqueue_overflows %lu\niq_answered %lu\niq_errors %lu\n",
             EPODE_VERSION, d->cfg.domain, link_is_up(d->link) ? "up" : "down", st.connects,
             st.disconnects, st.stanzas_in, st.stanzas_out, st.queued, st.queue_overflows,
             d->services.iq_answered, d->services.iq_errors);
}

/* An operator's stanza: one element, from the component's domain (the
 * server disconnects a component that sends from elsewhere). */
static int control_send(void *ud, const char *xml, size_t len, char *err, size_t errlen)
{
    struct daemon *d = ud;
    (void)len;
    xmpp_stanza_t *st = xmpp_stanza_new_from_string(d->xctx, xml);
    if (!st || !xmpp_stanza_get_name(st)) {
        snprintf(err, errlen, "not one well-formed XML element");
        if (st)
            xmpp_stanza_release(st);
        return -1;
    }
    const char *name = xmpp_stanza_get_name(st);
    if (strcmp(name, "message") != 0 && strcmp(name, "presence") != 0 && strcmp(name, "iq") != 0) {
        snprintf(err, errlen, "<%s/> is not a stanza (message, presence, iq)", name);
        xmpp_stanza_release(st);
        return -1;
    }
    const char *from = xmpp_stanza_get_from(st);
    if (!from) {
        xmpp_stanza_set_from(st, d->cfg.domain);
    } else {
        const char *at = strchr(from, '@');
        const char *dom = at ? at + 1 : from;
        size_t dl = strcspn(dom, "/");
        if (dl != strlen(d->cfg.domain) || strncasecmp(dom, d->cfg.domain, dl) != 0) {
            snprintf(err, errlen, "from must be %s or one of its JIDs", d->cfg.domain);
            xmpp_stanza_release(st);
            return -1;
        }
    }
    char *text;
    size_t tl;
    int rc = -1;
    if (xmpp_stanza_to_text(st, &text, &tl) == XMPP_EOK) {
        rc = link_send(d->link, text, tl);
        if (rc)
            snprintf(err, errlen, "the link is down and its queue is full");
        xmpp_free(d->xctx, text);
    } else {
        snprintf(err, errlen, "out of memory");
    }
    xmpp_stanza_release(st);
    return rc;
}

/* /metrics: the link and service counters, in Prometheus text format. */
static void http_metrics(void *ud, struct http_buf *b)
{
    struct daemon *d = ud;
    struct link_stats st;
    memset(&st, 0, sizeof(st));
    if (d->link)
        link_get_stats(d->link, &st);
    http_buf_printf(b,
                    "# HELP epode_info Epode's version.\n"
                    "# TYPE epode_info gauge\n"
                    "epode_info{version=\"%s\"} 1\n"
                    "# HELP epode_link_up Whether the XEP-0114 link to the XMPP server is up.\n"
                    "# TYPE epode_link_up gauge\n"
                    "epode_link_up %d\n"
                    "# HELP epode_link_connects_total Handshakes completed with the XMPP server.\n"
                    "# TYPE epode_link_connects_total counter\n"
                    "epode_link_connects_total %lu\n"
                    "# HELP epode_link_disconnects_total Links lost after a completed handshake.\n"
                    "# TYPE epode_link_disconnects_total counter\n"
                    "epode_link_disconnects_total %lu\n"
                    "# HELP epode_link_stanzas_in_total Stanzas received from the XMPP server.\n"
                    "# TYPE epode_link_stanzas_in_total counter\n"
                    "epode_link_stanzas_in_total %lu\n"
                    "# HELP epode_link_stanzas_out_total Stanzas sent to the XMPP server.\n"
                    "# TYPE epode_link_stanzas_out_total counter\n"
                    "epode_link_stanzas_out_total %lu\n"
                    "# HELP epode_link_queued Stanzas waiting for the link to come back.\n"
                    "# TYPE epode_link_queued gauge\n"
                    "epode_link_queued %lu\n"
                    "# HELP epode_link_queue_overflows_total Stanzas refused because the queue was full.\n"
                    "# TYPE epode_link_queue_overflows_total counter\n"
                    "epode_link_queue_overflows_total %lu\n"
                    "# HELP epode_iq_answered_total Requests (iq) the component answered with a result.\n"
                    "# TYPE epode_iq_answered_total counter\n"
                    "epode_iq_answered_total %lu\n"
                    "# HELP epode_iq_errors_total Requests (iq) the component answered with an error.\n"
                    "# TYPE epode_iq_errors_total counter\n"
                    "epode_iq_errors_total %lu\n",
                    EPODE_VERSION, d->link && link_is_up(d->link), st.connects, st.disconnects, st.stanzas_in,
                    st.stanzas_out, st.queued, st.queue_overflows, d->services.iq_answered, d->services.iq_errors);
    struct c2s_stats cs;
    memset(&cs, 0, sizeof(cs));
    if (d->c2s)
        c2s_get_stats(d->c2s, &cs);
    http_buf_printf(b,
                    "# HELP epode_client_sessions Browser sessions (WebSocket and BOSH) attached now.\n"
                    "# TYPE epode_client_sessions gauge\n"
                    "epode_client_sessions %lu\n"
                    "# HELP epode_client_bound Browser sessions with a bound resource now.\n"
                    "# TYPE epode_client_bound gauge\n"
                    "epode_client_bound %lu\n"
                    "# HELP epode_client_logins_total Resources bound since the start.\n"
                    "# TYPE epode_client_logins_total counter\n"
                    "epode_client_logins_total %lu\n"
                    "# HELP epode_client_auth_failures_total Failed SASL logins.\n"
                    "# TYPE epode_client_auth_failures_total counter\n"
                    "epode_client_auth_failures_total %lu\n"
                    "# HELP epode_client_stanzas_in_total Stanzas received from browser sessions.\n"
                    "# TYPE epode_client_stanzas_in_total counter\n"
                    "epode_client_stanzas_in_total %lu\n"
                    "# HELP epode_client_stanzas_out_total Elements sent to browser sessions.\n"
                    "# TYPE epode_client_stanzas_out_total counter\n"
                    "epode_client_stanzas_out_total %lu\n"
                    "# HELP epode_client_refused_total Sessions refused by max_sessions or sessions_per_address.\n"
                    "# TYPE epode_client_refused_total counter\n"
                    "epode_client_refused_total %lu\n"
                    "# HELP epode_client_rate_limited_total Stanzas refused over stanzas_per_second.\n"
                    "# TYPE epode_client_rate_limited_total counter\n"
                    "epode_client_rate_limited_total %lu\n",
                    cs.sessions, cs.bound, cs.logins_total, cs.auth_failures_total, cs.stanzas_in_total,
                    cs.stanzas_out_total, cs.refused_total, cs.rate_limited_total);
    struct calls_stats ks;
    memset(&ks, 0, sizeof(ks));
    if (d->calls)
        calls_get_stats(d->calls, &ks);
    http_buf_printf(b,
                    "# HELP epode_calls Calls between a browser and a Jingle client in memory now.\n"
                    "# TYPE epode_calls gauge\n"
                    "epode_calls %lu\n"
                    "# HELP epode_calls_started_total Calls started, either way.\n"
                    "# TYPE epode_calls_started_total counter\n"
                    "epode_calls_started_total %lu\n"
                    "# HELP epode_calls_translated_total Signaling messages translated, either way.\n"
                    "# TYPE epode_calls_translated_total counter\n"
                    "epode_calls_translated_total %lu\n"
                    "# HELP epode_calls_refused_total Signaling messages answered with an error.\n"
                    "# TYPE epode_calls_refused_total counter\n"
                    "epode_calls_refused_total %lu\n",
                    ks.active, ks.started_total, ks.translated_total, ks.refused_total);
}

/* [http] web_root when unset: the source tree's web/ for an epode run
 * from its build directory (developers, tests), else the installed copy. */
static const char *default_web_root(void)
{
    char exe[PATH_MAX], build[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0 && realpath(EPODE_BUILD_DIR, build)) {
        exe[n] = '\0';
        size_t bl = strlen(build);
        if (strncmp(exe, build, bl) == 0 && exe[bl] == '/')
            return EPODE_SOURCE_WEB_DIR;
    }
    return EPODE_INSTALL_WEB_DIR;
}

static void on_drain_deadline(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void name_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    log_warn("epode", "still open at exit: a %s handle%s", uv_handle_type_name(uv_handle_get_type(h)),
             uv_is_closing(h) ? " (closing)" : "");
}

/* After uv_run() returned: every module has closed its handles, some of
 * which (libwebsockets' sockets) finish closing on the loop. Runs it until
 * nothing is left, for two seconds at most. 0, or -1 if something stayed. */
static int finish_closing(uv_loop_t *loop)
{
    uv_timer_t deadline;
    uv_timer_init(loop, &deadline);
    uv_timer_start(&deadline, on_drain_deadline, 2000, 0);
    uv_unref((uv_handle_t *)&deadline); /* does not keep the loop alive itself */
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    if (!uv_loop_alive(loop))
        return 0;
    uv_walk(loop, name_handle, NULL);
    return -1;
}

/* Where keepalive pings go: the server's own domain, taken as the
 * component domain's parent (webrtc.example.com -> example.com). */
static const char *parent_domain(const char *domain)
{
    const char *dot = strchr(domain, '.');
    return dot && strchr(dot + 1, '.') ? dot + 1 : (dot ? dot + 1 : domain);
}

int main(int argc, char **argv)
{
    struct daemon d;
    memset(&d, 0, sizeof(d));
    config_defaults(&d.cfg);
    char err[512];

    enum { O_CONFIG = 1, O_DOMAIN, O_SERVER, O_SECRET, O_LISTEN, O_DB, O_LOG, O_CHECK, O_HELP, O_VERSION };
    static const struct option opts[] = {
        {"config", required_argument, NULL, O_CONFIG},
        {"domain", required_argument, NULL, O_DOMAIN},
        {"server", required_argument, NULL, O_SERVER},
        {"secret", required_argument, NULL, O_SECRET},
        {"listen", required_argument, NULL, O_LISTEN},
        {"db", required_argument, NULL, O_DB},
        {"log-level", required_argument, NULL, O_LOG},
        {"check-config", no_argument, NULL, O_CHECK},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    /* First pass: the configuration file, so that flags override it. */
    const char *config_path = NULL;
    int check_only = 0;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == O_CONFIG)
            config_path = optarg;
        else if (c == O_HELP) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if (c == O_VERSION) {
            printf("epode %s\n", EPODE_VERSION);
            return EXIT_OK;
        } else if (c == '?') {
            fprintf(stderr, "epode: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "epode: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (!config_path && access(DEFAULT_CONFIG, R_OK) == 0)
        config_path = DEFAULT_CONFIG;
    if (config_path && config_load(&d.cfg, config_path, err, sizeof(err))) {
        fprintf(stderr, "epode: %s\n", err);
        return EXIT_USAGE;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case O_DOMAIN: key = "domain"; break;
        case O_SERVER: key = "server"; break;
        case O_SECRET: key = "secret"; break;
        case O_LISTEN: key = "listen"; break;
        case O_DB: key = "db"; break;
        case O_LOG: key = "log_level"; break;
        case O_CHECK: check_only = 1; break;
        default: break;
        }
        if (key && config_set(&d.cfg, "epode", key, optarg, err, sizeof(err))) {
            fprintf(stderr, "epode: --%s: %s\n", key[0] == 'l' && key[1] == 'o' ? "log-level" : key, err);
            return EXIT_USAGE;
        }
    }
    if (config_validate(&d.cfg, err, sizeof(err))) {
        fprintf(stderr, "epode: %s\n", err);
        return EXIT_USAGE;
    }
    if (check_only) {
        printf("epode: configuration is valid (domain %s, server %s:%u, http%s on %s:%u)\n", d.cfg.domain,
               d.cfg.server_host, d.cfg.server_port, d.cfg.http_tls_cert[0] ? "s" : "", d.cfg.listen_host,
               d.cfg.listen_port);
        return EXIT_OK;
    }
    log_init(d.cfg.log_level, stderr);
    log_info("epode", "starting version=%s domain=%s server=%s:%u pid=%d", EPODE_VERSION, d.cfg.domain,
             d.cfg.server_host, d.cfg.server_port, (int)getpid());

    /* The database first: a path that cannot be used is fatal, and says so
     * before anything connects. */
    struct store_error serr;
    d.store = store_open(d.cfg.db, &serr);
    if (!d.store) {
        fprintf(stderr, "epode: database: %s\n", serr.what);
        log_error("epode", "database: %s", serr.what);
        return EXIT_FATAL;
    }
    /* Sessions of a previous run are gone: nobody is online. This is also
     * the first write: a database another process keeps locked (another
     * Epode on the same file?) fails here, after the busy timeout. */
    if (store_presence_clear_all(d.store) != 0) {
        fprintf(stderr, "epode: database: %s: %s\n", d.cfg.db, store_errmsg(d.store));
        log_error("epode", "database: %s: %s", d.cfg.db, store_errmsg(d.store));
        store_free(d.store);
        return EXIT_FATAL;
    }
    log_info("store", "opened %s schema=%d", d.cfg.db, store_schema_version(d.store));

    signal(SIGPIPE, SIG_IGN);
    d.loop = uv_default_loop();

    xmpp_initialize();
    xmpp_log_t xlog = {strophe_log, &d};
    d.xctx = xmpp_ctx_new(NULL, &xlog);
    if (!d.xctx) {
        fprintf(stderr, "epode: out of memory\n");
        return EXIT_FATAL;
    }
    d.services.cfg = &d.cfg;
    d.services.send = send_xml;
    d.services.user_exists = user_exists;
    d.services.ud = &d;
    d.sasl = sasl_server_new(d.store, d.cfg.domain, d.cfg.clients_anonymous);
    struct calls_opts ko = {
        .cfg = &d.cfg, .store = d.store, .xctx = d.xctx, .remote_send = send_remote, .local_send = send_local,
        .ud = &d,
    };
    d.calls = calls_new(&ko);
    struct c2s_opts co = {
        .cfg = &d.cfg, .store = d.store, .xctx = d.xctx, .sasl = d.sasl, .services = &d.services,
        .remote_send = send_remote, .calls = d.calls, .now_ms = loop_now_ms, .ud = &d,
    };
    d.c2s = d.sasl && d.calls ? c2s_new(&co) : NULL;
    if (!d.c2s) {
        fprintf(stderr, "epode: cannot set up SASL (out of memory?)\n");
        calls_free(d.calls);
        sasl_server_free(d.sasl);
        store_free(d.store);
        xmpp_ctx_free(d.xctx);
        return EXIT_FATAL;
    }

    /* The HTTP side, on the same loop, before anything else runs on it. */
    struct bosh_opts bo;
    bosh_opts_defaults(&bo);
    bo.domain = d.cfg.domain;
    bo.wait_max = d.cfg.bosh_wait_max;
    bo.hold_max = d.cfg.bosh_hold;
    bo.requests_max = d.cfg.bosh_requests;
    bo.inactivity = d.cfg.bosh_inactivity;
    bo.polling = d.cfg.bosh_polling;
    bo.max_pause = d.cfg.bosh_max_pause;
    struct http_opts ho = {
        .host = d.cfg.listen_host, .port = d.cfg.listen_port,
        .web_root = d.cfg.http_web_root[0] ? d.cfg.http_web_root : default_web_root(),
        .public_url = d.cfg.http_public_url, .allowed_origins = d.cfg.http_allowed_origins,
        .metrics_public = d.cfg.http_metrics_public,
        .tls_cert = d.cfg.http_tls_cert, .tls_key = d.cfg.http_tls_key,
        .max_connections = d.cfg.http_max_connections, .idle_timeout = d.cfg.http_idle_timeout,
        .request_timeout = d.cfg.http_request_timeout,
        .metrics = http_metrics, .ud = &d,
        .xmpp = c2s_stream_in(d.c2s), .xctx = d.xctx, .max_stanza = d.cfg.clients_max_stanza,
        .ws_ping_interval = d.cfg.ws_ping_interval, .bosh = &bo,
    };
    d.http = http_start(d.loop, &ho, err, sizeof(err));
    if (!d.http) {
        fprintf(stderr, "epode: http: %s\n", err);
        log_error("epode", "http: %s", err);
        c2s_free(d.c2s);
        calls_free(d.calls);
        sasl_server_free(d.sasl);
        store_free(d.store);
        xmpp_ctx_free(d.xctx);
        xmpp_shutdown();
        uv_loop_close(d.loop);
        return EXIT_FATAL;
    }

    struct link_opts lo = {
        .host = d.cfg.server_host, .port = d.cfg.server_port, .domain = d.cfg.domain,
        .secret = d.cfg.secret, .ping_to = parent_domain(d.cfg.domain),
        .ping_interval = d.cfg.ping_interval, .ping_timeout = d.cfg.ping_timeout,
        .reconnect_min = d.cfg.reconnect_min, .reconnect_max = d.cfg.reconnect_max,
        .queue_max = d.cfg.queue_max, .queue_max_bytes = d.cfg.queue_max_bytes,
    };
    struct link_callbacks cb = {on_stanza, on_state, on_fatal, on_stopped, &d};
    d.link = link_new(d.loop, d.xctx, &lo, &cb);
    if (!d.link) {
        fprintf(stderr, "epode: out of memory\n");
        return EXIT_FATAL;
    }
    uv_timer_init(d.loop, &d.tick);
    d.tick.data = &d;
    uv_timer_start(&d.tick, on_tick, 100, 100);
    uv_signal_init(d.loop, &d.sigterm);
    uv_signal_init(d.loop, &d.sigint);
    uv_signal_init(d.loop, &d.sighup);
    d.sigterm.data = d.sigint.data = d.sighup.data = &d;
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sighup, on_signal, SIGHUP);

    if (d.cfg.control[0]) {
        struct control_ops ops = {control_status, control_send, &d};
        d.control = control_start(d.loop, d.cfg.control, &ops, err, sizeof(err));
        if (!d.control)
            log_warn("epode", "%s: running without a control socket", err);
        else
            log_info("epode", "control socket %s", d.cfg.control);
    }
    link_start(d.link);
    uv_run(d.loop, UV_RUN_DEFAULT);

    /* Shutdown order on the shared loop: every module has closed its
     * handles (close_all, link_free); the loop runs until they have all
     * finished closing; only then may libwebsockets free its context
     * (http_free), and the loop be closed. */
    link_free(d.link);
    d.link = NULL;
    int drained = finish_closing(d.loop);
    /* the browsers' sessions end while libwebsockets closes their
     * connections: the registry, SASL and the store outlive them */
    http_free(d.http);
    c2s_free(d.c2s);
    d.c2s = NULL;
    calls_free(d.calls);
    sasl_server_free(d.sasl);
    store_free(d.store);
    xmpp_ctx_free(d.xctx);
    xmpp_shutdown();
    if (drained == 0 && uv_loop_close(d.loop) != 0)
        log_warn("epode", "the event loop still had handles at exit");
    memset(d.cfg.secret, 0, sizeof(d.cfg.secret));
    memset(d.cfg.turn_secret, 0, sizeof(d.cfg.turn_secret));
    return d.exit_code;
}
