/* calls.c - browser (JSON, SDP) <-> Jingle client calls. See calls.h and
 * docs/protocol.md. */
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <uthash.h>

#include "buf.h"
#include "jingle.h"
#include "jingle_stanza.h"
#include "log.h"
#include "sdp.h"
#include "store.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_RTP "urn:xmpp:jingle:apps:rtp:1"
#define SID_MAX 256
#define JSON_MAX (256 * 1024)

enum cstate {
    C_RINGING,      /* the browser rang a full JID: its offer comes next */
    C_PROPOSED,     /* XEP-0353 propose sent or received, no Jingle yet */
    C_PENDING,      /* session-initiate sent or received */
    C_ACTIVE,       /* session-accept sent or received */
    C_RESTART_OUT,  /* the browser restarted ICE: waiting for the peer's
                       new credentials (XEP-0176 3.6) */
    C_RESTART_IN,   /* the peer restarted ICE: waiting for the browser's
                       answer to the offer made of it */
    C_ADD_OUT,      /* content-add sent for the browser's new media */
    C_ADD_IN,       /* the peer's content-add offered to the browser */
    C_MODIFY_IN,    /* the peer's content-modify offered to the browser */
};

struct call {
    char *sid;
    char *local;            /* the browser: full JID (bare while ringing) */
    char *remote;           /* the Jingle party: bare until it proceeds */
    int browser_initiator;
    enum cstate state;
    struct sdp_session *local_sdp;  /* the browser's description */
    struct sdp_session *remote_sdp; /* the other party's */
    json_t *out_queue;      /* browser candidates before session-initiate */
    json_t *in_queue;       /* remote candidates before the browser has the
                               remote description */
    int remote_desc_sent;
    int proceeded;          /* the peer proceeded before the browser's offer */
    int sdp_dirty;          /* local_sdp changed since it was stored */
    int dirty;              /* to be written by calls_flush */
    int unstored;           /* never written yet: the next write inserts */
    char **added;           /* mids of the contents being added */
    unsigned nadded;
    UT_hash_handle hh;
};

struct calls {
    struct calls_opts o;
    struct call *calls;
    char **gone;            /* sids to delete at the next flush */
    size_t ngone;
    unsigned long dirty;    /* calls with dirty set */
    unsigned long next_id;
    struct calls_stats stats;
};

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void call_free(struct call *k)
{
    if (!k)
        return;
    free(k->sid);
    free(k->local);
    free(k->remote);
    sdp_session_free(k->local_sdp);
    sdp_session_free(k->remote_sdp);
    json_decref(k->out_queue);
    json_decref(k->in_queue);
    for (unsigned i = 0; i < k->nadded; i++)
        free(k->added[i]);
    free(k->added);
    free(k);
}

static void call_drop(struct calls *c, struct call *k)
{
    HASH_DEL(c->calls, k);
    if (!k->unstored) {
        char **n = realloc(c->gone, (c->ngone + 1) * sizeof(*n));
        if (n) {
            c->gone = n;
            if ((n[c->ngone] = strdup(k->sid)))
                c->ngone++;
        }
    }
    if (k->dirty)
        c->dirty--;
    c->stats.active--;
    call_free(k);
}

/* The store's writes wait for calls_flush (every 100 ms): with
 * synchronous=FULL each is an fsync, which is not to sit between a
 * translated message and its recipient. */
static void call_save(struct calls *c, struct call *k, int fresh)
{
    if (fresh)
        k->unstored = 1;
    if (!k->dirty)
        c->dirty++;
    k->dirty = 1;
}

/* Writes the call (new or changed) to the store. */
static void call_write(struct calls *c, struct call *k)
{
    int fresh = k->unstored;
    k->unstored = 0;
    k->dirty = 0;
    /* the description is written again only when it changed: most saves
     * are a state change */
    char *text = k->local_sdp && (fresh || k->sdp_dirty) ? sdp_session_to_text(k->local_sdp, NULL) : NULL;
    k->sdp_dirty = 0;
    const char *contents = text && strlen(text) <= STORE_CONTENTS_MAX ? text : NULL;
    enum store_jingle_state st = k->state == C_RINGING || k->state == C_PROPOSED || k->state == C_PENDING
                                     ? STORE_JINGLE_PENDING
                                                                                 : STORE_JINGLE_ACTIVE;
    int rc;
    if (fresh) {
        struct store_jingle_session s = {
            .sid = k->sid,
            .initiator = k->browser_initiator ? k->local : k->remote,
            .responder = k->browser_initiator ? k->remote : k->local,
            .role = k->browser_initiator ? STORE_JINGLE_INITIATOR : STORE_JINGLE_RESPONDER,
            .state = st,
            .contents = contents,
        };
        rc = store_jingle_session_put(c->o.store, &s);
    } else {
        rc = store_jingle_session_update(c->o.store, k->sid, st, contents);
    }
    if (rc)
        log_warn("calls", "sid=%s: not recorded: %s", k->sid, store_errmsg(c->o.store));
    free(text);
}

/* A new call in memory (the store gets it at the next flush); NULL when
 * out of memory. Only `local_len` bytes of `local` are kept (a bare JID
 * out of a full one). `started` counts it as a call started here. */
static struct call *call_new(struct calls *c, const char *sid, const char *local, size_t local_len,
                             const char *remote, int browser_initiator, int started)
{
    struct call *k = calloc(1, sizeof(*k));
    if (!k || !(k->sid = strdup(sid)) || !(k->local = strndup(local, local_len)) || !(k->remote = strdup(remote)) ||
        !(k->out_queue = json_array()) || !(k->in_queue = json_array())) {
        call_free(k);
        return NULL;
    }
    k->browser_initiator = browser_initiator;
    HASH_ADD_KEYPTR(hh, c->calls, k->sid, strlen(k->sid), k);
    c->stats.active++;
    if (started)
        c->stats.started_total++;
    return k;
}

/* A call that is not in memory (Epode restarted) comes back from the
 * store. Parties are updated too (a bare JID became full). */
static struct call *call_load(struct calls *c, const char *sid)
{
    for (size_t i = 0; i < c->ngone; i++)
        if (strcmp(c->gone[i], sid) == 0)
            return NULL; /* ended, its deletion not written yet */
    struct store_jingle_session *s = NULL;
    if (store_jingle_session_get(c->o.store, sid, &s) != 0)
        return NULL;
    int ours = s->role == STORE_JINGLE_INITIATOR;
    const char *local = ours ? s->initiator : s->responder;
    struct call *k = call_new(c, sid, local, strlen(local), ours ? s->responder : s->initiator, ours, 0);
    if (k) {
        k->state = s->state == STORE_JINGLE_ACTIVE ? C_ACTIVE : C_PENDING;
        k->remote_desc_sent = 1;
        if (s->contents && s->contents[0]) {
            struct sdp_error e;
            k->local_sdp = sdp_session_parse(s->contents, strlen(s->contents), &e);
        }
    }
    store_jingle_session_free(s);
    if (!k)
        return NULL;
    log_info("calls", "sid=%s: restored from the store (%s <-> %s)", k->sid, k->local, k->remote);
    return k;
}

static struct call *call_find(struct calls *c, const char *sid)
{
    struct call *k = NULL;
    if (!sid)
        return NULL;
    HASH_FIND_STR(c->calls, sid, k);
    return k ? k : call_load(c, sid);
}

/* Same bare JID: the party may have moved from bare to full. */
static int same_party(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
    if (la != lb || strncasecmp(a, b, la) != 0)
        return 0;
    return !a[la] || !b[lb] || strcmp(a + la, b + lb) == 0;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

static int send_remote(struct calls *c, struct buf *b)
{
    if (buf_failed(b))
        return -1;
    return c->o.remote_send(c->o.ud, b->data, b->len);
}

/* An iq set with the JSON to the browser, from the remote party. */
static void to_browser(struct calls *c, struct call *k, json_t *msg)
{
    json_object_set_new(msg, "sid", json_string(k->sid));
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return;
    struct buf b;
    buf_init(&b, strlen(text) * 6 + 512);
    char id[48];
    snprintf(id, sizeof(id), CALLS_IQ_PREFIX "%lu", ++c->next_id);
    buf_lit(&b, "<iq xmlns='jabber:client' type='set'");
    buf_put_attr(&b, "id", id);
    buf_put_attr(&b, "from", k->remote);
    buf_put_attr(&b, "to", k->local);
    buf_lit(&b, "><json xmlns='" CALLS_NS_JSON "'>");
    buf_put_xml_strict(&b, text);
    buf_lit(&b, "</json></iq>");
    free(text);
    if (!buf_failed(&b) && c->o.local_send(c->o.ud, k->local, b.data, b.len) != 0)
        log_info("calls", "sid=%s: %s is not online to receive the call's signaling", k->sid, k->local);
    c->stats.translated_total++;
    buf_free(&b);
}

/* Answers an iq (from either side) with a result or an error. */
static void answer(struct calls *c, xmpp_stanza_t *iq, int to_browser_side, const char *type, const char *cond,
                   const char *jingle_cond, const char *text)
{
    struct buf b;
    buf_init(&b, 8192);
    buf_lit(&b, "<iq");
    if (to_browser_side)
        buf_lit(&b, " xmlns='jabber:client'");
    buf_puts(&b, cond ? " type='error'" : " type='result'");
    buf_put_attr(&b, "id", xmpp_stanza_get_id(iq));
    buf_put_attr(&b, "from", xmpp_stanza_get_to(iq));
    buf_put_attr(&b, "to", xmpp_stanza_get_from(iq));
    if (!cond) {
        buf_lit(&b, "/>");
    } else {
        c->stats.refused_total++;
        buf_lit(&b, "><error");
        buf_put_attr(&b, "type", type);
        buf_lit(&b, "><");
        buf_puts(&b, cond);
        buf_lit(&b, " xmlns='" NS_STANZAS "'/>");
        if (jingle_cond) {
            buf_putc(&b, '<');
            buf_puts(&b, jingle_cond);
            buf_lit(&b, " xmlns='" JINGLE_NS_ERRORS "'/>");
        }
        if (text) {
            buf_lit(&b, "<text xmlns='" NS_STANZAS "' xml:lang='en'>");
            buf_put_xml_strict(&b, text);
            buf_lit(&b, "</text>");
        }
        buf_lit(&b, "</error></iq>");
    }
    if (!buf_failed(&b)) {
        if (to_browser_side)
            c->o.local_send(c->o.ud, xmpp_stanza_get_from(iq), b.data, b.len);
        else
            c->o.remote_send(c->o.ud, b.data, b.len);
    }
    buf_free(&b);
}

/* <iq type='set' id from to> without a namespace: on the component
 * stream a stanza is in its default namespace, jabber:component:accept
 * (Prosody answers an iq written in jabber:client with an error). */
static void iq_open(struct buf *b, struct call *k, const char *id)
{
    buf_lit(b, "<iq type='set'");
    buf_put_attr(b, "id", id);
    buf_put_attr(b, "from", k->local);
    buf_put_attr(b, "to", k->remote);
    buf_putc(b, '>');
}

static void next_iq_id(struct calls *c, char *id, size_t n)
{
    snprintf(id, n, "epode-%lu", ++c->next_id);
}

/* Writes a Jingle action for `k` to the remote party. */
static int jingle_out(struct calls *c, struct call *k, const struct sdp_session *sdp, enum jingle_action action,
                      const char *reason, char *err, size_t errlen)
{
    char id[48];
    next_iq_id(c, id, sizeof(id));
    struct jingle_write_opts o = {
        .action = action,
        .sid = k->sid,
        .initiator = k->browser_initiator ? k->local : k->remote,
        .responder = action == JINGLE_SESSION_ACCEPT ? k->local : NULL,
        .author = k->browser_initiator ? JINGLE_ROLE_INITIATOR : JINGLE_ROLE_RESPONDER,
        .reason = reason,
    };
    struct buf b;
    buf_init(&b, 1 << 20);
    iq_open(&b, k, id);
    struct jingle_error je;
    struct sdp_session *empty = NULL;
    if (!sdp) {
        empty = sdp_session_new();
        sdp = empty;
    }
    int rc = jingle_write(sdp, &o, &b, &je);
    sdp_session_free(empty);
    if (rc) {
        snprintf(err, errlen, "%s", je.what);
        buf_free(&b);
        return -1;
    }
    buf_lit(&b, "</iq>");
    rc = send_remote(c, &b);
    buf_free(&b);
    if (rc)
        snprintf(err, errlen, "the XMPP server is unreachable and the queue is full");
    c->stats.translated_total++;
    return rc;
}

/* One browser candidate as a transport-info. */
static int candidate_out(struct calls *c, struct call *k, json_t *cand, char *err, size_t errlen)
{
    const char *text = json_string_value(json_object_get(cand, "candidate"));
    const char *mid = json_string_value(json_object_get(cand, "sdpMid"));
    json_t *idx = json_object_get(cand, "sdpMLineIndex");
    int mline = json_is_integer(idx) ? (int)json_integer_value(idx) : -1;
    if (!text) {
        snprintf(err, errlen, "candidate.candidate must be a string");
        return -1;
    }
    if (!k->local_sdp) {
        snprintf(err, errlen, "a candidate before the browser's description");
        return -1;
    }
    const struct sdp_media *m = mid ? sdp_media_by_mid(k->local_sdp, mid)
                                    : (mline >= 0 ? sdp_media_by_index(k->local_sdp, (unsigned)mline) : NULL);
    const char *ufrag = m && m->ice_ufrag ? m->ice_ufrag : k->local_sdp->ice_ufrag;
    const char *pwd = m && m->ice_pwd ? m->ice_pwd : k->local_sdp->ice_pwd;
    char id[48];
    next_iq_id(c, id, sizeof(id));
    struct jingle_write_opts o = {
        .action = JINGLE_TRANSPORT_INFO,
        .sid = k->sid,
        .initiator = k->browser_initiator ? k->local : k->remote,
        .author = k->browser_initiator ? JINGLE_ROLE_INITIATOR : JINGLE_ROLE_RESPONDER,
    };
    struct buf b;
    buf_init(&b, 64 * 1024);
    iq_open(&b, k, id);
    struct jingle_error je;
    int rc = jingle_write_candidate(text, mid, mline, k->local_sdp, ufrag, pwd, &o, &b, &je);
    if (rc) {
        snprintf(err, errlen, "%s", je.what);
        buf_free(&b);
        return -1;
    }
    buf_lit(&b, "</iq>");
    rc = send_remote(c, &b);
    buf_free(&b);
    c->stats.translated_total++;
    return rc;
}

/* The XEP-0353 propose for a browser's offer to a bare JID. */
/* `media` (the browser's ring) may name the media when there is no
 * description yet. */
static int propose_out(struct calls *c, struct call *k, json_t *media)
{
    struct buf b;
    buf_init(&b, 8192);
    buf_lit(&b, "<message type='chat'");
    buf_put_attr(&b, "from", k->local);
    buf_put_attr(&b, "to", k->remote);
    buf_put_attr(&b, "id", k->sid);
    buf_lit(&b, "><propose xmlns='" CALLS_NS_JMI "'");
    buf_put_attr(&b, "id", k->sid);
    buf_putc(&b, '>');
    int nmedia = 0;
    for (const struct sdp_media *m = k->local_sdp ? k->local_sdp->media : NULL; m; m = m->next) {
        if (!sdp_media_is_rtp(m) || !m->media)
            continue;
        buf_lit(&b, "<description xmlns='" NS_RTP "'");
        buf_put_attr(&b, "media", m->media);
        buf_lit(&b, "/>");
        nmedia++;
    }
    size_t i;
    json_t *v;
    json_array_foreach(k->local_sdp ? NULL : media, i, v)
    {
        const char *name = json_string_value(v);
        if (!streq(name, "audio") && !streq(name, "video"))
            continue;
        buf_lit(&b, "<description xmlns='" NS_RTP "'");
        buf_put_attr(&b, "media", name);
        buf_lit(&b, "/>");
        nmedia++;
    }
    if (!nmedia) /* a data channel only call */
        buf_lit(&b, "<description xmlns='" JINGLE_NS_WEBRTC_DC_APP "'/>");
    buf_lit(&b, "</propose><store xmlns='urn:xmpp:hints'/></message>");
    int rc = send_remote(c, &b);
    buf_free(&b);
    return rc;
}

static void jmi_out(struct calls *c, struct call *k, const char *what, const char *reason)
{
    struct buf b;
    buf_init(&b, 4096);
    buf_lit(&b, "<message type='chat'");
    buf_put_attr(&b, "from", k->local);
    buf_put_attr(&b, "to", k->remote);
    buf_lit(&b, "><");
    buf_puts(&b, what);
    buf_lit(&b, " xmlns='" CALLS_NS_JMI "'");
    buf_put_attr(&b, "id", k->sid);
    if (reason) {
        buf_lit(&b, "><reason xmlns='" JINGLE_NS "'><");
        buf_puts(&b, reason);
        buf_lit(&b, "/></reason></");
        buf_puts(&b, what);
        buf_putc(&b, '>');
    } else {
        buf_lit(&b, "/>");
    }
    buf_lit(&b, "<store xmlns='urn:xmpp:hints'/></message>");
    send_remote(c, &b);
    buf_free(&b);
}

/* Sends what waited for session-initiate. */
static void flush_out_queue(struct calls *c, struct call *k)
{
    size_t i;
    json_t *cand;
    char err[240];
    json_array_foreach(k->out_queue, i, cand)
    {
        if (!json_is_null(cand))
            candidate_out(c, k, cand, err, sizeof(err));
    }
    json_array_clear(k->out_queue);
}

static void flush_in_queue(struct calls *c, struct call *k)
{
    size_t i;
    json_t *msg;
    json_array_foreach(k->in_queue, i, msg)
    {
        json_incref(msg);
        to_browser(c, k, msg);
    }
    json_array_clear(k->in_queue);
}

/* Replaces the ICE credentials of media `m` of `s` (an ICE restart) and
 * forgets its candidates, which belonged to the old ones. */
static int set_ice(struct sdp_session *s, struct sdp_media *m, const char *ufrag, const char *pwd)
{
    char line[600];
    struct sdp_error e;
    m->ice_ufrag = NULL;
    m->ice_pwd = NULL;
    m->candidates = NULL;
    m->end_of_candidates = 0;
    snprintf(line, sizeof(line), "a=ice-ufrag:%s", ufrag);
    if (sdp_line_apply(s, m, line, strlen(line), &e))
        return -1;
    snprintf(line, sizeof(line), "a=ice-pwd:%s", pwd);
    return sdp_line_apply(s, m, line, strlen(line), &e);
}

/* The browser's new description restarts ICE: the peer gets the new
 * credentials in a transport-info (XEP-0176 ICE restart). */
static int restart_out(struct calls *c, struct call *k, struct sdp_session *s, char *err, size_t errlen)
{
    sdp_session_free(k->local_sdp);
    k->local_sdp = s;
            k->sdp_dirty = 1;
    int rc = jingle_out(c, k, s, JINGLE_TRANSPORT_INFO, NULL, err, errlen);
    call_save(c, k, 0);
    log_info("calls", "sid=%s: ICE restart by the browser", k->sid);
    return rc;
}

static void send_desc(struct calls *c, struct call *k, const char *type, const struct sdp_session *s)
{
    char *text = sdp_session_to_text(s, NULL);
    if (!text)
        return;
    json_t *m = json_object();
    json_object_set_new(m, "desc", json_pack("{s:s,s:s}", "type", type, "sdp", text));
    to_browser(c, k, m);
    free(text);
}

/* ---- content-add (XEP-0166 7.2.8): new media sections in a call ---- */

static void clear_added(struct call *k)
{
    for (unsigned i = 0; i < k->nadded; i++)
        free(k->added[i]);
    free(k->added);
    k->added = NULL;
    k->nadded = 0;
}

/* Adds `mid` to k->added, the contents one Jingle action is about. */
static void added_push(struct call *k, const char *mid)
{
    char **n = realloc(k->added, (k->nadded + 1) * sizeof(*n));
    if (!n)
        return;
    k->added = n;
    if ((n[k->nadded] = strdup(mid)))
        k->nadded++;
}

/* The media of `newer` whose mid `older` lacks: remembered in k->added.
 * Returns how many. */
static unsigned find_added(struct call *k, const struct sdp_session *older, const struct sdp_session *newer)
{
    clear_added(k);
    for (const struct sdp_media *m = newer->media; m; m = m->next) {
        if (m->mid && !(older && sdp_media_by_mid(older, m->mid)))
            added_push(k, m->mid);
    }
    return k->nadded;
}

static int is_added(const struct call *k, const char *mid)
{
    for (unsigned i = 0; mid && i < k->nadded; i++)
        if (strcmp(k->added[i], mid) == 0)
            return 1;
    return 0;
}

/* A copy of `s` (parsed again from its text) keeping only the media that
 * are being added. */
static struct sdp_session *only_added(const struct call *k, const struct sdp_session *s)
{
    char *text = sdp_session_to_text(s, NULL);
    struct sdp_error e;
    struct sdp_session *c = text ? sdp_session_parse(text, strlen(text), &e) : NULL;
    free(text);
    if (!c)
        return NULL;
    struct sdp_media **pp = &c->media;
    c->nmedia = 0;
    while (*pp) {
        if (is_added(k, (*pp)->mid)) {
            pp = &(*pp)->next;
            c->nmedia++;
        } else {
            *pp = (*pp)->next;
        }
    }
    return c;
}

/* `base`'s description with the media sections of `extra` (SDP text)
 * appended and one BUNDLE group over all mids: the peer's description
 * after a content-add, for the browser. NULL on failure. */
static struct sdp_session *combine(const struct sdp_session *base, const char *extra)
{
    char *bt = sdp_session_to_text(base, NULL);
    const char *bm = bt ? strstr(bt, "\r\nm=") : NULL;
    const char *xm = strstr(extra, "\r\nm=");
    if (!bm || !xm) {
        free(bt);
        return NULL;
    }
    struct sdp_error e;
    struct sdp_session *xs = sdp_session_parse(extra, strlen(extra), &e);
    struct buf b;
    buf_init(&b, strlen(bt) + strlen(extra) + 1024);
    int bundle = 0;
    for (const char *line = bt; line < bm + 2;) {
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        if (strncmp(line, "a=group:BUNDLE", 14) == 0)
            bundle = 1;
        else
            buf_append(&b, line, (size_t)(eol - line + 2));
        line = eol + 2;
    }
    if (bundle) {
        buf_lit(&b, "a=group:BUNDLE");
        for (const struct sdp_media *m = base->media; m; m = m->next)
            if (m->mid) {
                buf_putc(&b, ' ');
                buf_puts(&b, m->mid);
            }
        for (const struct sdp_media *m = xs ? xs->media : NULL; m; m = m->next)
            if (m->mid) {
                buf_putc(&b, ' ');
                buf_puts(&b, m->mid);
            }
        buf_lit(&b, "\r\n");
    }
    buf_puts(&b, bm + 2);
    buf_puts(&b, xm + 2);
    sdp_session_free(xs);
    free(bt);
    struct sdp_session *out = buf_failed(&b) ? NULL : sdp_session_parse(b.data, b.len, &e);
    if (!out)
        log_warn("calls", "content-add: the combined description does not parse: line %d: %s", e.line, e.what);
    buf_free(&b);
    return out;
}

/* ---- content-modify (XEP-0166 7.2.9): a media's direction changed ---- */

/* The media present in both whose direction differs: remembered in
 * k->added (the list of contents one Jingle action is about). */
static unsigned find_modified(struct call *k, const struct sdp_session *older, const struct sdp_session *newer)
{
    clear_added(k);
    for (const struct sdp_media *m = newer->media; m; m = m->next) {
        const struct sdp_media *o = m->mid ? sdp_media_by_mid(older, m->mid) : NULL;
        if (o && sdp_media_direction(older, o) != sdp_media_direction(newer, m))
            added_push(k, m->mid);
    }
    return k->nadded;
}

/* What an answerer says to a direction offered. */
static enum sdp_direction answer_direction(enum sdp_direction offered)
{
    switch (offered) {
    case SDP_DIR_SENDONLY:
        return SDP_DIR_RECVONLY;
    case SDP_DIR_RECVONLY:
        return SDP_DIR_SENDONLY;
    case SDP_DIR_INACTIVE:
        return SDP_DIR_INACTIVE;
    default:
        return SDP_DIR_SENDRECV;
    }
}

/* ------------------------------------------------------------------ */
/* From the browser                                                    */

static int is_remote_jid(struct calls *c, const char *jid)
{
    if (!jid)
        return 0;
    const char *at = strchr(jid, '@');
    const char *dom = at ? at + 1 : jid;
    size_t dl = strcspn(dom, "/");
    return !(dl == strlen(c->o.cfg->domain) && strncasecmp(dom, c->o.cfg->domain, dl) == 0);
}

int calls_is_browser_signaling(struct calls *c, xmpp_stanza_t *iq)
{
    if (!streq(xmpp_stanza_get_name(iq), "iq") || !streq(xmpp_stanza_get_type(iq), "set"))
        return 0;
    xmpp_stanza_t *j = xmpp_stanza_get_child_by_name_and_ns(iq, "json", CALLS_NS_JSON);
    return j && is_remote_jid(c, xmpp_stanza_get_to(iq));
}

static int sid_ok(const char *sid)
{
    size_t n = sid ? strlen(sid) : 0;
    if (!n || n > SID_MAX)
        return 0;
    for (const char *p = sid; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._~-", *p)))
            return 0;
    return 1;
}

static const char *const reasons[] = {
    "success", "busy", "decline", "cancel", "timeout", "gone", "connectivity-error", "failed-application",
    "failed-transport", "general-error", "media-error", "unsupported-applications", "unsupported-transports",
    "incompatible-parameters", "security-error", "expired", "alternative-session", NULL,
};

static const char *reason_of(json_t *obj, const char *dflt)
{
    const char *r = json_string_value(json_object_get(obj, "reason"));
    if (!r)
        return dflt;
    for (int i = 0; reasons[i]; i++)
        if (strcmp(reasons[i], r) == 0)
            return reasons[i];
    return NULL;
}

void calls_from_browser(struct calls *c, xmpp_stanza_t *iq)
{
    const char *from = xmpp_stanza_get_from(iq);
    const char *to = xmpp_stanza_get_to(iq);
    xmpp_stanza_t *js = xmpp_stanza_get_child_by_name_and_ns(iq, "json", CALLS_NS_JSON);
    char *text = js ? xmpp_stanza_get_text(js) : NULL;
    char err[300] = "";
    json_error_t je;
    json_t *msg = text && strlen(text) <= JSON_MAX ? json_loads(text, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (text)
        xmpp_free(c->o.xctx, text);
    if (!json_is_object(msg)) {
        snprintf(err, sizeof(err), "the <json/> payload is not a JSON object%s%s", msg ? "" : ": ",
                 msg ? "" : je.text);
        json_decref(msg);
        answer(c, iq, 1, "modify", "bad-request", NULL, err);
        return;
    }
    const char *sid = json_string_value(json_object_get(msg, "sid"));
    json_t *desc = json_object_get(msg, "desc");
    json_t *cand = json_object_get(msg, "candidate");
    json_t *accept = json_object_get(msg, "accept");
    json_t *reject = json_object_get(msg, "reject");
    json_t *bye = json_object_get(msg, "bye");
    json_t *ring = json_object_get(msg, "ring");
    int kinds = !!desc + !!cand + !!accept + !!reject + !!bye + !!ring;
    if (!sid_ok(sid) || kinds != 1) {
        answer(c, iq, 1, "modify", "bad-request", NULL,
               !sid_ok(sid) ? "sid must be 1 to 256 characters of A-Z a-z 0-9 . _ ~ -"
                            : "exactly one of desc, candidate, ring, accept, reject, bye");
        json_decref(msg);
        return;
    }
    int answer_after = 0;
    struct call *k = call_find(c, sid);
    if (k && (!same_party(k->local, from) || !same_party(k->remote, to))) {
        answer(c, iq, 1, "cancel", "item-not-found", "unknown-session", "this call is not yours");
        json_decref(msg);
        return;
    }
    int rc = 0;
    if (desc) {
        const char *type = json_string_value(json_object_get(desc, "type"));
        const char *sdp = json_string_value(json_object_get(desc, "sdp"));
        struct sdp_error se;
        struct sdp_session *s = NULL;
        if (!sdp || !(streq(type, "offer") || streq(type, "answer"))) {
            snprintf(err, sizeof(err), "desc needs type offer or answer and an sdp string");
        } else if (!(s = sdp_session_parse(sdp, strlen(sdp), &se))) {
            if (se.line)
                snprintf(err, sizeof(err), "SDP line %d: %s", se.line, se.what);
            else
                snprintf(err, sizeof(err), "SDP: %s", se.what);
        } else if (streq(type, "offer") && !k) {
            k = call_new(c, sid, from, strlen(from), to, 1, 1);
            if (!k) {
                sdp_session_free(s);
                snprintf(err, sizeof(err), "out of memory");
            } else {
                k->local_sdp = s;
                k->sdp_dirty = 1;
                if (!strchr(to, '/')) {
                    k->state = C_PROPOSED;
                    rc = propose_out(c, k, NULL);
                } else {
                    k->state = C_PENDING;
                    rc = jingle_out(c, k, s, JINGLE_SESSION_INITIATE, NULL, err, sizeof(err));
                }
                call_save(c, k, 1);
                log_info("calls", "sid=%s: %s calls %s%s", sid, from, to,
                         k->state == C_PROPOSED ? " (XEP-0353 propose)" : "");
            }
        } else if (streq(type, "offer") && k && k->browser_initiator && !k->local_sdp &&
                   (k->state == C_RINGING || k->state == C_PROPOSED)) {
            /* the offer after the browser's ring */
            k->local_sdp = s;
            k->sdp_dirty = 1;
            if (k->state == C_RINGING || k->proceeded) {
                k->state = C_PENDING;
                rc = jingle_out(c, k, s, JINGLE_SESSION_INITIATE, NULL, err, sizeof(err));
                flush_out_queue(c, k);
            }
            call_save(c, k, 0);
        } else if (streq(type, "offer") && k && (k->state == C_ACTIVE || k->state == C_PENDING) &&
                   k->local_sdp && jingle_is_ice_restart(k->local_sdp, s)) {
            k->state = C_RESTART_OUT;
            rc = restart_out(c, k, s, err, sizeof(err));
        } else if (streq(type, "offer") && k && k->state == C_ACTIVE && k->local_sdp &&
                   find_added(k, k->local_sdp, s)) {
            struct sdp_session *add = only_added(k, s);
            if (!add) {
                sdp_session_free(s);
                snprintf(err, sizeof(err), "the new media sections cannot be written");
            } else {
                sdp_session_free(k->local_sdp);
                k->local_sdp = s;
            k->sdp_dirty = 1;
                k->state = C_ADD_OUT;
                rc = jingle_out(c, k, add, JINGLE_CONTENT_ADD, NULL, err, sizeof(err));
                sdp_session_free(add);
                call_save(c, k, 0);
                log_info("calls", "sid=%s: the browser adds %u media", k->sid, k->nadded);
            }
        } else if (streq(type, "offer") && k && k->state == C_ACTIVE && k->local_sdp && k->remote_sdp &&
                   find_modified(k, k->local_sdp, s)) {
            /* direction changes only (hold, mute): content-modify with the
             * new senders; the browser's answer is made here, since Jingle
             * has none for it */
            struct sdp_session *mod = only_added(k, s);
            if (!mod) {
                sdp_session_free(s);
                snprintf(err, sizeof(err), "the changed media sections cannot be written");
            } else {
                rc = jingle_out(c, k, mod, JINGLE_CONTENT_MODIFY, NULL, err, sizeof(err));
                sdp_session_free(mod);
                for (unsigned i = 0; i < k->nadded; i++) {
                    struct sdp_media *nm = sdp_media_by_mid(s, k->added[i]);
                    struct sdp_media *rm = sdp_media_by_mid(k->remote_sdp, k->added[i]);
                    if (nm && rm)
                        rm->direction = answer_direction(sdp_media_direction(s, nm));
                }
                sdp_session_free(k->local_sdp);
                k->local_sdp = s;
                k->sdp_dirty = 1;
                clear_added(k);
                call_save(c, k, 0);
                answer_after = !rc; /* once the browser has its iq result */
            }
        } else if (streq(type, "answer") && k && k->state == C_MODIFY_IN) {
            sdp_session_free(k->local_sdp);
            k->local_sdp = s;
            k->sdp_dirty = 1;
            k->state = C_ACTIVE;
            call_save(c, k, 0);
        } else if (streq(type, "answer") && k && k->state == C_ADD_IN) {
            struct sdp_session *add = only_added(k, s);
            if (!add) {
                sdp_session_free(s);
                snprintf(err, sizeof(err), "the answer lacks the media being added");
            } else {
                sdp_session_free(k->local_sdp);
                k->local_sdp = s;
            k->sdp_dirty = 1;
                k->state = C_ACTIVE;
                rc = jingle_out(c, k, add, JINGLE_CONTENT_ACCEPT, NULL, err, sizeof(err));
                sdp_session_free(add);
                clear_added(k);
                call_save(c, k, 0);
            }
        } else if (streq(type, "answer") && k && k->state == C_RESTART_IN) {
            k->state = C_ACTIVE;
            rc = restart_out(c, k, s, err, sizeof(err));
        } else if (streq(type, "answer") && k && !k->browser_initiator && k->state == C_PENDING) {
            sdp_session_free(k->local_sdp);
            k->local_sdp = s;
            k->sdp_dirty = 1;
            free(k->local);
            k->local = strdup(from);
            rc = jingle_out(c, k, s, JINGLE_SESSION_ACCEPT, NULL, err, sizeof(err));
            k->state = C_ACTIVE;
            call_save(c, k, 0);
        } else {
            sdp_session_free(s);
            snprintf(err, sizeof(err), k ? "a %s is not expected now in this call (re-offers are not translated yet)"
                                         : "no such call: start it with an offer",
                     type);
        }
    } else if (ring && !k) {
        /* the browser rings before it offers: to a bare JID that is the
         * XEP-0353 propose; to a full JID the offer goes straight to it */
        json_t *media = json_object_get(ring, "media");
        if (!json_is_array(media)) {
            snprintf(err, sizeof(err), "ring.media must be an array of \"audio\", \"video\"");
        } else if (!(k = call_new(c, sid, from, strlen(from), to, 1, 1))) {
            snprintf(err, sizeof(err), "out of memory");
        } else {
            if (strchr(to, '/')) {
                k->state = C_RINGING;
            } else {
                k->state = C_PROPOSED;
                rc = propose_out(c, k, media);
            }
            call_save(c, k, 1);
            log_info("calls", "sid=%s: %s rings %s", sid, from, to);
        }
    } else if (!k) {
        answer(c, iq, 1, "cancel", "item-not-found", "unknown-session", "no such call");
        json_decref(msg);
        return;
    } else if (cand) {
        if (json_is_null(cand)) {
            /* end of candidates: Jingle has nothing for all media at once */
        } else if (!json_is_object(cand)) {
            snprintf(err, sizeof(err), "candidate must be an object or null");
        } else if (k->state == C_PROPOSED || k->state == C_RINGING || !k->local_sdp) {
            json_array_append(k->out_queue, cand);
        } else {
            rc = candidate_out(c, k, cand, err, sizeof(err));
        }
    } else if (accept) {
        if (k->browser_initiator) {
            snprintf(err, sizeof(err), "accept answers a ring");
        } else if (k->state != C_PROPOSED) {
            /* a Jingle call rung without XEP-0353: taking it is the
             * session-accept, which the browser's answer makes */
        } else {
            free(k->local);
            k->local = strdup(from);
            jmi_out(c, k, "proceed", NULL);
        }
    } else if (reject || bye) {
        const char *reason = reason_of(reject ? reject : bye, reject ? "decline" : "success");
        if (!reason) {
            snprintf(err, sizeof(err), "reason must be an XEP-0166 reason name");
        } else {
            if (k->state == C_PROPOSED)
                jmi_out(c, k, k->browser_initiator ? "retract" : "reject", reason);
            else if (k->state == C_RINGING)
                ; /* nothing was sent yet */
            else
                rc = jingle_out(c, k, NULL, JINGLE_SESSION_TERMINATE, reason, err, sizeof(err));
            log_info("calls", "sid=%s: ended by %s (%s)", k->sid, from, reason);
            call_drop(c, k);
            k = NULL;
        }
    } else {
        snprintf(err, sizeof(err), "this call has rung already");
    }
    json_decref(msg);
    if (err[0])
        answer(c, iq, 1, "modify", "bad-request", NULL, err);
    else if (rc)
        answer(c, iq, 1, "wait", "remote-server-timeout", NULL, "the XMPP server is unreachable");
    else
        answer(c, iq, 1, NULL, NULL, NULL, NULL);
    if (answer_after && k)
        send_desc(c, k, "answer", k->remote_sdp);
}

/* ------------------------------------------------------------------ */
/* From the Jingle side                                                */

static json_t *media_list(const struct sdp_session *s, xmpp_stanza_t *propose)
{
    json_t *a = json_array();
    if (s) {
        for (const struct sdp_media *m = s->media; m; m = m->next)
            if (m->media)
                json_array_append_new(a, json_string(sdp_media_is_rtp(m) ? m->media : "data"));
    } else {
        for (xmpp_stanza_t *d = xmpp_stanza_get_children(propose); d; d = xmpp_stanza_get_next(d)) {
            const char *media = xmpp_stanza_is_tag(d) ? xmpp_stanza_get_attribute(d, "media") : NULL;
            if (media && (streq(media, "audio") || streq(media, "video")))
                json_array_append_new(a, json_string(media));
            else if (xmpp_stanza_is_tag(d) && streq(xmpp_stanza_get_name(d), "description"))
                json_array_append_new(a, json_string("data"));
        }
    }
    return a;
}

static void ring(struct calls *c, struct call *k, json_t *media)
{
    json_t *m = json_object();
    json_object_set_new(m, "ring", json_pack("{s:o}", "media", media));
    to_browser(c, k, m);
}

/* The index of media `mid` in the call's descriptions, or -1. */
static int mline_of(struct call *k, const char *mid)
{
    const struct sdp_session *s = k->local_sdp ? k->local_sdp : k->remote_sdp;
    int i = 0;
    for (const struct sdp_media *m = s ? s->media : NULL; m; m = m->next, i++)
        if (streq(m->mid, mid))
            return i;
    return -1;
}

static void candidates_in(struct calls *c, struct call *k, struct jingle *j)
{
    for (const struct sdp_media *m = j->sdp->media; m; m = m->next) {
        for (const struct sdp_candidate *cd = m->candidates; cd; cd = cd->next) {
            struct buf b;
            buf_init(&b, 4096);
            sdp_candidate_write(cd, &b);
            if (buf_failed(&b)) {
                buf_free(&b);
                continue;
            }
            json_t *cand = json_object();
            json_object_set_new(cand, "candidate", json_string(b.data));
            json_object_set_new(cand, "sdpMid", m->mid ? json_string(m->mid) : json_null());
            int idx = mline_of(k, m->mid);
            json_object_set_new(cand, "sdpMLineIndex", idx >= 0 ? json_integer(idx) : json_null());
            buf_free(&b);
            json_t *msg = json_object();
            json_object_set_new(msg, "candidate", cand);
            if (k->remote_desc_sent) {
                to_browser(c, k, msg);
            } else {
                json_array_append_new(k->in_queue, msg);
            }
        }
    }
}

static int jingle_in(struct calls *c, xmpp_stanza_t *iq)
{
    struct jingle_error je;
    struct jingle *j = jingle_from_stanza(iq, &je);
    if (!j) {
        answer(c, iq, 0, "modify", "bad-request", NULL, je.what);
        return 1;
    }
    const char *from = xmpp_stanza_get_from(iq);
    const char *to = xmpp_stanza_get_to(iq);
    if (!from || !to || !j->sid) {
        /* the server always stamps both; a stanza without is not one */
        jingle_free(j);
        return 1;
    }
    struct call *k = call_find(c, j->sid);
    if (k && (!same_party(k->remote, from) || !same_party(k->local, to))) {
        answer(c, iq, 0, "cancel", "item-not-found", "unknown-session", NULL);
        jingle_free(j);
        return 1;
    }
    if (!k && j->action != JINGLE_SESSION_INITIATE) {
        answer(c, iq, 0, "cancel", "item-not-found", "unknown-session", NULL);
        jingle_free(j);
        return 1;
    }
    switch (j->action) {
    case JINGLE_SESSION_INITIATE: {
        if (k && (k->browser_initiator || k->state != C_PROPOSED)) {
            answer(c, iq, 0, "cancel", "conflict", "out-of-order", "the session exists");
            break;
        }
        size_t len;
        char *sdp = jingle_to_sdp(j, JINGLE_ROLE_INITIATOR, &len);
        struct sdp_error se;
        struct sdp_session *rs = sdp ? sdp_session_parse(sdp, len, &se) : NULL;
        if (!rs) {
            free(sdp);
            answer(c, iq, 0, "cancel", "feature-not-implemented", "unsupported-info",
                   "the description cannot be given to a browser");
            break;
        }
        int fresh = !k;
        if (!k) {
            if (!(k = call_new(c, j->sid, to, strlen(to), from, 0, 1))) {
                free(sdp);
                sdp_session_free(rs);
                answer(c, iq, 0, "wait", "resource-constraint", NULL, NULL);
                break;
            }
        } else {
            free(k->remote);
            k->remote = strdup(from);
            free(k->local);
            k->local = strdup(to);
        }
        k->remote_sdp = rs;
        k->state = C_PENDING;
        answer(c, iq, 0, NULL, NULL, NULL, NULL);
        if (fresh)
            ring(c, k, media_list(rs, NULL));
        json_t *m = json_object();
        json_object_set_new(m, "desc", json_pack("{s:s,s:s}", "type", "offer", "sdp", sdp));
        to_browser(c, k, m);
        k->remote_desc_sent = 1;
        flush_in_queue(c, k);
        free(sdp);
        /* recorded once the browser has it: the disk write is not on the
         * call's path */
        call_save(c, k, fresh);
        log_info("calls", "sid=%s: %s calls %s (Jingle)", k->sid, from, to);
        break;
    }
    case JINGLE_SESSION_ACCEPT: {
        if (!k->browser_initiator || k->state != C_PENDING) {
            answer(c, iq, 0, "cancel", "unexpected-request", "out-of-order", NULL);
            break;
        }
        size_t len;
        char *sdp = jingle_to_sdp(j, JINGLE_ROLE_RESPONDER, &len);
        if (!sdp) {
            answer(c, iq, 0, "wait", "resource-constraint", NULL, NULL);
            break;
        }
        struct sdp_error se;
        sdp_session_free(k->remote_sdp);
        k->remote_sdp = sdp_session_parse(sdp, len, &se);
        k->state = C_ACTIVE;
        answer(c, iq, 0, NULL, NULL, NULL, NULL);
        json_t *m = json_object();
        json_object_set_new(m, "desc", json_pack("{s:s,s:s}", "type", "answer", "sdp", sdp));
        to_browser(c, k, m);
        k->remote_desc_sent = 1;
        flush_in_queue(c, k);
        free(sdp);
        call_save(c, k, 0);
        break;
    }
    case JINGLE_TRANSPORT_INFO: {
        answer(c, iq, 0, NULL, NULL, NULL, NULL);
        /* new credentials for a content: an ICE restart (XEP-0176 3.6) */
        int restarted = 0;
        for (const struct sdp_media *m = j->sdp->media; m && k->remote_sdp; m = m->next) {
            struct sdp_media *old = m->mid ? sdp_media_by_mid(k->remote_sdp, m->mid) : NULL;
            if (!old || !m->ice_ufrag || !m->ice_pwd || (streq(old->ice_ufrag, m->ice_ufrag) &&
                                                         streq(old->ice_pwd, m->ice_pwd)))
                continue;
            if (set_ice(k->remote_sdp, old, m->ice_ufrag, m->ice_pwd) == 0)
                restarted = 1;
        }
        if (restarted) {
            if (k->state == C_RESTART_OUT) {
                /* the peer's answer to the browser's restart */
                k->state = C_ACTIVE;
                send_desc(c, k, "answer", k->remote_sdp);
            } else {
                k->state = C_RESTART_IN;
                send_desc(c, k, "offer", k->remote_sdp);
                log_info("calls", "sid=%s: ICE restart by %s", k->sid, from);
            }
        }
        candidates_in(c, k, j);
        break;
    }
    case JINGLE_SESSION_TERMINATE: {
        answer(c, iq, 0, NULL, NULL, NULL, NULL);
        json_t *m = json_object();
        json_object_set_new(m, "bye", json_pack("{s:s}", "reason", j->reason ? j->reason : "success"));
        to_browser(c, k, m);
        log_info("calls", "sid=%s: ended by %s (%s)", k->sid, from, j->reason ? j->reason : "no reason");
        call_drop(c, k);
        break;
    }
    case JINGLE_CONTENT_ADD:
    case JINGLE_CONTENT_ACCEPT: {
        int add = j->action == JINGLE_CONTENT_ADD;
        if ((add && k->state != C_ACTIVE) || (!add && k->state != C_ADD_OUT) || !k->remote_sdp) {
            answer(c, iq, 0, "cancel", "unexpected-request", "out-of-order", NULL);
            break;
        }
        size_t len;
        char *sdp = jingle_to_sdp(j, k->browser_initiator ? JINGLE_ROLE_RESPONDER : JINGLE_ROLE_INITIATOR, &len);
        struct sdp_session *all = sdp ? combine(k->remote_sdp, sdp) : NULL;
        free(sdp);
        if (!all) {
            answer(c, iq, 0, "cancel", "feature-not-implemented", "unsupported-info",
                   "the added content cannot be given to a browser");
            break;
        }
        answer(c, iq, 0, NULL, NULL, NULL, NULL);
        if (add)
            find_added(k, k->remote_sdp, all);
        sdp_session_free(k->remote_sdp);
        k->remote_sdp = all;
        k->state = add ? C_ADD_IN : C_ACTIVE;
        if (!add)
            clear_added(k);
        send_desc(c, k, add ? "offer" : "answer", all);
        candidates_in(c, k, j);
        break;
    }
    case JINGLE_CONTENT_MODIFY: {
        if (k->state != C_ACTIVE || !k->remote_sdp) {
            answer(c, iq, 0, "cancel", "unexpected-request", "out-of-order", NULL);
            break;
        }
        jingle_apply_senders(j, k->browser_initiator ? JINGLE_ROLE_RESPONDER : JINGLE_ROLE_INITIATOR);
        int changed = 0;
        for (const struct sdp_media *m = j->sdp->media; m; m = m->next) {
            struct sdp_media *rm = m->mid ? sdp_media_by_mid(k->remote_sdp, m->mid) : NULL;
            if (rm && sdp_media_direction(j->sdp, m) != sdp_media_direction(k->remote_sdp, rm)) {
                rm->direction = sdp_media_direction(j->sdp, m);
                changed = 1;
            }
        }
        answer(c, iq, 0, NULL, NULL, NULL, NULL);
        if (changed) {
            k->state = C_MODIFY_IN;
            send_desc(c, k, "offer", k->remote_sdp);
        }
        break;
    }
    case JINGLE_CONTENT_REJECT:
        /* the browser's offer stays unanswered for those media: hang up is
         * the browser's call; say so in the log */
        answer(c, iq, 0, NULL, NULL, NULL, NULL);
        log_info("calls", "sid=%s: %s rejected the added content", k->sid, from);
        k->state = C_ACTIVE;
        clear_added(k);
        break;
    case JINGLE_SESSION_INFO:
        answer(c, iq, 0, NULL, NULL, NULL, NULL); /* ringing, mute: nothing for the browser */
        break;
    default:
        answer(c, iq, 0, "cancel", "feature-not-implemented", "unsupported-info",
               "this Jingle action is not translated for browsers yet");
        break;
    }
    jingle_free(j);
    return 1;
}

static int jmi_in(struct calls *c, xmpp_stanza_t *msg, xmpp_stanza_t *el)
{
    const char *what = xmpp_stanza_get_name(el);
    const char *sid = xmpp_stanza_get_attribute(el, "id");
    const char *from = xmpp_stanza_get_from(msg);
    const char *to = xmpp_stanza_get_to(msg);
    if (!sid_ok(sid) || !from || !to)
        return 1;
    struct call *k = call_find(c, sid);
    if (streq(what, "propose")) {
        if (k)
            return 1; /* a copy (carbons, several devices): already ringing */
        if (!(k = call_new(c, sid, to, strcspn(to, "/"), from, 0, 1)))
            return 1;
        k->state = C_PROPOSED;
        call_save(c, k, 1);
        /* every session of the user rings; the first to accept takes it */
        ring(c, k, media_list(NULL, el));
        log_info("calls", "sid=%s: %s proposes a call to %s (XEP-0353)", sid, from, k->local);
        return 1;
    }
    if (!k || !same_party(k->remote, from))
        return 1;
    if (streq(what, "proceed") && k->browser_initiator && k->state == C_PROPOSED) {
        free(k->remote);
        k->remote = strdup(from);
        if (k->local_sdp) {
            k->state = C_PENDING;
            char err[240];
            jingle_out(c, k, k->local_sdp, JINGLE_SESSION_INITIATE, NULL, err, sizeof(err));
            flush_out_queue(c, k);
        } else {
            k->proceeded = 1; /* session-initiate when the offer comes */
        }
        call_save(c, k, 0);
        json_t *m = json_object();
        json_object_set_new(m, "accept", json_object());
        to_browser(c, k, m);
    } else if (streq(what, "reject") || streq(what, "retract") || streq(what, "finish")) {
        json_t *m = json_object();
        xmpp_stanza_t *r = xmpp_stanza_get_child_by_name(el, "reason");
        xmpp_stanza_t *rc = r ? xmpp_stanza_get_children(r) : NULL;
        while (rc && !xmpp_stanza_is_tag(rc))
            rc = xmpp_stanza_get_next(rc);
        const char *reason = rc ? xmpp_stanza_get_name(rc) : NULL;
        if (streq(what, "reject"))
            json_object_set_new(m, "reject", json_pack("{s:s}", "reason", reason ? reason : "decline"));
        else
            json_object_set_new(m, "bye", json_pack("{s:s}", "reason", reason ? reason : "cancel"));
        to_browser(c, k, m);
        call_drop(c, k);
    }
    return 1;
}

int calls_from_remote(struct calls *c, xmpp_stanza_t *st)
{
    const char *name = xmpp_stanza_get_name(st);
    const char *type = xmpp_stanza_get_type(st);
    const char *id = xmpp_stanza_get_id(st);
    if (streq(name, "iq") && (streq(type, "result") || streq(type, "error")) && id &&
        strncmp(id, "epode-", 6) == 0) {
        /* the answer to a Jingle iq Epode wrote: not the browser's */
        if (streq(type, "error"))
            log_info("calls", "%s refused Jingle iq %s", xmpp_stanza_get_from(st), id);
        return 1;
    }
    if (streq(name, "iq") && streq(xmpp_stanza_get_type(st), "set") &&
        xmpp_stanza_get_child_by_name_and_ns(st, "jingle", JINGLE_NS))
        return jingle_in(c, st);
    if (streq(name, "message")) {
        for (xmpp_stanza_t *ch = xmpp_stanza_get_children(st); ch; ch = xmpp_stanza_get_next(ch))
            if (xmpp_stanza_is_tag(ch) && streq(xmpp_stanza_get_ns(ch), CALLS_NS_JMI))
                return jmi_in(c, st, ch);
    }
    return 0;
}

/* ------------------------------------------------------------------ */

struct calls *calls_new(const struct calls_opts *o)
{
    struct calls *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->o = *o;
    return c;
}

void calls_free(struct calls *c)
{
    if (!c)
        return;
    calls_flush(c);
    struct call *k, *tmp;
    HASH_ITER(hh, c->calls, k, tmp)
    {
        HASH_DEL(c->calls, k);
        call_free(k);
    }
    free(c);
}

void calls_flush(struct calls *c)
{
    if (!c)
        return;
    if (!c->ngone && !c->dirty)
        return;
    int batch = store_batch_begin(c->o.store) == 0;
    for (size_t i = 0; i < c->ngone; i++) {
        store_jingle_session_delete(c->o.store, c->gone[i]);
        free(c->gone[i]);
    }
    free(c->gone);
    c->gone = NULL;
    c->ngone = 0;
    /* one transaction, one fsync, however many calls changed */
    struct call *k, *tmp;
    HASH_ITER(hh, c->calls, k, tmp)
    {
        if (k->dirty)
            call_write(c, k);
    }
    c->dirty = 0;
    if (batch && store_batch_end(c->o.store))
        log_warn("calls", "calls not recorded: %s", store_errmsg(c->o.store));
}

void calls_get_stats(const struct calls *c, struct calls_stats *out)
{
    *out = c->stats;
}
