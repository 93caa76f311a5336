/* xmlin.h - one XML element from a browser, parsed whole into a libstrophe
 * stanza tree.
 *
 * Browsers send complete top-level elements: one per WebSocket message
 * (RFC 7395) and one <body/> per BOSH request (XEP-0124). Each is parsed in
 * one call with expat, so no parser state is kept per connection; one
 * struct xmlin serves every connection of a thread.
 *
 * What the tree looks like:
 * - Element names are local names ("message", never "x:message").
 * - Namespaces are "xmlns" attributes: on the root always ("" when the root
 *   is in no namespace), and on each element whose namespace differs from
 *   its parent's. Prefixes used for elements are dropped.
 * - Attributes in the XML namespace are named "xml:NAME" (xml:lang).
 *   Attributes in urn:xmpp:xbosh (XEP-0206) are named "xmpp:NAME" whatever
 *   prefix the client used, and the element gets xmlns:xmpp='urn:xmpp:xbosh'.
 *   Attributes in any other namespace keep the client's prefix, "P:NAME",
 *   and the element gets its own xmlns:P declaration, so the stanza
 *   re-serialises to well-formed XML with the same meaning. The prefix
 *   "xmpp" is kept for urn:xmpp:xbosh alone: an attribute with prefix "xmpp"
 *   bound to another namespace is renamed to the first free "xmppN" (N = 1,
 *   2, ...), so "xmpp:restart" can never come from another namespace.
 * - Character data, whitespace included, becomes text children; adjacent
 *   text (entities, CDATA sections, lines) is one text node. Whitespace
 *   outside the root is dropped.
 * - Attributes are inserted in a fixed order (by name), so that
 *   xmpp_stanza_to_text() gives the same text for the same tree.
 *
 * Refused: anything not well-formed (by XML 1.0 and Namespaces in XML,
 * invalid UTF-8 and NUL bytes included), more than one root, text outside
 * the root, an empty input, an XML declaration naming an encoding other
 * than UTF-8; restricted XML (RFC 6120 11.1): DOCTYPE, comments, processing
 * instructions, entity references other than the five predefined ones and
 * character references; and input over the limits below. */
#ifndef EPODE_XMLIN_H
#define EPODE_XMLIN_H

#include <stddef.h>
#include <strophe.h>

struct xmlin; /* reusable parser; one per thread, not thread-safe */

struct xmlin_limits {
    size_t max_bytes;     /* whole input; 0 = 65536; at most INT_MAX */
    unsigned max_depth;   /* element nesting, the root is depth 1; 0 = 32;
                             at most 65536 */
    unsigned max_attrs;   /* attributes per element, namespace declarations
                             included; 0 = 64; at most 65536 */
    size_t max_children;  /* total elements in one input, root included;
                             0 = 4096 */
    size_t max_steps;     /* libstrophe appends a child by walking the
                             children already there, so n children under one
                             element cost n * (n - 1) / 2 steps (text nodes
                             count as children). The sum over the whole input
                             is capped here; 0 = 262144, which lets one
                             element have 724 children and keeps the worst
                             input under a millisecond. */
    size_t max_tree_bytes; /* bytes of names, attribute names and values and
                             text copied into the tree: a short input can
                             make many copies of one long namespace URI;
                             0 = 4 * max_bytes */
};

enum xmlin_code {
    XMLIN_OK = 0,
    XMLIN_NOT_WELL_FORMED = -1,
    XMLIN_RESTRICTED = -2,
    XMLIN_TOO_BIG = -3,       /* over max_bytes, max_attrs, max_children,
                                 max_steps or max_tree_bytes */
    XMLIN_TOO_DEEP = -4,      /* over max_depth */
    XMLIN_BAD_NAMESPACE = -5, /* unbound prefix, a misuse of the reserved
                                 xml/xmlns prefixes and namespaces, or an
                                 element in the XML namespace (<xml:a/>) */
    XMLIN_NOMEM = -6
};

/* A parser whose stanzas are made in `ctx` (which must outlive it), with
 * the given limits (NULL or zero fields: the defaults). NULL when out of
 * memory. Free with xmlin_free(). */
struct xmlin *xmlin_new(xmpp_ctx_t *ctx, const struct xmlin_limits *lim);

/* Frees the parser. NULL is a no-op. Stanzas it made stay valid. */
void xmlin_free(struct xmlin *x);

/* Parses `data` (len bytes, need not be NUL-terminated) as exactly one
 * element; an XML declaration and whitespace around the element are
 * allowed. On success returns XMLIN_OK and sets *out to a new stanza tree
 * that the caller owns (free it with xmpp_stanza_release). On error returns
 * a negative enum xmlin_code, sets *out to NULL and writes a short reason
 * into `err` (errlen bytes, always NUL-terminated when errlen > 0), such as
 * "line 1, column 12: mismatched tag". The parser is ready for the next
 * call either way. */
int xmlin_parse(struct xmlin *x, const char *data, size_t len, xmpp_stanza_t **out, char *err,
                size_t errlen);

/* The RFC 6120 4.9.3 stream error condition for a code: "not-well-formed",
 * "restricted-xml", "policy-violation" (too big, too deep, too many),
 * "invalid-namespace", "resource-constraint" (out of memory);
 * "undefined-condition" for XMLIN_OK or an unknown code. Static text. */
const char *xmlin_condition(int code);

/* A short English description of a code, for logs. Static text. */
const char *xmlin_strerror(int code);

#endif
