#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_defaults(struct epode_config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->server_host, sizeof(c->server_host), "127.0.0.1");
    c->server_port = 5275;
    snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
    c->listen_port = 5280;
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
    for (unsigned i = 0; i < c->nice; i++)
        if (strcmp(c->ice[i].type, "stun") != 0 && !c->turn_secret[0]) {
            snprintf(err, errlen, "a TURN server is configured but [ice] turn_secret is not");
            return -1;
        }
    return 0;
}
