/* services.c - disco, version, ping and external services. See services.h. */
#include "services.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "log.h"
#include "turn.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_VERSION "jabber:iq:version"
#define NS_PING "urn:xmpp:ping"
#define NS_EXTDISCO "urn:xmpp:extdisco:2"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

static time_t sv_now(struct services *sv)
{
    return sv->now ? sv->now() : time(NULL);
}

static void send_buf(struct services *sv, xmpp_stanza_t *st, struct buf *b)
{
    if (buf_failed(b)) {
        log_error("services", "reply too large or out of memory");
        return;
    }
    if (sv->send(sv->ud, xmpp_stanza_get_from(st), b->data, b->len))
        log_warn("services", "reply dropped: the link queue is full");
}

/* <iq type='result' from=TO to=FROM id=ID> */
static void open_result(struct buf *b, xmpp_stanza_t *st)
{
    buf_lit(b, "<iq type='result'");
    buf_put_attr(b, "from", xmpp_stanza_get_to(st));
    buf_put_attr(b, "to", xmpp_stanza_get_from(st));
    buf_put_attr(b, "id", xmpp_stanza_get_id(st));
    buf_putc(b, '>');
}

void services_reply_error(struct services *sv, xmpp_stanza_t *st, const char *type,
                          const char *condition, const char *text)
{
    const char *name = xmpp_stanza_get_name(st);
    const char *stype = xmpp_stanza_get_type(st);
    if (!name || (stype && strcmp(stype, "error") == 0) || !xmpp_stanza_get_from(st))
        return; /* never answer an error, nor a stanza with nobody to answer */
    if (strcmp(name, "iq") == 0 && stype && strcmp(stype, "result") == 0)
        return;
    struct buf b;
    buf_init(&b, 64 * 1024);
    buf_putc(&b, '<');
    buf_puts(&b, name);
    buf_lit(&b, " type='error'");
    buf_put_attr(&b, "from", xmpp_stanza_get_to(st));
    buf_put_attr(&b, "to", xmpp_stanza_get_from(st));
    buf_put_attr(&b, "id", xmpp_stanza_get_id(st));
    buf_lit(&b, "><error");
    buf_put_attr(&b, "type", type);
    buf_lit(&b, "><");
    buf_puts(&b, condition);
    buf_lit(&b, " xmlns='" NS_STANZAS "'/>");
    if (text) {
        buf_lit(&b, "<text xmlns='" NS_STANZAS "' xml:lang='en'>");
        buf_put_xml_strict(&b, text);
        buf_lit(&b, "</text>");
    }
    buf_lit(&b, "</error></");
    buf_puts(&b, name);
    buf_putc(&b, '>');
    sv->iq_errors++;
    send_buf(sv, st, &b);
    buf_free(&b);
}

/* The local part of `to` when it is user@our-domain (no resource), else NULL
 * through *is_user = 0. */
static int split_to(struct services *sv, const char *to, int *is_domain, char *bare, size_t n)
{
    *is_domain = 0;
    bare[0] = '\0';
    if (!to)
        return -1;
    const char *slash = strchr(to, '/');
    size_t len = slash ? (size_t)(slash - to) : strlen(to);
    if (len >= n)
        return -1;
    memcpy(bare, to, len);
    bare[len] = '\0';
    const char *at = strchr(bare, '@');
    const char *dom = at ? at + 1 : bare;
    if (strcasecmp(dom, sv->cfg->domain) != 0)
        return -1;
    *is_domain = !at;
    return 0;
}

static void disco_info(struct services *sv, xmpp_stanza_t *st, xmpp_stanza_t *q, int is_domain,
                       const char *bare)
{
    const char *node = xmpp_stanza_get_attribute(q, "node");
    if (node) {
        services_reply_error(sv, st, "cancel", "item-not-found", "no such node");
        return;
    }
    struct buf b;
    buf_init(&b, 64 * 1024);
    open_result(&b, st);
    buf_lit(&b, "<query xmlns='" NS_DISCO_INFO "'>");
    if (is_domain) {
        /* the gateway identity first: Openfire lists a component by its
         * first identity */
        buf_lit(&b, "<identity category='gateway' type='webrtc' name='Epode WebRTC gateway'/>"
                     "<identity category='server' type='im' name='Epode'/>"
                     "<feature var='" NS_DISCO_INFO "'/>"
                     "<feature var='" NS_DISCO_ITEMS "'/>"
                     "<feature var='" NS_EXTDISCO "'/>"
                     "<feature var='" NS_PING "'/>"
                     "<feature var='" NS_VERSION "'/>");
    } else {
        (void)bare;
        buf_lit(&b, "<identity category='account' type='registered'/>"
                     "<feature var='" NS_DISCO_INFO "'/>"
                     "<feature var='" NS_DISCO_ITEMS "'/>");
    }
    buf_lit(&b, "</query></iq>");
    send_buf(sv, st, &b);
    buf_free(&b);
}

static void disco_items(struct services *sv, xmpp_stanza_t *st, xmpp_stanza_t *q)
{
    if (xmpp_stanza_get_attribute(q, "node")) {
        services_reply_error(sv, st, "cancel", "item-not-found", "no such node");
        return;
    }
    struct buf b;
    buf_init(&b, 4096);
    open_result(&b, st);
    buf_lit(&b, "<query xmlns='" NS_DISCO_ITEMS "'/></iq>");
    send_buf(sv, st, &b);
    buf_free(&b);
}

static void version(struct services *sv, xmpp_stanza_t *st)
{
    struct buf b;
    buf_init(&b, 4096);
    open_result(&b, st);
    /* no <os/>: it tells an attacker more than it helps a user */
    buf_lit(&b, "<query xmlns='" NS_VERSION "'><name>Epode</name><version>" EPODE_VERSION
                 "</version></query></iq>");
    send_buf(sv, st, &b);
    buf_free(&b);
}

static void ping(struct services *sv, xmpp_stanza_t *st)
{
    struct buf b;
    buf_init(&b, 4096);
    open_result(&b, st);
    buf_lit(&b, "</iq>");
    send_buf(sv, st, &b);
    buf_free(&b);
}

static void put_service(struct services *sv, struct buf *b, const struct ice_server *s,
                        const char *user)
{
    buf_lit(b, "<service");
    buf_put_attr(b, "type", s->type);
    buf_put_attr(b, "host", s->host);
    buf_lit(b, " port='");
    buf_put_u64(b, s->port);
    buf_putc(b, '\'');
    buf_put_attr(b, "transport", s->transport);
    if (strcmp(s->type, "stun") != 0) {
        char username[600], password[64];
        time_t exp;
        if (turn_credentials(sv->cfg->turn_secret, user, sv_now(sv), sv->cfg->turn_ttl, username,
                             sizeof(username), password, sizeof(password), &exp) == 0) {
            struct tm tm;
            char iso[32];
            gmtime_r(&exp, &tm);
            strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
            buf_put_attr(b, "username", username);
            buf_put_attr(b, "password", password);
            buf_put_attr(b, "expires", iso);
            buf_lit(b, " restricted='1'");
        }
    }
    buf_lit(b, "/>");
}

/* XEP-0215: <services/> lists every server (optionally of one type);
 * <credentials/> asks for one server's credentials. */
static void external_services(struct services *sv, xmpp_stanza_t *st, xmpp_stanza_t *q,
                              int credentials)
{
    const char *from = xmpp_stanza_get_from(st);
    char user[512] = "anonymous";
    if (from) {
        const char *slash = strchr(from, '/');
        size_t len = slash ? (size_t)(slash - from) : strlen(from);
        if (len < sizeof(user)) {
            memcpy(user, from, len);
            user[len] = '\0';
        }
    }
    const char *want_type = NULL, *want_host = NULL, *want_port = NULL;
    if (credentials) {
        xmpp_stanza_t *s = xmpp_stanza_get_child_by_name(q, "service");
        want_host = s ? xmpp_stanza_get_attribute(s, "host") : NULL;
        want_type = s ? xmpp_stanza_get_attribute(s, "type") : NULL;
        want_port = s ? xmpp_stanza_get_attribute(s, "port") : NULL;
        if (!want_host || !want_type) {
            services_reply_error(sv, st, "modify", "bad-request",
                                 "<credentials/> needs a <service/> with host and type");
            return;
        }
    } else {
        want_type = xmpp_stanza_get_attribute(q, "type");
    }
    struct buf b;
    buf_init(&b, 64 * 1024);
    open_result(&b, st);
    buf_puts(&b, credentials ? "<credentials xmlns='" NS_EXTDISCO "'>" : "<services xmlns='" NS_EXTDISCO "'>");
    unsigned found = 0;
    for (unsigned i = 0; i < sv->cfg->nice; i++) {
        const struct ice_server *s = &sv->cfg->ice[i];
        if (want_type && strcmp(want_type, s->type) != 0)
            continue;
        if (want_host && strcmp(want_host, s->host) != 0)
            continue;
        if (want_port) {
            char port[8];
            snprintf(port, sizeof(port), "%u", s->port);
            if (strcmp(port, want_port) != 0)
                continue;
        }
        put_service(sv, &b, s, user);
        found++;
    }
    buf_puts(&b, credentials ? "</credentials></iq>" : "</services></iq>");
    if (credentials && !found)
        services_reply_error(sv, st, "cancel", "item-not-found", "no such service");
    else
        send_buf(sv, st, &b);
    buf_free(&b);
}

static xmpp_stanza_t *only_child(xmpp_stanza_t *st, int *count)
{
    xmpp_stanza_t *found = NULL;
    *count = 0;
    for (xmpp_stanza_t *c = xmpp_stanza_get_children(st); c; c = xmpp_stanza_get_next(c))
        if (xmpp_stanza_is_tag(c)) {
            if (!found)
                found = c;
            (*count)++;
        }
    return found;
}

int services_handle(struct services *sv, xmpp_stanza_t *st)
{
    const char *name = xmpp_stanza_get_name(st);
    const char *type = xmpp_stanza_get_type(st);
    const char *to = xmpp_stanza_get_to(st);
    char bare[1024];
    int is_domain;
    if (!name || split_to(sv, to, &is_domain, bare, sizeof(bare)))
        return 0;
    if (strcmp(name, "iq") != 0)
        return 0;
    if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)) {
        if (type && (strcmp(type, "result") == 0 || strcmp(type, "error") == 0))
            return 1; /* answers to something we did not ask: nothing to do */
        services_reply_error(sv, st, "modify", "bad-request", "iq type must be get, set, result or error");
        return 1;
    }
    if (!xmpp_stanza_get_id(st)) {
        services_reply_error(sv, st, "modify", "bad-request", "iq without an id");
        return 1;
    }
    int n;
    xmpp_stanza_t *q = only_child(st, &n);
    if (n != 1) {
        services_reply_error(sv, st, "modify", "bad-request", "an iq get or set carries exactly one child element");
        return 1;
    }
    const char *ns = xmpp_stanza_get_ns(q);
    const char *qn = xmpp_stanza_get_name(q);
    const int get = strcmp(type, "get") == 0;
    if (!is_domain && sv->user_exists && !sv->user_exists(sv->ud, bare)) {
        services_reply_error(sv, st, "cancel", "service-unavailable", NULL);
        return 1;
    }
    sv->iq_answered++;
    if (ns && strcmp(ns, NS_DISCO_INFO) == 0 && get) {
        disco_info(sv, st, q, is_domain, bare);
    } else if (ns && strcmp(ns, NS_DISCO_ITEMS) == 0 && get) {
        disco_items(sv, st, q);
    } else if (ns && strcmp(ns, NS_PING) == 0 && get) {
        ping(sv, st);
    } else if (is_domain && ns && strcmp(ns, NS_VERSION) == 0 && get) {
        version(sv, st);
    } else if (is_domain && ns && strcmp(ns, NS_EXTDISCO) == 0 && get && strcmp(qn, "services") == 0) {
        external_services(sv, st, q, 0);
    } else if (is_domain && ns && strcmp(ns, NS_EXTDISCO) == 0 && get && strcmp(qn, "credentials") == 0) {
        external_services(sv, st, q, 1);
    } else {
        sv->iq_answered--;
        services_reply_error(sv, st, "cancel", "service-unavailable", NULL);
    }
    return 1;
}
