/* http.c - Epode's HTTP side: libwebsockets 4.1 on the daemon's libuv loop.
 * See http.h. The only file of Epode that includes libwebsockets.h.
 *
 * Every response here is small and written at once from the request
 * callback (lws keeps what the socket does not take and sends it when
 * writable), except static files, which lws_serve_http_file() streams.
 * Only HTTP/1.1 is offered: ALPN says http/1.1, so the h2 paths of lws are
 * never taken. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "bosh.h"
#include "http_util.h"
#include "log.h"
#include "xmlin.h"

#define NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"
/* Bytes lws reads per WebSocket receive callback: it stays allocated for
 * the life of the connection, so small (messages are reassembled here). */
#define WS_RX_BUFFER 512
/* Output waiting for a WebSocket client that does not read, at most. */
#define WS_OUT_MAX (1024 * 1024)

/* File descriptors kept for the rest of the daemon (database, XMPP link,
 * control socket, lws' own pipe) beyond the HTTP connections. */
#define HTTP_FD_RESERVE 64
/* Response headers, and the largest body built in memory (metrics). */
#define HTTP_HEAD_MAX 2048
#define HTTP_BODY_MAX (64 * 1024)
/* Request head: request line plus headers (lws' ah buffer). */
#define HTTP_HEADER_DATA 4096

enum method { M_GET, M_HEAD, M_POST, M_OPTIONS, M_OTHER };

struct http_server {
    uv_loop_t *loop;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    int stopped;                /* lws_context_destroy() first call made */
    int tls;
    int metrics_public;
    unsigned port;
    unsigned max_connections;   /* after fitting RLIMIT_NOFILE */
    char *listen_host;          /* as configured, for messages */
    char *iface;                /* numeric address for lws; NULL: every address */
    char *web_root;             /* realpath of the web root; NULL: none */
    char *public_url;
    char *origins;
    char *tls_cert;
    char *tls_key;
    void (*metrics)(void *ud, struct http_buf *out);
    void *ud;

    /* XMPP over WebSocket */
    const struct stream_in *xmpp;
    xmpp_ctx_t *xctx;
    struct xmlin *xmlin;
    size_t max_stanza;
    lws_retry_bo_t ws_policy;
    unsigned long ws_sessions;
    unsigned long ws_refused;

    /* BOSH */
    struct bosh *bosh;
    size_t bosh_max_body;
    uv_prepare_t bosh_flush;
    uv_timer_t bosh_tick;
    int bosh_handles;           /* the two above are initialised */

    /* figures for /metrics */
    unsigned long connections;          /* open now */
    unsigned long connections_refused;  /* over max_connections */
    unsigned long requests[6];          /* by status class: [2] is 2xx... */
    uint64_t limit_warned_ms;

    /* one response at a time: the loop has one thread */
    unsigned char out[LWS_PRE + HTTP_HEAD_MAX + HTTP_BODY_MAX];
    char body[HTTP_BODY_MAX];
};

/* One request, as the route handlers see it. */
struct req {
    struct lws *wsi;
    enum method method;
    const char *mname;
    const char *path;           /* decoded and normalised by lws */
    char origin[256];           /* "" when absent */
    int has_origin;
    int cors;                   /* the origin is allowed: send CORS headers */
    int same_origin;            /* the page came from Epode itself */
    int close;                  /* close the connection after the response */
};

struct hdr {
    const char *name;           /* lower case, with the colon: "allow:" */
    const char *value;
};

/* Per HTTP connection (lws allocates it zeroed): a BOSH request's body
 * while it arrives, then its answer until the socket can take it. */
struct http_conn {
    char *body;
    size_t len, cap;
    char *origin;               /* allowed Origin to echo in CORS, or NULL */
    char *resp;                 /* the answer waiting for WRITEABLE */
    size_t resp_len;
    int resp_status;
    char resp_ctype[64];
    unsigned too_big : 1;       /* body over the limit: 413 at the end */
    unsigned at_bosh : 1;       /* handed to bosh_request, not answered yet */
    unsigned has_resp : 1;
};

static int bosh_post_start(struct http_server *h, struct req *rq, struct http_conn *hc);

/* ------------------------------------------------------------------ */
/* lws' log, into ours                                                 */

static void lws_log_line(int level, const char *line)
{
    /* lws' errors are mostly about one connection or one bad request:
     * warn; its warnings info; its notices (start-up chatter) debug. */
    enum log_level l = (level & LLL_ERR) ? LOG_WARN : (level & LLL_WARN) ? LOG_INFO : LOG_DEBUG;
    if (!log_enabled(l))
        return;
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
        n--;
    log_msg(l, "http", "lws: %.*s", (int)n, line);
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */

static struct http_server *server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

static int add_hdr(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                   unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
                                       (int)strlen(value), p, end);
}

/* Headers every response carries: CORS for allowed origins. */
static int add_common(struct http_server *h, struct req *rq, unsigned char **p, unsigned char *end)
{
    if (add_hdr(rq->wsi, "x-content-type-options:", "nosniff", p, end))
        return -1;
    /* With an allow-list, the same URL answers differently per Origin:
     * tell caches. */
    if (h->origins[0] && add_hdr(rq->wsi, "vary:", "Origin", p, end))
        return -1;
    if (rq->cors && add_hdr(rq->wsi, "access-control-allow-origin:", rq->origin, p, end))
        return -1;
    return 0;
}

static void log_request(struct http_server *h, struct req *rq, unsigned status, size_t bytes)
{
    if (status >= 100 && status < 600)
        h->requests[status / 100]++;
    /* 503 is the "not yet" of reserved paths, not a failure */
    enum log_level l = status >= 500 && status != 503 ? LOG_WARN : LOG_DEBUG;
    if (!log_enabled(l))
        return;
    char peer[64] = "";
    char path[200];
    char origin[100];
    lws_get_peer_simple(rq->wsi, peer, sizeof(peer));
    log_msg(l, "http", "%s \"%s\" status=%u bytes=%zu peer=%s%s%s%s", rq->mname,
            http_log_safe(path, sizeof(path), rq->path), status, bytes, peer,
            rq->has_origin ? " origin=\"" : "", rq->has_origin ? http_log_safe(origin, sizeof(origin), rq->origin) : "",
            rq->has_origin ? "\"" : "");
}

/* Writes a whole response: status, headers, `body` (not for HEAD). Returns
 * what the lws callback returns: 0 to keep the connection for the next
 * request, -1 to close it (after what was written is flushed). */
static int respond(struct http_server *h, struct req *rq, unsigned status, const char *ctype,
                   const char *body, size_t blen, const struct hdr *extra, size_t nextra)
{
    struct lws *wsi = rq->wsi;
    unsigned char *start = h->out + LWS_PRE;
    unsigned char *p = start;
    unsigned char *end = start + HTTP_HEAD_MAX;

    if (lws_add_http_header_status(wsi, status, &p, end))
        goto toobig;
    if (ctype && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char *)ctype,
                                              (int)strlen(ctype), &p, end))
        goto toobig;
    /* RFC 9110: no Content-Length in a 204 */
    if (status != 204 && lws_add_http_header_content_length(wsi, blen, &p, end))
        goto toobig;
    if (add_common(h, rq, &p, end))
        goto toobig;
    for (size_t i = 0; i < nextra; i++)
        if (add_hdr(wsi, extra[i].name, extra[i].value, &p, end))
            goto toobig;
    if (rq->close && add_hdr(wsi, "connection:", "close", &p, end))
        goto toobig;
    if (lws_finalize_http_header(wsi, &p, end))
        goto toobig;
    if (rq->method != M_HEAD && blen) {
        if (blen > HTTP_BODY_MAX)
            goto toobig;
        memcpy(p, body, blen);
        p += blen;
    }
    int n = (int)(p - start);
    log_request(h, rq, status, blen);
    if (lws_write(wsi, start, (size_t)n, LWS_WRITE_HTTP) != n)
        return -1;
    if (rq->close)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
toobig:
    log_warn("http", "%s %.100s: the response headers do not fit in %d bytes", rq->mname, rq->path,
             HTTP_HEAD_MAX);
    return -1;
}

static int respond_text(struct http_server *h, struct req *rq, unsigned status, const char *text,
                        const struct hdr *extra, size_t nextra)
{
    return respond(h, rq, status, "text/plain; charset=utf-8", text, strlen(text), extra, nextra);
}

/* ------------------------------------------------------------------ */
/* Routes                                                              */

static const struct hdr no_store[] = {{"cache-control:", "no-store"}};

static int route_not_yet(struct http_server *h, struct req *rq)
{
    /* The paths exist and are announced by host-meta; what they will
     * speak is the next step. 503, not 404: an operator checking a
     * reverse proxy sees that the request reached Epode. */
    const char *text = strcmp(rq->path, HTTP_BOSH_PATH) == 0
                           ? "BOSH (XEP-0124/0206) is not available yet in this version of Epode.\n"
                           : "XMPP over WebSocket (RFC 7395) is not available yet in this version of Epode.\n";
    return respond_text(h, rq, 503, text, no_store, 1);
}

static int route_preflight(struct http_server *h, struct req *rq)
{
    if (!rq->has_origin) {
        /* not CORS: a plain OPTIONS */
        static const struct hdr allow[] = {{"allow:", "GET, HEAD, POST, OPTIONS"}};
        return respond(h, rq, 204, NULL, NULL, 0, allow, 1);
    }
    if (!rq->cors)
        return respond_text(h, rq, 403, "This origin is not allowed ([http] allowed_origins).\n", NULL, 0);
    static const struct hdr cors[] = {
        {"access-control-allow-methods:", "GET, POST, OPTIONS"},
        {"access-control-allow-headers:", "Content-Type"},
        {"access-control-max-age:", "86400"},
    };
    return respond(h, rq, 204, NULL, NULL, 0, cors, sizeof(cors) / sizeof(cors[0]));
}

static int route_host_meta(struct http_server *h, struct req *rq, int json)
{
    char host[260] = "";
    char http_base[600], ws_base[600];
    const char *hp = NULL;
    if (!h->public_url[0]) {
        int n = lws_hdr_total_length(rq->wsi, WSI_TOKEN_HOST);
        if (n <= 0 || n >= (int)sizeof(host) || lws_hdr_copy(rq->wsi, host, sizeof(host), WSI_TOKEN_HOST) < 0)
            return respond_text(h, rq, 400, "A Host header is needed (or set [http] public_url).\n", NULL, 0);
        hp = host;
    }
    if (http_bases(h->public_url, hp, h->tls, http_base, sizeof(http_base), ws_base, sizeof(ws_base)))
        return respond_text(h, rq, 400, "The Host header is not a host name.\n", NULL, 0);
    struct http_buf b;
    http_buf_init(&b, h->body, sizeof(h->body));
    if (json)
        http_host_meta_json(&b, http_base, ws_base);
    else
        http_host_meta_xml(&b, http_base, ws_base);
    static const struct hdr cache[] = {{"cache-control:", "no-cache"}};
    return respond(h, rq, 200, json ? "application/json" : "application/xrd+xml; charset=utf-8", b.p, b.len,
                   cache, 1);
}

static int peer_is_loopback(struct lws *wsi)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd = (int)lws_get_socket_fd(wsi);
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
        return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)&ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

/* A reverse proxy on the same machine connects from loopback: a request
 * it forwards says so in one of these headers, and is not local. */
static int is_forwarded(struct lws *wsi)
{
    return lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) > 0 ||
           lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_X_REAL_IP) > 0 ||
           lws_hdr_custom_length(wsi, "forwarded:", 10) > 0;
}

static int route_metrics(struct http_server *h, struct req *rq)
{
    if (!h->metrics_public && (!peer_is_loopback(rq->wsi) || is_forwarded(rq->wsi)))
        return respond_text(h, rq, 403,
                            "Metrics are served to loopback clients only ([http] metrics_public).\n", NULL, 0);
    struct http_buf b;
    http_buf_init(&b, h->body, sizeof(h->body));
    if (h->metrics)
        h->metrics(h->ud, &b);
    http_buf_printf(&b,
                    "# HELP epode_http_connections Open HTTP connections.\n"
                    "# TYPE epode_http_connections gauge\n"
                    "epode_http_connections %lu\n"
                    "# HELP epode_http_connections_refused_total Connections refused over max_connections.\n"
                    "# TYPE epode_http_connections_refused_total counter\n"
                    "epode_http_connections_refused_total %lu\n"
                    "# HELP epode_http_requests_total HTTP requests answered, by status class.\n"
                    "# TYPE epode_http_requests_total counter\n",
                    h->connections, h->connections_refused);
    for (int c = 1; c <= 5; c++)
        http_buf_printf(&b, "epode_http_requests_total{code=\"%dxx\"} %lu\n", c, h->requests[c]);
    struct bosh_stats bs;
    memset(&bs, 0, sizeof(bs));
    if (h->bosh)
        bosh_get_stats(h->bosh, &bs);
    http_buf_printf(&b,
                    "# HELP epode_websocket_sessions XMPP over WebSocket connections now.\n"
                    "# TYPE epode_websocket_sessions gauge\n"
                    "epode_websocket_sessions %lu\n"
                    "# HELP epode_websocket_refused_total WebSocket upgrades or sessions refused.\n"
                    "# TYPE epode_websocket_refused_total counter\n"
                    "epode_websocket_refused_total %lu\n"
                    "# HELP epode_bosh_sessions BOSH sessions now.\n"
                    "# TYPE epode_bosh_sessions gauge\n"
                    "epode_bosh_sessions %lu\n"
                    "# HELP epode_bosh_held BOSH requests held open now.\n"
                    "# TYPE epode_bosh_held gauge\n"
                    "epode_bosh_held %lu\n"
                    "# HELP epode_bosh_expired_total BOSH sessions ended by inactivity.\n"
                    "# TYPE epode_bosh_expired_total counter\n"
                    "epode_bosh_expired_total %lu\n"
                    "# HELP epode_bosh_retransmits_total Repeated BOSH requests answered again from the cache.\n"
                    "# TYPE epode_bosh_retransmits_total counter\n"
                    "epode_bosh_retransmits_total %lu\n",
                    h->ws_sessions, h->ws_refused, bs.sessions, bs.held, bs.expired_total, bs.retransmits_total);
    if (b.overflow) {
        log_warn("http", "/metrics does not fit in %d bytes", HTTP_BODY_MAX);
        return respond_text(h, rq, 500, "The metrics do not fit in the response buffer.\n", NULL, 0);
    }
    return respond(h, rq, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len, no_store, 1);
}

static int route_file(struct http_server *h, struct req *rq)
{
    static const char not_found[] = "Not found.\n";
    if (!h->web_root || http_path_safe(rq->path))
        return respond_text(h, rq, 404, not_found, NULL, 0);
    size_t plen = strlen(rq->path);
    char full[PATH_MAX];
    int n = snprintf(full, sizeof(full), "%s%s%s", h->web_root, rq->path,
                     rq->path[plen - 1] == '/' ? "index.html" : "");
    if (n < 0 || (size_t)n >= sizeof(full))
        return respond_text(h, rq, 404, not_found, NULL, 0);
    /* Resolve symbolic links, then insist on staying under the root. A
     * link inside the root that points out of it is refused too. */
    char real[PATH_MAX];
    if (!realpath(full, real))
        return respond_text(h, rq, 404, not_found, NULL, 0);
    size_t rl = strlen(h->web_root);
    if (strncmp(real, h->web_root, rl) != 0 || real[rl] != '/') {
        log_debug("http", "refused \"%.200s\": it resolves outside the web root", rq->path);
        return respond_text(h, rq, 404, not_found, NULL, 0);
    }
    struct stat st;
    if (stat(real, &st) != 0)
        return respond_text(h, rq, 404, not_found, NULL, 0);
    if (S_ISDIR(st.st_mode) && rq->path[plen - 1] != '/') {
        /* a directory named without its slash: relative links in its
         * index would resolve against the parent */
        char loc[HTTP_PATH_MAX * 3 + 2];
        struct http_buf lb;
        http_buf_init(&lb, loc, sizeof(loc));
        for (const char *s = rq->path; *s; s++) {
            unsigned char c = (unsigned char)*s;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                strchr("/-._~", c))
                http_buf_append(&lb, s, 1);
            else
                http_buf_printf(&lb, "%%%02X", c);
        }
        http_buf_append(&lb, "/", 1);
        if (lb.overflow)
            return respond_text(h, rq, 404, not_found, NULL, 0);
        const struct hdr where[] = {{"location:", loc}};
        return respond_text(h, rq, 301, "Moved.\n", where, 1);
    }
    if (!S_ISREG(st.st_mode))
        return respond_text(h, rq, 404, not_found, NULL, 0);

    /* lws writes status, type and length; these go after them */
    unsigned char extra[512];
    unsigned char *p = extra;
    unsigned char *end = extra + sizeof(extra);
    if (add_hdr(rq->wsi, "cache-control:", "no-cache", &p, end) || add_common(h, rq, &p, end))
        return -1;
    log_request(h, rq, 200, (size_t)st.st_size);
    n = lws_serve_http_file(rq->wsi, real, http_mime_type(real), (const char *)extra, (int)(p - extra));
    /* <0: failed, close; 0: streaming (LWS_CALLBACK_HTTP_FILE_COMPLETION
     * follows); >0: lws answered by itself (could not open) */
    if (n < 0 || (n > 0 && lws_http_transaction_completed(rq->wsi)))
        return -1;
    return 0;
}

static int route(struct http_server *h, struct req *rq)
{
    if (rq->method == M_OPTIONS)
        return route_preflight(h, rq);
    static const struct hdr allow[] = {{"allow:", "GET, HEAD, POST, OPTIONS"}};
    if (rq->method == M_OTHER) {
        rq->close = 1; /* its body, if any, is not read */
        return respond_text(h, rq, 405, "Method not allowed.\n", allow, 1);
    }
    if (strcmp(rq->path, HTTP_BOSH_PATH) == 0 && h->bosh) {
        if (rq->method == M_POST)
            return bosh_post_start(h, rq, lws_wsi_user(rq->wsi));
        static const struct hdr post_only[] = {{"allow:", "POST, OPTIONS"}};
        return respond_text(h, rq, 405, "BOSH (XEP-0124) takes POST requests.\n", post_only, 1);
    }
    if (strcmp(rq->path, HTTP_WS_PATH) == 0 && h->xmpp && rq->method != M_POST) {
        return respond_text(h, rq, 426, "This is an XMPP over WebSocket endpoint (RFC 7395): upgrade to "
                            "WebSocket with the sub-protocol \"xmpp\".\n", NULL, 0);
    }
    if (strcmp(rq->path, HTTP_BOSH_PATH) == 0 || strcmp(rq->path, HTTP_WS_PATH) == 0) {
        if (rq->method == M_POST)
            rq->close = 1;
        return route_not_yet(h, rq);
    }
    if (rq->method == M_POST) {
        rq->close = 1;
        return respond_text(h, rq, 405, "Method not allowed.\n", allow, 1);
    }
    if (strcmp(rq->path, "/.well-known/host-meta") == 0)
        return route_host_meta(h, rq, 0);
    if (strcmp(rq->path, "/.well-known/host-meta.json") == 0)
        return route_host_meta(h, rq, 1);
    if (strcmp(rq->path, "/metrics") == 0)
        return route_metrics(h, rq);
    return route_file(h, rq);
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */

/* Browsers send Origin on same-origin POSTs and WebSocket upgrades too: a
 * page Epode served itself (or the public URL's) is always allowed to use
 * /http-bind and /xmpp-websocket. The Host header comes from the same
 * browser, so a page elsewhere cannot make it match its own origin. */
static int same_origin(struct http_server *h, struct lws *wsi, const char *origin)
{
    char own[600];
    if (h->public_url[0]) {
        /* scheme://host[:port] of public_url */
        const char *p = strstr(h->public_url, "://");
        size_t n = p ? (size_t)(strcspn(p + 3, "/") + (size_t)(p + 3 - h->public_url)) : 0;
        if (n && n == strlen(origin) && strncasecmp(h->public_url, origin, n) == 0)
            return 1;
    }
    char host[260];
    int hl = lws_hdr_total_length(wsi, WSI_TOKEN_HOST);
    if (hl <= 0 || hl >= (int)sizeof(host) || lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) < 0 ||
        http_host_valid(host))
        return 0;
    snprintf(own, sizeof(own), "%s://%s", h->tls ? "https" : "http", host);
    return strcasecmp(own, origin) == 0;
}

static void req_init(struct http_server *h, struct req *rq, struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes tok;
        enum method m;
        const char *name;
    } methods[] = {
        {WSI_TOKEN_GET_URI, M_GET, "GET"},       {WSI_TOKEN_HEAD_URI, M_HEAD, "HEAD"},
        {WSI_TOKEN_POST_URI, M_POST, "POST"},    {WSI_TOKEN_OPTIONS_URI, M_OPTIONS, "OPTIONS"},
        {WSI_TOKEN_PUT_URI, M_OTHER, "PUT"},     {WSI_TOKEN_PATCH_URI, M_OTHER, "PATCH"},
        {WSI_TOKEN_DELETE_URI, M_OTHER, "DELETE"},
    };
    memset(rq, 0, sizeof(*rq));
    rq->wsi = wsi;
    rq->method = M_OTHER;
    rq->mname = "?";
    rq->path = "/";
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (lws_hdr_total_length(wsi, methods[i].tok) > 0) {
            rq->method = methods[i].m;
            rq->mname = methods[i].name;
            break;
        }
    char *uri = NULL;
    int ulen = 0;
    if (lws_http_get_uri_and_method(wsi, &uri, &ulen) >= 0 && uri)
        rq->path = uri;
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
    if (n > 0) {
        rq->has_origin = 1;
        /* an origin too long to be real is kept as "" and not allowed */
        if (n < (int)sizeof(rq->origin) && lws_hdr_copy(wsi, rq->origin, sizeof(rq->origin), WSI_TOKEN_ORIGIN) > 0) {
            rq->cors = http_origin_allowed(h->origins, rq->origin);
            rq->same_origin = same_origin(h, wsi, rq->origin);
        } else {
            rq->origin[0] = '\0';
        }
    }
}


/* ------------------------------------------------------------------ */
/* BOSH (XEP-0124, XEP-0206): bosh.c decides, this writes              */

static void conn_reset(struct http_conn *hc)
{
    free(hc->body);
    free(hc->origin);
    free(hc->resp);
    memset(hc, 0, sizeof(*hc));
}

/* bosh.c's answer to a request: kept until lws says the socket is
 * writable (answers to held requests come from outside lws callbacks). */
static void bosh_respond(void *ud, void *req, int status, const char *ctype, const char *body, size_t len)
{
    (void)ud;
    struct lws *wsi = req;
    struct http_conn *hc = lws_wsi_user(wsi);
    if (!hc)
        return;
    hc->at_bosh = 0;
    free(hc->resp);
    hc->resp = malloc(len + 1);
    if (!hc->resp) {
        hc->has_resp = 0;
        lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
        return;
    }
    memcpy(hc->resp, body, len);
    hc->resp[len] = '\0';
    hc->resp_len = len;
    hc->resp_status = status;
    snprintf(hc->resp_ctype, sizeof(hc->resp_ctype), "%s", ctype ? ctype : "text/plain; charset=utf-8");
    hc->has_resp = 1;
    lws_callback_on_writable(wsi);
}

static const struct bosh_http_ops bosh_ops = {bosh_respond};

static int bosh_write(struct http_server *h, struct lws *wsi, struct http_conn *hc)
{
    struct req rq;
    memset(&rq, 0, sizeof(rq));
    rq.wsi = wsi;
    rq.method = M_POST;
    rq.mname = "POST";
    rq.path = HTTP_BOSH_PATH;
    if (hc->origin) {
        snprintf(rq.origin, sizeof(rq.origin), "%s", hc->origin);
        rq.has_origin = rq.cors = 1;
    }
    static const struct hdr nocache[] = {{"cache-control:", "no-store"}};
    char *resp = hc->resp;
    size_t len = hc->resp_len;
    int status = hc->resp_status;
    char ctype[64];
    snprintf(ctype, sizeof(ctype), "%s", hc->resp_ctype);
    hc->resp = NULL;
    hc->has_resp = 0;
    free(hc->origin);
    hc->origin = NULL;
    rq.close = status >= 400; /* an error: start afresh */
    int r = respond(h, &rq, (unsigned)status, ctype, resp, len, nocache, 1);
    free(resp);
    return r;
}

static int bosh_post_start(struct http_server *h, struct req *rq, struct http_conn *hc)
{
    if (rq->has_origin && !rq->cors && !rq->same_origin) {
        rq->close = 1;
        return respond_text(h, rq, 403, "This origin is not allowed ([http] allowed_origins).\n", NULL, 0);
    }
    conn_reset(hc);
    if (rq->cors && !(hc->origin = strdup(rq->origin)))
        return -1;
    /* the body follows in LWS_CALLBACK_HTTP_BODY */
    return 0;
}

static void bosh_body(struct http_server *h, struct http_conn *hc, const char *in, size_t len)
{
    if (hc->too_big)
        return;
    if (hc->len + len > h->bosh_max_body) {
        hc->too_big = 1;
        free(hc->body);
        hc->body = NULL;
        hc->len = hc->cap = 0;
        return;
    }
    if (hc->len + len + 1 > hc->cap) {
        size_t cap = hc->cap ? hc->cap : 512;
        while (cap < hc->len + len + 1)
            cap *= 2;
        char *n = realloc(hc->body, cap);
        if (!n) {
            hc->too_big = 1;
            return;
        }
        hc->body = n;
        hc->cap = cap;
    }
    memcpy(hc->body + hc->len, in, len);
    hc->len += len;
    hc->body[hc->len] = '\0';
}

static int bosh_body_done(struct http_server *h, struct lws *wsi, struct http_conn *hc)
{
    if (hc->too_big) {
        struct req rq;
        req_init(h, &rq, wsi);
        rq.close = 1;
        return respond_text(h, &rq, 413, "The request body is larger than this server accepts.\n", NULL, 0);
    }
    char addr[64] = "";
    lws_get_peer_simple(wsi, addr, sizeof(addr));
    struct stream_peer peer = {addr, h->tls || (peer_is_loopback(wsi) && !is_forwarded(wsi)), "bosh"};
    char *body = hc->body;
    size_t len = hc->len;
    hc->body = NULL;
    hc->len = hc->cap = 0;
    /* a held request may wait up to `wait` seconds: lws' own timers are
     * for idle connections, not for this one */
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    /* the request's headers are read: give their table (4 kB) back to
     * lws' pool now rather than when the held request is answered, so an
     * idle BOSH session holds no header table (bench/sessions) */
    lws_http_headers_detach(wsi);
    hc->at_bosh = 1;
    bosh_request(h->bosh, wsi, body ? body : "", len, &peer, uv_now(h->loop));
    free(body);
    return 0;
}

static void on_bosh_flush(uv_prepare_t *p)
{
    struct http_server *h = p->data;
    if (h->bosh)
        bosh_flush(h->bosh);
}

static void on_bosh_tick(uv_timer_t *t)
{
    struct http_server *h = t->data;
    if (h->bosh)
        bosh_tick(h->bosh, uv_now(h->loop));
}

/* An Upgrade request: lws asks whether to switch protocols. Nothing is
 * upgraded yet: answer in HTTP/1 and close (lws has not set up keep-alive
 * for this request at this point). */
static int on_upgrade(struct http_server *h, struct lws *wsi, const char *to)
{
    /* lws 4.1 has already answered 403 to an Upgrade that is neither
     * websocket nor h2c, and still asks: hang up after that answer. */
    if (!to || (strcasecmp(to, "websocket") != 0 && strcasecmp(to, "h2c") != 0))
        return -1;
    struct req rq;
    req_init(h, &rq, wsi);
    rq.close = 1;
    int r;
    if (strcasecmp(to, "websocket") == 0 && strcmp(rq.path, HTTP_WS_PATH) == 0 && h->xmpp) {
        if (rq.has_origin && !rq.cors && !rq.same_origin) {
            /* a page from a foreign origin: the browser would let it act
             * as the user's session (RFC 6455 10.2) */
            r = respond_text(h, &rq, 403, "This origin is not allowed ([http] allowed_origins).\n", NULL, 0);
            h->ws_refused++;
            return 1;
        }
        char proto[256] = "";
        int pl = lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL);
        int has_xmpp = 0;
        if (pl > 0 && pl < (int)sizeof(proto) && lws_hdr_copy(wsi, proto, sizeof(proto), WSI_TOKEN_PROTOCOL) > 0) {
            for (char *save = NULL, *tok = strtok_r(proto, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
                if (strcmp(tok, "xmpp") == 0)
                    has_xmpp = 1;
        }
        if (!has_xmpp) {
            r = respond_text(h, &rq, 400, "XMPP over WebSocket needs the sub-protocol \"xmpp\" (RFC 7395).\n",
                             NULL, 0);
            return 1;
        }
        return 0; /* lws completes the upgrade and binds the "xmpp" protocol */
    }
    if (strcasecmp(to, "websocket") == 0 && strcmp(rq.path, HTTP_WS_PATH) == 0)
        r = route_not_yet(h, &rq);
    else if (strcasecmp(to, "websocket") == 0)
        r = respond_text(h, &rq, 404, "No WebSocket endpoint here.\n", NULL, 0);
    else
        r = respond_text(h, &rq, 400, "Only HTTP/1.1 is spoken here (no h2c).\n", NULL, 0);
    (void)r;
    /* >0 tells lws the answer is written; it completes the transaction,
     * which closes the connection */
    return 1;
}

static int admit(struct http_server *h)
{
    if (h->connections < h->max_connections)
        return 1;
    h->connections_refused++;
    uint64_t now = uv_now(h->loop);
    if (!h->limit_warned_ms || now - h->limit_warned_ms >= 10000) {
        log_warn("http", "max_connections (%u) reached: refusing new connections (%lu refused so far)",
                 h->max_connections, h->connections_refused);
        h->limit_warned_ms = now;
    }
    return 0;
}


/* ------------------------------------------------------------------ */
/* XMPP over WebSocket (RFC 7395)                                      */

/* One message waiting to be written, with lws' headroom before it. */
struct ws_msg {
    struct ws_msg *next;
    size_t len;
    unsigned char data[];   /* LWS_PRE + len */
};

/* Per connection (lws allocates it: per_session_data_size). Small on
 * purpose: an idle session has no buffer at all. */
struct ws_conn {
    struct lws *wsi;
    struct http_server *h;
    void *session;              /* the session layer's handle */
    struct ws_msg *head, *tail; /* output */
    size_t queued;
    char *rx;                   /* a message being reassembled */
    size_t rx_len, rx_cap;
    unsigned closing : 1;       /* close after the output is written */
    unsigned skipping : 1;      /* dropping the rest of a refused message */
    unsigned gone : 1;          /* the session layer was told */
};

static const struct stream_out ws_out;

static int ws_queue(struct ws_conn *wc, const char *data, size_t len)
{
    if (wc->closing || wc->queued + len > WS_OUT_MAX)
        return -1;
    struct ws_msg *m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m)
        return -1;
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, data, len);
    if (wc->tail)
        wc->tail->next = m;
    else
        wc->head = m;
    wc->tail = m;
    wc->queued += len;
    lws_callback_on_writable(wc->wsi);
    return 0;
}

static void ws_out_open(void *t, const char *from, const char *id)
{
    struct ws_conn *wc = t;
    char buf[1024];
    struct http_buf b;
    http_buf_init(&b, buf, sizeof(buf));
    http_buf_printf(&b, "<open xmlns='" NS_FRAMING "' from='%s' id='%s' version='1.0' xml:lang='en'/>", from, id);
    if (!b.overflow)
        ws_queue(wc, b.p, b.len);
}

static int ws_out_send(void *t, const char *xml, size_t len)
{
    return ws_queue(t, xml, len);
}

static void ws_out_close(void *t, const char *cond, const char *text)
{
    struct ws_conn *wc = t;
    if (wc->closing)
        return;
    if (cond) {
        char buf[2048];
        struct http_buf b;
        http_buf_init(&b, buf, sizeof(buf));
        http_buf_printf(&b, "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><%s "
                        "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", cond);
        if (text) {
            http_buf_printf(&b, "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>");
            for (const char *c = text; *c; c++)
                if (*c == '<')
                    http_buf_append(&b, "&lt;", 4);
                else if (*c == '&')
                    http_buf_append(&b, "&amp;", 5);
                else if (*c == '>')
                    http_buf_append(&b, "&gt;", 4);
                else
                    http_buf_append(&b, c, 1);
            http_buf_printf(&b, "</text>");
        }
        http_buf_printf(&b, "</stream:error>");
        if (!b.overflow)
            ws_queue(wc, b.p, b.len);
    }
    static const char close_el[] = "<close xmlns='" NS_FRAMING "'/>";
    ws_queue(wc, close_el, sizeof(close_el) - 1);
    wc->closing = 1;
    lws_callback_on_writable(wc->wsi);
}

static const struct stream_out ws_out = {ws_out_open, ws_out_send, ws_out_close};

static void ws_free_queue(struct ws_conn *wc)
{
    while (wc->head) {
        struct ws_msg *m = wc->head;
        wc->head = m->next;
        free(m);
    }
    wc->tail = NULL;
    wc->queued = 0;
    free(wc->rx);
    wc->rx = NULL;
    wc->rx_len = wc->rx_cap = 0;
}

static void ws_session_gone(struct ws_conn *wc)
{
    if (wc->session && !wc->gone) {
        wc->gone = 1;
        wc->h->ws_sessions--;
        wc->h->xmpp->gone(wc->session);
    }
    wc->session = NULL;
}

/* A whole message from the client. */
static void ws_message(struct ws_conn *wc, const char *data, size_t len)
{
    struct http_server *h = wc->h;
    const struct stream_in *in = h->xmpp;
    xmpp_stanza_t *el = NULL;
    char err[160];
    int rc = xmlin_parse(h->xmlin, data, len, &el, err, sizeof(err));
    if (rc != XMLIN_OK) {
        log_debug("http", "websocket: refused a message: %s", err);
        in->error(wc->session, xmlin_condition(rc), err);
        return;
    }
    const char *name = xmpp_stanza_get_name(el);
    const char *ns = xmpp_stanza_get_ns(el);
    if (ns && strcmp(ns, NS_FRAMING) == 0 && strcmp(name, "open") == 0) {
        in->open(wc->session, xmpp_stanza_get_attribute(el, "to"), xmpp_stanza_get_attribute(el, "xml:lang"),
                 xmpp_stanza_get_attribute(el, "version"));
    } else if (ns && strcmp(ns, NS_FRAMING) == 0 && strcmp(name, "close") == 0) {
        in->closed(wc->session);
    } else if (ns && strcmp(ns, "http://etherx.jabber.org/streams") == 0 && strcmp(name, "stream") == 0) {
        /* RFC 7395 3.3.2: the TCP binding's stream header is not framing */
        in->error(wc->session, "unsupported-version", "use <open/> (RFC 7395), not <stream:stream>");
    } else {
        in->element(wc->session, el);
    }
    xmpp_stanza_release(el);
}

static void ws_receive(struct ws_conn *wc, const char *in, size_t len)
{
    struct http_server *h = wc->h;
    int final = lws_is_final_fragment(wc->wsi) && lws_remaining_packet_payload(wc->wsi) == 0;
    if (wc->closing || !wc->session)
        return;
    if (lws_frame_is_binary(wc->wsi)) {
        wc->skipping = !final;
        h->xmpp->error(wc->session, "unsupported-encoding", "XMPP over WebSocket is sent as text frames");
        return;
    }
    if (wc->skipping) {
        if (final)
            wc->skipping = 0;
        return;
    }
    if (final && !wc->rx_len) {
        /* the common case: the message came in one piece */
        if (len > h->max_stanza) {
            h->xmpp->error(wc->session, "policy-violation", "the element is larger than this server accepts");
            return;
        }
        ws_message(wc, in, len);
        return;
    }
    if (wc->rx_len + len > h->max_stanza) {
        wc->skipping = !final;
        free(wc->rx);
        wc->rx = NULL;
        wc->rx_len = wc->rx_cap = 0;
        h->xmpp->error(wc->session, "policy-violation", "the element is larger than this server accepts");
        return;
    }
    if (wc->rx_len + len > wc->rx_cap) {
        size_t cap = wc->rx_cap ? wc->rx_cap : 1024;
        while (cap < wc->rx_len + len)
            cap *= 2;
        if (cap > h->max_stanza)
            cap = h->max_stanza;
        char *n = realloc(wc->rx, cap);
        if (!n) {
            h->xmpp->error(wc->session, "resource-constraint", "out of memory");
            return;
        }
        wc->rx = n;
        wc->rx_cap = cap;
    }
    memcpy(wc->rx + wc->rx_len, in, len);
    wc->rx_len += len;
    if (!final)
        return;
    char *msg = wc->rx;
    size_t mlen = wc->rx_len;
    wc->rx = NULL;
    wc->rx_len = wc->rx_cap = 0;
    ws_message(wc, msg, mlen);
    free(msg);
}

static int ws_writeable(struct ws_conn *wc)
{
    struct ws_msg *m = wc->head;
    if (m) {
        wc->head = m->next;
        if (!wc->head)
            wc->tail = NULL;
        wc->queued -= m->len;
        int n = lws_write(wc->wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
        free(m);
        if (n < 0)
            return -1;
        if (wc->head) {
            lws_callback_on_writable(wc->wsi);
            return 0;
        }
    }
    if (wc->closing) {
        lws_close_reason(wc->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    return 0;
}

static int ws_established(struct http_server *h, struct ws_conn *wc, struct lws *wsi)
{
    memset(wc, 0, sizeof(*wc));
    wc->wsi = wsi;
    wc->h = h;
    char addr[64] = "";
    lws_get_peer_simple(wsi, addr, sizeof(addr));
    struct stream_peer peer = {addr, h->tls || (peer_is_loopback(wsi) && !is_forwarded(wsi)), "websocket"};
    const char *why = "refused";
    wc->session = h->xmpp->attach(h->xmpp->ud, &ws_out, wc, &peer, &why);
    if (!wc->session) {
        h->ws_refused++;
        log_info("http", "websocket from %s refused: %s", addr, why);
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)why, strlen(why));
        return -1;
    }
    h->ws_sessions++;
    return 0;
}

static int on_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct http_server *h = server_of(wsi);
    struct ws_conn *wc = user;
    if (!h)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        if (!h->xmpp)
            return -1;
        return ws_established(h, wc, wsi);
    case LWS_CALLBACK_RECEIVE:
        ws_receive(wc, in, len);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return ws_writeable(wc);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        /* the client closed the WebSocket without <close/> first */
        return 0;
    case LWS_CALLBACK_CLOSED:
        ws_session_gone(wc);
        ws_free_queue(wc);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (wc && wc->h) {
            ws_session_gone(wc);
            ws_free_queue(wc);
        }
        return 0;
    default:
        return 0;
    }
}

static int on_lws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct http_server *h = server_of(wsi);
    if (!h)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        /* `wsi` is the listener; nonzero closes the accepted socket */
        return admit(h) ? 0 : -1;
    case LWS_CALLBACK_WSI_CREATE:
        h->connections++;
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        /* also sent for the listener and lws' pipe, at shutdown */
        if (h->connections)
            h->connections--;
        break;
    case LWS_CALLBACK_HTTP: {
        struct req rq;
        req_init(h, &rq, wsi);
        return route(h, &rq);
    }
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return on_upgrade(h, wsi, in);
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_HTTP_BODY:
        if (user)
            bosh_body(h, user, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!user || !h->bosh)
            return -1;
        return bosh_body_done(h, wsi, user);
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        struct http_conn *hc = user;
        if (hc && hc->has_resp)
            return bosh_write(h, wsi, hc);
        return 0;
    }
    case LWS_CALLBACK_CLOSED_HTTP: {
        struct http_conn *hc = user;
        if (hc && hc->at_bosh && h->bosh)
            bosh_request_gone(h->bosh, wsi);
        if (hc)
            conn_reset(hc);
        return 0;
    }
    case LWS_CALLBACK_RAW_ADOPT:
        /* lws turns a CONNECT request into a raw socket bound to this
         * protocol: Epode is no proxy */
        log_debug("http", "CONNECT refused");
        return -1;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"http", on_lws, sizeof(struct http_conn), 0, 0, NULL, 0},
    /* RFC 7395: the sub-protocol is "xmpp" */
    {"xmpp", on_ws, sizeof(struct ws_conn), WS_RX_BUFFER, 0, NULL, 16384},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */

/* lws 4.1 on a foreign libuv loop frees its context in two calls of
 * lws_context_destroy(). The first closes every connection's uv_poll; when
 * the last one has closed, lws closes its two per-loop handles (an idle
 * and a timer, whose `data` is the context); only after those have closed
 * may the second call free the context they live in. Counts those two. */
struct walk {
    const void *ctx;
    int n;
};

static void count_lws_handles(uv_handle_t *hd, void *arg)
{
    struct walk *w = arg;
    if (hd->data == w->ctx)
        w->n++;
}

static int lws_handles_left(struct http_server *h)
{
    struct walk w = {h->ctx, 0};
    uv_walk(h->loop, count_lws_handles, &w);
    return w.n;
}

/* Runs the loop until lws' handles have closed. 0, or -1 if they did not
 * within the budget (a few iterations suffice: closing needs no I/O). */
static int drain_lws(struct http_server *h)
{
    for (int i = 0; i < 1000 && lws_handles_left(h); i++)
        uv_run(h->loop, UV_RUN_NOWAIT);
    return lws_handles_left(h) ? -1 : 0;
}

void http_stop(struct http_server *h)
{
    if (!h || !h->ctx || h->stopped)
        return;
    h->stopped = 1;
    log_info("http", "stopping: closing the listener and %lu connections", h->connections);
    if (h->bosh_handles) {
        uv_prepare_stop(&h->bosh_flush);
        uv_timer_stop(&h->bosh_tick);
        uv_close((uv_handle_t *)&h->bosh_flush, NULL);
        uv_close((uv_handle_t *)&h->bosh_tick, NULL);
        h->bosh_handles = 0;
    }
    lws_context_destroy(h->ctx); /* first call: starts closing */
}

void http_free(struct http_server *h)
{
    if (!h)
        return;
    if (h->ctx) {
        http_stop(h);
        if (drain_lws(h) != 0) {
            /* lws may still call back with `h`: leak both rather than
             * free what libuv holds */
            log_warn("http", "libwebsockets' handles did not close: its context is left allocated");
            return;
        }
        lws_context_destroy(h->ctx); /* second call: frees */
        h->ctx = NULL;
    }
    free(h->listen_host);
    free(h->iface);
    free(h->web_root);
    free(h->public_url);
    free(h->origins);
    free(h->tls_cert);
    free(h->tls_key);
    /* sessions still open end now (the session layer outlives this) */
    bosh_free(h->bosh);
    xmlin_free(h->xmlin);
    free(h);
}

unsigned http_port(const struct http_server *h)
{
    return h->port;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

/* The numeric address lws binds to, and its family. lws 4.1 builds an
 * AF_INET6 socket unless told LWS_SERVER_OPTION_DISABLE_IPV6, and then
 * parses an IPv4 literal into the wrong fields of its sockaddr_in6 (it
 * would listen on every address): an IPv4 address must come with IPv6
 * disabled. */
static int resolve_listen(struct http_server *h, const char *host, int *family, char *err, size_t errlen)
{
    unsigned char tmp[sizeof(struct in6_addr)];
    if (!host[0] || strcmp(host, "*") == 0) {
        *family = AF_INET6; /* dual stack: every IPv4 and IPv6 address */
        h->iface = NULL;
        return 0;
    }
    if (inet_pton(AF_INET, host, tmp) == 1) {
        *family = AF_INET;
        h->iface = strdup(host);
        return h->iface ? 0 : -1;
    }
    if (inet_pton(AF_INET6, host, tmp) == 1) {
        *family = AF_INET6;
        h->iface = strdup(host);
        return h->iface ? 0 : -1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "listen address %s: %s", host, rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    char num[INET6_ADDRSTRLEN] = "";
    const void *addr = res->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                                                 : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
    *family = res->ai_family;
    inet_ntop(res->ai_family, addr, num, sizeof(num));
    freeaddrinfo(res);
    log_info("http", "listen host %s is %s", host, num);
    h->iface = strdup(num);
    return h->iface ? 0 : -1;
}

/* Binds a throw-away socket as lws will, to say clearly why listening
 * fails (lws only logs errno numbers). 0 or -1 with the reason. */
static int probe_listen(const char *iface, int family, unsigned port, const char *shown, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, iface, &s4->sin_addr);
        sl = sizeof(*s4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (iface)
            inet_pton(AF_INET6, iface, &s6->sin6_addr);
        sl = sizeof(*s6);
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s:%u: %s", shown, port, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc = bind(fd, (struct sockaddr *)&ss, sl);
    int e = errno;
    close(fd);
    if (rc == 0)
        return 0;
    if (e == EADDRINUSE)
        snprintf(err, errlen, "cannot listen on %s:%u: the address is already in use (another Epode, or "
                 "another server on that port?): change [epode] listen", shown, port);
    else if (e == EADDRNOTAVAIL)
        snprintf(err, errlen, "cannot listen on %s:%u: not an address of this machine", shown, port);
    else if (e == EACCES)
        snprintf(err, errlen, "cannot listen on %s:%u: permission denied (ports below 1024 need "
                 "CAP_NET_BIND_SERVICE)", shown, port);
    else
        snprintf(err, errlen, "cannot listen on %s:%u: %s", shown, port, strerror(e));
    return -1;
}

/* lws sizes its descriptor tables by the open-files limit and looks a
 * socket up by its number: the soft limit is set to what the connections
 * need, within the hard limit. Returns how many connections fit. */
static unsigned fit_nofile(unsigned want)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)want + HTTP_FD_RESERVE;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want;
    rlim_t target = need;
    if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max)
        target = rl.rlim_max;
    if (rl.rlim_cur != target) {
        struct rlimit nl = {target, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
            rl.rlim_cur = target;
        else
            log_warn("http", "cannot set the open files limit to %llu: %s", (unsigned long long)target,
                     strerror(errno));
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        unsigned fit = rl.rlim_cur > 2 * HTTP_FD_RESERVE ? (unsigned)(rl.rlim_cur - HTTP_FD_RESERVE)
                                                         : (unsigned)(rl.rlim_cur / 2);
        log_warn("http", "the open files limit (%llu, hard %llu) leaves room for %u connections, fewer "
                 "than max_connections=%u: raise it (systemd LimitNOFILE=, ulimit -n)",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, fit, want);
        return fit;
    }
    return want;
}

struct http_server *http_start(uv_loop_t *loop, const struct http_opts *o, char *err, size_t errlen)
{
    struct http_server *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->loop = loop;
    h->tls = o->tls_cert && o->tls_cert[0] && o->tls_key && o->tls_key[0];
    h->metrics_public = o->metrics_public;
    h->metrics = o->metrics;
    h->ud = o->ud;
    h->xmpp = o->xmpp;
    h->xctx = o->xctx;
    h->max_stanza = o->max_stanza ? o->max_stanza : 65536;
    if (h->xmpp) {
        struct xmlin_limits lim = {.max_bytes = h->max_stanza};
        h->xmlin = xmlin_new(o->xctx, &lim);
        struct bosh_opts bo;
        bosh_opts_defaults(&bo);
        if (o->bosh)
            bo = *o->bosh;
        bo.max_body = h->max_stanza + 4096;
        h->bosh_max_body = bo.max_body;
        h->bosh = bosh_new(o->xctx, &bo, h->xmpp, &bosh_ops, h);
        if (!h->xmlin || !h->bosh) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    h->listen_host = dup_or_empty(o->host);
    h->public_url = dup_or_empty(o->public_url);
    h->origins = dup_or_empty(o->allowed_origins);
    h->tls_cert = dup_or_empty(o->tls_cert);
    h->tls_key = dup_or_empty(o->tls_key);
    if (!h->listen_host || !h->public_url || !h->origins || !h->tls_cert || !h->tls_key) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* the announced bases must not end with a slash */
    size_t ul = strlen(h->public_url);
    while (ul && h->public_url[ul - 1] == '/')
        h->public_url[--ul] = '\0';

    if (o->web_root && o->web_root[0]) {
        h->web_root = realpath(o->web_root, NULL);
        if (!h->web_root)
            log_warn("http", "web root %s: %s: static files will answer 404", o->web_root, strerror(errno));
    }

    int family;
    if (resolve_listen(h, h->listen_host, &family, err, errlen))
        goto fail;
    const char *shown = h->listen_host[0] ? h->listen_host : "*";
    if (probe_listen(h->iface, family, o->port, shown, err, errlen))
        goto fail;
    h->max_connections = fit_nofile(o->max_connections ? o->max_connections : 1);

    /* lws' log level is process-wide: set before the context exists */
    int levels = LLL_ERR | LLL_WARN;
    if (log_enabled(LOG_DEBUG))
        levels |= LLL_NOTICE | LLL_USER;
    lws_set_log_level(levels, lws_log_line);

    void *foreign_loops[1] = {loop};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN |
                   LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
    if (family == AF_INET)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    if (h->tls)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.foreign_loops = foreign_loops;
    info.user = h;
    info.protocols = protocols;
    info.port = (int)o->port;
    info.iface = h->iface;
    info.vhost_name = "epode";
    info.server_string = "Epode";
    info.alpn = "http/1.1";
    info.max_http_header_data = HTTP_HEADER_DATA;
    info.timeout_secs = o->request_timeout;
    info.timeout_secs_ah_idle = o->request_timeout;
    info.keepalive_timeout = (int)o->idle_timeout;
    info.uid = -1;
    info.gid = -1;
    if (o->ws_ping_interval) {
        /* WebSocket pings after this much silence; no pong within the
         * same time again closes the connection */
        h->ws_policy.secs_since_valid_ping = (uint16_t)o->ws_ping_interval;
        h->ws_policy.secs_since_valid_hangup = (uint16_t)(2 * o->ws_ping_interval + 10);
        info.retry_and_idle_policy = &h->ws_policy;
    }
    if (h->tls) {
        info.ssl_cert_filepath = h->tls_cert;
        info.ssl_private_key_filepath = h->tls_key;
        info.ssl_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
    }

    h->ctx = lws_create_context(&info);
    if (!h->ctx) {
        snprintf(err, errlen, "libwebsockets could not start on the libuv loop (is its libuv plugin, "
                 "Debian package libwebsockets-evlib-uv, installed?)");
        goto fail;
    }
    h->vhost = lws_create_vhost(h->ctx, &info);
    if (!h->vhost) {
        if (h->tls)
            snprintf(err, errlen, "cannot serve https on %s:%u: libwebsockets refused the certificate %s or "
                     "the key %s (see the lines above)", shown, o->port, h->tls_cert, h->tls_key);
        else
            snprintf(err, errlen, "cannot listen on %s:%u (see the lines above)", shown, o->port);
        goto fail;
    }
    h->port = (unsigned)lws_get_vhost_listen_port(h->vhost);
    if (h->bosh) {
        /* answers to held BOSH requests go out before the loop sleeps */
        uv_prepare_init(loop, &h->bosh_flush);
        uv_timer_init(loop, &h->bosh_tick);
        h->bosh_flush.data = h->bosh_tick.data = h;
        uv_prepare_start(&h->bosh_flush, on_bosh_flush);
        uv_timer_start(&h->bosh_tick, on_bosh_tick, 250, 250);
        h->bosh_handles = 1;
    }
    log_info("http", "listening on %s://%s%s%s:%u/ max_connections=%u web_root=%s%s%s", h->tls ? "https" : "http",
             family == AF_INET6 && h->iface ? "[" : "", h->iface ? h->iface : "[::]",
             family == AF_INET6 && h->iface ? "]" : "", h->port, h->max_connections,
             h->web_root ? h->web_root : "(none)", h->origins[0] ? " allowed_origins=" : "", h->origins);
    return h;
fail:
    http_free(h);
    return NULL;
}
