/* jingle_xml.c - Jingle XML text -> model, with expat. */
#include <expat.h>
#include <stdio.h>
#include <string.h>

#include "jingle.h"

/* Expat reports namespaced names as "<uri>\x01<local>". */
#define NS_SEP '\x01'

struct xml_ctx {
    XML_Parser p;
    struct jingle_reader *r;
    char error[200];
};

static void stop(struct xml_ctx *x, const char *why)
{
    if (!x->error[0] && why)
        snprintf(x->error, sizeof(x->error), "%s", why);
    XML_StopParser(x->p, XML_FALSE);
}

static void on_start(void *ud, const XML_Char *qname, const XML_Char **attrs)
{
    struct xml_ctx *x = ud;
    char nsbuf[256];
    const char *ns = NULL, *name = qname;
    const char *sep = strchr(qname, NS_SEP);
    if (sep) {
        size_t n = (size_t)(sep - qname);
        if (n >= sizeof(nsbuf)) {
            stop(x, "namespace name too long");
            return;
        }
        memcpy(nsbuf, qname, n);
        nsbuf[n] = '\0';
        ns = nsbuf;
        name = sep + 1;
    }
    /* Namespaced attributes (xml:lang and the like) are not Jingle's: the
     * reader sees only plain ones. Copy into a small array. */
    const char *plain[2 * 48 + 1];
    int k = 0;
    for (int i = 0; attrs[i]; i += 2) {
        if (strchr(attrs[i], NS_SEP))
            continue;
        if (k >= 2 * 48) {
            stop(x, "too many attributes on one element");
            return;
        }
        plain[k++] = attrs[i];
        plain[k++] = attrs[i + 1];
    }
    plain[k] = NULL;
    const struct jingle_attrs a = {jingle_attrs_array_get, plain, k / 2};
    if (jingle_reader_start(x->r, ns, name, &a))
        stop(x, NULL);
}

static void on_end(void *ud, const XML_Char *name)
{
    struct xml_ctx *x = ud;
    (void)name;
    if (jingle_reader_end(x->r))
        stop(x, NULL);
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    struct xml_ctx *x = ud;
    if (jingle_reader_text(x->r, s, (size_t)len))
        stop(x, NULL);
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                       const XML_Char *pubid, int has_internal)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal;
    stop(ud, "a document type declaration is not allowed (RFC 6120)");
}

static void on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target, (void)data;
    stop(ud, "processing instructions are not allowed (RFC 6120)");
}

struct jingle *jingle_parse_xml(const char *text, size_t len, struct jingle_error *err)
{
    struct jingle *j = NULL;
    struct xml_ctx x = {0};
    if (len > JINGLE_MAX_TEXT) {
        if (err)
            snprintf(err->what, sizeof(err->what), "Jingle text is %zu bytes, more than the %u allowed",
                     len, JINGLE_MAX_TEXT);
        return NULL;
    }
    x.r = jingle_reader_new();
    x.p = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (!x.r || !x.p) {
        if (err)
            snprintf(err->what, sizeof(err->what), "out of memory");
        goto out;
    }
    XML_SetUserData(x.p, &x);
    XML_SetElementHandler(x.p, on_start, on_end);
    XML_SetCharacterDataHandler(x.p, on_text);
    XML_SetStartDoctypeDeclHandler(x.p, on_doctype);
    XML_SetProcessingInstructionHandler(x.p, on_pi);
    if (XML_Parse(x.p, text, (int)len, XML_TRUE) != XML_STATUS_OK) {
        if (err) {
            const char *why = jingle_reader_error(x.r);
            if (why)
                snprintf(err->what, sizeof(err->what), "%s", why);
            else if (x.error[0])
                snprintf(err->what, sizeof(err->what), "line %lu: %s",
                         (unsigned long)XML_GetCurrentLineNumber(x.p), x.error);
            else
                snprintf(err->what, sizeof(err->what), "not well-formed XML, line %lu column %lu: %s",
                         (unsigned long)XML_GetCurrentLineNumber(x.p),
                         (unsigned long)XML_GetCurrentColumnNumber(x.p) + 1,
                         XML_ErrorString(XML_GetErrorCode(x.p)));
        }
        goto out;
    }
    j = jingle_reader_finish(x.r, err);
out:
    if (x.p)
        XML_ParserFree(x.p);
    jingle_reader_free(x.r);
    return j;
}
