/* libFuzzer target: what the daemon answers to any stanza the server could
 * route to it (services.c): it must answer or ignore, never crash, and what
 * it sends must be one well-formed stanza that libstrophe can parse. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>

#include "config.h"
#include "services.h"

static xmpp_ctx_t *ctx;
static struct epode_config cfg;

static time_t fixed_now(void)
{
    return 1700000000;
}

static int check_reply(void *ud, const char *to, const char *xml, size_t len)
{
    (void)ud, (void)to;
    char *copy = malloc(len + 1);
    memcpy(copy, xml, len);
    copy[len] = '\0';
    xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, copy);
    if (!st) {
        fprintf(stderr, "reply is not well-formed XML:\n%s\n", copy);
        abort();
    }
    xmpp_stanza_release(st);
    free(copy);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        char err[256];
        xmpp_initialize();
        ctx = xmpp_ctx_new(NULL, NULL);
        config_defaults(&cfg);
        config_set(&cfg, "epode", "domain", "webrtc.localhost", err, sizeof(err));
        config_set(&cfg, "ice", "stun", "127.0.0.1:3478", err, sizeof(err));
        config_set(&cfg, "ice", "turn", "127.0.0.1:3478", err, sizeof(err));
        config_set(&cfg, "ice", "turn_secret", "s", err, sizeof(err));
    }
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    if (strlen(text) == size) {
        xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, text);
        if (st) {
            struct services sv = {.cfg = &cfg, .send = check_reply, .now = fixed_now};
            if (!services_handle(&sv, st))
                services_reply_error(&sv, st, "cancel", "service-unavailable", "fuzz");
            xmpp_stanza_release(st);
        }
    }
    free(text);
    return 0;
}
