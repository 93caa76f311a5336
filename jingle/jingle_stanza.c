/* jingle_stanza.c - libstrophe stanza objects <-> Jingle model. */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "jingle_stanza.h"

static void release_stanza(void *st)
{
    xmpp_stanza_release(st);
}

static const char *stanza_attr(const void *ctx, const char *name)
{
    return xmpp_stanza_get_attribute((xmpp_stanza_t *)ctx, name);
}

static int walk(struct jingle_reader *r, xmpp_stanza_t *st, const char *inherited_ns)
{
    if (xmpp_stanza_is_text(st)) {
        const char *t = xmpp_stanza_get_text_ptr(st);
        return t ? jingle_reader_text(r, t, strlen(t)) : 0;
    }
    const char *name = xmpp_stanza_get_name(st);
    if (!name)
        return 0;
    const char *own_ns = xmpp_stanza_get_ns(st);
    const char *ns = own_ns ? own_ns : inherited_ns;
    /* libstrophe counts an xmlns declaration among the attributes */
    const int count = xmpp_stanza_get_attribute_count(st) - (own_ns != NULL);
    const struct jingle_attrs attrs = {stanza_attr, st, count};
    if (jingle_reader_start(r, ns, name, &attrs))
        return -1;
    for (xmpp_stanza_t *c = xmpp_stanza_get_children(st); c; c = xmpp_stanza_get_next(c))
        if (walk(r, c, ns))
            return -1;
    return jingle_reader_end(r);
}

struct jingle *jingle_from_stanza(xmpp_stanza_t *stanza, struct jingle_error *err)
{
    struct jingle_reader *r = jingle_reader_new();
    if (!r) {
        if (err)
            snprintf(err->what, sizeof(err->what), "out of memory");
        return NULL;
    }
    struct jingle *j = NULL;
    /* The model points into the stanza's strings and holds a reference to
     * it, instead of copying every attribute. */
    jingle_reader_borrow_strings(r);
    if (walk(r, stanza, NULL) == 0)
        j = jingle_reader_finish(r, err);
    if (j) {
        j->keep = xmpp_stanza_clone(stanza);
        j->keep_release = release_stanza;
    }
    else if (err)
        snprintf(err->what, sizeof(err->what), "%s",
                 jingle_reader_error(r) ? jingle_reader_error(r) : "invalid Jingle");
    jingle_reader_free(r);
    return j;
}

xmpp_stanza_t *jingle_to_stanza(xmpp_ctx_t *ctx, const struct sdp_session *sdp,
                                const struct jingle_write_opts *o, struct jingle_error *err)
{
    struct buf b;
    buf_init(&b, 0);
    xmpp_stanza_t *st = NULL;
    if (jingle_write(sdp, o, &b, err) == 0) {
        st = xmpp_stanza_new_from_string(ctx, b.data);
        if (!st && err)
            snprintf(err->what, sizeof(err->what), "libstrophe could not build the stanza");
    }
    buf_free(&b);
    return st;
}
