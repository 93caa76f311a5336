/* stream.h - the contract between Epode's browser transports (XMPP over
 * WebSocket, RFC 7395, and BOSH, XEP-0124/0206) and its client sessions
 * (component/c2s.c).
 *
 * A transport turns its framing into four events for the session layer
 * (struct stream_in) and offers three calls back (struct stream_out). The
 * session layer never sees framing: no <open/>, no <body/>, no sid or rid.
 * The transport never sees XMPP: it does not know SASL from a message.
 *
 * Elements cross as libstrophe stanza objects on the way in (parsed by
 * xmlin.c, one per top-level element, borrowed for the duration of the
 * call) and as XML text on the way out (one complete top-level element,
 * already namespace-qualified: stanzas carry xmlns='jabber:client',
 * features, SASL and bind elements their own namespace).
 *
 * Threading: everything runs on the daemon's one loop thread. Calls in
 * either direction may happen from inside the other side's callback: a
 * transport's `send` may be called from within `element`; the session
 * layer may call `close` from within `element`, after which the transport
 * calls `gone` later, never re-entrantly from `close`. */
#ifndef EPODE_STREAM_H
#define EPODE_STREAM_H

#include <stddef.h>
#include <strophe.h>

/* What the session layer knows about the client's connection. */
struct stream_peer {
    const char *addr;       /* the client's IP address, numeric ("127.0.0.1",
                               "::1"); for per-address limits and logs */
    int secure;             /* 1: TLS (https/wss), or loopback: PLAIN is allowed */
    const char *transport;  /* "websocket" or "bosh", for logs and metrics */
};

/* Implemented by a transport; `t` is the transport's own connection or
 * session object. */
struct stream_out {
    /* The server's stream header, answering the client's `open` (also
     * after a restart): `from` is Epode's domain, `id` a fresh stream id.
     * WebSocket writes <open xmlns='urn:ietf:params:xml:ns:xmpp-framing'
     * from= id= version='1.0' xml:lang='en'/>; BOSH puts from and
     * authid=id on its session creation response (nothing on a restart). */
    void (*open)(void *t, const char *from, const char *id);
    /* One top-level element as text (`len` bytes, not NUL-terminated
     * necessarily). The transport copies it. Returns 0, or -1 when the
     * transport's output buffer is over its cap (the session then ends the
     * stream with policy-violation: a client that does not read). */
    int (*send)(void *t, const char *xml, size_t len);
    /* Ends the stream. `cond`: an RFC 6120 4.9.3 stream error condition
     * ("not-well-formed", "policy-violation", "conflict", ...), with an
     * optional human-readable `text` (may be NULL), sent before the close;
     * NULL for a normal close. WebSocket writes <stream:error/> (if any)
     * and <close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>, then closes
     * the connection; BOSH terminates the session (remote-stream-error with
     * the <stream:error/> inside, or a plain terminate). Whatever was sent
     * before is delivered first. The transport calls stream_in.gone() for
     * this session afterwards, from the loop (not from inside close). */
    void (*close)(void *t, const char *cond, const char *text);
};

/* Implemented by the session layer; `s` is what attach() returned. */
struct stream_in {
    /* A new client connection (WebSocket handshake done, or BOSH session
     * creation request received). Returns the session handle, or NULL to
     * refuse it (limits: too many sessions from that address, shutting
     * down); `*why` then says why (static text), and the transport answers
     * with its own refusal (WebSocket close 1008/1013 or HTTP 503, BOSH
     * terminate policy-violation). `out` and `t` stay valid until gone(). */
    void *(*attach)(void *ud, const struct stream_out *out, void *t, const struct stream_peer *peer,
                    const char **why);
    /* The client opened the stream (first <open/>, BOSH session creation)
     * or restarted it after SASL (a new <open/>, BOSH xmpp:restart='true').
     * `to` the domain the client asked for; `lang` may be NULL; `version`
     * "1.0" or NULL. The session answers with out->open() then the stream
     * features (out->send), or with out->close() and a stream error. */
    void (*open)(void *s, const char *to, const char *lang, const char *version);
    /* One top-level element from the client (a stanza, <auth/>,
     * <response/>, ...). Borrowed: clone it to keep it. Its top-level
     * namespace is in its "xmlns" attribute. */
    void (*element)(void *s, xmpp_stanza_t *el);
    /* The transport could not parse what the client sent, or the client
     * broke the framing: the session sends nothing more except through
     * out->close(s, cond, text), which the transport expects next. `cond`
     * is the stream error condition the transport determined
     * ("not-well-formed", "policy-violation" for an element over the size
     * limit, "restricted-xml", "invalid-namespace"). */
    void (*error)(void *s, const char *cond, const char *text);
    /* The client closed the stream (<close/>, BOSH type='terminate'). The
     * session ends (unavailable presence) and answers with out->close(NULL). */
    void (*closed)(void *s);
    /* The connection is gone (closed by either side, network error, BOSH
     * inactivity timeout, Epode stopping). Last call for `s`: the session
     * ends and frees itself; it must not use `out`/`t` any more. */
    void (*gone)(void *s);
    void *ud;
};

#endif
