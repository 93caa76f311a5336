/* libFuzzer target: bosh/xmlin.c on any bytes a browser could send.
 *
 * Every input gives either an error code with a non-empty message and no
 * tree, or a tree that
 * - has the shape xmlin.h promises (xmlns on the root, one text node per
 *   run of text, no empty text, attribute prefixes declared on the element
 *   that uses them), and
 * - once written by libstrophe and parsed again gives the same tree, which
 *   libstrophe writes to the same text.
 * libstrophe's writer needs two allowances: it drops xmlns='jabber:client'
 * from a root element, so the tree is written as the child of a wrapper
 * element; and it writes tab, newline and carriage return in attribute
 * values and carriage return in text unescaped, which any XML parser then
 * normalises (XML 1.0 2.11 and 3.3.3), so the tree is normalised the same
 * way before it is written. Leaks are caught by LeakSanitizer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>

#include "xmlin.h"

#define WRAP_NS "urn:epode:fuzz"

static xmpp_ctx_t *ctx;
static struct xmlin *x;  /* the daemon's limits */
static struct xmlin *x2; /* for what libstrophe wrote: larger, one level deeper */

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_xmlin: %s\n%s\n", what, detail ? detail : "");
    abort();
}

/* 1 when `st` has an attribute "xmlns:PREFIX" for the prefix of `name`
 * (the part before the first colon). */
static int declared(xmpp_stanza_t *st, const char *name, const char *colon)
{
    char decl[512];
    size_t plen = (size_t)(colon - name);
    if (plen + 7 > sizeof(decl))
        return 0;
    memcpy(decl, "xmlns:", 6);
    memcpy(decl + 6, name, plen);
    decl[6 + plen] = '\0';
    return xmpp_stanza_get_attribute(st, decl) != NULL;
}

/* The shape xmlin.h promises. */
static void check_shape(xmpp_stanza_t *st, int root)
{
    const char *name = xmpp_stanza_get_name(st);
    if (!name || !*name || strchr(name, ':'))
        fail("element name", name);
    if (root && !xmpp_stanza_get_attribute(st, "xmlns"))
        fail("root without xmlns", name);
    int n = xmpp_stanza_get_attribute_count(st);
    if (n > 0) {
        const char **kv = malloc(sizeof(*kv) * 2 * (size_t)n);
        int got = xmpp_stanza_get_attributes(st, kv, 2 * n);
        for (int i = 0; i < got; i += 2) {
            const char *colon = strchr(kv[i], ':');
            if (!colon || strncmp(kv[i], "xmlns:", 6) == 0 || strncmp(kv[i], "xml:", 4) == 0)
                continue;
            if (!declared(st, kv[i], colon))
                fail("attribute prefix not declared on its element", kv[i]);
            if (strncmp(kv[i], "xmpp:", 5) == 0 &&
                strcmp(xmpp_stanza_get_attribute(st, "xmlns:xmpp"), "urn:xmpp:xbosh") != 0)
                fail("xmpp: prefix bound to another namespace", kv[i]);
        }
        free(kv);
    }
    int prev_text = 0;
    for (xmpp_stanza_t *c = xmpp_stanza_get_children(st); c; c = xmpp_stanza_get_next(c)) {
        if (xmpp_stanza_is_text(c)) {
            const char *t = xmpp_stanza_get_text_ptr(c);
            if (!t || !*t)
                fail("empty text node", name);
            if (prev_text)
                fail("two text nodes in a row", name);
            prev_text = 1;
        } else {
            prev_text = 0;
            check_shape(c, 0);
        }
    }
}

/* What a parser makes of a value libstrophe writes unescaped: line ends
 * become "\n", and in attribute values tab and newline become spaces.
 * Returns a new string, or NULL when nothing changes. */
static char *normalised(const char *s, int attr)
{
    if (!strpbrk(s, attr ? "\t\n\r" : "\r"))
        return NULL;
    char *out = malloc(strlen(s) + 1), *o = out;
    for (; *s; s++) {
        char c = *s;
        if (c == '\r') {
            if (s[1] == '\n')
                s++;
            c = '\n';
        }
        if (attr && (c == '\t' || c == '\n'))
            c = ' ';
        *o++ = c;
    }
    *o = '\0';
    return out;
}

static void normalise(xmpp_stanza_t *st)
{
    int n = xmpp_stanza_get_attribute_count(st);
    if (n > 0) {
        const char **kv = malloc(sizeof(*kv) * 2 * (size_t)n);
        int got = xmpp_stanza_get_attributes(st, kv, 2 * n);
        for (int i = 0; i < got; i += 2) {
            char *v = normalised(kv[i + 1], 1);
            if (v) {
                /* Replaces the value in place: the key keeps its place. */
                xmpp_stanza_set_attribute(st, kv[i], v);
                free(v);
            }
        }
        free(kv);
    }
    for (xmpp_stanza_t *c = xmpp_stanza_get_children(st); c; c = xmpp_stanza_get_next(c)) {
        if (xmpp_stanza_is_text(c)) {
            char *t = normalised(xmpp_stanza_get_text_ptr(c), 0);
            if (t) {
                xmpp_stanza_set_text(c, t);
                free(t);
            }
        } else {
            normalise(c);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        xmpp_initialize();
        ctx = xmpp_ctx_new(NULL, NULL);
        x = xmlin_new(ctx, NULL);
        struct xmlin_limits big = {.max_bytes = 64u << 20, .max_depth = 64, .max_attrs = 1024,
                                   .max_children = 1 << 20, .max_steps = (size_t)1 << 40,
                                   .max_tree_bytes = (size_t)1 << 30};
        x2 = xmlin_new(ctx, &big);
        if (!ctx || !x || !x2)
            abort();
    }

    xmpp_stanza_t *st = (xmpp_stanza_t *)&st;
    char err[160];
    memset(err, 'x', sizeof(err));
    int rc = xmlin_parse(x, (const char *)data, size, &st, err, sizeof(err));
    if (rc != XMLIN_OK) {
        if (rc < XMLIN_NOMEM || rc > XMLIN_NOT_WELL_FORMED)
            fail("unknown code", NULL);
        if (st != NULL)
            fail("tree set on error", NULL);
        if (!memchr(err, '\0', sizeof(err)) || !err[0])
            fail("no message", NULL);
        if (strcmp(xmlin_condition(rc), "undefined-condition") == 0)
            fail("no condition", err);
        return 0;
    }
    if (!st)
        fail("no tree on success", NULL);
    check_shape(st, 1);
    normalise(st);

    xmpp_stanza_t *w = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(w, "w");
    xmpp_stanza_set_ns(w, WRAP_NS);
    xmpp_stanza_add_child_ex(w, st, 0); /* w owns st now */
    char *t1 = NULL, *t2 = NULL;
    size_t l1 = 0, l2 = 0;
    if (xmpp_stanza_to_text(w, &t1, &l1) != XMPP_EOK)
        fail("to_text", NULL);

    xmpp_stanza_t *w2 = NULL;
    rc = xmlin_parse(x2, t1, l1, &w2, err, sizeof(err));
    if (rc != XMLIN_OK) {
        fprintf(stderr, "%s\n", err);
        fail("what libstrophe wrote does not parse again", t1);
    }
    if (xmpp_stanza_to_text(w2, &t2, &l2) != XMPP_EOK)
        fail("to_text", NULL);
    if (l1 != l2 || memcmp(t1, t2, l1) != 0) {
        fprintf(stderr, "first:\n%s\n", t1);
        fail("written differently the second time:", t2);
    }
    xmpp_free(ctx, t1);
    xmpp_free(ctx, t2);
    xmpp_stanza_release(w2);
    xmpp_stanza_release(w);
    return 0;
}
