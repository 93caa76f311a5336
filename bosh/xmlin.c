/* xmlin.c - one XML element from a browser into a libstrophe stanza tree,
 * with expat. See xmlin.h for the shape of the tree and what is refused.
 *
 * One expat parser per struct xmlin, reset before each input. Memory that
 * lives across calls: the element stack, the attribute scratch arrays
 * (sized from the limits at creation), a text buffer and a name arena that
 * grow to the largest text run and element seen. Once they have grown, a
 * parse allocates nothing of its own beyond the stanza objects. */
#include "xmlin.h"

#include <expat.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

/* Expat joins namespace URI, local name and prefix with this character.
 * U+0001 is not allowed anywhere in an XML 1.0 document, not even as a
 * character reference, so it can never occur inside a URI or a name. */
#define XMLIN_SEP '\x01'

#define XMLIN_NS_XML "http://www.w3.org/XML/1998/namespace"
#define XMLIN_NS_XBOSH "urn:xmpp:xbosh"

#define XMLIN_DEFAULT_BYTES 65536
#define XMLIN_DEFAULT_DEPTH 32
#define XMLIN_DEFAULT_ATTRS 64
#define XMLIN_DEFAULT_CHILDREN 4096
#define XMLIN_DEFAULT_STEPS (1u << 18)
/* Caps on the limits themselves: the stack and the attribute arrays are
 * allocated from them at creation. */
#define XMLIN_MAX_DEPTH 65536
#define XMLIN_MAX_ATTRS 65536

/* One open element. `ns` is its namespace, NUL-terminated: a string owned
 * by the "xmlns" attribute of this element or of an ancestor, or "". */
struct xmlin_frame {
    xmpp_stanza_t *st;
    const char *ns;
    size_t nslen;
    size_t nchildren; /* element and text children so far */
};

enum xmlin_kind {
    XMLIN_ATTR_PLAIN,  /* no namespace */
    XMLIN_ATTR_XML,    /* xml:NAME */
    XMLIN_ATTR_XBOSH,  /* urn:xmpp:xbosh, written xmpp:NAME */
    XMLIN_ATTR_OTHER,  /* another namespace, the client's prefix kept */
    XMLIN_ATTR_RENAMED /* another namespace under prefix "xmpp": renamed */
};

/* One attribute as expat gave it, split into its parts. `local` is
 * NUL-terminated only for XMLIN_ATTR_PLAIN; `prefix` always is (it ends
 * the triplet). */
struct xmlin_in_attr {
    enum xmlin_kind kind;
    const char *local;
    size_t llen;
    const char *uri;
    size_t ulen;
    const char *prefix;
    const char *value;
};

/* One attribute to set on the stanza. A NULL pointer means the string is
 * in the arena at the offset (the arena may move while an element's names
 * are built, so pointers into it are taken only at the end). */
struct xmlin_out_attr {
    const char *name;
    size_t name_off;
    const char *value;
    size_t value_off;
};

struct xmlin {
    xmpp_ctx_t *ctx;
    XML_Parser p;
    struct xmlin_limits lim;
    unsigned long salt;

    struct xmlin_frame *stack; /* lim.max_depth frames */
    unsigned depth;
    xmpp_stanza_t *root;
    size_t elements;
    size_t steps; /* sibling steps libstrophe takes to append children */
    size_t copied; /* bytes of strings copied into the tree */
    unsigned ns_decls; /* namespace declarations of the element to come */

    struct xmlin_in_attr *in;   /* lim.max_attrs */
    struct xmlin_out_attr *out; /* 2 * lim.max_attrs + 2 */

    char *text; /* character data not yet made a text node */
    size_t text_len, text_cap;
    char *arena; /* names and URIs built for the current element */
    size_t arena_len, arena_cap;

    int code; /* first error of this parse, 0 while none */
    char *err;
    size_t errlen;
};

/* Records the first error of a parse, with the position expat is at, and
 * stops the parser (when called from a handler). */
static void xmlin_fail(struct xmlin *x, int code, int in_handler, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void xmlin_fail(struct xmlin *x, int code, int in_handler, const char *fmt, ...)
{
    if (x->code)
        return;
    x->code = code;
    if (x->err && x->errlen) {
        int n = snprintf(x->err, x->errlen, "line %lu, column %lu: ",
                         (unsigned long)XML_GetCurrentLineNumber(x->p),
                         (unsigned long)XML_GetCurrentColumnNumber(x->p) + 1);
        if (n >= 0 && (size_t)n < x->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    if (in_handler)
        XML_StopParser(x->p, XML_FALSE);
}

/* Makes room for `more` bytes in a growing buffer. 0, or -1 when out of
 * memory. */
static int xmlin_grow(char **buf, size_t *cap, size_t len, size_t more)
{
    if (*cap - len >= more)
        return 0;
    size_t want = *cap ? *cap : 256;
    while (want - len < more) {
        if (want > SIZE_MAX / 2)
            return -1;
        want *= 2;
    }
    char *n = realloc(*buf, want);
    if (!n)
        return -1;
    *buf = n;
    *cap = want;
    return 0;
}

/* Appends `n` bytes of `a`, `m` of `b`, `k` of `c` and a NUL to the
 * arena. Returns the offset of the result, or (size_t)-1 when out of
 * memory. */
static size_t xmlin_arena_put(struct xmlin *x, const char *a, size_t n, const char *b, size_t m,
                              const char *c, size_t k)
{
    if (xmlin_grow(&x->arena, &x->arena_cap, x->arena_len, n + m + k + 1) < 0)
        return (size_t)-1;
    char *d = x->arena + x->arena_len;
    size_t off = x->arena_len;
    if (n)
        memcpy(d, a, n);
    if (m)
        memcpy(d + n, b, m);
    if (k)
        memcpy(d + n + m, c, k);
    d[n + m + k] = '\0';
    x->arena_len += n + m + k + 1;
    return off;
}

/* Splits an expat name: "local", "uri SEP local" or "uri SEP local SEP
 * prefix". `uri` is NULL for a name in no namespace; `prefix` NULL when
 * the name had none. */
static void xmlin_split(const char *name, const char **uri, size_t *ulen, const char **local,
                        size_t *llen, const char **prefix)
{
    const char *s1 = strchr(name, XMLIN_SEP);
    if (!s1) {
        *uri = NULL;
        *ulen = 0;
        *local = name;
        *llen = strlen(name);
        *prefix = NULL;
        return;
    }
    *uri = name;
    *ulen = (size_t)(s1 - name);
    *local = s1 + 1;
    const char *s2 = strchr(s1 + 1, XMLIN_SEP);
    if (s2) {
        *llen = (size_t)(s2 - (s1 + 1));
        *prefix = s2 + 1;
    } else {
        *llen = strlen(s1 + 1);
        *prefix = NULL;
    }
}

static int xmlin_is(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(s, lit, l) == 0;
}

/* Appends `child` to the children of `f`. xmpp_stanza_add_child_ex()
 * walks every existing child to find the last one, so appending n children
 * to one element takes n * (n - 1) / 2 steps: they are counted against
 * lim.max_steps. Takes ownership of `child` in every case (releases it when
 * refused). 0, or -1 after recording an error. */
static int xmlin_append(struct xmlin *x, struct xmlin_frame *f, xmpp_stanza_t *child)
{
    x->steps += f->nchildren;
    if (x->steps > x->lim.max_steps) {
        xmpp_stanza_release(child);
        xmlin_fail(x, XMLIN_TOO_BIG, 1, "too many children under one element");
        return -1;
    }
    xmpp_stanza_add_child_ex(f->st, child, 0);
    f->nchildren++;
    return 0;
}

/* Counts `n` more bytes of strings in the tree against
 * lim.max_tree_bytes. A short input can ask for many copies of one long
 * string (a namespace URI declared once and used by every element, each
 * of which then carries it): this keeps the tree within a multiple of the
 * input. 0, or -1 after recording an error. */
static int xmlin_copy(struct xmlin *x, size_t n)
{
    if (n > x->lim.max_tree_bytes - x->copied) {
        xmlin_fail(x, XMLIN_TOO_BIG, 1, "the stanza tree would hold more than %zu bytes",
                   x->lim.max_tree_bytes);
        return -1;
    }
    x->copied += n;
    return 0;
}

/* Adds the pending character data to the current element as one text
 * node. 0, or -1 after recording an error. */
static int xmlin_flush_text(struct xmlin *x)
{
    if (!x->text_len)
        return 0;
    if (xmlin_copy(x, x->text_len + 1) < 0)
        return -1;
    xmpp_stanza_t *t = xmpp_stanza_new(x->ctx);
    if (!t) {
        xmlin_fail(x, XMLIN_NOMEM, 1, "out of memory");
        return -1;
    }
    /* Attached first, so that releasing the root frees it on any error. */
    if (xmlin_append(x, &x->stack[x->depth - 1], t) < 0)
        return -1;
    if (xmpp_stanza_set_text_with_size(t, x->text, x->text_len) != XMPP_EOK) {
        xmlin_fail(x, XMLIN_NOMEM, 1, "out of memory");
        return -1;
    }
    x->text_len = 0;
    return 0;
}

static void XMLCALL xmlin_on_text(void *ud, const XML_Char *s, int len)
{
    struct xmlin *x = ud;
    if (x->code || x->depth == 0 || len <= 0)
        return;
    if (xmlin_grow(&x->text, &x->text_cap, x->text_len, (size_t)len) < 0) {
        xmlin_fail(x, XMLIN_NOMEM, 1, "out of memory");
        return;
    }
    memcpy(x->text + x->text_len, s, (size_t)len);
    x->text_len += (size_t)len;
}

/* Sorts the attributes to set by name (few: insertion sort). */
static void xmlin_sort(struct xmlin_out_attr *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct xmlin_out_attr v = a[i];
        size_t j = i;
        while (j > 0 && strcmp(a[j - 1].name, v.name) > 0) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

/* Adds the declaration xmlns:PREFIX='URI' to the attributes to set. 0, or
 * -1 when out of memory. */
static int xmlin_declare(struct xmlin *x, size_t *nout, const char *prefix, size_t plen,
                         const char *uri, size_t ulen)
{
    size_t name = xmlin_arena_put(x, "xmlns:", 6, prefix, plen, NULL, 0);
    size_t value = xmlin_arena_put(x, uri, ulen, NULL, 0, NULL, 0);
    if (name == (size_t)-1 || value == (size_t)-1)
        return -1;
    x->out[(*nout)++] = (struct xmlin_out_attr){.name_off = name, .value_off = value};
    return 0;
}

/* Builds the attribute list of a new element into x->out: its own "xmlns"
 * when `own_ns` (with the element's namespace `uri`, NULL for none), the
 * attributes with their names mapped (xmlin.h), and the prefix
 * declarations those names need. Returns the count, or -1 when out of
 * memory. */
static long xmlin_build_attrs(struct xmlin *x, const XML_Char **atts, size_t natts, int own_ns,
                              const char *uri, size_t ulen)
{
    size_t nout = 0;
    int xbosh = 0, renamed = 0;
    char rp[16]; /* the prefix given to the XMLIN_ATTR_RENAMED attributes */

    if (own_ns) {
        size_t v = xmlin_arena_put(x, uri, ulen, NULL, 0, NULL, 0);
        if (v == (size_t)-1)
            return -1;
        x->out[nout++] = (struct xmlin_out_attr){.name = "xmlns", .value_off = v};
    }

    for (size_t i = 0; i < natts; i++) {
        struct xmlin_in_attr *a = &x->in[i];
        xmlin_split(atts[2 * i], &a->uri, &a->ulen, &a->local, &a->llen, &a->prefix);
        a->value = atts[2 * i + 1];
        if (!a->uri)
            a->kind = XMLIN_ATTR_PLAIN;
        else if (xmlin_is(a->uri, a->ulen, XMLIN_NS_XML))
            a->kind = XMLIN_ATTR_XML;
        else if (xmlin_is(a->uri, a->ulen, XMLIN_NS_XBOSH))
            a->kind = XMLIN_ATTR_XBOSH;
        else if (!a->prefix || strcmp(a->prefix, "xmpp") == 0)
            a->kind = XMLIN_ATTR_RENAMED; /* (expat always gives the prefix) */
        else
            a->kind = XMLIN_ATTR_OTHER;
    }

    /* One declaration per prefix. Attributes of one element that share a
     * prefix share its binding, so the first of them declares it. */
    for (size_t i = 0; i < natts; i++) {
        struct xmlin_in_attr *a = &x->in[i];
        if (a->kind == XMLIN_ATTR_XBOSH && !xbosh) {
            xbosh = 1;
            if (xmlin_declare(x, &nout, "xmpp", 4, XMLIN_NS_XBOSH, strlen(XMLIN_NS_XBOSH)) < 0)
                return -1;
        } else if (a->kind == XMLIN_ATTR_RENAMED && !renamed) {
            /* The first "xmppN" that no attribute of this element has as
             * its own prefix; natts + 1 candidates cannot all be taken. */
            renamed = 1;
            for (unsigned n = 1;; n++) {
                snprintf(rp, sizeof(rp), "xmpp%u", n);
                size_t j = 0;
                while (j < natts && !(x->in[j].kind == XMLIN_ATTR_OTHER && strcmp(x->in[j].prefix, rp) == 0))
                    j++;
                if (j == natts)
                    break;
            }
            if (xmlin_declare(x, &nout, rp, strlen(rp), a->uri, a->ulen) < 0)
                return -1;
        } else if (a->kind == XMLIN_ATTR_OTHER) {
            size_t j = 0;
            while (j < i && !(x->in[j].kind == XMLIN_ATTR_OTHER && strcmp(x->in[j].prefix, a->prefix) == 0))
                j++;
            if (j == i && xmlin_declare(x, &nout, a->prefix, strlen(a->prefix), a->uri, a->ulen) < 0)
                return -1;
        }
    }

    for (size_t i = 0; i < natts; i++) {
        struct xmlin_in_attr *a = &x->in[i];
        struct xmlin_out_attr *o = &x->out[nout++];
        o->name = NULL;
        o->value = a->value;
        switch (a->kind) {
        case XMLIN_ATTR_PLAIN:
            o->name = a->local;
            break;
        case XMLIN_ATTR_XML:
            o->name_off = xmlin_arena_put(x, "xml:", 4, a->local, a->llen, NULL, 0);
            break;
        case XMLIN_ATTR_XBOSH:
            o->name_off = xmlin_arena_put(x, "xmpp:", 5, a->local, a->llen, NULL, 0);
            break;
        case XMLIN_ATTR_RENAMED:
            o->name_off = xmlin_arena_put(x, rp, strlen(rp), ":", 1, a->local, a->llen);
            break;
        case XMLIN_ATTR_OTHER:
            o->name_off = xmlin_arena_put(x, a->prefix, strlen(a->prefix), ":", 1, a->local, a->llen);
            break;
        }
        if (!o->name && o->name_off == (size_t)-1)
            return -1;
    }

    /* The arena does not move any more: pointers into it are safe now. */
    for (size_t i = 0; i < nout; i++) {
        if (!x->out[i].name)
            x->out[i].name = x->arena + x->out[i].name_off;
        if (!x->out[i].value)
            x->out[i].value = x->arena + x->out[i].value_off;
    }
    return (long)nout;
}

static void XMLCALL xmlin_on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xmlin *x = ud;
    if (x->code)
        return;
    if (x->depth && xmlin_flush_text(x) < 0)
        return;

    size_t natts = 0;
    while (atts[2 * natts])
        natts++;
    unsigned decls = x->ns_decls;
    x->ns_decls = 0;
    if (++x->elements > x->lim.max_children) {
        xmlin_fail(x, XMLIN_TOO_BIG, 1, "more than %zu elements", x->lim.max_children);
        return;
    }
    if (x->depth >= x->lim.max_depth) {
        xmlin_fail(x, XMLIN_TOO_DEEP, 1, "elements nested deeper than %u", x->lim.max_depth);
        return;
    }
    if (natts + decls > x->lim.max_attrs) {
        xmlin_fail(x, XMLIN_TOO_BIG, 1, "%zu attributes, over the limit of %u", natts + decls,
                   x->lim.max_attrs);
        return;
    }

    const char *uri, *local, *prefix;
    size_t ulen, llen;
    xmlin_split(name, &uri, &ulen, &local, &llen, &prefix);
    /* <xml:a/> is allowed by Namespaces in XML, but the XML namespace may
     * not be declared as a default one, which is how the tree says it. */
    if (uri && xmlin_is(uri, ulen, XMLIN_NS_XML)) {
        xmlin_fail(x, XMLIN_BAD_NAMESPACE, 1, "element in the XML namespace");
        return;
    }
    x->arena_len = 0;
    if (prefix) {
        size_t off = xmlin_arena_put(x, local, llen, NULL, 0, NULL, 0);
        if (off == (size_t)-1) {
            xmlin_fail(x, XMLIN_NOMEM, 1, "out of memory");
            return;
        }
        local = x->arena + off;
    }

    if (xmlin_copy(x, strlen(local) + 1) < 0)
        return;
    xmpp_stanza_t *st = xmpp_stanza_new(x->ctx);
    if (!st) {
        xmlin_fail(x, XMLIN_NOMEM, 1, "out of memory");
        return;
    }
    struct xmlin_frame *parent = x->depth ? &x->stack[x->depth - 1] : NULL;
    /* Attached before anything can fail, so that releasing the root frees
     * it on any error. */
    if (!parent)
        x->root = st;
    else if (xmlin_append(x, parent, st) < 0)
        return;
    if (xmpp_stanza_set_name(st, local) != XMPP_EOK) {
        xmlin_fail(x, XMLIN_NOMEM, 1, "out of memory");
        return;
    }

    int own_ns = !parent || parent->nslen != ulen || (ulen && memcmp(parent->ns, uri, ulen) != 0);
    long nout = xmlin_build_attrs(x, atts, natts, own_ns, uri, ulen);
    if (nout < 0) {
        xmlin_fail(x, XMLIN_NOMEM, 1, "out of memory");
        return;
    }
    size_t bytes = 0;
    for (long i = 0; i < nout; i++)
        bytes += strlen(x->out[i].name) + strlen(x->out[i].value) + 2;
    if (xmlin_copy(x, bytes) < 0)
        return;
    xmlin_sort(x->out, (size_t)nout);
    /* libstrophe's attribute table puts each new key first in its bucket:
     * setting them in a fixed order makes xmpp_stanza_to_text() write them
     * in a fixed order. */
    for (long i = nout - 1; i >= 0; i--) {
        if (xmpp_stanza_set_attribute(st, x->out[i].name, x->out[i].value) != XMPP_EOK) {
            xmlin_fail(x, XMLIN_NOMEM, 1, "out of memory");
            return;
        }
    }

    struct xmlin_frame *f = &x->stack[x->depth++];
    f->st = st;
    f->nchildren = 0;
    if (own_ns) {
        f->ns = xmpp_stanza_get_attribute(st, "xmlns");
        f->nslen = ulen;
    } else {
        f->ns = parent->ns;
        f->nslen = parent->nslen;
    }
}

static void XMLCALL xmlin_on_end(void *ud, const XML_Char *name)
{
    struct xmlin *x = ud;
    (void)name;
    if (x->code || x->depth == 0)
        return;
    if (xmlin_flush_text(x) < 0)
        return;
    x->depth--;
}

static void XMLCALL xmlin_on_ns_decl(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    struct xmlin *x = ud;
    (void)prefix, (void)uri;
    x->ns_decls++;
}

static void XMLCALL xmlin_on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    xmlin_fail(ud, XMLIN_RESTRICTED, 1, "comment (restricted XML)");
}

static void XMLCALL xmlin_on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target, (void)data;
    xmlin_fail(ud, XMLIN_RESTRICTED, 1, "processing instruction (restricted XML)");
}

static void XMLCALL xmlin_on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                     const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    xmlin_fail(ud, XMLIN_RESTRICTED, 1, "DOCTYPE (restricted XML)");
}

static void XMLCALL xmlin_on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                         const XML_Char *value, int value_len, const XML_Char *base,
                                         const XML_Char *sysid, const XML_Char *pubid,
                                         const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid;
    (void)pubid, (void)notation;
    xmlin_fail(ud, XMLIN_RESTRICTED, 1, "entity declaration (restricted XML)");
}

static void XMLCALL xmlin_on_skipped_entity(void *ud, const XML_Char *name, int is_param)
{
    (void)name, (void)is_param;
    xmlin_fail(ud, XMLIN_RESTRICTED, 1, "entity reference (restricted XML)");
}

static void XMLCALL xmlin_on_xml_decl(void *ud, const XML_Char *version, const XML_Char *encoding,
                                      int standalone)
{
    (void)version, (void)standalone;
    /* The parser reads UTF-8 whatever the declaration says (RFC 6120
     * 11.6): a document that says otherwise would be misread. */
    if (encoding && strcasecmp(encoding, "UTF-8") != 0)
        xmlin_fail(ud, XMLIN_NOT_WELL_FORMED, 1, "encoding is not UTF-8");
}

/* The code for an error expat found by itself. */
static int xmlin_code_of(enum XML_Error e)
{
    switch (e) {
    case XML_ERROR_NO_MEMORY:
        return XMLIN_NOMEM;
    case XML_ERROR_UNDEFINED_ENTITY:
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_BINARY_ENTITY_REF:
    case XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
    case XML_ERROR_NOT_STANDALONE:
    case XML_ERROR_ENTITY_DECLARED_IN_PE:
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 4)
    case XML_ERROR_AMPLIFICATION_LIMIT_BREACH:
#endif
        return XMLIN_RESTRICTED;
    case XML_ERROR_UNBOUND_PREFIX:
    case XML_ERROR_UNDECLARING_PREFIX:
    case XML_ERROR_RESERVED_PREFIX_XML:
    case XML_ERROR_RESERVED_PREFIX_XMLNS:
    case XML_ERROR_RESERVED_NAMESPACE_URI:
        return XMLIN_BAD_NAMESPACE;
    default:
        return XMLIN_NOT_WELL_FORMED;
    }
}

struct xmlin *xmlin_new(xmpp_ctx_t *ctx, const struct xmlin_limits *lim)
{
    struct xmlin *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->ctx = ctx;
    if (lim)
        x->lim = *lim;
    if (!x->lim.max_bytes)
        x->lim.max_bytes = XMLIN_DEFAULT_BYTES;
    if (x->lim.max_bytes > INT_MAX)
        x->lim.max_bytes = INT_MAX;
    if (!x->lim.max_depth)
        x->lim.max_depth = XMLIN_DEFAULT_DEPTH;
    if (x->lim.max_depth > XMLIN_MAX_DEPTH)
        x->lim.max_depth = XMLIN_MAX_DEPTH;
    if (!x->lim.max_attrs)
        x->lim.max_attrs = XMLIN_DEFAULT_ATTRS;
    if (x->lim.max_attrs > XMLIN_MAX_ATTRS)
        x->lim.max_attrs = XMLIN_MAX_ATTRS;
    if (!x->lim.max_children)
        x->lim.max_children = XMLIN_DEFAULT_CHILDREN;
    if (!x->lim.max_steps)
        x->lim.max_steps = XMLIN_DEFAULT_STEPS;
    if (!x->lim.max_tree_bytes)
        x->lim.max_tree_bytes = 4 * x->lim.max_bytes;

    x->p = XML_ParserCreateNS("UTF-8", XMLIN_SEP);
    x->stack = calloc(x->lim.max_depth, sizeof(*x->stack));
    x->in = calloc(x->lim.max_attrs, sizeof(*x->in));
    x->out = calloc(2 * (size_t)x->lim.max_attrs + 2, sizeof(*x->out));
    if (!x->p || !x->stack || !x->in || !x->out) {
        xmlin_free(x);
        return NULL;
    }
    /* Expat otherwise draws a fresh hash salt from the kernel at every
     * parse; one secret salt per parser keeps hash flooding out as well. */
    if (getrandom(&x->salt, sizeof(x->salt), GRND_NONBLOCK) != (ssize_t)sizeof(x->salt))
        x->salt = 0; /* 0: expat draws its own at each parse */
    return x;
}

void xmlin_free(struct xmlin *x)
{
    if (!x)
        return;
    if (x->p)
        XML_ParserFree(x->p);
    free(x->stack);
    free(x->in);
    free(x->out);
    free(x->text);
    free(x->arena);
    free(x);
}

int xmlin_parse(struct xmlin *x, const char *data, size_t len, xmpp_stanza_t **out, char *err,
                size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    x->err = err;
    x->errlen = err ? errlen : 0;
    x->code = 0;
    x->depth = 0;
    x->root = NULL;
    x->elements = 0;
    x->steps = 0;
    x->copied = 0;
    x->ns_decls = 0;
    x->text_len = 0;

    if (len == 0) {
        if (x->errlen)
            snprintf(err, errlen, "empty input");
        return XMLIN_NOT_WELL_FORMED;
    }
    if (len > x->lim.max_bytes) {
        if (x->errlen)
            snprintf(err, errlen, "%zu bytes, over the limit of %zu", len, x->lim.max_bytes);
        return XMLIN_TOO_BIG;
    }

    /* A reset clears the handlers and keeps namespace processing. */
    if (!XML_ParserReset(x->p, "UTF-8")) {
        if (x->errlen)
            snprintf(err, errlen, "parser reset failed");
        return XMLIN_NOMEM;
    }
    XML_SetReturnNSTriplet(x->p, 1);
    if (x->salt)
        XML_SetHashSalt(x->p, x->salt);
    XML_SetUserData(x->p, x);
    XML_SetElementHandler(x->p, xmlin_on_start, xmlin_on_end);
    XML_SetCharacterDataHandler(x->p, xmlin_on_text);
    XML_SetStartNamespaceDeclHandler(x->p, xmlin_on_ns_decl);
    XML_SetCommentHandler(x->p, xmlin_on_comment);
    XML_SetProcessingInstructionHandler(x->p, xmlin_on_pi);
    XML_SetStartDoctypeDeclHandler(x->p, xmlin_on_doctype);
    XML_SetEntityDeclHandler(x->p, xmlin_on_entity_decl);
    XML_SetSkippedEntityHandler(x->p, xmlin_on_skipped_entity);
    XML_SetXmlDeclHandler(x->p, xmlin_on_xml_decl);
    XML_SetParamEntityParsing(x->p, XML_PARAM_ENTITY_PARSING_NEVER);

    enum XML_Status st = XML_Parse(x->p, data, (int)len, 1);
    if (st != XML_STATUS_OK && !x->code) {
        enum XML_Error e = XML_GetErrorCode(x->p);
        xmlin_fail(x, xmlin_code_of(e), 0, "%s", XML_ErrorString(e));
    }
    if (!x->code && (!x->root || x->depth != 0))
        xmlin_fail(x, XMLIN_NOT_WELL_FORMED, 0, "no complete element");
    if (x->code) {
        if (x->root)
            xmpp_stanza_release(x->root);
        x->root = NULL;
        x->err = NULL;
        return x->code;
    }
    *out = x->root;
    x->root = NULL;
    x->err = NULL;
    return XMLIN_OK;
}

const char *xmlin_condition(int code)
{
    switch (code) {
    case XMLIN_NOT_WELL_FORMED:
        return "not-well-formed";
    case XMLIN_RESTRICTED:
        return "restricted-xml";
    case XMLIN_TOO_BIG:
    case XMLIN_TOO_DEEP:
        return "policy-violation";
    case XMLIN_BAD_NAMESPACE:
        return "invalid-namespace";
    case XMLIN_NOMEM:
        return "resource-constraint";
    default:
        return "undefined-condition";
    }
}

const char *xmlin_strerror(int code)
{
    switch (code) {
    case XMLIN_OK:
        return "no error";
    case XMLIN_NOT_WELL_FORMED:
        return "XML not well-formed";
    case XMLIN_RESTRICTED:
        return "XML feature not allowed in XMPP";
    case XMLIN_TOO_BIG:
        return "input over a size limit";
    case XMLIN_TOO_DEEP:
        return "elements nested too deep";
    case XMLIN_BAD_NAMESPACE:
        return "namespace prefix error";
    case XMLIN_NOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}
