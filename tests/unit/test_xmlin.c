/* test_xmlin.c - bosh/xmlin.c: one element from a browser into a stanza
 * tree. Namespaces, attributes, text, round trips through libstrophe's
 * writer, every refusal with its code and condition, the limits, reuse of
 * the parser after errors, and out-of-memory paths.
 *
 * Usage: test_xmlin [DATA_DIR] [--bench N]
 * With --bench, parses a message stanza and Jingle stanzas from DATA_DIR N
 * times each with xmlin_parse and with xmpp_stanza_new_from_string, and
 * prints microseconds per parse. */
#include <dirent.h>
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "xmlin.h"

static xmpp_ctx_t *ctx;
static const char *data_dir = "tests/data";

/* ---- helpers ---------------------------------------------------------- */

struct out {
    char *p;
    size_t len, cap;
};

static void out_add(struct out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (o->len + n + 1 > cap)
            cap *= 2;
        o->p = realloc(o->p, cap);
        if (!o->p)
            abort();
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void out_esc(struct out *o, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': out_add(o, "&lt;", 4); break;
        case '>': out_add(o, "&gt;", 4); break;
        case '&': out_add(o, "&amp;", 5); break;
        case '\'': out_add(o, "&apos;", 6); break;
        default: out_add(o, s, 1);
        }
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A canonical text of a tree, independent of libstrophe's writer: every
 * attribute the stanza object holds, sorted by name, single quotes, text
 * as is (escaped), text nodes shown as they are split (a '|' between two
 * adjacent text nodes, which the parser must never make). */
static void canon_rec(struct out *o, xmpp_stanza_t *st)
{
    if (xmpp_stanza_is_text(st)) {
        out_esc(o, xmpp_stanza_get_text_ptr(st));
        return;
    }
    const char *name = xmpp_stanza_get_name(st);
    out_add(o, "<", 1);
    out_add(o, name, strlen(name));
    int n = xmpp_stanza_get_attribute_count(st);
    if (n > 0) {
        const char **kv = malloc(sizeof(*kv) * 2 * (size_t)n);
        const char **keys = malloc(sizeof(*keys) * (size_t)n);
        int got = xmpp_stanza_get_attributes(st, kv, 2 * n);
        for (int i = 0; i < got / 2; i++)
            keys[i] = kv[2 * i];
        qsort(keys, (size_t)(got / 2), sizeof(*keys), cmp_str);
        for (int i = 0; i < got / 2; i++) {
            out_add(o, " ", 1);
            out_add(o, keys[i], strlen(keys[i]));
            out_add(o, "='", 2);
            out_esc(o, xmpp_stanza_get_attribute(st, keys[i]));
            out_add(o, "'", 1);
        }
        free(kv);
        free(keys);
    }
    xmpp_stanza_t *c = xmpp_stanza_get_children(st);
    if (!c) {
        out_add(o, "/>", 2);
        return;
    }
    out_add(o, ">", 1);
    int prev_text = 0;
    for (; c; c = xmpp_stanza_get_next(c)) {
        if (prev_text && xmpp_stanza_is_text(c))
            out_add(o, "|", 1);
        prev_text = xmpp_stanza_is_text(c);
        canon_rec(o, c);
    }
    out_add(o, "</", 2);
    out_add(o, name, strlen(name));
    out_add(o, ">", 1);
}

/* The canonical text of a tree; the caller frees it. */
static char *canon(xmpp_stanza_t *st)
{
    struct out o = {0};
    out_add(&o, "", 0);
    canon_rec(&o, st);
    return o.p;
}

/* Parses `s` and returns its canonical text (caller frees), or NULL with
 * *code set. */
static char *parse_canon(struct xmlin *x, const char *s, int *code)
{
    xmpp_stanza_t *st;
    char err[200];
    *code = xmlin_parse(x, s, strlen(s), &st, err, sizeof(err));
    if (*code != XMLIN_OK) {
        CHECK(st == NULL);
        CHECK(err[0] != '\0');
        return NULL;
    }
    char *c = canon(st);
    xmpp_stanza_release(st);
    return c;
}

#define CHECK_PARSE(x, in, want)                                               \
    do {                                                                       \
        int code_;                                                             \
        char *got_ = parse_canon((x), (in), &code_);                           \
        CHECK_INT(code_, XMLIN_OK);                                            \
        CHECK_STR(got_, (want));                                               \
        free(got_);                                                            \
    } while (0)

/* Expects `in` to be refused with `code`, and the message to contain
 * `what` (NULL: any message). */
static void expect_refused(struct xmlin *x, const char *in, size_t len, int code, const char *what,
                           int line)
{
    xmpp_stanza_t *st = (xmpp_stanza_t *)1;
    char err[200] = "unchanged";
    int rc = xmlin_parse(x, in, len, &st, err, sizeof(err));
    check_count++;
    if (rc != code || st != NULL || err[0] == '\0' || (what && !strstr(err, what))) {
        fprintf(stderr, "test_xmlin.c:%d: input \"%.60s\": got %d (%s) \"%s\", want %d%s%s\n", line, in,
                rc, xmlin_condition(rc), err, code, what ? " with " : "", what ? what : "");
        check_failures++;
    }
    if (rc == XMLIN_OK && st)
        xmpp_stanza_release(st);
}
#define REFUSED(x, in, code, what) expect_refused((x), (in), strlen(in), (code), (what), __LINE__)

/* libstrophe's writer leaves out xmlns='jabber:client' on a root element
 * (it assumes a client stream around it), so a stanza is written here as
 * the child of a wrapper in a namespace of its own: every namespace then
 * shows in the text. Caller frees the text with xmpp_free. */
static char *write_wrapped(xmpp_stanza_t *st, size_t *len)
{
    xmpp_stanza_t *w = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(w, "w");
    xmpp_stanza_set_ns(w, "urn:epode:test");
    xmpp_stanza_add_child(w, st);
    char *text = NULL;
    int rc = xmpp_stanza_to_text(w, &text, len);
    CHECK_INT(rc, XMPP_EOK);
    xmpp_stanza_release(w);
    return text;
}

static char *file_text(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    char *s = check_read_file(path, len);
    if (!s)
        fprintf(stderr, "cannot read %s\n", path);
    return s;
}

/* ---- tests ------------------------------------------------------------ */

static void test_basic(struct xmlin *x)
{
    const char *in = "<message xmlns='jabber:client' to='a@b' type='chat'><body>hi</body></message>";
    xmpp_stanza_t *st = NULL;
    char err[100];
    CHECK_INT(xmlin_parse(x, in, strlen(in), &st, err, sizeof(err)), XMLIN_OK);
    CHECK(st != NULL);
    if (!st)
        return;
    CHECK_STR(xmpp_stanza_get_name(st), "message");
    CHECK_STR(xmpp_stanza_get_ns(st), "jabber:client");
    CHECK_STR(xmpp_stanza_get_to(st), "a@b");
    CHECK_STR(xmpp_stanza_get_type(st), "chat");
    CHECK_INT(xmpp_stanza_get_attribute_count(st), 3);
    xmpp_stanza_t *body = xmpp_stanza_get_child_by_name(st, "body");
    CHECK(body != NULL);
    CHECK(xmpp_stanza_get_ns(body) == NULL); /* inherited, not repeated */
    char *text = xmpp_stanza_get_text(body);
    CHECK_STR(text, "hi");
    xmpp_free(ctx, text);
    xmpp_stanza_release(st);

    /* Not NUL-terminated: only `len` bytes are read. */
    const char buf[] = "<a xmlns='u'/><b/>";
    CHECK_INT(xmlin_parse(x, buf, 14, &st, err, sizeof(err)), XMLIN_OK);
    if (st)
        xmpp_stanza_release(st);
    /* err may be NULL or empty. */
    CHECK_INT(xmlin_parse(x, buf, sizeof(buf) - 1, &st, NULL, 0), XMLIN_NOT_WELL_FORMED);
    CHECK(st == NULL);
    char tiny[8];
    CHECK_INT(xmlin_parse(x, buf, sizeof(buf) - 1, &st, tiny, sizeof(tiny)), XMLIN_NOT_WELL_FORMED);
    CHECK_INT(strlen(tiny), 7);
    CHECK_STR(tiny, "line 1,");
}

static void test_namespaces(struct xmlin *x)
{
    /* Default namespace inherited: only the root says it. */
    CHECK_PARSE(x, "<iq xmlns='jabber:client' type='get'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq>",
                "<iq type='get' xmlns='jabber:client'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq>");
    /* Changed and changed back: each change is stated. */
    CHECK_PARSE(x, "<a xmlns='A'><b xmlns='B'><c xmlns='A'><d/></c></b><e/></a>",
                "<a xmlns='A'><b xmlns='B'><c xmlns='A'><d/></c></b><e/></a>");
    /* The same namespace declared again is not repeated. */
    CHECK_PARSE(x, "<a xmlns='A'><b xmlns='A'/></a>", "<a xmlns='A'><b/></a>");
    /* Prefixed elements become plain names with xmlns. */
    CHECK_PARSE(x, "<x:foo xmlns:x='u'><x:bar/><baz/></x:foo>",
                "<foo xmlns='u'><bar/><baz xmlns=''/></foo>");
    CHECK_PARSE(x, "<a xmlns='A' xmlns:b='B'><b:c><d/></b:c><b:c/></a>",
                "<a xmlns='A'><c xmlns='B'><d xmlns='A'/></c><c xmlns='B'/></a>");
    CHECK_PARSE(x, "<stream:error xmlns:stream='http://etherx.jabber.org/streams'/>",
                "<error xmlns='http://etherx.jabber.org/streams'/>");
    /* No namespace: xmlns='' on the root, and where a child leaves one. */
    CHECK_PARSE(x, "<a><b/></a>", "<a xmlns=''><b/></a>");
    CHECK_PARSE(x, "<a xmlns='A'><b xmlns=''><c/></b></a>", "<a xmlns='A'><b xmlns=''><c/></b></a>");
    /* A URI with characters that need escaping survives. */
    CHECK_PARSE(x, "<a xmlns='urn:x?a=&amp;&lt;&apos;'/>", "<a xmlns='urn:x?a=&amp;&lt;&apos;'/>");
}

static void test_attributes(struct xmlin *x)
{
    /* xml:lang keeps its prefix. */
    CHECK_PARSE(x, "<message xmlns='jabber:client' xml:lang='en'><body xml:lang='fr'>salut</body></message>",
                "<message xml:lang='en' xmlns='jabber:client'><body xml:lang='fr'>salut</body></message>");
    /* A BOSH session request (XEP-0206). */
    const char *bosh = "<body content='text/xml; charset=utf-8' hold='1' rid='1573741820' to='example.com' "
                       "route='xmpp:example.com:9999' secure='true' ver='1.6' wait='60' ack='1' "
                       "xml:lang='en' xmpp:version='1.0' xmlns='http://jabber.org/protocol/httpbind' "
                       "xmlns:xmpp='urn:xmpp:xbosh'/>";
    xmpp_stanza_t *st = NULL;
    char err[100];
    CHECK_INT(xmlin_parse(x, bosh, strlen(bosh), &st, err, sizeof(err)), XMLIN_OK);
    if (st) {
        CHECK_STR(xmpp_stanza_get_ns(st), "http://jabber.org/protocol/httpbind");
        CHECK_STR(xmpp_stanza_get_attribute(st, "xmpp:version"), "1.0");
        CHECK_STR(xmpp_stanza_get_attribute(st, "xmlns:xmpp"), "urn:xmpp:xbosh");
        CHECK_STR(xmpp_stanza_get_attribute(st, "xml:lang"), "en");
        CHECK_STR(xmpp_stanza_get_attribute(st, "rid"), "1573741820");
        CHECK_INT(xmpp_stanza_get_attribute_count(st), 13);
        xmpp_stanza_release(st);
    }
    /* A restart with stanzas inside; xbosh under another prefix. */
    CHECK_PARSE(x, "<body rid='2' sid='s' xmlns='http://jabber.org/protocol/httpbind' xmlns:b='urn:xmpp:xbosh' "
                   "b:restart='true'><message xmlns='jabber:client' to='a@b'><body>x</body></message></body>",
                "<body rid='2' sid='s' xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' "
                "xmpp:restart='true'><message to='a@b' xmlns='jabber:client'><body>x</body></message></body>");
    /* Another namespace keeps its prefix and gets its declaration. */
    CHECK_PARSE(x, "<a xmlns='A' xmlns:p='urn:p' p:x='1' p:y='2' y='3'><b p:z='4'/></a>",
                "<a p:x='1' p:y='2' xmlns='A' xmlns:p='urn:p' y='3'><b p:z='4' xmlns:p='urn:p'/></a>");
    /* The element's own namespace used with a prefix on an attribute. */
    CHECK_PARSE(x, "<p:a xmlns:p='urn:p' p:x='1'/>", "<a p:x='1' xmlns='urn:p' xmlns:p='urn:p'/>");
    /* Prefix "xmpp" bound to something else is renamed, so that
     * "xmpp:restart" is only ever urn:xmpp:xbosh. */
    CHECK_PARSE(x, "<body xmlns:xmpp='urn:evil' xmpp:restart='true'/>",
                "<body xmlns='' xmlns:xmpp1='urn:evil' xmpp1:restart='true'/>");
    CHECK_PARSE(x, "<body xmlns:xmpp='urn:evil' xmlns:xmpp1='urn:o' xmlns:b='urn:xmpp:xbosh' xmpp:restart='1' "
                   "xmpp1:a='2' b:version='1.0'/>",
                "<body xmlns='' xmlns:xmpp='urn:xmpp:xbosh' xmlns:xmpp1='urn:o' xmlns:xmpp2='urn:evil' "
                "xmpp1:a='2' xmpp2:restart='1' xmpp:version='1.0'/>");
    /* Values: entities, character references, whitespace normalisation of
     * literal newlines (XML 1.0 3.3.3) but not of references. */
    CHECK_PARSE(x, "<a v='&lt;&gt;&amp;&quot;&apos;&#x41;&#66;' w='l1\nl2' z='&#10;&#9;'/>",
                "<a v='&lt;&gt;&amp;\"&apos;AB' w='l1 l2' xmlns='' z='\n\t'/>");
    /* Duplicates, also after namespace expansion, are not well-formed. */
    REFUSED(x, "<a x='1' x='2'/>", XMLIN_NOT_WELL_FORMED, "duplicate attribute");
    REFUSED(x, "<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>", XMLIN_NOT_WELL_FORMED, "duplicate attribute");
}

static void test_text(struct xmlin *x)
{
    /* Entities, character references and CDATA, merged into one node. */
    CHECK_PARSE(x, "<a>x &lt;&gt;&amp;&quot;&apos; &#x263A;&#9731;<![CDATA[<b>&amp;</b>]]>\nend</a>",
                "<a xmlns=''>x &lt;&gt;&amp;\"&apos; \xe2\x98\xba\xe2\x98\x83&lt;b&gt;&amp;amp;&lt;/b&gt;\nend</a>");
    /* Text around children: one node per run. */
    CHECK_PARSE(x, "<a>one<b/>two<![CDATA[]]>three<c>in</c> </a>",
                "<a xmlns=''>one<b/>twothree<c>in</c> </a>");
    /* Whitespace-only text inside elements is kept (a message body). */
    CHECK_PARSE(x, "<message xmlns='jabber:client'>\n  <body>   </body>\n</message>",
                "<message xmlns='jabber:client'>\n  <body>   </body>\n</message>");
    /* Whitespace outside the root and an XML declaration are dropped. */
    CHECK_PARSE(x, "<?xml version='1.0' encoding='utf-8'?>\n \t<a/>\r\n ", "<a xmlns=''/>");
    CHECK_PARSE(x, "<?xml version='1.0'?><a/>", "<a xmlns=''/>");
    /* Line ends are normalised (XML 1.0 2.11). */
    CHECK_PARSE(x, "<a>1\r\n2\r3</a>", "<a xmlns=''>1\n2\n3</a>");
    /* Multi-byte UTF-8 in text and attributes, also across references. */
    CHECK_PARSE(x, "<a t='h\xc3\xa9 \xf0\x9f\x98\x80'>\xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 &#x1F600; "
                   "\xe4\xb8\xad\xe6\x96\x87</a>",
                "<a t='h\xc3\xa9 \xf0\x9f\x98\x80' xmlns=''>\xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 "
                "\xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87</a>");
    /* A UTF-8 byte order mark is allowed. */
    CHECK_PARSE(x, "\xef\xbb\xbf<a/>", "<a xmlns=''/>");
    /* Long text, which expat hands over in many pieces (one per line and
     * per reference), is one node. */
    struct out in = {0}, want = {0};
    out_add(&in, "<a>", 3);
    for (int i = 0; i < 2000; i++) {
        out_add(&in, "abc&amp;d<![CDATA[e]]>\n", 23);
        out_add(&want, "abc&de\n", 7);
    }
    out_add(&in, "</a>", 4);
    xmpp_stanza_t *st;
    char err[100];
    CHECK_INT(xmlin_parse(x, in.p, in.len, &st, err, sizeof(err)), XMLIN_OK);
    if (st) {
        xmpp_stanza_t *t = xmpp_stanza_get_children(st);
        CHECK(t && xmpp_stanza_is_text(t) && !xmpp_stanza_get_next(t));
        CHECK_STR(t ? xmpp_stanza_get_text_ptr(t) : NULL, want.p);
        xmpp_stanza_release(st);
    }
    free(in.p);
    free(want.p);
}

/* Parse, write with libstrophe, parse again: the same tree, and the same
 * text when written again. */
static void roundtrip_one(struct xmlin *x, struct xmlin *x2, const char *in, size_t len, const char *label)
{
    xmpp_stanza_t *a = NULL, *b = NULL;
    char err[200];
    int rc = xmlin_parse(x, in, len, &a, err, sizeof(err));
    if (rc != XMLIN_OK) {
        fprintf(stderr, "%s: %s\n", label, err);
        CHECK_INT(rc, XMLIN_OK);
        return;
    }
    size_t l1, l2;
    char *t1 = write_wrapped(a, &l1);
    rc = xmlin_parse(x2, t1, l1, &b, err, sizeof(err));
    CHECK_INT(rc, XMLIN_OK);
    if (rc == XMLIN_OK) {
        xmpp_stanza_t *inner = xmpp_stanza_get_children(b);
        char *ca = canon(a), *cb = canon(inner);
        /* The wrapper made every namespace explicit: a child in the
         * wrapper's namespace would lose its xmlns, none of ours is. */
        CHECK_STR(ca, cb);
        /* b is the wrapper now: written as it is, it must give t1. */
        char *t2 = NULL;
        CHECK_INT(xmpp_stanza_to_text(b, &t2, &l2), XMPP_EOK);
        CHECK_INT(l1, l2);
        check_count++;
        if (!t2 || strcmp(t1, t2) != 0) {
            fprintf(stderr, "%s: written differently the second time:\n  %.300s\n  %.300s\n", label, t1,
                    t2 ? t2 : "(null)");
            check_failures++;
        }
        xmpp_free(ctx, t2);
        free(ca);
        free(cb);
        xmpp_stanza_release(b);
    }
    xmpp_free(ctx, t1);
    xmpp_stanza_release(a);
}

static void test_roundtrip(struct xmlin *x)
{
    struct xmlin_limits big = {.max_bytes = 1 << 20, .max_depth = 64, .max_attrs = 256, .max_children = 100000};
    struct xmlin *x2 = xmlin_new(ctx, &big);
    CHECK(x2 != NULL);
    static const char *const samples[] = {
        "<message xmlns='jabber:client' to='a@b' id='1'><body>hi &amp; &lt;bye&gt; \"q\" 'a'</body></message>",
        "<body rid='2' xmlns='http://jabber.org/protocol/httpbind' xmlns:b='urn:xmpp:xbosh' b:restart='true'>"
        "<message xmlns='jabber:client'><body>x</body></message>\n<presence xmlns='jabber:client'/></body>",
        "<x:foo xmlns:x='u' xmlns:p='urn:p' p:a='1' xml:lang='de'><x:bar/><baz/><q xmlns='u'/></x:foo>",
        "<body xmlns:xmpp='urn:evil' xmlns:xmpp1='urn:o' xmlns:b='urn:xmpp:xbosh' xmpp:restart='1' xmpp1:a='2' "
        "b:version='1.0'/>",
        "<a b='&lt;&gt;&amp;&quot;&apos;' c='\xc3\xa9'>\xf0\x9f\x98\x80<![CDATA[<&>]]>]]&gt;</a>",
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>",
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlx"
        "a3hkYXdMM3JVY05Ra0hBMXd3</auth>",
    };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
        roundtrip_one(x, x2, samples[i], strlen(samples[i]), samples[i]);

    /* Every Jingle stanza of the corpus. */
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/jingle", data_dir);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int files = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".xml") != 0)
            continue;
        size_t len;
        char *s = file_text(dir, e->d_name, &len);
        if (!s)
            continue;
        roundtrip_one(x, x2, s, len, e->d_name);
        free(s);
        files++;
    }
    if (d)
        closedir(d);
    CHECK(files >= 20);
    xmlin_free(x2);
}

static void test_refusals(struct xmlin *x)
{
    /* Not well-formed. */
    REFUSED(x, "", XMLIN_NOT_WELL_FORMED, "empty input");
    REFUSED(x, "  \n", XMLIN_NOT_WELL_FORMED, "no element found");
    REFUSED(x, "<a><b></a>", XMLIN_NOT_WELL_FORMED, "line 1, column 9: mismatched tag");
    REFUSED(x, "<a>\n<b>", XMLIN_NOT_WELL_FORMED, "line 2");
    REFUSED(x, "<a", XMLIN_NOT_WELL_FORMED, NULL);
    REFUSED(x, "<a/><b/>", XMLIN_NOT_WELL_FORMED, "junk after document element");
    REFUSED(x, "<a/><a/>", XMLIN_NOT_WELL_FORMED, NULL);
    REFUSED(x, "text<a/>", XMLIN_NOT_WELL_FORMED, NULL);
    REFUSED(x, "<a/>text", XMLIN_NOT_WELL_FORMED, NULL);
    REFUSED(x, "<a/>&amp;", XMLIN_NOT_WELL_FORMED, NULL);
    REFUSED(x, "<a b=c/>", XMLIN_NOT_WELL_FORMED, NULL);
    REFUSED(x, "<a>&#0;</a>", XMLIN_NOT_WELL_FORMED, NULL);
    REFUSED(x, "<a>&#1;</a>", XMLIN_NOT_WELL_FORMED, NULL);
    REFUSED(x, "<a>&#xD800;</a>", XMLIN_NOT_WELL_FORMED, NULL);
    REFUSED(x, "<a>&#x110000;</a>", XMLIN_NOT_WELL_FORMED, NULL);
    REFUSED(x, "<a>\x01</a>", XMLIN_NOT_WELL_FORMED, NULL);
    REFUSED(x, "<a b='<'/>", XMLIN_NOT_WELL_FORMED, NULL);
    REFUSED(x, "<a>]]></a>", XMLIN_NOT_WELL_FORMED, NULL);
    REFUSED(x, "<?xml version='1.0' encoding='ISO-8859-1'?><a/>", XMLIN_NOT_WELL_FORMED, "UTF-8");
    REFUSED(x, "<a/><?xml version='1.0'?>", XMLIN_NOT_WELL_FORMED, NULL);
    /* NUL bytes, anywhere. */
    expect_refused(x, "<a>\0</a>", 8, XMLIN_NOT_WELL_FORMED, NULL, __LINE__);
    expect_refused(x, "<a/>\0", 5, XMLIN_NOT_WELL_FORMED, NULL, __LINE__);
    expect_refused(x, "<a b='\0'/>", 10, XMLIN_NOT_WELL_FORMED, NULL, __LINE__);
    /* Invalid UTF-8: lone continuation, overlong, surrogate, beyond
     * U+10FFFF, truncated, not a character (U+FFFE), in names too. */
    static const char *const bad_utf8[] = {
        "<a>\x80</a>", "<a>\xc0\x80</a>", "<a>\xc1\xbf</a>", "<a>\xe0\x80\x80</a>",
        "<a>\xed\xa0\x80</a>", "<a>\xf4\x90\x80\x80</a>", "<a>\xf8\x88\x80\x80\x80</a>",
        "<a>\xe2\x82</a>", "<a>\xef\xbf\xbe</a>", "<a>\xef\xbf\xbf</a>", "<a\xff/>",
        "<a b='\xfe'/>", "<a>\xc3</a>", "\xff\xfe<\0a\0/\0>\0",
    };
    for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++)
        REFUSED(x, bad_utf8[i], XMLIN_NOT_WELL_FORMED, NULL);

    /* Restricted XML (RFC 6120 11.1). */
    REFUSED(x, "<!DOCTYPE a><a/>", XMLIN_RESTRICTED, "DOCTYPE");
    REFUSED(x, "<!DOCTYPE a SYSTEM 'http://example.com/a.dtd'><a/>", XMLIN_RESTRICTED, "DOCTYPE");
    REFUSED(x, "<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>", XMLIN_RESTRICTED, "DOCTYPE");
    REFUSED(x, "<a><!-- c --></a>", XMLIN_RESTRICTED, "comment");
    REFUSED(x, "<!-- c --><a/>", XMLIN_RESTRICTED, "comment");
    REFUSED(x, "<a/><!-- c -->", XMLIN_RESTRICTED, "comment");
    REFUSED(x, "<a><?pi x?></a>", XMLIN_RESTRICTED, "processing instruction");
    REFUSED(x, "<?xml-stylesheet href='a'?><a/>", XMLIN_RESTRICTED, "processing instruction");
    REFUSED(x, "<a>&e;</a>", XMLIN_RESTRICTED, "undefined entity");
    REFUSED(x, "<a b='&e;'/>", XMLIN_RESTRICTED, "undefined entity");
    REFUSED(x, "<a>&nbsp;</a>", XMLIN_RESTRICTED, NULL);
    /* Billion laughs: refused at the DOCTYPE, before any expansion. */
    const char *lol = "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
                      "<!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
                      "<!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>"
                      "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>"
                      "<!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>"
                      "<!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>"
                      "<!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>"
                      "<!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>"
                      "<!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>"
                      "<!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>"
                      "]><lolz>&lol9;</lolz>";
    clock_t t0 = clock();
    REFUSED(x, lol, XMLIN_RESTRICTED, "DOCTYPE");
    CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 0.1);
    /* Same without a DOCTYPE start: the entity references are undefined. */
    REFUSED(x, "<lolz>&lol9;&lol9;</lolz>", XMLIN_RESTRICTED, NULL);

    /* Namespaces. */
    REFUSED(x, "<x:a/>", XMLIN_BAD_NAMESPACE, "unbound prefix");
    REFUSED(x, "<a xmlns='A'><x:b/></a>", XMLIN_BAD_NAMESPACE, "unbound prefix");
    REFUSED(x, "<a x:b='1'/>", XMLIN_BAD_NAMESPACE, "unbound prefix");
    REFUSED(x, "<a xmlns:x='u'/><x:b/>", XMLIN_NOT_WELL_FORMED, NULL);
    REFUSED(x, "<a xmlns:x=''/>", XMLIN_BAD_NAMESPACE, NULL);
    REFUSED(x, "<a xmlns:xml='urn:other'/>", XMLIN_BAD_NAMESPACE, NULL);
    REFUSED(x, "<a xmlns:xmlns='urn:other'/>", XMLIN_BAD_NAMESPACE, NULL);
    REFUSED(x, "<a xmlns:p='http://www.w3.org/XML/1998/namespace'/>", XMLIN_BAD_NAMESPACE, NULL);
    REFUSED(x, "<a xmlns='http://www.w3.org/2000/xmlns/'/>", XMLIN_BAD_NAMESPACE, NULL);
    REFUSED(x, "<xmlns:a/>", XMLIN_BAD_NAMESPACE, NULL);
    REFUSED(x, "<xml:a/>", XMLIN_BAD_NAMESPACE, "XML namespace");
    REFUSED(x, "<a><xml:b/></a>", XMLIN_BAD_NAMESPACE, "XML namespace");

    /* Conditions and descriptions. */
    CHECK_STR(xmlin_condition(XMLIN_NOT_WELL_FORMED), "not-well-formed");
    CHECK_STR(xmlin_condition(XMLIN_RESTRICTED), "restricted-xml");
    CHECK_STR(xmlin_condition(XMLIN_TOO_BIG), "policy-violation");
    CHECK_STR(xmlin_condition(XMLIN_TOO_DEEP), "policy-violation");
    CHECK_STR(xmlin_condition(XMLIN_BAD_NAMESPACE), "invalid-namespace");
    CHECK_STR(xmlin_condition(XMLIN_NOMEM), "resource-constraint");
    CHECK_STR(xmlin_condition(XMLIN_OK), "undefined-condition");
    CHECK_STR(xmlin_condition(-99), "undefined-condition");
    for (int c = XMLIN_NOMEM; c <= XMLIN_OK; c++)
        CHECK(strcmp(xmlin_strerror(c), "unknown error") != 0);
}

/* "<a><a>...</a></a>" nested `depth` deep; caller frees. */
static char *nested(unsigned depth)
{
    char *s = malloc(8 * (size_t)depth + 1), *p = s;
    for (unsigned i = 0; i < depth; i++)
        p += sprintf(p, "<a>");
    for (unsigned i = 0; i < depth; i++)
        p += sprintf(p, "</a>");
    *p = '\0';
    return s;
}

/* "<r><a/>...</r>" with `n` elements in all; caller frees. */
static char *flat(size_t n)
{
    char *s = malloc(4 * n + 16), *p = s;
    p += sprintf(p, "<r>");
    for (size_t i = 1; i < n; i++)
        p += sprintf(p, "<a/>");
    sprintf(p, "</r>");
    return s;
}

/* "<r><g><a/>...</g>...</r>": `groups` groups of `per` elements. */
static char *wide(size_t groups, size_t per)
{
    char *s = malloc(4 * groups * (per + 2) + 16), *p = s;
    p += sprintf(p, "<r>");
    for (size_t g = 0; g < groups; g++) {
        p += sprintf(p, "<g>");
        for (size_t i = 0; i < per; i++)
            p += sprintf(p, "<a/>");
        p += sprintf(p, "</g>");
    }
    sprintf(p, "</r>");
    return s;
}

/* "<a a0='' ...>" with `attrs` attributes and `decls` declarations. */
static char *attrs(unsigned nattrs, unsigned decls)
{
    char *s = malloc(32 * ((size_t)nattrs + decls) + 16), *p = s;
    p += sprintf(p, "<a");
    for (unsigned i = 0; i < nattrs; i++)
        p += sprintf(p, " a%u=''", i);
    for (unsigned i = 0; i < decls; i++)
        p += sprintf(p, " xmlns:p%u='u%u'", i, i);
    sprintf(p, "/>");
    return s;
}

static void expect_ok(struct xmlin *x, const char *in, int line)
{
    xmpp_stanza_t *st = NULL;
    char err[200];
    int rc = xmlin_parse(x, in, strlen(in), &st, err, sizeof(err));
    check_count++;
    if (rc != XMLIN_OK || !st) {
        fprintf(stderr, "test_xmlin.c:%d: input \"%.60s\": got %d \"%s\"\n", line, in, rc, err);
        check_failures++;
    }
    if (st)
        xmpp_stanza_release(st);
}
#define OK(x, in) expect_ok((x), (in), __LINE__)

static void test_limits(void)
{
    /* Defaults. */
    struct xmlin *x = xmlin_new(ctx, NULL);
    char *s = nested(32);
    OK(x, s);
    free(s);
    s = nested(33);
    REFUSED(x, s, XMLIN_TOO_DEEP, "deeper than 32");
    free(s);
    s = nested(9000); /* deep nesting brings ejabberd 23.01 down */
    REFUSED(x, s, XMLIN_TOO_DEEP, NULL);
    free(s);
    s = wide(63, 64); /* 1 + 63 + 63 * 64 = 4096 elements */
    OK(x, s);
    free(s);
    s = wide(63, 65);
    REFUSED(x, s, XMLIN_TOO_BIG, "more than 4096 elements");
    free(s);
    /* Children of one element: n * (n - 1) / 2 <= 262144 steps. */
    s = flat(725); /* the root and 724 children */
    OK(x, s);
    free(s);
    s = flat(726);
    REFUSED(x, s, XMLIN_TOO_BIG, "too many children");
    free(s);
    s = flat(4096);
    REFUSED(x, s, XMLIN_TOO_BIG, "too many children");
    free(s);
    s = attrs(64, 0);
    OK(x, s);
    free(s);
    s = attrs(65, 0);
    REFUSED(x, s, XMLIN_TOO_BIG, "65 attributes");
    free(s);
    s = attrs(60, 4);
    OK(x, s);
    free(s);
    s = attrs(60, 5);
    REFUSED(x, s, XMLIN_TOO_BIG, "65 attributes");
    free(s);
    /* A namespace URI declared once and used by every element would be
     * copied into each of them: 30 kB x 1000. */
    struct out o = {0};
    out_add(&o, "<r xmlns:p='urn:", 16);
    for (int i = 0; i < 30000; i++)
        out_add(&o, "u", 1);
    out_add(&o, "'>", 2);
    for (int i = 0; i < 1000; i++)
        out_add(&o, "<p:a/>", 6);
    out_add(&o, "</r>", 4);
    REFUSED(x, o.p, XMLIN_TOO_BIG, "more than 262144 bytes");
    o.len = 0;
    out_add(&o, "<r xmlns:p='urn:", 16);
    for (int i = 0; i < 30000; i++)
        out_add(&o, "u", 1);
    out_add(&o, "'>", 2);
    for (int i = 0; i < 1000; i++)
        out_add(&o, "<a p:x=''/>", 11);
    out_add(&o, "</r>", 4);
    REFUSED(x, o.p, XMLIN_TOO_BIG, "more than 262144 bytes");
    /* Up to four times the input is fine. */
    o.len = 0;
    out_add(&o, "<r xmlns:p='urn:", 16);
    for (int i = 0; i < 1000; i++)
        out_add(&o, "u", 1);
    out_add(&o, "'>", 2);
    for (int i = 0; i < 200; i++)
        out_add(&o, "<p:a/>", 6);
    out_add(&o, "</r>", 4);
    OK(x, o.p);
    free(o.p);
    s = malloc(65536 + 2);
    memset(s, ' ', 65537);
    memcpy(s, "<a/>", 4);
    s[65536] = '\0';
    OK(x, s);
    s[65536] = ' ';
    s[65537] = '\0';
    REFUSED(x, s, XMLIN_TOO_BIG, "65537 bytes, over the limit of 65536");
    free(s);
    xmlin_free(x);

    /* Chosen limits. */
    struct xmlin_limits lim = {.max_bytes = 100, .max_depth = 3, .max_attrs = 2, .max_children = 5, .max_steps = 3};
    x = xmlin_new(ctx, &lim);
    OK(x, "<a><b><c/></b></a>");
    REFUSED(x, "<a><b><c><d/></c></b></a>", XMLIN_TOO_DEEP, "deeper than 3");
    OK(x, "<a><b><c/></b><b><c/></b></a>");
    REFUSED(x, "<a><b><c/></b><b><c/></b><b/></a>", XMLIN_TOO_BIG, "more than 5 elements");
    /* Steps: 0 + 1 + 2 for three children, text nodes included. */
    OK(x, "<a><b/> <b/></a>");
    OK(x, "<a>t<b/>t</a>");
    REFUSED(x, "<a><b/><b/><b/><b/></a>", XMLIN_TOO_BIG, "too many children");
    REFUSED(x, "<a><b/> <b/> </a>", XMLIN_TOO_BIG, "too many children");
    OK(x, "<a><b>t<c/></b><b/></a>"); /* 0 + 1 under b, 0 + 1 under a */
    /* The sum over all elements counts: 0 + 1 + 2 under b, 0 + 1 under a. */
    REFUSED(x, "<a><b>t<c/>t</b><b/></a>", XMLIN_TOO_BIG, "too many children");
    OK(x, "<a x='1' xmlns='u'/>");
    REFUSED(x, "<a x='1' y='2' xmlns='u'/>", XMLIN_TOO_BIG, "3 attributes");
    REFUSED(x, "<a><b x='1' y='2' z='3'/></a>", XMLIN_TOO_BIG, "3 attributes");
    s = malloc(102);
    memset(s, ' ', 101);
    memcpy(s, "<a/>", 4);
    s[100] = '\0';
    OK(x, s);
    s[100] = ' ';
    s[101] = '\0';
    REFUSED(x, s, XMLIN_TOO_BIG, "101 bytes");
    free(s);
    xmlin_free(x);

    /* The tree's strings: "a" and its NUL, "xmlns" = "" and two NULs,
     * "hello" and its NUL: 15 bytes. */
    struct xmlin_limits tl = {.max_tree_bytes = 15};
    x = xmlin_new(ctx, &tl);
    OK(x, "<a>hello</a>");
    xmlin_free(x);
    tl.max_tree_bytes = 14;
    x = xmlin_new(ctx, &tl);
    REFUSED(x, "<a>hello</a>", XMLIN_TOO_BIG, "more than 14 bytes");
    xmlin_free(x);
}

static void test_reuse(struct xmlin *x)
{
    /* Each kind of failure, then a good input on the same parser. */
    static const char *const bad[] = {
        "<a><b></a>", "<!DOCTYPE a><a/>", "<a><!-- c --></a>", "<x:a/>", "<a>\xc3</a>", "<a/><b/>",
        "<a>&e;</a>", "<a xmlns:p='u'>text<b><c/>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        xmpp_stanza_t *st;
        CHECK(xmlin_parse(x, bad[i], strlen(bad[i]), &st, NULL, 0) != XMLIN_OK);
        CHECK_PARSE(x, "<message xmlns='jabber:client'><body>ok</body></message>",
                    "<message xmlns='jabber:client'><body>ok</body></message>");
    }
    /* A limit hit deep inside, with text pending, then a good one. */
    char *s = nested(40);
    REFUSED(x, s, XMLIN_TOO_DEEP, NULL);
    free(s);
    CHECK_PARSE(x, "<a>t</a>", "<a xmlns=''>t</a>");
    /* Prefixes bound in one input are not bound in the next. */
    CHECK_PARSE(x, "<p:a xmlns:p='u'/>", "<a xmlns='u'/>");
    REFUSED(x, "<p:a/>", XMLIN_BAD_NAMESPACE, NULL);
}

/* ---- out of memory ---------------------------------------------------- */

static long alloc_budget = -1; /* -1: no limit */

static void *fail_alloc(size_t size, void *ud)
{
    (void)ud;
    if (alloc_budget == 0)
        return NULL;
    if (alloc_budget > 0)
        alloc_budget--;
    return malloc(size);
}

static void fail_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

static void *fail_realloc(void *p, size_t size, void *ud)
{
    (void)ud;
    if (alloc_budget == 0)
        return NULL;
    if (alloc_budget > 0)
        alloc_budget--;
    return realloc(p, size);
}

static void test_nomem(void)
{
    static const xmpp_mem_t mem = {fail_alloc, fail_free, fail_realloc, NULL};
    xmpp_ctx_t *c = xmpp_ctx_new(&mem, NULL);
    struct xmlin *x = xmlin_new(c, NULL);
    const char *in = "<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' "
                     "xmpp:version='1.0' rid='1'><message xmlns='jabber:client'><body>hi</body>"
                     "</message>tail</body>";
    int nomem = 0, ok = 0;
    for (long budget = 0; budget < 200 && !ok; budget++) {
        xmpp_stanza_t *st;
        char err[100];
        alloc_budget = budget;
        int rc = xmlin_parse(x, in, strlen(in), &st, err, sizeof(err));
        alloc_budget = -1;
        if (rc == XMLIN_NOMEM) {
            nomem++;
            CHECK(st == NULL);
            CHECK_CONTAINS(err, "out of memory");
        } else {
            CHECK_INT(rc, XMLIN_OK);
            ok = 1;
            char *cn = canon(st);
            CHECK_STR(cn, "<body rid='1' xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' "
                          "xmpp:version='1.0'><message xmlns='jabber:client'><body>hi</body></message>tail</body>");
            free(cn);
            xmpp_stanza_release(st);
        }
    }
    CHECK(ok);
    CHECK(nomem > 10); /* every allocation of the tree failed once */
    CHECK_STR(xmlin_condition(XMLIN_NOMEM), "resource-constraint");
    xmlin_free(x);
    xmpp_ctx_free(c);
}

/* ---- benchmark -------------------------------------------------------- */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void bench_one(struct xmlin *x, const char *label, const char *in, size_t len, int n)
{
    xmpp_stanza_t *st;
    double t0 = now_us();
    for (int i = 0; i < n; i++) {
        if (xmlin_parse(x, in, len, &st, NULL, 0) != XMLIN_OK)
            abort();
        xmpp_stanza_release(st);
    }
    double t1 = now_us();
    for (int i = 0; i < n; i++) {
        st = xmpp_stanza_new_from_string(ctx, in);
        if (!st)
            abort();
        xmpp_stanza_release(st);
    }
    double t2 = now_us();
    printf("%-40s %6zu bytes: xmlin_parse %8.2f us, xmpp_stanza_new_from_string %8.2f us\n", label, len,
           (t1 - t0) / n, (t2 - t1) / n);
}

static void bench(int n)
{
    struct xmlin *x = xmlin_new(ctx, NULL);
    const char *msg = "<message xmlns='jabber:client' from='juliet@capulet.example/balcony' "
                      "to='romeo@montague.example' type='chat' id='a7c3f0e2-1b9d-4c4f-9e2a-5d1f3b6c8e90' "
                      "xml:lang='en'><body>Wherefore art thou, Romeo? Deny thy father and refuse thy name.</body>"
                      "<active xmlns='http://jabber.org/protocol/chatstates'/>"
                      "<request xmlns='urn:xmpp:receipts'/></message>";
    bench_one(x, "message", msg, strlen(msg), n);
    static const char *const files[] = {"stanzajs-chromium-av-offer.xml", "movim-session-initiate.xml",
                                        "conversations-session-initiate.xml"};
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/jingle", data_dir);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        size_t len;
        char *s = file_text(dir, files[i], &len);
        if (s)
            bench_one(x, files[i], s, len, n / 10 ? n / 10 : 1);
        free(s);
    }
    /* The costliest shapes the default limits allow: the most children
     * under one element, with and without text between them. */
    char *s = flat(725);
    bench_one(x, "724 empty children", s, strlen(s), 200);
    free(s);
    struct out o = {0};
    out_add(&o, "<r>", 3);
    for (int i = 0; i < 362; i++)
        out_add(&o, "<a/> ", 5);
    out_add(&o, "</r>", 4);
    bench_one(x, "362 empty children and 362 spaces", o.p, o.len, 200);
    free(o.p);
    s = wide(63, 64);
    bench_one(x, "63 x 64 empty children", s, strlen(s), 200);
    free(s);
    xmlin_free(x);
}

int main(int argc, char **argv)
{
    int bench_n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bench") == 0 && i + 1 < argc)
            bench_n = (int)strtol(argv[++i], NULL, 10);
        else
            data_dir = argv[i];
    }
    xmpp_initialize();
    ctx = xmpp_ctx_new(NULL, NULL);
    if (bench_n > 0) {
        bench(bench_n);
        xmpp_ctx_free(ctx);
        xmpp_shutdown();
        return 0;
    }
    struct xmlin *x = xmlin_new(ctx, NULL);
    CHECK(x != NULL);
    xmlin_free(NULL);
    test_basic(x);
    test_namespaces(x);
    test_attributes(x);
    test_text(x);
    test_roundtrip(x);
    test_refusals(x);
    test_limits();
    test_reuse(x);
    test_nomem();
    xmlin_free(x);
    xmpp_ctx_free(ctx);
    xmpp_shutdown();
    return check_report("test_xmlin");
}
