/* sdp.c - SDP parser and writer. See sdp.h for the contract. */
#include "sdp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* The arena holds a copy of the text plus the model; a description within
 * SDP_MAX_TEXT never needs more than a few times its size. */
#define SDP_ARENA_LIMIT (16u * 1024 * 1024)

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

struct sdp_session *sdp_session_new(void)
{
    struct sdp_session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    arena_init(&s->arena, SDP_ARENA_LIMIT);
    return s;
}

void sdp_session_free(struct sdp_session *s)
{
    if (!s)
        return;
    arena_release(&s->arena);
    free(s);
}

char *sdp_strdup(struct sdp_session *s, const char *str)
{
    s->xml_safe = 0;
    return str ? arena_strdup(&s->arena, str) : NULL;
}

char *sdp_strndup(struct sdp_session *s, const char *str, size_t len)
{
    s->xml_safe = 0;
    return arena_strndup(&s->arena, str, len);
}

struct sdp_media *sdp_media_append(struct sdp_session *s)
{
    struct sdp_media *m = arena_alloc(&s->arena, sizeof(*m));
    if (!m)
        return NULL;
    m->index = s->nmedia;
    m->rtcp_port = -1;
    m->sctp_port = -1;
    m->max_message_size = -1;
    struct sdp_media **pp = &s->media;
    while (*pp)
        pp = &(*pp)->next;
    *pp = m;
    s->nmedia++;
    return m;
}

struct sdp_media *sdp_media_by_mid(const struct sdp_session *s, const char *mid)
{
    for (struct sdp_media *m = s->media; m; m = m->next)
        if (m->mid && strcmp(m->mid, mid) == 0)
            return m;
    return NULL;
}

struct sdp_media *sdp_media_by_index(const struct sdp_session *s, unsigned idx)
{
    for (struct sdp_media *m = s->media; m; m = m->next)
        if (m->index == idx)
            return m;
    return NULL;
}

int sdp_media_is_rtp(const struct sdp_media *m)
{
    return m->proto && strstr(m->proto, "RTP") != NULL;
}

static const char *const dir_names[] = {
    [SDP_DIR_NONE] = "",
    [SDP_DIR_SENDRECV] = "sendrecv",
    [SDP_DIR_SENDONLY] = "sendonly",
    [SDP_DIR_RECVONLY] = "recvonly",
    [SDP_DIR_INACTIVE] = "inactive",
};

const char *sdp_direction_name(enum sdp_direction d)
{
    return (unsigned)d < sizeof(dir_names) / sizeof(dir_names[0]) ? dir_names[d] : "";
}

enum sdp_direction sdp_direction_from_name(const char *s, size_t len)
{
    for (int d = SDP_DIR_SENDRECV; d <= SDP_DIR_INACTIVE; d++)
        if (strlen(dir_names[d]) == len && memcmp(dir_names[d], s, len) == 0)
            return (enum sdp_direction)d;
    return SDP_DIR_NONE;
}

enum sdp_direction sdp_media_direction(const struct sdp_session *s,
                                       const struct sdp_media *m)
{
    if (m && m->direction != SDP_DIR_NONE)
        return m->direction;
    if (s->direction != SDP_DIR_NONE)
        return s->direction;
    return SDP_DIR_SENDRECV;
}

int sdp_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    if (len == 0 || len > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Parser state and errors                                             */

struct parser {
    struct sdp_session *s;
    struct sdp_media *m;        /* current media section, NULL at session level */
    struct sdp_error *err;
    int line;
    /* The parser's own copy of the text, in the arena: tokens inside it are
     * terminated in place instead of copied. */
    char *base;
    char *limit;
};

static int fail(struct sdp_error *err, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct sdp_error *err, int line, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->line = line;
        int n = 0;
        if (line > 0)
            n = snprintf(err->what, sizeof(err->what), "line %d: ", line);
        if (n < 0 || (size_t)n >= sizeof(err->what))
            n = 0;
        va_start(ap, fmt);
        vsnprintf(err->what + n, sizeof(err->what) - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return SDP_ESYNTAX;
}

static int nomem(struct sdp_error *err, int line)
{
    if (err) {
        err->line = line;
        snprintf(err->what, sizeof(err->what), "out of memory or description too large");
    }
    return SDP_ENOMEM;
}

/* A cursor over one line's text, splitting on single spaces. */
struct cur {
    const char *p;
    const char *end;
};

/* Next token up to `sep`; returns its length and sets *tok. Fails (returns
 * -1) when the cursor is exhausted. Tokens are never empty. */
static int cur_next(struct cur *c, char sep, const char **tok, size_t *len)
{
    if (c->p >= c->end)
        return -1;
    const char *start = c->p;
    const char *q = memchr(start, sep, (size_t)(c->end - start));
    if (!q)
        q = c->end;
    if (q == start)
        return -1;
    *tok = start;
    *len = (size_t)(q - start);
    c->p = q < c->end ? q + 1 : q;
    return 0;
}

static int cur_done(const struct cur *c)
{
    return c->p >= c->end;
}

/* Copy helper that reports failure through the parser. */
/* A NUL-terminated string for str[0..n). Inside the parser's own copy of
 * the text the byte after a token is a separator the cursor has already
 * passed (or a line end), so it is overwritten instead of copying. */
static char *dup_token(struct parser *P, const char *str, size_t n)
{
    if (P->base && str >= P->base && str + n < P->limit) {
        char *w = P->base + (str - P->base);
        w[n] = '\0';
        return w;
    }
    return arena_strndup(&P->s->arena, str, n);
}

#define DUP(P, str, n) dup_token((P), (str), (n))

/* Character classes of the SDP grammar, one bit each, for all_chars(). */
enum {
    is_token_char = 1,  /* RFC 8866 token-char */
    is_ice_char = 2,    /* RFC 8839 ice-char: letters, digits, + and / */
    is_addr_char = 4,   /* IP addresses and host names (mDNS .local too) */
    is_hexcolon = 8,    /* fingerprint bytes */
    is_visible = 16,    /* anything but space and controls (UTF-8 allowed) */
};

static const unsigned char char_class[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0, 17, 16, 17, 17, 21, 17, 17, 16, 16, 17, 19, 16, 21, 21, 18,
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 28, 16, 16, 16, 16, 16,
    16, 31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23,
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 16, 16, 16, 17, 21,
    17, 31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23,
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 16, 17, 16, 17,  0,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
};

/* 1 when s[0..n) is not empty and every byte is of class `mask`. */
static int all_chars(const char *s, size_t n, int mask)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++)
        if (!(char_class[u[i]] & mask))
            return 0;
    return n > 0;
}

int sdp_is_token(const char *s)
{
    return s && all_chars(s, strlen(s), is_token_char);
}

int sdp_is_ice_string(const char *s)
{
    return s && all_chars(s, strlen(s), is_ice_char);
}

/* ------------------------------------------------------------------ */
/* Candidates                                                          */

int sdp_candidate_parse(struct arena *ar, const char *text, size_t len,
                        struct sdp_candidate *c, struct sdp_error *err)
{
    const int line = err ? err->line : 0;
    if (len >= 2 && text[0] == 'a' && text[1] == '=') {
        text += 2;
        len -= 2;
    }
    if (len < 10 || memcmp(text, "candidate:", 10) != 0)
        return fail(err, line, "a=candidate: expected \"candidate:\" at the start");
    struct cur cu = {text + 10, text + len};
    const char *t;
    size_t n;
    uint64_t v;

    memset(c, 0, sizeof(*c));
    c->rport = -1;
    c->generation = -1;
    c->network_id = -1;
    c->network_cost = -1;

    if (cur_next(&cu, ' ', &t, &n) || n > 32 || !all_chars(t, n, is_ice_char))
        return fail(err, line, "a=candidate: foundation must be 1 to 32 ICE characters");
    if (!(c->foundation = arena_strndup(ar, t, n)))
        return nomem(err, line);
    if (cur_next(&cu, ' ', &t, &n) || sdp_parse_uint(t, n, 256, &v) || v == 0)
        return fail(err, line, "a=candidate: component id must be 1 to 256");
    c->component = (unsigned)v;
    if (cur_next(&cu, ' ', &t, &n) || !all_chars(t, n, is_token_char))
        return fail(err, line, "a=candidate: missing transport (udp or tcp)");
    if (!(c->transport = arena_strndup(ar, t, n)))
        return nomem(err, line);
    if (cur_next(&cu, ' ', &t, &n) || sdp_parse_uint(t, n, UINT32_MAX, &v))
        return fail(err, line, "a=candidate: priority must be a number from 0 to 4294967295");
    c->priority = (uint32_t)v;
    if (cur_next(&cu, ' ', &t, &n) || n > 255 || !all_chars(t, n, is_addr_char))
        return fail(err, line, "a=candidate: connection address is not an IP address or host name");
    if (!(c->address = arena_strndup(ar, t, n)))
        return nomem(err, line);
    if (cur_next(&cu, ' ', &t, &n) || sdp_parse_uint(t, n, 65535, &v))
        return fail(err, line, "a=candidate: port must be a number from 0 to 65535");
    c->port = (unsigned)v;
    if (cur_next(&cu, ' ', &t, &n) || n != 3 || memcmp(t, "typ", 3) != 0)
        return fail(err, line, "a=candidate: expected \"typ\" after the port");
    if (cur_next(&cu, ' ', &t, &n) || !all_chars(t, n, is_token_char))
        return fail(err, line, "a=candidate: missing candidate type after \"typ\"");
    if (!(c->type = arena_strndup(ar, t, n)))
        return nomem(err, line);

    struct sdp_attr **ext_tail = &c->ext;
    while (!cur_done(&cu)) {
        const char *name, *val;
        size_t nn, vn;
        if (cur_next(&cu, ' ', &name, &nn) || !all_chars(name, nn, is_token_char))
            return fail(err, line, "a=candidate: extension name expected");
        if (cur_next(&cu, ' ', &val, &vn) || !all_chars(val, vn, is_visible))
            return fail(err, line, "a=candidate: extension \"%.*s\" has no value",
                        (int)(nn > 40 ? 40 : nn), name);
#define IS(lit) (nn == sizeof(lit) - 1 && memcmp(name, lit, nn) == 0)
        if (IS("raddr")) {
            if (c->raddr || !all_chars(val, vn, is_addr_char))
                return fail(err, line, "a=candidate: bad or repeated raddr");
            if (!(c->raddr = arena_strndup(ar, val, vn)))
                return nomem(err, line);
        } else if (IS("rport")) {
            if (c->rport >= 0 || sdp_parse_uint(val, vn, 65535, &v))
                return fail(err, line, "a=candidate: rport must be a number from 0 to 65535");
            c->rport = (int)v;
        } else if (IS("tcptype")) {
            if (c->tcptype)
                return fail(err, line, "a=candidate: repeated tcptype");
            if (!(c->tcptype = arena_strndup(ar, val, vn)))
                return nomem(err, line);
        } else if (IS("generation")) {
            if (c->generation >= 0 || sdp_parse_uint(val, vn, INT32_MAX, &v))
                return fail(err, line, "a=candidate: generation must be a number");
            c->generation = (int64_t)v;
        } else if (IS("ufrag")) {
            if (c->ufrag)
                return fail(err, line, "a=candidate: repeated ufrag");
            if (!(c->ufrag = arena_strndup(ar, val, vn)))
                return nomem(err, line);
        } else if (IS("network-id")) {
            if (c->network_id >= 0 || sdp_parse_uint(val, vn, INT32_MAX, &v))
                return fail(err, line, "a=candidate: network-id must be a number");
            c->network_id = (int64_t)v;
        } else if (IS("network-cost")) {
            if (c->network_cost >= 0 || sdp_parse_uint(val, vn, INT32_MAX, &v))
                return fail(err, line, "a=candidate: network-cost must be a number");
            c->network_cost = (int64_t)v;
        } else {
            struct sdp_attr *a = arena_alloc(ar, sizeof(*a));
            if (!a || !(a->name = arena_strndup(ar, name, nn)) ||
                !(a->value = arena_strndup(ar, val, vn)))
                return nomem(err, line);
            *ext_tail = a;
            ext_tail = &a->next;
        }
#undef IS
    }
    return SDP_OK;
}

void sdp_candidate_write(const struct sdp_candidate *c, struct buf *b)
{
    buf_lit(b, "candidate:");
    buf_puts(b, c->foundation);
    buf_putc(b, ' ');
    buf_put_u64(b, c->component);
    buf_putc(b, ' ');
    buf_puts(b, c->transport);
    buf_putc(b, ' ');
    buf_put_u64(b, c->priority);
    buf_putc(b, ' ');
    buf_puts(b, c->address);
    buf_putc(b, ' ');
    buf_put_u64(b, c->port);
    buf_lit(b, " typ ");
    buf_puts(b, c->type);
    if (c->raddr) {
        buf_lit(b, " raddr ");
        buf_puts(b, c->raddr);
    }
    if (c->rport >= 0) {
        buf_lit(b, " rport ");
        buf_put_u64(b, (uint64_t)c->rport);
    }
    if (c->tcptype) {
        buf_lit(b, " tcptype ");
        buf_puts(b, c->tcptype);
    }
    if (c->generation >= 0) {
        buf_lit(b, " generation ");
        buf_put_u64(b, (uint64_t)c->generation);
    }
    if (c->ufrag) {
        buf_lit(b, " ufrag ");
        buf_puts(b, c->ufrag);
    }
    if (c->network_id >= 0) {
        buf_lit(b, " network-id ");
        buf_put_u64(b, (uint64_t)c->network_id);
    }
    if (c->network_cost >= 0) {
        buf_lit(b, " network-cost ");
        buf_put_u64(b, (uint64_t)c->network_cost);
    }
    for (const struct sdp_attr *a = c->ext; a; a = a->next) {
        buf_putc(b, ' ');
        buf_puts(b, a->name);
        buf_putc(b, ' ');
        buf_puts(b, a->value);
    }
}

/* ------------------------------------------------------------------ */
/* Attributes                                                          */

static struct sdp_payload *payload_find(struct sdp_media *m, unsigned pt)
{
    for (struct sdp_payload *p = m->payloads; p; p = p->next)
        if (p->pt == pt)
            return p;
    return NULL;
}

/* Appending to a singly linked list in O(1): every node type starts with its
 * `next` pointer, and the session keeps a small hash table from the address
 * of a list head to the address of the last node's `next`. Without it a
 * description of many short lines would cost quadratic time. */
struct tail_ent {
    void **head;
    void **tail;
};

struct sdp_tails {
    struct tail_ent *ents;
    unsigned cap;   /* power of two */
    unsigned count;
};

static unsigned tail_hash(void **head, unsigned cap)
{
    uintptr_t h = (uintptr_t)head;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15u;
    return (unsigned)(h >> 7) & (cap - 1);
}

static struct tail_ent *tail_slot(struct sdp_tails *t, void **head)
{
    unsigned i = tail_hash(head, t->cap);
    while (t->ents[i].head && t->ents[i].head != head)
        i = (i + 1) & (t->cap - 1);
    return &t->ents[i];
}

static int tails_grow(struct sdp_session *s)
{
    struct sdp_tails *t = s->tails;
    if (!t) {
        t = arena_alloc(&s->arena, sizeof(*t));
        if (!t)
            return -1;
        s->tails = t;
    }
    unsigned ncap = t->cap ? t->cap * 2 : 64;
    struct tail_ent *old = t->ents;
    unsigned ocap = t->cap;
    t->ents = arena_alloc(&s->arena, sizeof(*t->ents) * ncap);
    if (!t->ents) {
        t->ents = old;
        return -1;
    }
    t->cap = ncap;
    for (unsigned i = 0; i < ocap; i++)
        if (old[i].head)
            *tail_slot(t, old[i].head) = old[i];
    return 0;
}

void sdp_list_append(struct sdp_session *s, void *headp, void *node)
{
    void **head = headp;
    void **nodenext = node; /* the node's first member is its `next` */
    struct sdp_tails *t = s->tails;
    *nodenext = NULL;
    if ((!t || (t->count + 1) * 2 > t->cap) && tails_grow(s) != 0) {
        void **pp = head;       /* out of memory for the table: walk */
        while (*pp)
            pp = (void **)*pp;
        *pp = node;
        return;
    }
    t = s->tails;
    struct tail_ent *e = tail_slot(t, head);
    if (!e->head) {
        void **pp = head;
        while (*pp)
            pp = (void **)*pp;
        e->head = head;
        e->tail = pp;
        t->count++;
    }
    /* The cached tail may be stale if someone else appended: catch up. */
    while (*e->tail)
        e->tail = (void **)*e->tail;
    *e->tail = node;
    e->tail = nodenext;
}

#define APPEND(headp, node) sdp_list_append(P->s, &(headp), (node))

static int parse_fingerprint(struct parser *P, const char *v, size_t n,
                             struct sdp_fingerprint **list)
{
    struct cur c = {v, v + n};
    const char *h, *f;
    size_t hn, fn;
    if (cur_next(&c, ' ', &h, &hn) || !all_chars(h, hn, is_token_char) ||
        cur_next(&c, ' ', &f, &fn) || !cur_done(&c))
        return fail(P->err, P->line, "a=fingerprint: expected \"<hash-function> <hex:hex:...>\"");
    if (!all_chars(f, fn, is_hexcolon) || fn < 2)
        return fail(P->err, P->line, "a=fingerprint: fingerprint must be hex bytes separated by colons");
    struct sdp_fingerprint *fp = arena_alloc(&P->s->arena, sizeof(*fp));
    if (!fp || !(fp->hash = DUP(P, h, hn)) || !(fp->value = DUP(P, f, fn)))
        return nomem(P->err, P->line);
    APPEND(*list, fp);
    return 0;
}

static int parse_extmap(struct parser *P, const char *v, size_t n,
                        struct sdp_extmap **list)
{
    struct cur c = {v, v + n};
    const char *t, *u;
    size_t tn, un;
    uint64_t id;
    if (cur_next(&c, ' ', &t, &tn))
        return fail(P->err, P->line, "a=extmap: missing id");
    const char *slash = memchr(t, '/', tn);
    size_t idn = slash ? (size_t)(slash - t) : tn;
    if (sdp_parse_uint(t, idn, 4095, &id) || id == 0)
        return fail(P->err, P->line, "a=extmap: id must be a number from 1 to 4095");
    struct sdp_extmap *e = arena_alloc(&P->s->arena, sizeof(*e));
    if (!e)
        return nomem(P->err, P->line);
    e->id = (unsigned)id;
    if (slash) {
        e->direction = sdp_direction_from_name(slash + 1, tn - idn - 1);
        if (e->direction == SDP_DIR_NONE)
            return fail(P->err, P->line, "a=extmap: direction must be sendrecv, sendonly, recvonly or inactive");
    }
    if (cur_next(&c, ' ', &u, &un) || !all_chars(u, un, is_visible))
        return fail(P->err, P->line, "a=extmap: missing extension URI");
    if (!(e->uri = DUP(P, u, un)))
        return nomem(P->err, P->line);
    if (!cur_done(&c) && !(e->attributes = DUP(P, c.p, (size_t)(c.end - c.p))))
        return nomem(P->err, P->line);
    for (struct sdp_extmap *x = *list; x; x = x->next)
        if (x->id == e->id)
            return fail(P->err, P->line, "a=extmap: id %u is used twice", e->id);
    APPEND(*list, e);
    return 0;
}

static int parse_group(struct parser *P, const char *v, size_t n)
{
    struct cur c = {v, v + n};
    const char *t;
    size_t tn;
    if (cur_next(&c, ' ', &t, &tn) || !all_chars(t, tn, is_token_char))
        return fail(P->err, P->line, "a=group: missing semantics");
    struct sdp_group *g = arena_alloc(&P->s->arena, sizeof(*g));
    if (!g || !(g->semantics = DUP(P, t, tn)))
        return nomem(P->err, P->line);
    unsigned count = 0;
    for (const char *q = c.p; q < c.end; q++)
        if (*q == ' ')
            count++;
    g->mids = arena_alloc(&P->s->arena, sizeof(char *) * (count + 1));
    if (!g->mids)
        return nomem(P->err, P->line);
    while (!cur_done(&c)) {
        if (cur_next(&c, ' ', &t, &tn) || !all_chars(t, tn, is_token_char))
            return fail(P->err, P->line, "a=group: mids must be tokens separated by single spaces");
        if (!(g->mids[g->nmids++] = DUP(P, t, tn)))
            return nomem(P->err, P->line);
    }
    APPEND(P->s->groups, g);
    return 0;
}

static int parse_rtpmap(struct parser *P, const char *v, size_t n)
{
    struct sdp_media *m = P->m;
    struct cur c = {v, v + n};
    const char *t, *enc;
    size_t tn, en;
    uint64_t pt, clock, ch = 0;
    if (cur_next(&c, ' ', &t, &tn) || sdp_parse_uint(t, tn, 127, &pt))
        return fail(P->err, P->line, "a=rtpmap: payload type must be a number from 0 to 127");
    struct sdp_payload *p = payload_find(m, (unsigned)pt);
    if (!p)
        return fail(P->err, P->line, "a=rtpmap: payload type %u is not listed on the m= line", (unsigned)pt);
    if (p->name)
        return fail(P->err, P->line, "a=rtpmap: payload type %u is mapped twice", (unsigned)pt);
    if (cur_done(&c))
        return fail(P->err, P->line, "a=rtpmap: missing \"<encoding>/<clock rate>\"");
    struct cur e = {c.p, c.end};
    if (cur_next(&e, '/', &enc, &en) || !all_chars(enc, en, is_token_char))
        return fail(P->err, P->line, "a=rtpmap: missing encoding name");
    if (cur_next(&e, '/', &t, &tn) || sdp_parse_uint(t, tn, UINT32_MAX, &clock))
        return fail(P->err, P->line, "a=rtpmap: clock rate must be a number");
    if (!cur_done(&e)) {
        if (cur_next(&e, '/', &t, &tn) || sdp_parse_uint(t, tn, 255, &ch) || !cur_done(&e))
            return fail(P->err, P->line, "a=rtpmap: channel count must be a number");
    }
    if (!(p->name = DUP(P, enc, en)))
        return nomem(P->err, P->line);
    p->clockrate = (uint32_t)clock;
    p->channels = (unsigned)ch;
    return 0;
}

static int parse_fmtp(struct parser *P, const char *v, size_t n)
{
    struct cur c = {v, v + n};
    const char *t;
    size_t tn;
    uint64_t pt;
    if (cur_next(&c, ' ', &t, &tn) || sdp_parse_uint(t, tn, 127, &pt))
        return fail(P->err, P->line, "a=fmtp: payload type must be a number from 0 to 127");
    struct sdp_payload *p = payload_find(P->m, (unsigned)pt);
    if (!p)
        return fail(P->err, P->line, "a=fmtp: payload type %u is not listed on the m= line", (unsigned)pt);
    if (p->params || p->fmtp_raw)
        return fail(P->err, P->line, "a=fmtp: payload type %u has two fmtp lines", (unsigned)pt);
    if (cur_done(&c))
        return fail(P->err, P->line, "a=fmtp: missing format parameters");
    const char *rest = c.p;
    size_t rn = (size_t)(c.end - c.p);
    /* key=value;key=value (a space after ';' is tolerated). Anything else
     * is kept verbatim. */
    int kv = 1;
    struct cur s = {rest, rest + rn};
    const char *piece;
    size_t pn;
    while (!cur_done(&s)) {
        if (cur_next(&s, ';', &piece, &pn)) {
            kv = 0;
            break;
        }
        while (pn && *piece == ' ') {
            piece++;
            pn--;
        }
        const char *eq = memchr(piece, '=', pn);
        if (!eq || eq == piece || memchr(piece, ' ', (size_t)(eq - piece))) {
            kv = 0;
            break;
        }
    }
    if (!kv || rest[rn - 1] == ';') {
        if (!(p->fmtp_raw = DUP(P, rest, rn)))
            return nomem(P->err, P->line);
        return 0;
    }
    s.p = rest;
    struct sdp_param **tail = &p->params;
    while (!cur_done(&s)) {
        cur_next(&s, ';', &piece, &pn);
        while (pn && *piece == ' ') {
            piece++;
            pn--;
        }
        const char *eq = memchr(piece, '=', pn);
        struct sdp_param *prm = arena_alloc(&P->s->arena, sizeof(*prm));
        if (!prm || !(prm->name = DUP(P, piece, (size_t)(eq - piece))) ||
            !(prm->value = DUP(P, eq + 1, pn - (size_t)(eq - piece) - 1)))
            return nomem(P->err, P->line);
        *tail = prm;
        tail = &prm->next;
    }
    return 0;
}

static int parse_rtcp_fb(struct parser *P, const char *v, size_t n)
{
    struct cur c = {v, v + n};
    const char *t, *ty;
    size_t tn, tyn;
    uint64_t pt;
    struct sdp_rtcp_fb **list;
    if (cur_next(&c, ' ', &t, &tn))
        return fail(P->err, P->line, "a=rtcp-fb: missing payload type");
    if (tn == 1 && t[0] == '*') {
        list = &P->m->fb_all;
    } else {
        if (sdp_parse_uint(t, tn, 127, &pt))
            return fail(P->err, P->line, "a=rtcp-fb: payload type must be * or a number from 0 to 127");
        struct sdp_payload *p = payload_find(P->m, (unsigned)pt);
        if (!p)
            return fail(P->err, P->line, "a=rtcp-fb: payload type %u is not listed on the m= line", (unsigned)pt);
        list = &p->fb;
    }
    if (cur_next(&c, ' ', &ty, &tyn) || !all_chars(ty, tyn, is_token_char))
        return fail(P->err, P->line, "a=rtcp-fb: missing feedback type");
    struct sdp_rtcp_fb *fb = arena_alloc(&P->s->arena, sizeof(*fb));
    if (!fb || !(fb->type = DUP(P, ty, tyn)))
        return nomem(P->err, P->line);
    if (!cur_done(&c) && !(fb->subtype = DUP(P, c.p, (size_t)(c.end - c.p))))
        return nomem(P->err, P->line);
    if (strcmp(fb->type, "trr-int") == 0) {
        uint64_t iv;
        if (!fb->subtype || sdp_parse_uint(fb->subtype, strlen(fb->subtype), UINT32_MAX, &iv))
            return fail(P->err, P->line, "a=rtcp-fb: trr-int needs an interval in milliseconds");
    }
    APPEND(*list, fb);
    return 0;
}

#define SDP_MAX_SSRCS 1024u   /* distinct SSRCs in one media section */

static struct sdp_ssrc *ssrc_get(struct parser *P, uint32_t id, int *toomany)
{
    struct sdp_ssrc **pp = &P->m->ssrcs;
    unsigned n = 0;
    for (; *pp; pp = &(*pp)->next, n++)
        if ((*pp)->ssrc == id)
            return *pp;
    if (n >= SDP_MAX_SSRCS) {
        *toomany = 1;
        return NULL;
    }
    struct sdp_ssrc *s = arena_alloc(&P->s->arena, sizeof(*s));
    if (!s)
        return NULL;
    s->ssrc = id;
    *pp = s;
    return s;
}

static int parse_ssrc(struct parser *P, const char *v, size_t n)
{
    struct cur c = {v, v + n};
    const char *t;
    size_t tn;
    uint64_t id;
    if (cur_next(&c, ' ', &t, &tn) || sdp_parse_uint(t, tn, UINT32_MAX, &id))
        return fail(P->err, P->line, "a=ssrc: SSRC must be a number from 0 to 4294967295");
    if (cur_done(&c))
        return fail(P->err, P->line, "a=ssrc: missing source attribute after the SSRC");
    int toomany = 0;
    struct sdp_ssrc *s = ssrc_get(P, (uint32_t)id, &toomany);
    if (toomany)
        return fail(P->err, P->line, "a=ssrc: more than %u distinct SSRCs in one section", SDP_MAX_SSRCS);
    struct sdp_attr *a = s ? arena_alloc(&P->s->arena, sizeof(*a)) : NULL;
    if (!a)
        return nomem(P->err, P->line);
    const char *rest = c.p;
    size_t rn = (size_t)(c.end - c.p);
    const char *colon = memchr(rest, ':', rn);
    size_t nn = colon ? (size_t)(colon - rest) : rn;
    if (!all_chars(rest, nn, is_token_char))
        return fail(P->err, P->line, "a=ssrc: attribute name must be a token");
    if (!(a->name = DUP(P, rest, nn)))
        return nomem(P->err, P->line);
    if (colon && !(a->value = DUP(P, colon + 1, rn - nn - 1)))
        return nomem(P->err, P->line);
    APPEND(s->attrs, a);
    return 0;
}

static int parse_ssrc_group(struct parser *P, const char *v, size_t n)
{
    struct cur c = {v, v + n};
    const char *t;
    size_t tn;
    if (cur_next(&c, ' ', &t, &tn) || !all_chars(t, tn, is_token_char))
        return fail(P->err, P->line, "a=ssrc-group: missing semantics");
    struct sdp_ssrc_group *g = arena_alloc(&P->s->arena, sizeof(*g));
    if (!g || !(g->semantics = DUP(P, t, tn)))
        return nomem(P->err, P->line);
    unsigned count = 1;
    for (const char *q = c.p; q < c.end; q++)
        if (*q == ' ')
            count++;
    g->ssrcs = arena_alloc(&P->s->arena, sizeof(uint32_t) * count);
    if (!g->ssrcs)
        return nomem(P->err, P->line);
    while (!cur_done(&c)) {
        uint64_t id;
        if (cur_next(&c, ' ', &t, &tn) || sdp_parse_uint(t, tn, UINT32_MAX, &id))
            return fail(P->err, P->line, "a=ssrc-group: SSRCs must be numbers separated by single spaces");
        g->ssrcs[g->nssrcs++] = (uint32_t)id;
    }
    if (g->nssrcs == 0)
        return fail(P->err, P->line, "a=ssrc-group: no SSRC listed");
    APPEND(P->m->ssrc_groups, g);
    return 0;
}

static int parse_msid(struct parser *P, const char *v, size_t n)
{
    struct cur c = {v, v + n};
    const char *t;
    size_t tn;
    if (cur_next(&c, ' ', &t, &tn) || !all_chars(t, tn, is_visible))
        return fail(P->err, P->line, "a=msid: missing stream id");
    struct sdp_msid *ms = arena_alloc(&P->s->arena, sizeof(*ms));
    if (!ms || !(ms->stream = DUP(P, t, tn)))
        return nomem(P->err, P->line);
    if (!cur_done(&c)) {
        if (cur_next(&c, ' ', &t, &tn) || !cur_done(&c) || !all_chars(t, tn, is_visible))
            return fail(P->err, P->line, "a=msid: expected \"<stream id> [<track id>]\"");
        if (!(ms->track = DUP(P, t, tn)))
            return nomem(P->err, P->line);
    }
    APPEND(P->m->msids, ms);
    return 0;
}

static int parse_rid(struct parser *P, const char *v, size_t n)
{
    struct cur c = {v, v + n};
    const char *t, *d;
    size_t tn, dn;
    if (cur_next(&c, ' ', &t, &tn) || !all_chars(t, tn, is_token_char))
        return fail(P->err, P->line, "a=rid: missing rid id");
    if (cur_next(&c, ' ', &d, &dn) ||
        !((dn == 4 && memcmp(d, "send", 4) == 0) || (dn == 4 && memcmp(d, "recv", 4) == 0)))
        return fail(P->err, P->line, "a=rid: direction must be \"send\" or \"recv\"");
    struct sdp_rid *r = arena_alloc(&P->s->arena, sizeof(*r));
    if (!r || !(r->id = DUP(P, t, tn)) || !(r->direction = DUP(P, d, dn)))
        return nomem(P->err, P->line);
    if (!cur_done(&c) && !(r->params = DUP(P, c.p, (size_t)(c.end - c.p))))
        return nomem(P->err, P->line);
    for (struct sdp_rid *x = P->m->rids; x; x = x->next)
        if (strcmp(x->id, r->id) == 0)
            return fail(P->err, P->line, "a=rid: rid \"%s\" is declared twice", r->id);
    APPEND(P->m->rids, r);
    return 0;
}

static int parse_candidate_attr(struct parser *P, const char *line, size_t n)
{
    struct sdp_candidate *c = arena_alloc(&P->s->arena, sizeof(*c));
    if (!c)
        return nomem(P->err, P->line);
    struct sdp_error e = {.line = P->line};
    if (P->err)
        P->err->line = P->line;
    int rc = sdp_candidate_parse(&P->s->arena, line, n, c, P->err ? P->err : &e);
    if (rc)
        return rc;
    APPEND(P->m->candidates, c);
    return 0;
}

static int set_once(struct parser *P, char **field, const char *name,
                    const char *v, size_t n, int ok)
{
    if (*field)
        return fail(P->err, P->line, "a=%s: appears twice in the same section", name);
    if (ok && !all_chars(v, n, ok))
        return fail(P->err, P->line, "a=%s: bad value", name);
    if (!(*field = DUP(P, v, n)))
        return nomem(P->err, P->line);
    return 0;
}

static int set_uint(struct parser *P, const char *name, const char *v, size_t n,
                    uint64_t max, uint64_t *out)
{
    if (sdp_parse_uint(v, n, max, out))
        return fail(P->err, P->line, "a=%s: value must be a number from 0 to %llu",
                    name, (unsigned long long)max);
    return 0;
}

static int add_other(struct parser *P, struct sdp_attr **list,
                     const char *name, size_t nn, const char *v, size_t vn, int has_value)
{
    if (!all_chars(name, nn, is_token_char))
        return fail(P->err, P->line, "a=%.*s: attribute name must be a token",
                    (int)(nn > 40 ? 40 : nn), name);
    struct sdp_attr *a = arena_alloc(&P->s->arena, sizeof(*a));
    if (!a || !(a->name = DUP(P, name, nn)))
        return nomem(P->err, P->line);
    if (has_value && !(a->value = DUP(P, v, vn)))
        return nomem(P->err, P->line);
    APPEND(*list, a);
    return 0;
}

/* One attribute line (text after "a="), at session level (P->m NULL) or in
 * the current media section. */
static int parse_attribute(struct parser *P, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    size_t nn = colon ? (size_t)(colon - line) : len;
    const char *v = colon ? colon + 1 : line + len;
    size_t vn = colon ? len - nn - 1 : 0;
    struct sdp_session *s = P->s;
    struct sdp_media *m = P->m;
    uint64_t u;
    int rc;

    if (nn == 0)
        return fail(P->err, P->line, "a=: attribute name missing");
#define NAME(lit) (nn == sizeof(lit) - 1 && memcmp(line, lit, nn) == 0)
#define NEED_VALUE(lit)                                                     \
    do {                                                                    \
        if (!colon || vn == 0)                                              \
            return fail(P->err, P->line, "a=" lit ": value missing");      \
    } while (0)

    /* all four direction names have 8 letters */
    enum sdp_direction dir = colon || nn != 8 ? SDP_DIR_NONE : sdp_direction_from_name(line, nn);
    if (dir != SDP_DIR_NONE) {
        enum sdp_direction *field = m ? &m->direction : &s->direction;
        if (*field != SDP_DIR_NONE)
            return fail(P->err, P->line, "a=%s: a second direction attribute in the same section",
                        sdp_direction_name(dir));
        *field = dir;
        return 0;
    }
    /* Attributes valid at both levels. */
    if (NAME("ice-ufrag")) {
        NEED_VALUE("ice-ufrag");
        return set_once(P, m ? &m->ice_ufrag : &s->ice_ufrag, "ice-ufrag", v, vn, is_ice_char);
    }
    if (NAME("ice-pwd")) {
        NEED_VALUE("ice-pwd");
        return set_once(P, m ? &m->ice_pwd : &s->ice_pwd, "ice-pwd", v, vn, is_ice_char);
    }
    if (NAME("ice-options")) {
        NEED_VALUE("ice-options");
        return set_once(P, m ? &m->ice_options : &s->ice_options, "ice-options", v, vn, 0);
    }
    if (NAME("fingerprint")) {
        NEED_VALUE("fingerprint");
        return parse_fingerprint(P, v, vn, m ? &m->fingerprints : &s->fingerprints);
    }
    if (NAME("setup")) {
        NEED_VALUE("setup");
        if (!((vn == 7 && memcmp(v, "actpass", 7) == 0) || (vn == 6 && memcmp(v, "active", 6) == 0) ||
              (vn == 7 && memcmp(v, "passive", 7) == 0) || (vn == 8 && memcmp(v, "holdconn", 8) == 0)))
            return fail(P->err, P->line, "a=setup: must be actpass, active, passive or holdconn");
        return set_once(P, m ? &m->setup : &s->setup, "setup", v, vn, 0);
    }
    if (NAME("extmap")) {
        NEED_VALUE("extmap");
        return parse_extmap(P, v, vn, m ? &m->extmaps : &s->extmaps);
    }
    if (NAME("extmap-allow-mixed")) {
        if (colon)
            return fail(P->err, P->line, "a=extmap-allow-mixed: takes no value");
        if (m)
            m->extmap_allow_mixed |= 1;
        else
            s->extmap_allow_mixed = 1;
        return 0;
    }
    if (!m) {
        if (NAME("group")) {
            NEED_VALUE("group");
            return parse_group(P, v, vn);
        }
        if (NAME("msid-semantic")) {
            NEED_VALUE("msid-semantic");
            return set_once(P, &s->msid_semantic, "msid-semantic", v, vn, 0);
        }
        if (NAME("ice-lite")) {
            s->ice_lite = 1;
            return 0;
        }
        return add_other(P, &s->other, line, nn, v, vn, colon != NULL);
    }

    if (NAME("mid")) {
        NEED_VALUE("mid");
        if ((rc = set_once(P, &m->mid, "mid", v, vn, is_token_char)))
            return rc;
        for (struct sdp_media *o = s->media; o && o != m; o = o->next)
            if (o->mid && strcmp(o->mid, m->mid) == 0)
                return fail(P->err, P->line, "a=mid: mid \"%s\" is already used by m-line %u",
                            m->mid, o->index);
        return 0;
    }
    if (NAME("rtpmap")) {
        NEED_VALUE("rtpmap");
        return parse_rtpmap(P, v, vn);
    }
    if (NAME("fmtp")) {
        NEED_VALUE("fmtp");
        return parse_fmtp(P, v, vn);
    }
    if (NAME("rtcp-fb")) {
        NEED_VALUE("rtcp-fb");
        return parse_rtcp_fb(P, v, vn);
    }
    if (NAME("candidate")) {
        NEED_VALUE("candidate");
        return parse_candidate_attr(P, line, len);
    }
    if (NAME("end-of-candidates")) {
        m->end_of_candidates = 1;
        return 0;
    }
    if (NAME("rtcp")) {
        NEED_VALUE("rtcp");
        struct cur c = {v, v + vn};
        const char *t;
        size_t tn;
        if (m->rtcp_port >= 0)
            return fail(P->err, P->line, "a=rtcp: appears twice in the same section");
        if (cur_next(&c, ' ', &t, &tn) || sdp_parse_uint(t, tn, 65535, &u))
            return fail(P->err, P->line, "a=rtcp: port must be a number from 0 to 65535");
        m->rtcp_port = (int)u;
        if (!cur_done(&c) && !(m->rtcp_addr = DUP(P, c.p, (size_t)(c.end - c.p))))
            return nomem(P->err, P->line);
        return 0;
    }
    if (NAME("rtcp-mux")) {
        m->rtcp_mux = 1;
        return 0;
    }
    if (NAME("rtcp-mux-only")) {
        m->rtcp_mux_only = 1;
        return 0;
    }
    if (NAME("rtcp-rsize")) {
        m->rtcp_rsize = 1;
        return 0;
    }
    if (NAME("ssrc")) {
        NEED_VALUE("ssrc");
        return parse_ssrc(P, v, vn);
    }
    if (NAME("ssrc-group")) {
        NEED_VALUE("ssrc-group");
        return parse_ssrc_group(P, v, vn);
    }
    if (NAME("msid")) {
        NEED_VALUE("msid");
        return parse_msid(P, v, vn);
    }
    if (NAME("rid")) {
        NEED_VALUE("rid");
        return parse_rid(P, v, vn);
    }
    if (NAME("simulcast")) {
        NEED_VALUE("simulcast");
        return set_once(P, &m->simulcast, "simulcast", v, vn, 0);
    }
    if (NAME("ptime")) {
        NEED_VALUE("ptime");
        if ((rc = set_uint(P, "ptime", v, vn, 100000, &u)))
            return rc;
        m->ptime = (unsigned)u;
        return 0;
    }
    if (NAME("maxptime")) {
        NEED_VALUE("maxptime");
        if ((rc = set_uint(P, "maxptime", v, vn, 100000, &u)))
            return rc;
        m->maxptime = (unsigned)u;
        return 0;
    }
    if (NAME("sctp-port")) {
        NEED_VALUE("sctp-port");
        if ((rc = set_uint(P, "sctp-port", v, vn, 65535, &u)))
            return rc;
        m->sctp_port = (int)u;
        return 0;
    }
    if (NAME("max-message-size")) {
        NEED_VALUE("max-message-size");
        if ((rc = set_uint(P, "max-message-size", v, vn, INT64_MAX, &u)))
            return rc;
        m->max_message_size = (int64_t)u;
        return 0;
    }
    if (NAME("sctpmap")) {
        NEED_VALUE("sctpmap");
        return set_once(P, &m->sctpmap, "sctpmap", v, vn, 0);
    }
    return add_other(P, &m->other, line, nn, v, vn, colon != NULL);
#undef NAME
#undef NEED_VALUE
}

/* ------------------------------------------------------------------ */
/* Lines                                                               */

static int parse_origin(struct parser *P, const char *v, size_t n)
{
    struct cur c = {v, v + n};
    const char *t[6];
    size_t tn[6];
    for (int i = 0; i < 6; i++)
        if (cur_next(&c, ' ', &t[i], &tn[i]))
            return fail(P->err, P->line,
                        "o=: expected \"<username> <sess-id> <sess-version> <nettype> <addrtype> <address>\"");
    if (!cur_done(&c))
        return fail(P->err, P->line, "o=: too many fields");
    uint64_t dummy;
    (void)dummy;
    for (int i = 1; i <= 2; i++)
        for (size_t k = 0; k < tn[i]; k++)
            if (t[i][k] < '0' || t[i][k] > '9')
                return fail(P->err, P->line, "o=: %s must be digits",
                            i == 1 ? "sess-id" : "sess-version");
    struct sdp_session *s = P->s;
    if (!(s->o_username = DUP(P, t[0], tn[0])) || !(s->o_sess_id = DUP(P, t[1], tn[1])) ||
        !(s->o_sess_version = DUP(P, t[2], tn[2])) || !(s->o_nettype = DUP(P, t[3], tn[3])) ||
        !(s->o_addrtype = DUP(P, t[4], tn[4])) || !(s->o_address = DUP(P, t[5], tn[5])))
        return nomem(P->err, P->line);
    return 0;
}

static int parse_connection(struct parser *P, const char *v, size_t n,
                            char **addrtype, char **address)
{
    struct cur c = {v, v + n};
    const char *t[3];
    size_t tn[3];
    if (*addrtype)
        return fail(P->err, P->line, "c=: appears twice in the same section");
    for (int i = 0; i < 3; i++)
        if (cur_next(&c, ' ', &t[i], &tn[i]))
            return fail(P->err, P->line, "c=: expected \"IN <addrtype> <address>\"");
    if (!cur_done(&c) || tn[0] != 2 || memcmp(t[0], "IN", 2) != 0)
        return fail(P->err, P->line, "c=: expected \"IN <addrtype> <address>\"");
    if (!(*addrtype = DUP(P, t[1], tn[1])) || !(*address = DUP(P, t[2], tn[2])))
        return nomem(P->err, P->line);
    return 0;
}

static int parse_bandwidth(struct parser *P, const char *v, size_t n,
                           struct sdp_bandwidth **list)
{
    const char *colon = memchr(v, ':', n);
    uint64_t val;
    if (!colon || colon == v || !all_chars(v, (size_t)(colon - v), is_token_char))
        return fail(P->err, P->line, "b=: expected \"<bwtype>:<bandwidth>\"");
    if (sdp_parse_uint(colon + 1, n - (size_t)(colon - v) - 1, UINT64_MAX / 2, &val))
        return fail(P->err, P->line, "b=: bandwidth must be a number");
    struct sdp_bandwidth *b = arena_alloc(&P->s->arena, sizeof(*b));
    if (!b || !(b->type = DUP(P, v, (size_t)(colon - v))))
        return nomem(P->err, P->line);
    b->value = val;
    APPEND(*list, b);
    return 0;
}

static int parse_m_line(struct parser *P, const char *v, size_t n)
{
    struct cur c = {v, v + n};
    const char *t;
    size_t tn;
    uint64_t u;
    if (P->s->nmedia >= SDP_MAX_MEDIA)
        return fail(P->err, P->line, "m=: more than %u media sections", SDP_MAX_MEDIA);
    struct sdp_media *m = sdp_media_append(P->s);
    if (!m)
        return nomem(P->err, P->line);
    m->line = P->line;
    P->m = m;
    if (cur_next(&c, ' ', &t, &tn) || !all_chars(t, tn, is_token_char))
        return fail(P->err, P->line, "m=: missing media type");
    if (!(m->media = DUP(P, t, tn)))
        return nomem(P->err, P->line);
    if (cur_next(&c, ' ', &t, &tn))
        return fail(P->err, P->line, "m=: missing port");
    const char *slash = memchr(t, '/', tn);
    size_t pn = slash ? (size_t)(slash - t) : tn;
    if (sdp_parse_uint(t, pn, 65535, &u))
        return fail(P->err, P->line, "m=: port must be a number from 0 to 65535");
    m->port = (unsigned)u;
    if (slash) {
        if (sdp_parse_uint(slash + 1, tn - pn - 1, 65535, &u) || u == 0)
            return fail(P->err, P->line, "m=: number of ports must be a positive number");
        m->nports = (unsigned)u;
    }
    if (cur_next(&c, ' ', &t, &tn) || !all_chars(t, tn, is_visible))
        return fail(P->err, P->line, "m=: missing transport protocol");
    if (!(m->proto = DUP(P, t, tn)))
        return nomem(P->err, P->line);
    if (cur_done(&c))
        return fail(P->err, P->line, "m=: no media formats listed");
    if (!sdp_media_is_rtp(m)) {
        if (*c.p == ' ' || c.end[-1] == ' ')
            return fail(P->err, P->line, "m=: fields must be separated by single spaces");
        if (!(m->fmt = DUP(P, c.p, (size_t)(c.end - c.p))))
            return nomem(P->err, P->line);
        return 0;
    }
    struct sdp_payload **tail = &m->payloads;
    while (!cur_done(&c)) {
        if (cur_next(&c, ' ', &t, &tn) || sdp_parse_uint(t, tn, 127, &u))
            return fail(P->err, P->line, "m=: RTP payload types must be numbers from 0 to 127");
        if (payload_find(m, (unsigned)u))
            return fail(P->err, P->line, "m=: payload type %u is listed twice", (unsigned)u);
        struct sdp_payload *p = arena_alloc(&P->s->arena, sizeof(*p));
        if (!p)
            return nomem(P->err, P->line);
        p->pt = (unsigned)u;
        *tail = p;
        tail = &p->next;
        m->npayloads++;
    }
    return 0;
}

/* Length of the run of printable ASCII (0x20..0x7e) at the start of p: the
 * whole of a browser's SDP. Eight bytes at a time. */
static size_t ascii_run(const char *p, size_t n)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        uint64_t del = w ^ (0x7f * ones);
        if ((w & highs) || ((w - 0x20 * ones) & ~w & highs) || ((del - ones) & ~del & highs))
            break;
    }
    while (i < n && (unsigned char)(p[i] - 0x20) < 0x5f)
        i++;
    return i;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static int keep_line(struct parser *P, char type, const char *v, size_t n,
                     struct sdp_line **list)
{
    struct sdp_line *l = arena_alloc(&P->s->arena, sizeof(*l));
    if (!l || !(l->value = DUP(P, v, n)))
        return nomem(P->err, P->line);
    l->type = type;
    APPEND(*list, l);
    return 0;
}

int sdp_payload_is_static(unsigned pt)
{
    return pt < 35 && pt != 1 && pt != 2 && pt != 19 && pt != 20 && pt != 21 &&
           pt != 22 && pt != 23 && pt != 24 && pt != 27 && pt != 29 && pt != 30;
}

static int check_session(struct parser *P)
{
    struct sdp_session *s = P->s;
    for (struct sdp_group *g = s->groups; g; g = g->next)
        for (unsigned i = 0; i < g->nmids; i++)
            if (!sdp_media_by_mid(s, g->mids[i]))
                return fail(P->err, 0, "a=group:%s names mid \"%s\", which no m-line has",
                            g->semantics, g->mids[i]);
    for (struct sdp_media *m = s->media; m; m = m->next) {
        for (struct sdp_payload *p = m->payloads; p; p = p->next)
            if (!p->name && !sdp_payload_is_static(p->pt))
                return fail(P->err, m->line,
                            "m=%s: dynamic payload type %u has no a=rtpmap", m->media, p->pt);
        for (struct sdp_ssrc_group *g = m->ssrc_groups; g; g = g->next)
            for (unsigned i = 0; i < g->nssrcs; i++) {
                int found = 0;
                for (struct sdp_ssrc *x = m->ssrcs; x; x = x->next)
                    found |= x->ssrc == g->ssrcs[i];
                if (!found)
                    return fail(P->err, m->line,
                                "a=ssrc-group:%s in m-line %u names SSRC %u, which has no a=ssrc line",
                                g->semantics, m->index, g->ssrcs[i]);
            }
    }
    return 0;
}

struct sdp_session *sdp_session_parse(const char *text, size_t len,
                                      struct sdp_error *err)
{
    struct sdp_error dummy;
    if (!err)
        err = &dummy;
    err->line = 0;
    err->what[0] = '\0';
    if (len > SDP_MAX_TEXT) {
        fail(err, 0, "description is %zu bytes, more than the %u allowed", len, SDP_MAX_TEXT);
        return NULL;
    }
    struct sdp_session *s = sdp_session_new();
    if (!s) {
        nomem(err, 0);
        return NULL;
    }
    struct parser P = {.s = s, .err = err};
    char *copy = arena_alloc_raw(&s->arena, len + 1);
    if (!copy) {
        nomem(err, 0);
        sdp_session_free(s);
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    P.base = copy;
    P.limit = copy + len + 1;
    /* before tokens are cut in place: no string will need XML escaping */
    const int xml_safe = strcspn(copy, "&<>\"'\t") == len;
    const char *p = copy, *end = copy + len;
    /* The order RFC 8866 gives; one index per line type that may appear. */
    int stage = 0; /* 0 v, 1 o, 2 s, 3 session body, 4 t seen, 5 media */
    int rc = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        if (le > p && le[-1] == '\r')
            le--;
        P.line++;
        size_t n = (size_t)(le - p);
        if (n == 0) {
            /* A blank line is allowed only as trailing padding. */
            const char *q = next;
            while (q < end && (*q == '\r' || *q == '\n'))
                q++;
            if (q != end) {
                rc = fail(err, P.line, "empty line inside the description");
                goto out;
            }
            break;
        }
        if (n > SDP_MAX_LINE) {
            rc = fail(err, P.line, "line is longer than %u bytes", SDP_MAX_LINE);
            goto out;
        }
        for (size_t i = 0; i < n;) {
            i += ascii_run(p + i, n - i);
            if (i == n)
                break;
            unsigned char ch = (unsigned char)p[i];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
                rc = fail(err, P.line, "control character (0x%02x) in line", ch);
                goto out;
            }
            size_t u = utf8_len((const unsigned char *)p + i, n - i);
            if (!u) {
                rc = fail(err, P.line, "line is not valid UTF-8 (byte 0x%02x at column %zu)", ch, i + 1);
                goto out;
            }
            i += u;
        }
        if (n < 2 || p[1] != '=' || p[0] < 'a' || p[0] > 'z') {
            rc = fail(err, P.line, "expected \"<type>=<value>\" with a lower-case letter type, got \"%.*s\"",
                      (int)(n > 40 ? 40 : n), p);
            goto out;
        }
        char type = p[0];
        const char *v = p + 2;
        size_t vn = n - 2;
        if (stage == 0) {
            if (type != 'v' || vn != 1 || v[0] != '0') {
                rc = fail(err, P.line, "the description must start with \"v=0\"");
                goto out;
            }
            stage = 1;
        } else if (stage == 1) {
            if (type != 'o') {
                rc = fail(err, P.line, "the o= line must follow v=");
                goto out;
            }
            if ((rc = parse_origin(&P, v, vn)))
                goto out;
            stage = 2;
        } else if (stage == 2) {
            if (type != 's') {
                rc = fail(err, P.line, "the s= line must follow o=");
                goto out;
            }
            if (vn == 0) {
                rc = fail(err, P.line, "s=: session name must not be empty (use \"s=-\")");
                goto out;
            }
            if (!(s->name = DUP(&P, v, vn))) {
                rc = nomem(err, P.line);
                goto out;
            }
            stage = 3;
        } else {
            switch (type) {
            case 'v': case 'o': case 's':
                rc = fail(err, P.line, "%c= may appear only once, at the start", type);
                goto out;
            case 'i': case 'u': case 'e': case 'p': case 'z': case 'k': case 'r':
                if (P.m && type != 'i' && type != 'k') {
                    rc = fail(err, P.line, "%c= is not allowed in a media section", type);
                    goto out;
                }
                rc = keep_line(&P, type, v, vn, P.m ? &P.m->lines : &s->lines);
                break;
            case 'c':
                rc = P.m ? parse_connection(&P, v, vn, &P.m->c_addrtype, &P.m->c_address)
                         : parse_connection(&P, v, vn, &s->c_addrtype, &s->c_address);
                break;
            case 'b':
                rc = parse_bandwidth(&P, v, vn, P.m ? &P.m->bandwidths : &s->bandwidths);
                break;
            case 't':
                if (P.m) {
                    rc = fail(err, P.line, "t= is not allowed in a media section");
                    goto out;
                }
                if (stage == 4) {
                    /* Several t= lines are legal but meaningless here: keep the first. */
                    rc = keep_line(&P, 't', v, vn, &s->lines);
                    break;
                } else {
                    struct cur c = {v, v + vn};
                    const char *a, *b;
                    size_t an, bn;
                    uint64_t tv;
                    if (cur_next(&c, ' ', &a, &an) || cur_next(&c, ' ', &b, &bn) || !cur_done(&c) ||
                        sdp_parse_uint(a, an, UINT64_MAX, &tv) || sdp_parse_uint(b, bn, UINT64_MAX, &tv)) {
                        rc = fail(err, P.line, "t=: expected \"<start> <stop>\" (two numbers)");
                        goto out;
                    }
                    if (!(s->t_start = DUP(&P, a, an)) || !(s->t_stop = DUP(&P, b, bn))) {
                        rc = nomem(err, P.line);
                        goto out;
                    }
                    stage = 4;
                }
                break;
            case 'a':
                if (stage < 4) {
                    rc = fail(err, P.line, "attributes must come after the t= line");
                    goto out;
                }
                rc = parse_attribute(&P, v, vn);
                break;
            case 'm':
                if (stage < 4) {
                    rc = fail(err, P.line, "m= before the t= line");
                    goto out;
                }
                stage = 5;
                rc = parse_m_line(&P, v, vn);
                break;
            default:
                rc = fail(err, P.line, "unknown line type \"%c=\"", type);
                goto out;
            }
            if (rc)
                goto out;
        }
        p = next;
    }
    if (stage < 4) {
        rc = fail(err, 0, "description ends before the mandatory %s line",
                  stage == 0 ? "v=" : stage == 1 ? "o=" : stage == 2 ? "s=" : "t=");
        goto out;
    }
    rc = check_session(&P);
    s->xml_safe = xml_safe;
    s->text_len = len;
out:
    if (rc) {
        sdp_session_free(s);
        return NULL;
    }
    return s;
}

int sdp_origin_set(struct sdp_session *s, const char *value, size_t len, struct sdp_error *err)
{
    struct parser P = {.s = s, .err = err, .line = err ? err->line : 0};
    s->xml_safe = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)value[i] < 0x20 && value[i] != '\t') || value[i] == 0x7f)
            return fail(err, P.line, "o=: control character");
    return parse_origin(&P, value, len);
}

int sdp_line_apply(struct sdp_session *s, struct sdp_media *m,
                   const char *line, size_t len, struct sdp_error *err)
{
    struct parser P = {.s = s, .m = m, .err = err, .line = err ? err->line : 0};
    s->xml_safe = 0;
    if (len < 2 || line[1] != '=')
        return fail(err, P.line, "carried SDP line \"%.*s\" is not \"<type>=<value>\"",
                    (int)(len > 40 ? 40 : len), line);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
            return fail(err, P.line, "control character in carried SDP line");
    const char *v = line + 2;
    size_t vn = len - 2;
    switch (line[0]) {
    case 'a':
        return parse_attribute(&P, v, vn);
    case 'b':
        return parse_bandwidth(&P, v, vn, m ? &m->bandwidths : &s->bandwidths);
    case 'c':
        return m ? parse_connection(&P, v, vn, &m->c_addrtype, &m->c_address)
                 : parse_connection(&P, v, vn, &s->c_addrtype, &s->c_address);
    case 'i': case 'k':
        return keep_line(&P, line[0], v, vn, m ? &m->lines : &s->lines);
    case 'u': case 'e': case 'p': case 'z': case 'r': case 't':
        if (!m)
            return keep_line(&P, line[0], v, vn, &s->lines);
        break;
    default:
        break;
    }
    return fail(err, P.line, "carried SDP line type \"%c=\" is not allowed here", line[0]);
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */

static void put_line(struct buf *b, const char *prefix, const char *value)
{
    buf_puts(b, prefix);
    if (value)
        buf_puts(b, value);
    buf_lit(b, "\r\n");
}

static void write_lines(struct buf *b, const struct sdp_line *l, const char *types)
{
    for (; l; l = l->next) {
        if (!strchr(types, l->type))
            continue;
        buf_putc(b, l->type);
        buf_putc(b, '=');
        buf_puts(b, l->value);
        buf_lit(b, "\r\n");
    }
}

static void write_bandwidths(struct buf *b, const struct sdp_bandwidth *bw)
{
    for (; bw; bw = bw->next) {
        buf_lit(b, "b=");
        buf_puts(b, bw->type);
        buf_putc(b, ':');
        buf_put_u64(b, bw->value);
        buf_lit(b, "\r\n");
    }
}

static void write_fingerprints(struct buf *b, const struct sdp_fingerprint *f)
{
    for (; f; f = f->next) {
        buf_lit(b, "a=fingerprint:");
        buf_puts(b, f->hash);
        buf_putc(b, ' ');
        buf_puts(b, f->value);
        buf_lit(b, "\r\n");
    }
}

static void write_extmaps(struct buf *b, const struct sdp_extmap *e)
{
    for (; e; e = e->next) {
        buf_lit(b, "a=extmap:");
        buf_put_u64(b, e->id);
        if (e->direction != SDP_DIR_NONE) {
            buf_putc(b, '/');
            buf_puts(b, sdp_direction_name(e->direction));
        }
        buf_putc(b, ' ');
        buf_puts(b, e->uri);
        if (e->attributes) {
            buf_putc(b, ' ');
            buf_puts(b, e->attributes);
        }
        buf_lit(b, "\r\n");
    }
}

static void write_attrs(struct buf *b, const struct sdp_attr *a)
{
    for (; a; a = a->next) {
        buf_lit(b, "a=");
        buf_puts(b, a->name);
        if (a->value) {
            buf_putc(b, ':');
            buf_puts(b, a->value);
        }
        buf_lit(b, "\r\n");
    }
}

static void write_fb(struct buf *b, const char *pt, const struct sdp_rtcp_fb *fb)
{
    for (; fb; fb = fb->next) {
        buf_lit(b, "a=rtcp-fb:");
        buf_puts(b, pt);
        buf_putc(b, ' ');
        buf_puts(b, fb->type);
        if (fb->subtype) {
            buf_putc(b, ' ');
            buf_puts(b, fb->subtype);
        }
        buf_lit(b, "\r\n");
    }
}

static void write_media(struct buf *b, const struct sdp_media *m)
{
    buf_lit(b, "m=");
    buf_puts(b, m->media);
    buf_putc(b, ' ');
    buf_put_u64(b, m->port);
    if (m->nports) {
        buf_putc(b, '/');
        buf_put_u64(b, m->nports);
    }
    buf_putc(b, ' ');
    buf_puts(b, m->proto);
    if (sdp_media_is_rtp(m)) {
        for (const struct sdp_payload *p = m->payloads; p; p = p->next) {
            buf_putc(b, ' ');
            buf_put_u64(b, p->pt);
        }
    } else {
        buf_putc(b, ' ');
        buf_puts(b, m->fmt ? m->fmt : "");
    }
    buf_lit(b, "\r\n");
    write_lines(b, m->lines, "i");
    if (m->c_addrtype) {
        buf_lit(b, "c=IN ");
        buf_puts(b, m->c_addrtype);
        buf_putc(b, ' ');
        buf_puts(b, m->c_address);
        buf_lit(b, "\r\n");
    }
    write_bandwidths(b, m->bandwidths);
    write_lines(b, m->lines, "k");
    if (m->rtcp_port >= 0) {
        buf_lit(b, "a=rtcp:");
        buf_put_u64(b, (uint64_t)m->rtcp_port);
        if (m->rtcp_addr) {
            buf_putc(b, ' ');
            buf_puts(b, m->rtcp_addr);
        }
        buf_lit(b, "\r\n");
    }
    for (const struct sdp_candidate *c = m->candidates; c; c = c->next) {
        buf_lit(b, "a=");
        sdp_candidate_write(c, b);
        buf_lit(b, "\r\n");
    }
    if (m->end_of_candidates)
        put_line(b, "a=end-of-candidates", NULL);
    if (m->ice_ufrag)
        put_line(b, "a=ice-ufrag:", m->ice_ufrag);
    if (m->ice_pwd)
        put_line(b, "a=ice-pwd:", m->ice_pwd);
    if (m->ice_options)
        put_line(b, "a=ice-options:", m->ice_options);
    write_fingerprints(b, m->fingerprints);
    if (m->setup)
        put_line(b, "a=setup:", m->setup);
    if (m->mid)
        put_line(b, "a=mid:", m->mid);
    write_extmaps(b, m->extmaps);
    if (m->extmap_allow_mixed)
        put_line(b, "a=extmap-allow-mixed", NULL);
    if (m->direction != SDP_DIR_NONE) {
        buf_lit(b, "a=");
        put_line(b, sdp_direction_name(m->direction), NULL);
    }
    for (const struct sdp_msid *ms = m->msids; ms; ms = ms->next) {
        buf_lit(b, "a=msid:");
        buf_puts(b, ms->stream);
        if (ms->track) {
            buf_putc(b, ' ');
            buf_puts(b, ms->track);
        }
        buf_lit(b, "\r\n");
    }
    if (m->rtcp_mux)
        put_line(b, "a=rtcp-mux", NULL);
    if (m->rtcp_mux_only)
        put_line(b, "a=rtcp-mux-only", NULL);
    if (m->rtcp_rsize)
        put_line(b, "a=rtcp-rsize", NULL);
    for (const struct sdp_payload *p = m->payloads; p; p = p->next) {
        char pt[4]; /* 0..127 */
        if (p->pt >= 100) {
            pt[0] = (char)('0' + p->pt / 100);
            pt[1] = (char)('0' + p->pt / 10 % 10);
            pt[2] = (char)('0' + p->pt % 10);
            pt[3] = '\0';
        } else if (p->pt >= 10) {
            pt[0] = (char)('0' + p->pt / 10);
            pt[1] = (char)('0' + p->pt % 10);
            pt[2] = '\0';
        } else {
            pt[0] = (char)('0' + p->pt);
            pt[1] = '\0';
        }
        if (p->name) {
            buf_lit(b, "a=rtpmap:");
            buf_puts(b, pt);
            buf_putc(b, ' ');
            buf_puts(b, p->name);
            buf_putc(b, '/');
            buf_put_u64(b, p->clockrate);
            if (p->channels) {
                buf_putc(b, '/');
                buf_put_u64(b, p->channels);
            }
            buf_lit(b, "\r\n");
        }
        write_fb(b, pt, p->fb);
        if (p->params || p->fmtp_raw) {
            buf_lit(b, "a=fmtp:");
            buf_puts(b, pt);
            buf_putc(b, ' ');
            if (p->fmtp_raw) {
                buf_puts(b, p->fmtp_raw);
            } else {
                for (const struct sdp_param *q = p->params; q; q = q->next) {
                    buf_puts(b, q->name);
                    buf_putc(b, '=');
                    buf_puts(b, q->value);
                    if (q->next)
                        buf_putc(b, ';');
                }
            }
            buf_lit(b, "\r\n");
        }
    }
    write_fb(b, "*", m->fb_all);
    if (m->ptime) {
        buf_lit(b, "a=ptime:");
        buf_put_u64(b, m->ptime);
        buf_lit(b, "\r\n");
    }
    if (m->maxptime) {
        buf_lit(b, "a=maxptime:");
        buf_put_u64(b, m->maxptime);
        buf_lit(b, "\r\n");
    }
    if (m->sctp_port >= 0) {
        buf_lit(b, "a=sctp-port:");
        buf_put_u64(b, (uint64_t)m->sctp_port);
        buf_lit(b, "\r\n");
    }
    if (m->max_message_size >= 0) {
        buf_lit(b, "a=max-message-size:");
        buf_put_u64(b, (uint64_t)m->max_message_size);
        buf_lit(b, "\r\n");
    }
    if (m->sctpmap)
        put_line(b, "a=sctpmap:", m->sctpmap);
    for (const struct sdp_rid *r = m->rids; r; r = r->next) {
        buf_lit(b, "a=rid:");
        buf_puts(b, r->id);
        buf_putc(b, ' ');
        buf_puts(b, r->direction);
        if (r->params) {
            buf_putc(b, ' ');
            buf_puts(b, r->params);
        }
        buf_lit(b, "\r\n");
    }
    if (m->simulcast)
        put_line(b, "a=simulcast:", m->simulcast);
    for (const struct sdp_ssrc_group *g = m->ssrc_groups; g; g = g->next) {
        buf_lit(b, "a=ssrc-group:");
        buf_puts(b, g->semantics);
        for (unsigned i = 0; i < g->nssrcs; i++) {
            buf_putc(b, ' ');
            buf_put_u64(b, g->ssrcs[i]);
        }
        buf_lit(b, "\r\n");
    }
    for (const struct sdp_ssrc *x = m->ssrcs; x; x = x->next) {
        for (const struct sdp_attr *a = x->attrs; a; a = a->next) {
            buf_lit(b, "a=ssrc:");
            buf_put_u64(b, x->ssrc);
            buf_putc(b, ' ');
            buf_puts(b, a->name);
            if (a->value) {
                buf_putc(b, ':');
                buf_puts(b, a->value);
            }
            buf_lit(b, "\r\n");
        }
    }
    write_attrs(b, m->other);
}

int sdp_session_write(const struct sdp_session *s, struct buf *b)
{
    put_line(b, "v=", "0");
    buf_lit(b, "o=");
    buf_puts(b, s->o_username ? s->o_username : "-");
    buf_putc(b, ' ');
    buf_puts(b, s->o_sess_id ? s->o_sess_id : "0");
    buf_putc(b, ' ');
    buf_puts(b, s->o_sess_version ? s->o_sess_version : "0");
    buf_putc(b, ' ');
    buf_puts(b, s->o_nettype ? s->o_nettype : "IN");
    buf_putc(b, ' ');
    buf_puts(b, s->o_addrtype ? s->o_addrtype : "IP4");
    buf_putc(b, ' ');
    buf_puts(b, s->o_address ? s->o_address : "127.0.0.1");
    buf_lit(b, "\r\n");
    put_line(b, "s=", s->name ? s->name : "-");
    write_lines(b, s->lines, "iuep");
    if (s->c_addrtype) {
        buf_lit(b, "c=IN ");
        buf_puts(b, s->c_addrtype);
        buf_putc(b, ' ');
        buf_puts(b, s->c_address);
        buf_lit(b, "\r\n");
    }
    write_bandwidths(b, s->bandwidths);
    buf_lit(b, "t=");
    buf_puts(b, s->t_start ? s->t_start : "0");
    buf_putc(b, ' ');
    buf_puts(b, s->t_stop ? s->t_stop : "0");
    buf_lit(b, "\r\n");
    write_lines(b, s->lines, "trzk");
    for (const struct sdp_group *g = s->groups; g; g = g->next) {
        buf_lit(b, "a=group:");
        buf_puts(b, g->semantics);
        for (unsigned i = 0; i < g->nmids; i++) {
            buf_putc(b, ' ');
            buf_puts(b, g->mids[i]);
        }
        buf_lit(b, "\r\n");
    }
    if (s->extmap_allow_mixed)
        put_line(b, "a=extmap-allow-mixed", NULL);
    if (s->msid_semantic)
        put_line(b, "a=msid-semantic:", s->msid_semantic);
    if (s->ice_lite)
        put_line(b, "a=ice-lite", NULL);
    if (s->ice_options)
        put_line(b, "a=ice-options:", s->ice_options);
    if (s->ice_ufrag)
        put_line(b, "a=ice-ufrag:", s->ice_ufrag);
    if (s->ice_pwd)
        put_line(b, "a=ice-pwd:", s->ice_pwd);
    write_fingerprints(b, s->fingerprints);
    if (s->setup)
        put_line(b, "a=setup:", s->setup);
    if (s->direction != SDP_DIR_NONE) {
        buf_lit(b, "a=");
        put_line(b, sdp_direction_name(s->direction), NULL);
    }
    write_extmaps(b, s->extmaps);
    write_attrs(b, s->other);
    for (const struct sdp_media *m = s->media; m; m = m->next)
        write_media(b, m);
    return buf_failed(b) ? SDP_ENOMEM : SDP_OK;
}

char *sdp_session_to_text(const struct sdp_session *s, size_t *len)
{
    struct buf b;
    buf_init(&b, 0);
    if (sdp_session_write(s, &b)) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, len);
}
