#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void config_defaults(struct epode_config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->server_host, sizeof(c->server_host), "127.0.0.1");
    c->server_port = 5275;
    snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
    c->listen_port = 5290;
    snprintf(c->db, sizeof(c->db), "/var/lib/epode/epode.db");
    snprintf(c->control, sizeof(c->control), "/run/epode/epode.sock");
    c->log_level = LOG_INFO;
    c->ping_interval = 30;
    c->ping_timeout = 10;
    c->reconnect_min = 1;
    c->reconnect_max = 60;
    c->queue_max = 1000;
    c->queue_max_bytes = 1024 * 1024;
    c->turn_ttl = 86400;
    c->http_max_connections = 20000;
    c->http_idle_timeout = 30;
    c->http_request_timeout = 10;
    c->clients_anonymous = 0;
    c->clients_max_stanza = 65536;
    c->clients_rate = 50;
    c->clients_per_address = 100;
    c->clients_max_sessions = 19000;
    c->clients_auth_delay_ms = 1000;
    c->bosh_wait_max = 60;
    c->bosh_hold = 1;
    c->bosh_requests = 2;
    c->bosh_inactivity = 60;
    c->bosh_polling = 2;
    c->bosh_max_pause = 120;
    c->ws_ping_interval = 30;
}

static int copy_str(char *dst, size_t n, const char *v, const char *key, char *err, size_t errlen)
{
    size_t len = strlen(v);
    if (len >= n) {
        snprintf(err, errlen, "%s is longer than %zu characters", key, n - 1);
        return -1;
    }
    memcpy(dst, v, len + 1);
    return 0;
}

static int parse_uint(const char *v, unsigned long long min, unsigned long long max,
                      unsigned long long *out)
{
    if (!*v)
        return -1;
    unsigned long long x = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (x > (max - (unsigned)(*p - '0')) / 10)
            return -1;
        x = x * 10 + (unsigned)(*p - '0');
    }
    if (x < min)
        return -1;
    *out = x;
    return 0;
}

int config_parse_hostport(const char *s, char *host, size_t hostlen, unsigned *port)
{
    const char *colon;
    size_t hl;
    const char *h = s;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
    }
    unsigned long long p;
    if (hl == 0 || hl >= hostlen || parse_uint(colon + 1, 1, 65535, &p))
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (unsigned)p;
    return 0;
}

static int read_secret_file(const char *path, char *dst, size_t n, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read secret file %s: %s", path, strerror(errno));
        return -1;
    }
    size_t got = fread(dst, 1, n - 1, f);
    fclose(f);
    dst[got] = '\0';
    while (got && (dst[got - 1] == '\n' || dst[got - 1] == '\r' || dst[got - 1] == ' '))
        dst[--got] = '\0';
    if (!got) {
        snprintf(err, errlen, "secret file %s is empty", path);
        return -1;
    }
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* [http] public_url: an absolute http(s) URL without query, fragment or
 * anything that would need escaping in XML or JSON; trailing slashes
 * dropped. */
static int set_public_url(struct epode_config *c, const char *v, char *err, size_t errlen)
{
    const char *rest = strncmp(v, "https://", 8) == 0 ? v + 8 : strncmp(v, "http://", 7) == 0 ? v + 7 : NULL;
    if (!*v) {
        c->http_public_url[0] = '\0';
        return 0;
    }
    if (!rest || !*rest || *rest == '/') {
        snprintf(err, errlen, "public_url must be http://HOST[:PORT][/PATH] or https://..., not '%s'", v);
        return -1;
    }
    for (const char *p = rest; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch >= 0x7f || strchr("\"'<>&?#\\`{}|^", ch)) {
            snprintf(err, errlen, "public_url '%s' has a character it cannot carry ('%c'); no query or fragment", v,
                     ch > 0x20 && ch < 0x7f ? ch : '?');
            return -1;
        }
    }
    if (copy_str(c->http_public_url, sizeof(c->http_public_url), v, "public_url", err, errlen))
        return -1;
    size_t n = strlen(c->http_public_url);
    while (n > 8 && c->http_public_url[n - 1] == '/')
        c->http_public_url[--n] = '\0';
    return 0;
}

/* [http] allowed_origins: "*" or scheme://host[:port] entries. */
static int set_origins(struct epode_config *c, const char *v, char *err, size_t errlen)
{
    char entry[300];
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        size_t n = (size_t)(p - start);
        if (!n)
            break;
        if (n >= sizeof(entry)) {
            snprintf(err, errlen, "allowed_origins: an origin is longer than %zu characters", sizeof(entry) - 1);
            return -1;
        }
        memcpy(entry, start, n);
        entry[n] = '\0';
        if (strcmp(entry, "*") != 0) {
            const char *host = strncasecmp(entry, "https://", 8) == 0 ? entry + 8
                               : strncasecmp(entry, "http://", 7) == 0 ? entry + 7 : NULL;
            if (!host || !*host) {
                snprintf(err, errlen, "allowed_origins: '%s' must be * or http(s)://HOST[:PORT]", entry);
                return -1;
            }
            if (strchr(host, '/')) {
                snprintf(err, errlen, "allowed_origins: '%s' must have no path, not even a trailing slash "
                         "(browsers send scheme://host[:port])", entry);
                return -1;
            }
        }
    }
    return copy_str(c->http_allowed_origins, sizeof(c->http_allowed_origins), v, "allowed_origins", err, errlen);
}

static int parse_ice(struct epode_config *c, const char *type, const char *v, char *err, size_t errlen)
{
    if (c->nice >= CONFIG_MAX_ICE) {
        snprintf(err, errlen, "more than %d STUN/TURN servers", CONFIG_MAX_ICE);
        return -1;
    }
    struct ice_server *s = &c->ice[c->nice];
    memset(s, 0, sizeof(*s));
    snprintf(s->type, sizeof(s->type), "%s", type);
    snprintf(s->transport, sizeof(s->transport), strcmp(type, "turns") == 0 ? "tcp" : "udp");
    char tmp[300];
    if (strlen(v) >= sizeof(tmp)) {
        snprintf(err, errlen, "%s server address too long", type);
        return -1;
    }
    memcpy(tmp, v, strlen(v) + 1);
    char *slash = strchr(tmp, '/');
    if (slash) {
        *slash = '\0';
        if (strcmp(slash + 1, "udp") != 0 && strcmp(slash + 1, "tcp") != 0) {
            snprintf(err, errlen, "%s transport must be udp or tcp, not '%s'", type, slash + 1);
            return -1;
        }
        snprintf(s->transport, sizeof(s->transport), "%s", slash + 1);
    }
    if (config_parse_hostport(tmp, s->host, sizeof(s->host), &s->port)) {
        snprintf(err, errlen, "%s server must be HOST:PORT[/udp|/tcp], not '%s'", type, v);
        return -1;
    }
    c->nice++;
    return 0;
}

int config_set(struct epode_config *c, const char *section, const char *key,
               const char *value, char *err, size_t errlen)
{
    unsigned long long u;
#define IS(s, k) (strcmp(section, s) == 0 && strcmp(key, k) == 0)
#define UINT(field, lo, hi)                                                                \
    do {                                                                                   \
        if (parse_uint(value, lo, hi, &u)) {                                               \
            snprintf(err, errlen, "%s must be a number from %llu to %llu, not '%s'", key, \
                     (unsigned long long)(lo), (unsigned long long)(hi), value);           \
            return -1;                                                                     \
        }                                                                                  \
        field = (__typeof__(field))u;                                                      \
        return 0;                                                                          \
    } while (0)
    if (IS("epode", "domain"))
        return copy_str(c->domain, sizeof(c->domain), value, key, err, errlen);
    if (IS("epode", "server")) {
        if (config_parse_hostport(value, c->server_host, sizeof(c->server_host), &c->server_port)) {
            snprintf(err, errlen, "server must be HOST:PORT, not '%s'", value);
            return -1;
        }
        return 0;
    }
    if (IS("epode", "secret"))
        return copy_str(c->secret, sizeof(c->secret), value, key, err, errlen);
    if (IS("epode", "secret_file"))
        return read_secret_file(value, c->secret, sizeof(c->secret), err, errlen);
    if (IS("epode", "listen")) {
        if (config_parse_hostport(value, c->listen_host, sizeof(c->listen_host), &c->listen_port)) {
            snprintf(err, errlen, "listen must be HOST:PORT, not '%s'", value);
            return -1;
        }
        return 0;
    }
    if (IS("epode", "db"))
        return copy_str(c->db, sizeof(c->db), value, key, err, errlen);
    if (IS("epode", "control"))
        return copy_str(c->control, sizeof(c->control), value, key, err, errlen);
    if (IS("epode", "log_level")) {
        if (log_level_parse(value, &c->log_level)) {
            snprintf(err, errlen, "log_level must be debug, info, warn or error, not '%s'", value);
            return -1;
        }
        return 0;
    }
    if (IS("link", "ping_interval"))
        UINT(c->ping_interval, 1, 3600);
    if (IS("link", "ping_timeout"))
        UINT(c->ping_timeout, 1, 600);
    if (IS("link", "reconnect_min"))
        UINT(c->reconnect_min, 1, 3600);
    if (IS("link", "reconnect_max"))
        UINT(c->reconnect_max, 1, 86400);
    if (IS("link", "queue_max"))
        UINT(c->queue_max, 0, 1000000);
    if (IS("link", "queue_max_bytes"))
        UINT(c->queue_max_bytes, 0, 1024ull * 1024 * 1024);
    if (IS("ice", "stun") || IS("ice", "turn") || IS("ice", "turns"))
        return parse_ice(c, key, value, err, errlen);
    if (IS("ice", "turn_secret"))
        return copy_str(c->turn_secret, sizeof(c->turn_secret), value, key, err, errlen);
    if (IS("ice", "turn_secret_file"))
        return read_secret_file(value, c->turn_secret, sizeof(c->turn_secret), err, errlen);
    if (IS("ice", "credential_ttl"))
        UINT(c->turn_ttl, 60, 30 * 86400);
    if (IS("clients", "anonymous")) {
        if (parse_bool(value, &c->clients_anonymous)) {
            snprintf(err, errlen, "anonymous must be true or false, not '%s'", value);
            return -1;
        }
        return 0;
    }
    if (IS("clients", "max_stanza_size"))
        UINT(c->clients_max_stanza, 1024, 16 * 1024 * 1024);
    if (IS("clients", "stanzas_per_second"))
        UINT(c->clients_rate, 1, 1000000);
    if (IS("clients", "sessions_per_address"))
        UINT(c->clients_per_address, 0, 1000000);
    if (IS("clients", "max_sessions"))
        UINT(c->clients_max_sessions, 1, 1000000);
    if (IS("clients", "auth_failure_delay_ms"))
        UINT(c->clients_auth_delay_ms, 0, 60000);
    if (IS("bosh", "wait_max"))
        UINT(c->bosh_wait_max, 1, 3600);
    if (IS("bosh", "hold"))
        UINT(c->bosh_hold, 0, 16);
    if (IS("bosh", "requests"))
        UINT(c->bosh_requests, 1, 17);
    if (IS("bosh", "inactivity"))
        UINT(c->bosh_inactivity, 5, 3600);
    if (IS("bosh", "polling"))
        UINT(c->bosh_polling, 0, 600);
    if (IS("bosh", "max_pause"))
        UINT(c->bosh_max_pause, 0, 86400);
    if (IS("websocket", "ping_interval"))
        UINT(c->ws_ping_interval, 0, 3600);
    if (IS("http", "public_url"))
        return set_public_url(c, value, err, errlen);
    if (IS("http", "web_root"))
        return copy_str(c->http_web_root, sizeof(c->http_web_root), value, key, err, errlen);
    if (IS("http", "allowed_origins"))
        return set_origins(c, value, err, errlen);
    if (IS("http", "metrics_public")) {
        if (parse_bool(value, &c->http_metrics_public)) {
            snprintf(err, errlen, "metrics_public must be true or false, not '%s'", value);
            return -1;
        }
        return 0;
    }
    if (IS("http", "tls_cert"))
        return copy_str(c->http_tls_cert, sizeof(c->http_tls_cert), value, key, err, errlen);
    if (IS("http", "tls_key"))
        return copy_str(c->http_tls_key, sizeof(c->http_tls_key), value, key, err, errlen);
    if (IS("http", "max_connections"))
        UINT(c->http_max_connections, 1, 1000000);
    if (IS("http", "idle_timeout"))
        UINT(c->http_idle_timeout, 1, 3600);
    if (IS("http", "request_timeout"))
        UINT(c->http_request_timeout, 1, 600);
#undef IS
#undef UINT
    snprintf(err, errlen, "unknown key '%s' in section [%s]", key, section);
    return -1;
}

struct load_ctx {
    struct epode_config *c;
    char msg[300];
};

static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *l = user;
    if (l->msg[0])
        return 1; /* keep the first error */
    if (config_set(l->c, section, name, value, l->msg, sizeof(l->msg)))
        return 0;
    return 1;
}

int config_load(struct epode_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct load_ctx l = {.c = c};
    int line = ini_parse_file(f, ini_cb, &l);
    fclose(f);
    if (line > 0) {
        snprintf(err, errlen, "%s:%d: %s", path, line, l.msg[0] ? l.msg : "not an INI line (expected key = value or [section])");
        return -1;
    }
    if (line < 0) {
        snprintf(err, errlen, "%s: cannot read it", path);
        return -1;
    }
    return 0;
}

int config_validate(const struct epode_config *c, char *err, size_t errlen)
{
    if (!c->domain[0]) {
        snprintf(err, errlen, "no domain: set [epode] domain or --domain (the component's domain, e.g. webrtc.example.com)");
        return -1;
    }
    if (strchr(c->domain, '@') || strchr(c->domain, '/') || strchr(c->domain, ' ')) {
        snprintf(err, errlen, "domain '%s' is not a domain name", c->domain);
        return -1;
    }
    if (!c->secret[0]) {
        snprintf(err, errlen, "no component secret: set [epode] secret (or secret_file) or --secret");
        return -1;
    }
    if (c->reconnect_min > c->reconnect_max) {
        snprintf(err, errlen, "reconnect_min (%u) is larger than reconnect_max (%u)", c->reconnect_min, c->reconnect_max);
        return -1;
    }
    if (c->bosh_requests <= c->bosh_hold) {
        snprintf(err, errlen, "[bosh] requests (%u) must be larger than hold (%u): a client needs one request "
                 "free to send while the others are held", c->bosh_requests, c->bosh_hold);
        return -1;
    }
    if (!c->http_tls_cert[0] != !c->http_tls_key[0]) {
        snprintf(err, errlen, "[http] tls_cert and tls_key go together: set both (https) or neither (http)");
        return -1;
    }
    const char *tls_files[] = {c->http_tls_cert, c->http_tls_key};
    for (int i = 0; i < 2; i++)
        if (tls_files[i][0] && access(tls_files[i], R_OK) != 0) {
            snprintf(err, errlen, "[http] %s %s: %s", i ? "tls_key" : "tls_cert", tls_files[i], strerror(errno));
            return -1;
        }
    if (c->http_web_root[0]) {
        struct stat st;
        if (stat(c->http_web_root, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "[http] web_root %s is not a directory", c->http_web_root);
            return -1;
        }
    }
    for (unsigned i = 0; i < c->nice; i++)
        if (strcmp(c->ice[i].type, "stun") != 0 && !c->turn_secret[0]) {
            snprintf(err, errlen, "a TURN server is configured but [ice] turn_secret is not");
            return -1;
        }
    return 0;
}
