/* config.h - Epode's configuration: an INI file (docs/epode.conf.example
 * lists every key with its default), then command-line flags over it. */
#ifndef EPODE_CONFIG_H
#define EPODE_CONFIG_H

#include <stddef.h>

#include "log.h"

#define CONFIG_MAX_ICE 16

struct ice_server {
    char type[8];       /* "stun", "turn" or "turns" */
    char host[256];
    unsigned port;
    char transport[8];  /* "udp" or "tcp" */
};

struct epode_config {
    char domain[256];           /* the component's domain, e.g. webrtc.example.com */
    char server_host[256];      /* XMPP server's component listener */
    unsigned server_port;
    char secret[256];           /* component secret (XEP-0114) */
    char listen_host[256];      /* HTTP side: BOSH, WebSocket, demo page */
    unsigned listen_port;
    char db[1024];              /* SQLite database path */
    char control[512];          /* operator's control socket, "" for none */
    enum log_level log_level;

    unsigned ping_interval;     /* seconds between pings to the server */
    unsigned ping_timeout;      /* seconds without an answer before reconnecting */
    unsigned reconnect_min;     /* first reconnect delay, seconds */
    unsigned reconnect_max;     /* longest reconnect delay, seconds */
    unsigned queue_max;         /* stanzas held while the link is down */
    size_t queue_max_bytes;

    struct ice_server ice[CONFIG_MAX_ICE];
    unsigned nice;
    char turn_secret[256];      /* coturn static-auth-secret */
    unsigned turn_ttl;          /* seconds a TURN credential is valid */

    /* [http]: the browsers' side (docs/http.md) */
    char http_public_url[512];      /* base of announced URLs, "" : from Host */
    char http_web_root[1024];       /* static files, "" : the default */
    char http_allowed_origins[2048];/* CORS allow-list, space-separated */
    int http_metrics_public;        /* /metrics for non-loopback clients */
    char http_tls_cert[1024];       /* PEM; with http_tls_key, https */
    char http_tls_key[1024];
    unsigned http_max_connections;
    unsigned http_idle_timeout;     /* seconds */
    unsigned http_request_timeout;  /* seconds */

    /* [clients]: hosted users' sessions (docs/clients.md) */
    int clients_anonymous;          /* SASL ANONYMOUS for guests */
    size_t clients_max_stanza;      /* bytes of one element from a client */
    unsigned clients_rate;          /* stanzas per second per session (burst 2x) */
    unsigned clients_per_address;   /* sessions from one IP address, 0: no limit */
    unsigned clients_max_sessions;  /* sessions at once */
    unsigned clients_auth_delay_ms; /* first delay after a failed login; doubles */

    /* [bosh] XEP-0124 parameters the connection manager grants */
    unsigned bosh_wait_max;
    unsigned bosh_hold;
    unsigned bosh_requests;
    unsigned bosh_inactivity;
    unsigned bosh_polling;
    unsigned bosh_max_pause;

    /* [websocket] */
    unsigned ws_ping_interval;      /* seconds of silence before a ping, 0: none */
};

/* Fills in every default. */
void config_defaults(struct epode_config *c);

/* Reads an INI file over the current values. Returns 0, or -1 with
 * `err` holding "FILE:LINE: what is wrong". */
int config_load(struct epode_config *c, const char *path, char *err, size_t errlen);

/* Sets one key as the file would ("server", "127.0.0.1:5275"), for flags.
 * Returns 0, or -1 with a message in `err`. */
int config_set(struct epode_config *c, const char *section, const char *key,
               const char *value, char *err, size_t errlen);

/* Checks that the configuration can run (domain and secret present...). */
int config_validate(const struct epode_config *c, char *err, size_t errlen);

/* "host:port" into its parts; IPv6 as "[::1]:5275". 0 or -1. */
int config_parse_hostport(const char *s, char *host, size_t hostlen, unsigned *port);

#endif
