/* c2s.c - hosted users' sessions, rosters, presence and routing. See c2s.h.
 *
 * Stanzas are libstrophe objects while they are routed: a client's stanza
 * (parsed by the transport) gets its `from` stamped and goes either to
 * deliver_inbound() when the recipient is a hosted user, the same function
 * that takes stanzas arriving from the XMPP server, or out through the
 * link. Only the last step serialises. */
#include "c2s.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>
#include <uthash.h>

#include "buf.h"
#include "calls.h"
#include "log.h"
#include "sasl.h"
#include "store.h"

#define NS_CLIENT "jabber:client"
#define NS_STREAM "http://etherx.jabber.org/streams"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_ROSTER "jabber:iq:roster"

/* RFC 6120 6.4.5: a few retries, then the stream ends. */
#define AUTH_TRIES_PER_STREAM 5
/* Failures from one address are forgotten after this long. */
#define AUTH_FAILURE_MEMORY_MS (10 * 60 * 1000)
#define AUTH_DELAY_MAX_MS 30000
/* A connection must have bound a resource within this time. */
#define LOGIN_TIMEOUT_MS 60000
/* Recipients of directed presence remembered per session (they get the
 * unavailable presence at the end). */
#define DIRECTED_MAX 64
#define RESOURCE_MAX 1023

enum sstate {
    ST_NEW,         /* waiting for the stream header */
    ST_AUTH,        /* SASL */
    ST_AUTH_WAIT,   /* a failure is being held back (slowed down) */
    ST_AUTHED,      /* success sent, waiting for the restart */
    ST_RESTARTED,   /* waiting for the resource binding */
    ST_BOUND,
};

struct addr_entry {
    char addr[64];
    unsigned sessions;
    unsigned failures;
    uint64_t last_failure_ms;
    UT_hash_handle hh;
};

struct user;

struct session {
    struct c2s *c;
    const struct stream_out *out;
    void *t;
    struct addr_entry *addr;
    const char *transport;
    enum sstate state;
    char *bare;                 /* after SASL success */
    char *jid;                  /* full JID once bound */
    struct user *user;          /* once bound */
    struct session *next_of_user;
    struct session *prev_all, *next_all;
    struct session *next_delayed;
    struct sasl_exchange *sasl;
    char *delayed_failure;      /* the <failure/> held back */
    xmpp_stanza_t *presence;    /* last available presence, NULL: unavailable */
    char **directed;
    unsigned ndirected;
    uint64_t created_ms;
    uint64_t delay_until_ms;
    uint64_t tokens_ms;
    double tokens;
    unsigned strikes;
    unsigned auth_failures;
    int priority;
    unsigned secure : 1;
    unsigned anonymous : 1;
    unsigned interested : 1;    /* asked for the roster: gets pushes */
    unsigned closing : 1;       /* close() called: sends nothing more */
    unsigned ended : 1;         /* presence ended, unlinked from its user */
};

struct user {
    char *bare;
    struct session *sessions;
    UT_hash_handle hh;
};

struct c2s {
    struct c2s_opts o;
    const struct epode_config *cfg;
    struct stream_in in;
    struct user *users;             /* by bare JID */
    struct addr_entry *addrs;       /* by address */
    struct session *all;
    struct session *delayed;
    struct c2s_stats stats;
    uint64_t last_sweep_ms;
    unsigned long push_id;
};

static void deliver_inbound(struct c2s *c, xmpp_stanza_t *st);
static void route(struct c2s *c, xmpp_stanza_t *st);
static void end_presence(struct session *s);

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static uint64_t now_ms(struct c2s *c)
{
    return c->o.now_ms(c->o.ud);
}

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char r[32];
    if (bytes > sizeof(r))
        bytes = sizeof(r);
    if (RAND_bytes(r, (int)bytes) != 1) {
        /* never expected; a predictable id is still unique enough here
         * (ids and resources are not secrets) */
        static unsigned long n;
        snprintf(out, bytes * 2 + 1, "%0*lx", (int)(bytes * 2), ++n);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < bytes; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[2 * bytes] = '\0';
}

/* Normalises `jid` (full or bare) into `full` and writes its bare part to
 * `bare`; *resource points into `full` after the slash, or NULL. 0 or -1. */
static int jid_parse(const char *jid, char *full, size_t flen, char *bare, size_t blen, const char **resource)
{
    if (!jid || store_jid_normalize(jid, 1, 0, full, flen) != 0)
        return -1;
    const char *slash = strchr(full, '/');
    size_t n = slash ? (size_t)(slash - full) : strlen(full);
    if (n >= blen)
        return -1;
    memcpy(bare, full, n);
    bare[n] = '\0';
    *resource = slash ? slash + 1 : NULL;
    return 0;
}

/* The domain part of a normalised bare JID. */
static const char *jid_domain(const char *bare)
{
    const char *at = strchr(bare, '@');
    return at ? at + 1 : bare;
}

static int is_local_domain(struct c2s *c, const char *bare)
{
    return strcasecmp(jid_domain(bare), c->cfg->domain) == 0;
}

static xmpp_stanza_t *first_child_element(xmpp_stanza_t *st, int *count)
{
    xmpp_stanza_t *first = NULL;
    int n = 0;
    for (xmpp_stanza_t *ch = xmpp_stanza_get_children(st); ch; ch = xmpp_stanza_get_next(ch))
        if (xmpp_stanza_is_tag(ch)) {
            if (!first)
                first = ch;
            n++;
        }
    if (count)
        *count = n;
    return first;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

static void close_stream(struct session *s, const char *cond, const char *text);

static void send_text(struct session *s, const char *xml, size_t len)
{
    if (s->closing)
        return;
    if (log_enabled(LOG_DEBUG))
        log_debug("c2s", "out jid=%s: %.*s", s->jid ? s->jid : "-", (int)(len > 400 ? 400 : len), xml);
    if (s->out->send(s->t, xml, len) != 0) {
        log_info("c2s", "jid=%s addr=%s: output over its limit, the client is not reading: closing",
                 s->jid ? s->jid : "-", s->addr->addr);
        close_stream(s, "policy-violation", "Too much output waiting: the client is not reading.");
        return;
    }
    s->c->stats.stanzas_out_total++;
}

static void send_buf(struct session *s, struct buf *b)
{
    if (buf_failed(b)) {
        log_error("c2s", "an answer did not fit in its buffer");
        return;
    }
    send_text(s, b->data, b->len);
}

/* Appends `xml` (one element) to `b` with xmlns='jabber:client' on its
 * top level when the start tag has no xmlns of its own. Browsers need it on
 * every element (RFC 7395; inside BOSH's <body/> too), and libstrophe's
 * serialiser leaves jabber:client out. */
static void put_qualified(struct buf *b, const char *xml, size_t len)
{
    size_t name_end = 1;
    while (name_end < len && xml[name_end] != ' ' && xml[name_end] != '>' && xml[name_end] != '/')
        name_end++;
    const char *tag_end = memchr(xml, '>', len);
    size_t head = tag_end ? (size_t)(tag_end - xml) : len;
    buf_append(b, xml, name_end);
    if (!memmem(xml, head, " xmlns=", 7))
        buf_lit(b, " xmlns='" NS_CLIENT "'");
    buf_append(b, xml + name_end, len - name_end);
}

/* Sends a stanza to the session's client: top level in jabber:client. */
static void send_stanza(struct session *s, xmpp_stanza_t *st)
{
    if (s->closing)
        return;
    xmpp_stanza_del_attribute(st, "xmlns");
    char *text = NULL;
    size_t len = 0;
    if (xmpp_stanza_to_text(st, &text, &len) != XMPP_EOK) {
        log_error("c2s", "out of memory serialising a stanza for %s", s->jid ? s->jid : "-");
        return;
    }
    struct buf b;
    buf_init(&b, len + 64);
    put_qualified(&b, text, len);
    xmpp_free(s->c->o.xctx, text);
    send_buf(s, &b);
    buf_free(&b);
}

/* A stanza error answering `st` (which has its `from` stamped). */
static void reply_error(struct c2s *c, xmpp_stanza_t *st, const char *type, const char *cond, const char *text)
{
    services_reply_error(c->o.services, st, type, cond, text);
}

/* An empty iq result answering `st` from the session's client. */
static void reply_result(struct session *s, xmpp_stanza_t *st)
{
    struct buf b;
    buf_init(&b, 8192);
    buf_lit(&b, "<iq xmlns='" NS_CLIENT "' type='result'");
    buf_put_attr(&b, "from", xmpp_stanza_get_to(st));
    buf_put_attr(&b, "to", s->jid);
    buf_put_attr(&b, "id", xmpp_stanza_get_id(st));
    buf_lit(&b, "/>");
    send_buf(s, &b);
    buf_free(&b);
}

static void close_stream(struct session *s, const char *cond, const char *text)
{
    if (s->closing)
        return;
    end_presence(s);
    s->closing = 1;
    if (cond)
        log_info("c2s", "jid=%s addr=%s: closing the stream: %s%s%s", s->jid ? s->jid : (s->bare ? s->bare : "-"),
                 s->addr->addr, cond, text ? ": " : "", text ? text : "");
    s->out->close(s->t, cond, text);
}

/* ------------------------------------------------------------------ */
/* Users and sessions                                                  */

static struct user *user_find(struct c2s *c, const char *bare)
{
    struct user *u = NULL;
    HASH_FIND_STR(c->users, bare, u);
    return u;
}

static struct session *user_session(struct user *u, const char *resource)
{
    if (!u || !resource)
        return NULL;
    for (struct session *s = u->sessions; s; s = s->next_of_user)
        if (strcmp(s->jid + strlen(u->bare) + 1, resource) == 0)
            return s;
    return NULL;
}

static void user_unlink(struct c2s *c, struct session *s)
{
    struct user *u = s->user;
    if (!u)
        return;
    for (struct session **pp = &u->sessions; *pp; pp = &(*pp)->next_of_user)
        if (*pp == s) {
            *pp = s->next_of_user;
            break;
        }
    s->user = NULL;
    s->next_of_user = NULL;
    c->stats.bound--;
    if (!u->sessions) {
        HASH_DEL(c->users, u);
        free(u->bare);
        free(u);
    }
}

int c2s_user_exists(struct c2s *c, const char *bare)
{
    char full[STORE_JID_MAX + 1], b[STORE_JID_MAX + 1];
    const char *res;
    if (jid_parse(bare, full, sizeof(full), b, sizeof(b), &res))
        return 0;
    if (user_find(c, b))
        return 1;
    return store_user_exists(c->o.store, b) == 0;
}

/* Whether the stored user exists (anonymous guests are not stored). */
static int stored_user(struct c2s *c, const char *bare)
{
    return store_user_exists(c->o.store, bare) == 0;
}

/* ------------------------------------------------------------------ */
/* Roster                                                              */

/* An item only the contact created by asking for a subscription is not
 * part of the user's roster until the user acts on it (RFC 6121 3.1.3). */
static int item_hidden(const struct store_roster_item *it)
{
    return it->subscription == STORE_SUB_NONE && !it->ask && !it->approved && !it->name && !it->ngroups;
}

static void put_item(struct buf *b, const struct store_roster_item *it, int removed)
{
    buf_lit(b, "<item");
    buf_put_attr(b, "jid", it->jid);
    if (removed) {
        buf_lit(b, " subscription='remove'/>");
        return;
    }
    buf_put_attr(b, "name", it->name);
    buf_put_attr(b, "subscription", store_subscription_name(it->subscription));
    if (it->ask)
        buf_lit(b, " ask='subscribe'");
    if (it->approved)
        buf_lit(b, " approved='true'");
    if (!it->ngroups) {
        buf_lit(b, "/>");
        return;
    }
    buf_putc(b, '>');
    for (size_t i = 0; i < it->ngroups; i++) {
        buf_lit(b, "<group>");
        buf_put_xml_strict(b, it->groups[i]);
        buf_lit(b, "</group>");
    }
    buf_lit(b, "</item>");
}

/* Pushes one item to every resource of `bare` that asked for the roster. */
static void roster_push(struct c2s *c, const char *bare, const struct store_roster_item *it, int removed)
{
    struct user *u = user_find(c, bare);
    if (!u || (!removed && item_hidden(it)))
        return;
    for (struct session *s = u->sessions; s; s = s->next_of_user) {
        if (!s->interested)
            continue;
        struct buf b;
        buf_init(&b, 1 << 20);
        char id[32];
        snprintf(id, sizeof(id), "push%lu", ++c->push_id);
        buf_lit(&b, "<iq xmlns='" NS_CLIENT "' type='set'");
        buf_put_attr(&b, "id", id);
        buf_put_attr(&b, "to", s->jid);
        buf_lit(&b, "><query xmlns='" NS_ROSTER "'>");
        put_item(&b, it, removed);
        buf_lit(&b, "</query></iq>");
        send_buf(s, &b);
        buf_free(&b);
    }
}

/* Writes `it` back and pushes it. */
static int item_save(struct c2s *c, const char *owner, struct store_roster_item *it)
{
    int rc = store_roster_item_put(c->o.store, owner, it);
    if (rc) {
        log_warn("c2s", "roster of %s: cannot save %s: %s", owner, it->jid, store_errmsg(c->o.store));
        return rc;
    }
    roster_push(c, owner, it, 0);
    return 0;
}

static void roster_get(struct session *s, xmpp_stanza_t *st)
{
    struct c2s *c = s->c;
    struct store_roster *r = NULL;
    if (!s->anonymous && store_roster_get(c->o.store, s->bare, &r) != 0) {
        reply_error(c, st, "wait", "internal-server-error", "the roster cannot be read");
        return;
    }
    struct buf b;
    buf_init(&b, 16u << 20);
    buf_lit(&b, "<iq xmlns='" NS_CLIENT "' type='result'");
    buf_put_attr(&b, "id", xmpp_stanza_get_id(st));
    buf_put_attr(&b, "to", s->jid);
    buf_lit(&b, "><query xmlns='" NS_ROSTER "'>");
    for (size_t i = 0; r && i < r->n; i++)
        if (!item_hidden(&r->items[i]))
            put_item(&b, &r->items[i], 0);
    buf_lit(&b, "</query></iq>");
    s->interested = 1;
    send_buf(s, &b);
    buf_free(&b);
    store_roster_free(r);
}

/* A presence of `type` from `from` to `to` (bare or full), routed. */
static void send_presence(struct c2s *c, const char *type, const char *from, const char *to)
{
    xmpp_stanza_t *p = xmpp_presence_new(c->o.xctx);
    if (!p)
        return;
    if (type)
        xmpp_stanza_set_type(p, type);
    xmpp_stanza_set_from(p, from);
    xmpp_stanza_set_to(p, to);
    route(c, p);
    xmpp_stanza_release(p);
}

/* Sends the current presence of each available resource of `bare` to
 * `to` (after a subscription approval, or answering a probe). With none
 * available and `unavailable_if_none`, an unavailable presence. */
static void send_current_presence(struct c2s *c, const char *bare, const char *to, int unavailable_if_none)
{
    struct user *u = user_find(c, bare);
    int sent = 0;
    for (struct session *s = u ? u->sessions : NULL; s; s = s->next_of_user) {
        if (!s->presence)
            continue;
        xmpp_stanza_t *p = xmpp_stanza_copy(s->presence);
        if (!p)
            continue;
        xmpp_stanza_set_to(p, to);
        route(c, p);
        xmpp_stanza_release(p);
        sent++;
    }
    if (!sent && unavailable_if_none)
        send_presence(c, "unavailable", bare, to);
}

/* Sends unavailable from each available resource of `bare` to `to`. */
static void send_unavailable_from_all(struct c2s *c, const char *bare, const char *to)
{
    struct user *u = user_find(c, bare);
    for (struct session *s = u ? u->sessions : NULL; s; s = s->next_of_user)
        if (s->presence)
            send_presence(c, "unavailable", s->jid, to);
}

static void roster_set(struct session *s, xmpp_stanza_t *st, xmpp_stanza_t *q)
{
    struct c2s *c = s->c;
    int n;
    xmpp_stanza_t *item = first_child_element(q, &n);
    if (n != 1 || !streq(xmpp_stanza_get_name(item), "item")) {
        reply_error(c, st, "modify", "bad-request", "a roster set carries exactly one <item/>");
        return;
    }
    if (s->anonymous) {
        reply_error(c, st, "cancel", "not-allowed", "guests have no stored roster");
        return;
    }
    char full[STORE_JID_MAX + 1], jid[STORE_JID_MAX + 1];
    const char *res;
    if (jid_parse(xmpp_stanza_get_attribute(item, "jid"), full, sizeof(full), jid, sizeof(jid), &res) || res) {
        reply_error(c, st, "modify", "bad-request", "the item's jid is not a bare JID");
        return;
    }
    if (strcmp(jid, s->bare) == 0) {
        reply_error(c, st, "cancel", "not-allowed", "a user is not a contact of their own roster");
        return;
    }
    struct store_roster_item *old = NULL;
    int rc = store_roster_item_get(c->o.store, s->bare, jid, &old);
    if (rc && rc != STORE_ENOTFOUND) {
        reply_error(c, st, "wait", "internal-server-error", "the roster cannot be read");
        return;
    }
    if (streq(xmpp_stanza_get_attribute(item, "subscription"), "remove")) {
        if (!old || item_hidden(old)) {
            store_roster_item_free(old);
            reply_error(c, st, "cancel", "item-not-found", "no such contact in the roster");
            return;
        }
        /* RFC 6121 2.5.2: cancel both directions and any pending request */
        if ((old->subscription & STORE_SUB_TO) || old->ask)
            send_presence(c, "unsubscribe", s->bare, jid);
        if ((old->subscription & STORE_SUB_FROM) || old->pending_in) {
            send_unavailable_from_all(c, s->bare, jid);
            send_presence(c, "unsubscribed", s->bare, jid);
        }
        store_roster_item_remove(c->o.store, s->bare, jid);
        roster_push(c, s->bare, old, 1);
        store_roster_item_free(old);
        reply_result(s, st);
        return;
    }
    const char *groups[STORE_ROSTER_GROUPS_MAX];
    char *gtext[STORE_ROSTER_GROUPS_MAX];
    size_t ng = 0;
    int bad = 0;
    for (xmpp_stanza_t *g = xmpp_stanza_get_children(item); g; g = xmpp_stanza_get_next(g)) {
        if (!xmpp_stanza_is_tag(g) || !streq(xmpp_stanza_get_name(g), "group"))
            continue;
        if (ng == STORE_ROSTER_GROUPS_MAX) {
            bad = 1;
            break;
        }
        char *t = xmpp_stanza_get_text(g);
        if (!t || !t[0] || strlen(t) > STORE_PART_MAX) {
            if (t)
                xmpp_free(c->o.xctx, t);
            bad = 2;
            break;
        }
        for (size_t i = 0; i < ng; i++)
            if (strcmp(gtext[i], t) == 0)
                bad = 3;
        gtext[ng] = t;
        groups[ng] = t;
        ng++;
    }
    const char *name = xmpp_stanza_get_attribute(item, "name");
    if (name && strlen(name) > STORE_PART_MAX)
        bad = 4;
    if (!bad) {
        struct store_roster_item it = {0};
        if (old)
            it = *old;
        it.jid = jid;
        it.name = name && name[0] ? name : NULL;
        it.groups = groups;
        it.ngroups = ng;
        if (item_save(c, s->bare, &it))
            bad = 5;
    }
    for (size_t i = 0; i < ng; i++)
        xmpp_free(c->o.xctx, gtext[i]);
    store_roster_item_free(old);
    if (bad == 5)
        reply_error(c, st, "wait", "internal-server-error", "the roster cannot be saved");
    else if (bad == 3)
        reply_error(c, st, "modify", "bad-request", "a group is named twice");
    else if (bad)
        reply_error(c, st, "modify", "not-acceptable", "an empty or too long group or name, or too many groups");
    else
        reply_result(s, st);
}

/* ------------------------------------------------------------------ */
/* Subscriptions (RFC 6121 3)                                          */

/* Reads the item, or a fresh one (subscription none) when there is none.
 * `*fresh` says which; the caller frees `*old` (NULL when fresh). */
static int item_load(struct c2s *c, const char *owner, const char *jid, struct store_roster_item **old,
                     struct store_roster_item *it)
{
    memset(it, 0, sizeof(*it));
    *old = NULL;
    int rc = store_roster_item_get(c->o.store, owner, jid, old);
    if (rc == STORE_ENOTFOUND) {
        it->jid = jid;
        return 0;
    }
    if (rc)
        return rc;
    *it = **old;
    return 0;
}

/* Delivers `st` to every available resource of `u`; returns how many. */
static int deliver_available(struct user *u, xmpp_stanza_t *st, int nonnegative)
{
    int n = 0;
    for (struct session *s = u ? u->sessions : NULL; s; s = s->next_of_user) {
        if (!s->presence || (nonnegative && s->priority < 0))
            continue;
        send_stanza(s, st);
        n++;
    }
    return n;
}

/* The user `s` sends a subscription stanza of `type` to `contact`. */
static void outbound_subscription(struct session *s, xmpp_stanza_t *st, const char *type, const char *contact)
{
    struct c2s *c = s->c;
    /* RFC 6121 3.1.2: subscription stanzas go out from the bare JID */
    xmpp_stanza_set_from(st, s->bare);
    xmpp_stanza_set_to(st, contact);
    if (s->anonymous) {
        route(c, st);
        return;
    }
    struct store_roster_item *old, it;
    if (item_load(c, s->bare, contact, &old, &it)) {
        reply_error(c, st, "wait", "internal-server-error", "the roster cannot be read");
        return;
    }
    int save = 0, forward = 1;
    if (strcmp(type, "subscribe") == 0) {
        if (!(it.subscription & STORE_SUB_TO) && !it.ask) {
            it.ask = 1;
            save = 1;
        }
    } else if (strcmp(type, "subscribed") == 0) {
        if (it.pending_in) {
            it.subscription |= STORE_SUB_FROM;
            it.pending_in = 0;
            it.approved = 0;
            save = 1;
        } else if (!(it.subscription & STORE_SUB_FROM)) {
            /* RFC 6121 3.4: pre-approval, kept and not sent */
            forward = 0;
            if (!it.approved) {
                it.approved = 1;
                save = 1;
            }
        } else {
            forward = 0;
        }
    } else if (strcmp(type, "unsubscribe") == 0) {
        if ((it.subscription & STORE_SUB_TO) || it.ask) {
            it.subscription &= ~STORE_SUB_TO;
            it.ask = 0;
            save = 1;
        }
    } else { /* unsubscribed */
        if (it.subscription & STORE_SUB_FROM) {
            send_unavailable_from_all(c, s->bare, contact);
            it.subscription &= ~STORE_SUB_FROM;
            save = 1;
        } else if (it.pending_in) {
            it.pending_in = 0;
            save = 1;
        } else if (it.approved) {
            it.approved = 0;
            save = 1;
            forward = 0;
        }
    }
    if (save)
        item_save(c, s->bare, &it);
    store_roster_item_free(old);
    if (forward)
        route(c, st);
    if (forward && strcmp(type, "subscribed") == 0)
        send_current_presence(c, s->bare, contact, 0);
}

/* A subscription stanza of `type` from `contact` for the hosted user `u`. */
static void inbound_subscription(struct c2s *c, xmpp_stanza_t *st, const char *type, const char *owner,
                                 const char *contact)
{
    struct user *u = user_find(c, owner);
    if (!stored_user(c, owner)) {
        /* a guest has no roster to keep: pass it on as it is */
        deliver_available(u, st, 0);
        return;
    }
    /* RFC 6121 3.1.3: subscription stanzas come from the bare JID */
    xmpp_stanza_set_from(st, contact);
    struct store_roster_item *old, it;
    if (item_load(c, owner, contact, &old, &it)) {
        store_roster_item_free(old);
        return;
    }
    if (strcmp(type, "subscribe") == 0) {
        if (it.subscription & STORE_SUB_FROM) {
            send_presence(c, "subscribed", owner, contact);
        } else if (it.approved) {
            it.subscription |= STORE_SUB_FROM;
            it.approved = 0;
            item_save(c, owner, &it);
            send_presence(c, "subscribed", owner, contact);
            send_current_presence(c, owner, contact, 0);
        } else {
            if (!it.pending_in) {
                it.pending_in = 1;
                item_save(c, owner, &it);
            }
            /* with nobody online, pending_in keeps it for the next login */
            deliver_available(u, st, 0);
        }
    } else if (strcmp(type, "subscribed") == 0) {
        if (it.ask && !(it.subscription & STORE_SUB_TO)) {
            it.subscription |= STORE_SUB_TO;
            it.ask = 0;
            item_save(c, owner, &it);
            deliver_available(u, st, 0);
        }
    } else if (strcmp(type, "unsubscribe") == 0) {
        if ((it.subscription & STORE_SUB_FROM) || it.pending_in) {
            if (it.subscription & STORE_SUB_FROM)
                send_unavailable_from_all(c, owner, contact);
            it.subscription &= ~STORE_SUB_FROM;
            it.pending_in = 0;
            item_save(c, owner, &it);
            deliver_available(u, st, 0);
        }
    } else { /* unsubscribed */
        if ((it.subscription & STORE_SUB_TO) || it.ask) {
            it.subscription &= ~STORE_SUB_TO;
            it.ask = 0;
            item_save(c, owner, &it);
            deliver_available(u, st, 0);
        }
    }
    store_roster_item_free(old);
}

/* ------------------------------------------------------------------ */
/* Presence (RFC 6121 4)                                               */

static int is_subscription_type(const char *t)
{
    return t && (strcmp(t, "subscribe") == 0 || strcmp(t, "subscribed") == 0 || strcmp(t, "unsubscribe") == 0 ||
                 strcmp(t, "unsubscribed") == 0);
}

/* Sends `p` (its `from` stamped) to each contact of `s`'s user with a
 * subscription from, to the user's own available resources and, for
 * unavailable, to whoever got directed presence. */
static void broadcast(struct session *s, xmpp_stanza_t *p, int unavailable)
{
    struct c2s *c = s->c;
    struct store_roster *r = NULL;
    if (!s->anonymous && store_roster_get(c->o.store, s->bare, &r) != 0)
        r = NULL;
    for (size_t i = 0; r && i < r->n; i++) {
        if (!(r->items[i].subscription & STORE_SUB_FROM))
            continue;
        xmpp_stanza_set_to(p, r->items[i].jid);
        route(c, p);
    }
    for (unsigned i = 0; unavailable && i < s->ndirected; i++) {
        xmpp_stanza_set_to(p, s->directed[i]);
        route(c, p);
        free(s->directed[i]);
    }
    if (unavailable) {
        free(s->directed);
        s->directed = NULL;
        s->ndirected = 0;
    }
    for (struct session *o = s->user ? s->user->sessions : NULL; o; o = o->next_of_user) {
        if (o != s && !o->presence)
            continue;
        xmpp_stanza_set_to(p, o->jid);
        send_stanza(o, p);
    }
    xmpp_stanza_del_attribute(p, "to");
    store_roster_free(r);
}

/* First available presence of a session: probes, pending requests, the
 * user's other resources. */
static void initial_presence(struct session *s)
{
    struct c2s *c = s->c;
    struct store_roster *r = NULL;
    if (!s->anonymous && store_roster_get(c->o.store, s->bare, &r) == 0) {
        for (size_t i = 0; i < r->n; i++) {
            const struct store_roster_item *it = &r->items[i];
            if (it->subscription & STORE_SUB_TO)
                send_presence(c, "probe", s->bare, it->jid);
            if (it->pending_in) {
                xmpp_stanza_t *p = xmpp_presence_new(c->o.xctx);
                if (!p)
                    continue;
                xmpp_stanza_set_type(p, "subscribe");
                xmpp_stanza_set_from(p, it->jid);
                xmpp_stanza_set_to(p, s->bare);
                send_stanza(s, p);
                xmpp_stanza_release(p);
            }
        }
        store_roster_free(r);
    }
    for (struct session *o = s->user ? s->user->sessions : NULL; o; o = o->next_of_user) {
        if (o == s || !o->presence)
            continue;
        xmpp_stanza_t *p = xmpp_stanza_copy(o->presence);
        if (!p)
            continue;
        xmpp_stanza_set_to(p, s->jid);
        send_stanza(s, p);
        xmpp_stanza_release(p);
    }
}

static int presence_priority(xmpp_stanza_t *p)
{
    xmpp_stanza_t *pr = xmpp_stanza_get_child_by_name(p, "priority");
    if (!pr)
        return 0;
    char *t = xmpp_stanza_get_text(pr);
    if (!t)
        return 0;
    char *end;
    long v = strtol(t, &end, 10);
    int bad = end == t || *end || v < -128 || v > 127;
    free(t);
    return bad ? 0 : (int)v;
}

/* Available or unavailable presence without `to` from the session. */
static void own_presence(struct session *s, xmpp_stanza_t *st, const char *type)
{
    struct c2s *c = s->c;
    xmpp_stanza_del_attribute(st, "to");
    if (type && strcmp(type, "unavailable") == 0) {
        if (!s->presence)
            return;
        xmpp_stanza_release(s->presence);
        s->presence = NULL;
        broadcast(s, st, 1);
        if (!s->anonymous)
            store_presence_clear(c->o.store, s->bare, s->jid + strlen(s->bare) + 1);
        return;
    }
    int initial = !s->presence;
    xmpp_stanza_t *copy = xmpp_stanza_copy(st);
    if (!copy) {
        reply_error(c, st, "wait", "resource-constraint", "out of memory");
        return;
    }
    if (s->presence)
        xmpp_stanza_release(s->presence);
    s->presence = copy;
    s->priority = presence_priority(st);
    if (!s->anonymous) {
        char *text = NULL;
        size_t len;
        if (xmpp_stanza_to_text(copy, &text, &len) == XMPP_EOK) {
            if (store_presence_set(c->o.store, s->bare, s->jid + strlen(s->bare) + 1, s->priority, text))
                log_debug("c2s", "presence of %s not recorded: %s", s->jid, store_errmsg(c->o.store));
            xmpp_free(c->o.xctx, text);
        }
    }
    broadcast(s, st, 0);
    if (initial)
        initial_presence(s);
}

/* The session is over: unavailable to whoever saw it available, and out
 * of its user's list. Idempotent. */
static void end_presence(struct session *s)
{
    if (s->ended)
        return;
    s->ended = 1;
    struct c2s *c = s->c;
    if (s->presence) {
        xmpp_stanza_t *p = xmpp_presence_new(c->o.xctx);
        if (p) {
            xmpp_stanza_set_type(p, "unavailable");
            xmpp_stanza_set_from(p, s->jid);
            xmpp_stanza_release(s->presence);
            s->presence = NULL;
            /* not to itself: it is going */
            s->closing = 1;
            broadcast(s, p, 1);
            s->closing = 0;
            xmpp_stanza_release(p);
        }
        if (!s->anonymous)
            store_presence_clear(c->o.store, s->bare, s->jid + strlen(s->bare) + 1);
    }
    for (unsigned i = 0; i < s->ndirected; i++)
        free(s->directed[i]);
    free(s->directed);
    s->directed = NULL;
    s->ndirected = 0;
    user_unlink(c, s);
}

static void remember_directed(struct session *s, const char *to, int unavailable)
{
    for (unsigned i = 0; i < s->ndirected; i++)
        if (strcmp(s->directed[i], to) == 0) {
            if (unavailable) {
                free(s->directed[i]);
                s->directed[i] = s->directed[--s->ndirected];
            }
            return;
        }
    if (unavailable || s->ndirected == DIRECTED_MAX)
        return;
    char **n = realloc(s->directed, (s->ndirected + 1) * sizeof(*n));
    if (!n)
        return;
    s->directed = n;
    if ((n[s->ndirected] = strdup(to)))
        s->ndirected++;
}

/* ------------------------------------------------------------------ */
/* Routing                                                             */

/* Sends `st` (from and to set) where its `to` lives. */
static void route(struct c2s *c, xmpp_stanza_t *st)
{
    char full[STORE_JID_MAX + 1], bare[STORE_JID_MAX + 1];
    const char *res;
    const char *to = xmpp_stanza_get_to(st);
    if (jid_parse(to, full, sizeof(full), bare, sizeof(bare), &res))
        return;
    if (is_local_domain(c, bare)) {
        if (strchr(bare, '@'))
            deliver_inbound(c, st);
        else
            services_handle(c->o.services, st);
        return;
    }
    xmpp_stanza_del_attribute(st, "xmlns");
    char *text = NULL;
    size_t len = 0;
    if (xmpp_stanza_to_text(st, &text, &len) != XMPP_EOK)
        return;
    if (c->o.remote_send(c->o.ud, text, len) != 0) {
        log_warn("c2s", "link queue full: a %s from %s to %s is refused", xmpp_stanza_get_name(st),
                 xmpp_stanza_get_from(st), to);
        reply_error(c, st, "wait", "remote-server-timeout", "the XMPP server is unreachable and the queue is full");
    }
    xmpp_free(c->o.xctx, text);
}

/* A stanza for user@domain[/resource], from a hosted user or the server. */
static void deliver_inbound(struct c2s *c, xmpp_stanza_t *st)
{
    char full[STORE_JID_MAX + 1], bare[STORE_JID_MAX + 1], fbuf[STORE_JID_MAX + 1], fbare[STORE_JID_MAX + 1];
    const char *res, *fres;
    const char *name = xmpp_stanza_get_name(st);
    const char *type = xmpp_stanza_get_type(st);
    if (!name || jid_parse(xmpp_stanza_get_to(st), full, sizeof(full), bare, sizeof(bare), &res))
        return;
    struct user *u = user_find(c, bare);
    struct session *target = user_session(u, res);
    int is_error = streq(type, "error");

    if (strcmp(name, "presence") == 0) {
        if (jid_parse(xmpp_stanza_get_from(st), fbuf, sizeof(fbuf), fbare, sizeof(fbare), &fres))
            return;
        if (is_subscription_type(type)) {
            inbound_subscription(c, st, type, bare, fbare);
        } else if (streq(type, "probe")) {
            struct store_roster_item *it = NULL;
            if (store_roster_item_get(c->o.store, bare, fbare, &it) == 0 && (it->subscription & STORE_SUB_FROM))
                send_current_presence(c, bare, xmpp_stanza_get_from(st), 1);
            store_roster_item_free(it);
        } else if (res) {
            if (target)
                send_stanza(target, st);
        } else {
            deliver_available(u, st, 0);
        }
        return;
    }
    if (strcmp(name, "iq") == 0) {
        if (target) {
            send_stanza(target, st);
        } else if (!is_error && !streq(type, "result")) {
            if (res || !c2s_user_exists(c, bare))
                reply_error(c, st, "cancel", "service-unavailable", NULL);
            else if (!services_handle(c->o.services, st))
                reply_error(c, st, "cancel", "service-unavailable", NULL);
        }
        return;
    }
    if (strcmp(name, "message") == 0) {
        if (target) {
            send_stanza(target, st);
            return;
        }
        if (is_error)
            return;
        if (!c2s_user_exists(c, bare)) {
            reply_error(c, st, "cancel", "service-unavailable", NULL);
            return;
        }
        if (streq(type, "groupchat")) {
            reply_error(c, st, "cancel", "service-unavailable", NULL);
            return;
        }
        int n = deliver_available(u, st, 1);
        /* RFC 6121 8.5.2: no offline storage here, so the sender is told */
        if (!n && !streq(type, "headline"))
            reply_error(c, st, "cancel", "service-unavailable", "the user is offline");
        return;
    }
}

/* libstrophe hands the component's stanzas over with the stream's
 * namespace written out on child elements (<body
 * xmlns='jabber:component:accept'>) and xml:lang without its prefix.
 * Browsers are to see them as if they came on a client stream. */
static void fix_from_server(xmpp_stanza_t *el, int depth)
{
    if (depth > 64)
        return;
    const char *ns = xmpp_stanza_get_ns(el);
    if (ns && strcmp(ns, "jabber:component:accept") == 0)
        xmpp_stanza_del_attribute(el, "xmlns");
    const char *lang = xmpp_stanza_get_attribute(el, "lang");
    if (lang && !xmpp_stanza_get_attribute(el, "xml:lang")) {
        xmpp_stanza_set_attribute(el, "xml:lang", lang);
        xmpp_stanza_del_attribute(el, "lang");
    }
    for (xmpp_stanza_t *ch = xmpp_stanza_get_children(el); ch; ch = xmpp_stanza_get_next(ch))
        if (xmpp_stanza_is_tag(ch))
            fix_from_server(ch, depth + 1);
}

int c2s_handle_remote(struct c2s *c, xmpp_stanza_t *st)
{
    const char *to = xmpp_stanza_get_to(st);
    if (!to)
        return 0;
    const char *at = strchr(to, '@');
    const char *slash = strchr(to, '/');
    if (!at || (slash && slash < at))
        return 0;
    /* call signaling only reads the stanza: no copy (a session-accept is
     * a large tree, and copying it was a good part of Epode's time on the
     * way back, bench/calls) */
    if (c->o.calls && calls_from_remote(c->o.calls, st))
        return 1;
    /* libstrophe still reads the stanza after its handler returns (it
     * matches the other handlers on its namespace): change a copy */
    xmpp_stanza_t *copy = xmpp_stanza_copy(st);
    if (!copy)
        return 1;
    fix_from_server(copy, 0);
    deliver_inbound(c, copy);
    xmpp_stanza_release(copy);
    return 1;
}

int c2s_deliver_text(struct c2s *c, const char *to, const char *xml, size_t len)
{
    char full[STORE_JID_MAX + 1], bare[STORE_JID_MAX + 1];
    const char *res;
    if (jid_parse(to, full, sizeof(full), bare, sizeof(bare), &res))
        return -1;
    struct user *u = user_find(c, bare);
    if (!u)
        return -1;
    /* Epode's own answers come without a namespace: qualify the top level
     * (RFC 7395 needs it on every element; BOSH too, inside <body/>) */
    struct buf b;
    buf_init(&b, len + 64);
    put_qualified(&b, xml, len);
    int sent = 0;
    for (struct session *s = u->sessions; s; s = s->next_of_user) {
        if (res && strcmp(s->jid + strlen(u->bare) + 1, res) != 0)
            continue;
        send_buf(s, &b);
        sent++;
    }
    buf_free(&b);
    return sent ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Stanzas from a bound session                                        */

/* Token bucket: `rate` per second, bursts of twice that. 1: go on. */
static int rate_ok(struct session *s)
{
    struct c2s *c = s->c;
    uint64_t now = now_ms(c);
    double rate = c->cfg->clients_rate;
    s->tokens += (double)(now - s->tokens_ms) * rate / 1000.0;
    s->tokens_ms = now;
    if (s->tokens > 2 * rate)
        s->tokens = 2 * rate;
    if (s->tokens >= 1) {
        s->tokens -= 1;
        s->strikes = 0;
        return 1;
    }
    s->strikes++;
    c->stats.rate_limited_total++;
    return 0;
}

/* 1 when `from` (as the client wrote it) names this session. */
static int from_ok(struct session *s, const char *from)
{
    char full[STORE_JID_MAX + 1], bare[STORE_JID_MAX + 1];
    const char *res;
    if (jid_parse(from, full, sizeof(full), bare, sizeof(bare), &res))
        return 0;
    return res ? strcmp(full, s->jid) == 0 : strcmp(bare, s->bare) == 0;
}

static void self_iq(struct session *s, xmpp_stanza_t *st, const char *type)
{
    struct c2s *c = s->c;
    if (streq(type, "result") || streq(type, "error"))
        return; /* answers to roster pushes */
    int n;
    xmpp_stanza_t *q = first_child_element(st, &n);
    if (n != 1) {
        reply_error(c, st, "modify", "bad-request", "an iq get or set carries exactly one child element");
        return;
    }
    const char *ns = xmpp_stanza_get_ns(q);
    const char *qn = xmpp_stanza_get_name(q);
    int get = streq(type, "get");
    if (streq(ns, NS_ROSTER) && streq(qn, "query")) {
        if (get)
            roster_get(s, st);
        else
            roster_set(s, st, q);
        return;
    }
    if (streq(ns, NS_SESSION) && !get) {
        reply_result(s, st); /* RFC 3921 session: nothing to do since RFC 6121 */
        return;
    }
    if (streq(ns, NS_BIND)) {
        reply_error(c, st, "cancel", "not-allowed", "a resource is already bound to this stream");
        return;
    }
    /* disco and ping of the user's own account */
    int had_to = xmpp_stanza_get_to(st) != NULL;
    if (!had_to)
        xmpp_stanza_set_to(st, s->bare);
    if (!services_handle(c->o.services, st))
        reply_error(c, st, "cancel", "service-unavailable", NULL);
}

static void handle_stanza(struct session *s, xmpp_stanza_t *st)
{
    struct c2s *c = s->c;
    const char *name = xmpp_stanza_get_name(st);
    const char *type = xmpp_stanza_get_type(st);
    const char *ns = xmpp_stanza_get_ns(st);
    int is_iq = streq(name, "iq"), is_msg = streq(name, "message"), is_pres = streq(name, "presence");
    if ((!is_iq && !is_msg && !is_pres) || (ns && strcmp(ns, NS_CLIENT) != 0)) {
        close_stream(s, "unsupported-stanza-type", "only message, presence and iq in jabber:client");
        return;
    }
    const char *from = xmpp_stanza_get_from(st);
    if (from && !from_ok(s, from)) {
        close_stream(s, "invalid-from", "the from address is not this stream's");
        return;
    }
    xmpp_stanza_set_from(st, s->jid);
    c->stats.stanzas_in_total++;
    if (!rate_ok(s)) {
        if (s->strikes > 4 * c->cfg->clients_rate + 10) {
            close_stream(s, "policy-violation", "too many stanzas per second");
            return;
        }
        if (!is_pres && !streq(type, "error") && !streq(type, "result"))
            reply_error(c, st, "wait", "resource-constraint", "too many stanzas per second: slow down");
        return;
    }

    const char *to = xmpp_stanza_get_to(st);
    char full[STORE_JID_MAX + 1], bare[STORE_JID_MAX + 1];
    const char *res = NULL;
    if (to && jid_parse(to, full, sizeof(full), bare, sizeof(bare), &res)) {
        if (!is_pres && !streq(type, "error"))
            reply_error(c, st, "modify", "jid-malformed", "the to address is not a valid JID");
        return;
    }
    if (to)
        xmpp_stanza_set_to(st, full);

    if (is_iq) {
        if (!xmpp_stanza_get_id(st) ||
            !(streq(type, "get") || streq(type, "set") || streq(type, "result") || streq(type, "error"))) {
            reply_error(c, st, "modify", "bad-request", "an iq needs an id and a type of get, set, result or error");
            return;
        }
        if (!to || (!res && strcmp(bare, s->bare) == 0)) {
            self_iq(s, st, type);
            return;
        }
        if ((streq(type, "result") || streq(type, "error")) &&
            strncmp(xmpp_stanza_get_id(st), CALLS_IQ_PREFIX, sizeof(CALLS_IQ_PREFIX) - 1) == 0 &&
            !is_local_domain(c, bare))
            return; /* the browser took call signaling Epode translated */
        if (c->o.calls && calls_is_browser_signaling(c->o.calls, st)) {
            calls_from_browser(c->o.calls, st);
            return;
        }
        route(c, st);
        return;
    }
    if (is_pres) {
        if (is_subscription_type(type)) {
            if (!to || res) {
                /* RFC 6121 3.1.1: to a bare JID; a full one is cut */
                if (!to)
                    return;
                xmpp_stanza_set_to(st, bare);
            }
            outbound_subscription(s, st, type, bare);
            return;
        }
        if (!to) {
            if (!type || streq(type, "unavailable"))
                own_presence(s, st, type);
            return; /* probes and errors without a to mean nothing */
        }
        if (streq(type, "probe")) {
            return; /* clients do not probe (RFC 6121 4.3) */
        }
        if (!type || streq(type, "unavailable"))
            remember_directed(s, full, type != NULL);
        route(c, st);
        return;
    }
    /* message */
    if (!to) {
        /* RFC 6120 10.3.1: no to means the user's own bare JID */
        xmpp_stanza_set_to(st, s->bare);
    }
    route(c, st);
}

/* ------------------------------------------------------------------ */
/* SASL and binding                                                    */

static void send_sasl(struct session *s, const char *el, const char *b64)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    buf_putc(&b, '<');
    buf_puts(&b, el);
    buf_lit(&b, " xmlns='" NS_SASL "'");
    if (b64 && b64[0]) {
        buf_putc(&b, '>');
        buf_put_xml_strict(&b, b64);
        buf_lit(&b, "</");
        buf_puts(&b, el);
        buf_putc(&b, '>');
    } else {
        buf_lit(&b, "/>");
    }
    send_buf(s, &b);
    buf_free(&b);
}

static void send_failure_now(struct session *s, const char *failure)
{
    send_text(s, failure, strlen(failure));
    if (s->auth_failures >= AUTH_TRIES_PER_STREAM)
        close_stream(s, "policy-violation", "too many failed logins");
}

static void sasl_failed(struct session *s, int result)
{
    struct c2s *c = s->c;
    char failure[256];
    snprintf(failure, sizeof(failure), "<failure xmlns='" NS_SASL "'><%s/></failure>", sasl_condition(result));
    sasl_exchange_free(s->sasl);
    s->sasl = NULL;
    if (result == SASL_E_ABORTED || result == SASL_E_INVALID_MECHANISM || result == SASL_E_ENCRYPTION_REQUIRED) {
        send_text(s, failure, strlen(failure));
        return;
    }
    c->stats.auth_failures_total++;
    s->auth_failures++;
    uint64_t now = now_ms(c);
    struct addr_entry *a = s->addr;
    if (a->last_failure_ms && now - a->last_failure_ms > AUTH_FAILURE_MEMORY_MS)
        a->failures = 0;
    a->failures++;
    a->last_failure_ms = now;
    log_info("c2s", "addr=%s transport=%s: login failed (%s), failure %u from this address", a->addr,
             s->transport, sasl_condition(result), a->failures);
    /* the first failure is answered at once, later ones more and more
     * slowly (a typo costs nothing, guessing costs time) */
    uint64_t delay = 0;
    if (a->failures >= 2 && c->cfg->clients_auth_delay_ms) {
        unsigned shift = a->failures - 2 > 10 ? 10 : a->failures - 2;
        delay = (uint64_t)c->cfg->clients_auth_delay_ms << shift;
        if (delay > AUTH_DELAY_MAX_MS)
            delay = AUTH_DELAY_MAX_MS;
    }
    if (!delay) {
        send_failure_now(s, failure);
        return;
    }
    s->delayed_failure = strdup(failure);
    if (!s->delayed_failure) {
        send_failure_now(s, failure);
        return;
    }
    s->state = ST_AUTH_WAIT;
    s->delay_until_ms = now + delay;
    s->next_delayed = c->delayed;
    c->delayed = s;
}

static void handle_sasl(struct session *s, xmpp_stanza_t *el)
{
    struct c2s *c = s->c;
    const char *name = xmpp_stanza_get_name(el);
    char *text = xmpp_stanza_get_text(el);
    char *challenge = NULL;
    int r;
    if (streq(name, "auth")) {
        sasl_exchange_free(s->sasl);
        s->sasl = NULL;
        const char *mech = xmpp_stanza_get_attribute(el, "mechanism");
        r = sasl_exchange_start(c->o.sasl, mech ? mech : "", s->secure, text, &s->sasl, &challenge);
    } else if (streq(name, "response")) {
        if (!s->sasl)
            r = SASL_E_MALFORMED;
        else
            r = sasl_exchange_step(s->sasl, text ? text : "", &challenge);
    } else if (streq(name, "abort")) {
        r = SASL_E_ABORTED;
    } else {
        r = SASL_E_MALFORMED;
    }
    if (text)
        xmpp_free(c->o.xctx, text);
    if (r == SASL_CONTINUE) {
        send_sasl(s, "challenge", challenge);
    } else if (r == SASL_SUCCESS) {
        const char *jid = sasl_exchange_jid(s->sasl);
        s->bare = jid ? strdup(jid) : NULL;
        if (!s->bare) {
            sasl_exchange_free(s->sasl);
            s->sasl = NULL;
            free(challenge);
            close_stream(s, "resource-constraint", NULL);
            return;
        }
        s->anonymous = !stored_user(c, s->bare);
        sasl_exchange_free(s->sasl);
        s->sasl = NULL;
        s->state = ST_AUTHED;
        send_sasl(s, "success", challenge);
        log_info("c2s", "jid=%s addr=%s transport=%s: authenticated", s->bare, s->addr->addr, s->transport);
    } else {
        sasl_failed(s, r);
    }
    free(challenge);
}

static int resource_ok(const char *r)
{
    size_t n = strlen(r);
    if (!n || n > RESOURCE_MAX)
        return 0;
    for (const unsigned char *p = (const unsigned char *)r; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

static void handle_bind(struct session *s, xmpp_stanza_t *st)
{
    struct c2s *c = s->c;
    const char *type = xmpp_stanza_get_type(st);
    int n;
    xmpp_stanza_t *q = first_child_element(st, &n);
    if (!streq(xmpp_stanza_get_name(st), "iq") || !streq(type, "set") || n != 1 ||
        !streq(xmpp_stanza_get_ns(q), NS_BIND) || !streq(xmpp_stanza_get_name(q), "bind")) {
        close_stream(s, "not-authorized", "bind a resource first");
        return;
    }
    const char *id = xmpp_stanza_get_id(st);
    char res[RESOURCE_MAX + 1];
    xmpp_stanza_t *r = xmpp_stanza_get_child_by_name(q, "resource");
    char *want = r ? xmpp_stanza_get_text(r) : NULL;
    if (want && !resource_ok(want)) {
        xmpp_free(c->o.xctx, want);
        struct buf b;
        buf_init(&b, 4096);
        buf_lit(&b, "<iq xmlns='" NS_CLIENT "' type='error'");
        buf_put_attr(&b, "id", id);
        buf_lit(&b, "><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                    "</error></iq>");
        send_buf(s, &b);
        buf_free(&b);
        return;
    }
    if (want) {
        snprintf(res, sizeof(res), "%s", want);
        xmpp_free(c->o.xctx, want);
    } else {
        memcpy(res, "epode-", 6);
        random_hex(res + 6, 6);
    }
    size_t bl = strlen(s->bare);
    char *jid = malloc(bl + 1 + strlen(res) + 1);
    if (!jid) {
        close_stream(s, "resource-constraint", NULL);
        return;
    }
    memcpy(jid, s->bare, bl);
    jid[bl] = '/';
    strcpy(jid + bl + 1, res);

    struct user *u = user_find(c, s->bare);
    struct session *old = user_session(u, res);
    if (old) {
        /* RFC 6120 7.7.2.2: the newer session takes the resource over */
        close_stream(old, "conflict", "this resource logged in again elsewhere");
        u = user_find(c, s->bare);
    }
    if (!u) {
        u = calloc(1, sizeof(*u));
        if (!u || !(u->bare = strdup(s->bare))) {
            free(u);
            free(jid);
            close_stream(s, "resource-constraint", NULL);
            return;
        }
        HASH_ADD_KEYPTR(hh, c->users, u->bare, strlen(u->bare), u);
    }
    s->jid = jid;
    s->user = u;
    s->next_of_user = u->sessions;
    u->sessions = s;
    s->state = ST_BOUND;
    s->tokens = 2.0 * c->cfg->clients_rate;
    s->tokens_ms = now_ms(c);
    c->stats.bound++;
    c->stats.logins_total++;
    struct buf b;
    buf_init(&b, 8192);
    buf_lit(&b, "<iq xmlns='" NS_CLIENT "' type='result'");
    buf_put_attr(&b, "id", id);
    buf_lit(&b, "><bind xmlns='" NS_BIND "'><jid>");
    buf_put_xml_strict(&b, jid);
    buf_lit(&b, "</jid></bind></iq>");
    send_buf(s, &b);
    buf_free(&b);
    log_info("c2s", "jid=%s addr=%s transport=%s: bound%s", jid, s->addr->addr, s->transport,
             s->anonymous ? " (guest)" : "");
}

/* ------------------------------------------------------------------ */
/* The transports' side (stream.h)                                    */

static void *si_attach(void *ud, const struct stream_out *out, void *t, const struct stream_peer *peer,
                       const char **why)
{
    struct c2s *c = ud;
    if (c->stats.sessions >= c->cfg->clients_max_sessions) {
        c->stats.refused_total++;
        *why = "too many sessions on this server ([clients] max_sessions)";
        return NULL;
    }
    const char *addr = peer && peer->addr ? peer->addr : "?";
    struct addr_entry *a = NULL;
    HASH_FIND_STR(c->addrs, addr, a);
    if (a && c->cfg->clients_per_address && a->sessions >= c->cfg->clients_per_address) {
        c->stats.refused_total++;
        *why = "too many sessions from this address ([clients] sessions_per_address)";
        return NULL;
    }
    struct session *s = calloc(1, sizeof(*s));
    if (!s) {
        *why = "out of memory";
        return NULL;
    }
    if (!a) {
        a = calloc(1, sizeof(*a));
        if (!a) {
            free(s);
            *why = "out of memory";
            return NULL;
        }
        snprintf(a->addr, sizeof(a->addr), "%s", addr);
        HASH_ADD_STR(c->addrs, addr, a);
    }
    a->sessions++;
    s->c = c;
    s->out = out;
    s->t = t;
    s->addr = a;
    s->transport = peer && peer->transport ? peer->transport : "?";
    s->secure = peer ? peer->secure != 0 : 0;
    s->created_ms = now_ms(c);
    s->next_all = c->all;
    if (c->all)
        c->all->prev_all = s;
    c->all = s;
    c->stats.sessions++;
    return s;
}

static void features(struct session *s)
{
    struct buf b;
    buf_init(&b, 8192);
    buf_lit(&b, "<stream:features xmlns:stream='" NS_STREAM "'>");
    if (s->state == ST_AUTH) {
        const char *mechs[8];
        size_t n = sasl_mechanisms(s->c->o.sasl, s->secure, mechs, 8);
        buf_lit(&b, "<mechanisms xmlns='" NS_SASL "'>");
        for (size_t i = 0; i < n; i++) {
            buf_lit(&b, "<mechanism>");
            buf_puts(&b, mechs[i]);
            buf_lit(&b, "</mechanism>");
        }
        buf_lit(&b, "</mechanisms>");
    } else {
        buf_lit(&b, "<bind xmlns='" NS_BIND "'/><session xmlns='" NS_SESSION "'><optional/></session>");
    }
    buf_lit(&b, "</stream:features>");
    send_buf(s, &b);
    buf_free(&b);
}

static void si_open(void *sp, const char *to, const char *lang, const char *version)
{
    struct session *s = sp;
    struct c2s *c = s->c;
    (void)lang;
    if (s->closing)
        return;
    char id[33];
    random_hex(id, 16);
    s->out->open(s->t, c->cfg->domain, id);
    if (!to || strcasecmp(to, c->cfg->domain) != 0) {
        close_stream(s, "host-unknown", "this server serves only its own domain");
        return;
    }
    if (!version || strncmp(version, "1.", 2) != 0) {
        close_stream(s, "unsupported-version", "XMPP 1.0 streams only");
        return;
    }
    if (s->state == ST_NEW) {
        s->state = ST_AUTH;
    } else if (s->state == ST_AUTHED) {
        s->state = ST_RESTARTED;
    } else {
        close_stream(s, "policy-violation", "a stream restart is allowed only after SASL success");
        return;
    }
    features(s);
}

static void si_element(void *sp, xmpp_stanza_t *el)
{
    struct session *s = sp;
    if (s->closing)
        return;
    if (log_enabled(LOG_DEBUG)) {
        char *text = NULL;
        size_t len = 0;
        if (xmpp_stanza_to_text(el, &text, &len) == XMPP_EOK) {
            log_debug("c2s", "in jid=%s: %.*s", s->jid ? s->jid : "-", (int)(len > 400 ? 400 : len), text);
            xmpp_free(s->c->o.xctx, text);
        }
    }
    const char *ns = xmpp_stanza_get_ns(el);
    switch (s->state) {
    case ST_NEW:
        close_stream(s, "not-authorized", "open the stream first");
        return;
    case ST_AUTH:
        if (streq(ns, NS_SASL))
            handle_sasl(s, el);
        else
            close_stream(s, "not-authorized", "authenticate first");
        return;
    case ST_AUTH_WAIT:
        close_stream(s, "policy-violation", "wait for the answer to the previous attempt");
        return;
    case ST_AUTHED:
        close_stream(s, "policy-violation", "restart the stream after SASL success");
        return;
    case ST_RESTARTED:
        handle_bind(s, el);
        return;
    case ST_BOUND:
        handle_stanza(s, el);
        return;
    }
}

static void si_error(void *sp, const char *cond, const char *text)
{
    struct session *s = sp;
    close_stream(s, cond ? cond : "not-well-formed", text);
}

static void si_closed(void *sp)
{
    struct session *s = sp;
    if (s->closing)
        return;
    close_stream(s, NULL, NULL);
}

static void si_gone(void *sp)
{
    struct session *s = sp;
    struct c2s *c = s->c;
    s->closing = 1;
    end_presence(s);
    if (s->jid)
        log_info("c2s", "jid=%s: session ended", s->jid);
    for (struct session **pp = &c->delayed; *pp; pp = &(*pp)->next_delayed)
        if (*pp == s) {
            *pp = s->next_delayed;
            break;
        }
    if (s->prev_all)
        s->prev_all->next_all = s->next_all;
    else
        c->all = s->next_all;
    if (s->next_all)
        s->next_all->prev_all = s->prev_all;
    if (--s->addr->sessions == 0 && !s->addr->failures) {
        HASH_DEL(c->addrs, s->addr);
        free(s->addr);
    }
    c->stats.sessions--;
    sasl_exchange_free(s->sasl);
    free(s->delayed_failure);
    free(s->bare);
    free(s->jid);
    free(s);
}

const struct stream_in *c2s_stream_in(struct c2s *c)
{
    return &c->in;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */

struct c2s *c2s_new(const struct c2s_opts *o)
{
    struct c2s *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->o = *o;
    c->cfg = o->cfg;
    c->in.attach = si_attach;
    c->in.open = si_open;
    c->in.element = si_element;
    c->in.error = si_error;
    c->in.closed = si_closed;
    c->in.gone = si_gone;
    c->in.ud = c;
    return c;
}

void c2s_free(struct c2s *c)
{
    if (!c)
        return;
    while (c->all) {
        struct session *s = c->all;
        s->ended = 1; /* nobody to tell any more */
        if (s->presence)
            xmpp_stanza_release(s->presence);
        s->presence = NULL;
        s->user = NULL;
        si_gone(s);
    }
    struct user *u, *tmp;
    HASH_ITER(hh, c->users, u, tmp)
    {
        HASH_DEL(c->users, u);
        free(u->bare);
        free(u);
    }
    struct addr_entry *a, *atmp;
    HASH_ITER(hh, c->addrs, a, atmp)
    {
        HASH_DEL(c->addrs, a);
        free(a);
    }
    free(c);
}

void c2s_tick(struct c2s *c)
{
    uint64_t now = now_ms(c);
    for (struct session **pp = &c->delayed; *pp;) {
        struct session *s = *pp;
        if (s->delay_until_ms > now) {
            pp = &s->next_delayed;
            continue;
        }
        *pp = s->next_delayed;
        s->next_delayed = NULL;
        s->state = ST_AUTH;
        char *f = s->delayed_failure;
        s->delayed_failure = NULL;
        if (f)
            send_failure_now(s, f);
        free(f);
    }
    if (now - c->last_sweep_ms < 1000)
        return;
    c->last_sweep_ms = now;
    for (struct session *s = c->all; s; s = s->next_all)
        if (s->state != ST_BOUND && !s->closing && now - s->created_ms > LOGIN_TIMEOUT_MS)
            close_stream(s, "connection-timeout", "no login within a minute");
    /* forget old failures of addresses without sessions */
    struct addr_entry *a, *tmp;
    HASH_ITER(hh, c->addrs, a, tmp)
    {
        if (!a->sessions && now - a->last_failure_ms > AUTH_FAILURE_MEMORY_MS) {
            HASH_DEL(c->addrs, a);
            free(a);
        }
    }
}

void c2s_shutdown(struct c2s *c)
{
    for (struct session *s = c->all; s; s = s->next_all)
        close_stream(s, "system-shutdown", NULL);
}

void c2s_get_stats(const struct c2s *c, struct c2s_stats *out)
{
    *out = c->stats;
}
