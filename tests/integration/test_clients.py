#!/usr/bin/python3
"""Epode's client side at the protocol level: browsers' transports (raw
WebSocket and BOSH clients from webxmpp.py) against a running Epode attached
to a real XMPP server, whose user is driven by slixmpp.

Usage: test_clients.py PHASE
  PHASE "main": logins, bad input, rosters, subscriptions and chat with a
                remote contact, local routing, BOSH faults, limits.
  PHASE "after-restart": what "main" stored is still there.
Environment: EPODE_HTTP (host:port), DOMAIN (Epode's), SERVER_C2S (host:port of
the real server), SERVER_DOMAIN, BOB (JID on the real server), BOB_PASSWORD.
Prints ok/FAIL lines; exit status 1 if anything failed."""

import os
import sys
import threading
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webxmpp as W  # noqa: E402
from xmpp_client import Session, Match  # noqa: E402

host, port = os.environ["EPODE_HTTP"].rsplit(":", 1)
port = int(port)
DOMAIN = os.environ.get("DOMAIN", "webrtc.localhost")
c2s_host, c2s_port = os.environ["SERVER_C2S"].rsplit(":", 1)
BOB = os.environ.get("BOB", "bob@localhost")
BOB_PW = os.environ.get("BOB_PASSWORD", "bobpass")
ALLOWED_ORIGIN = os.environ.get("ALLOWED_ORIGIN", "http://localhost:8080")

passed = failed = 0


def ok(what):
    global passed
    passed += 1
    print("ok   - " + what, flush=True)


def ko(what):
    global failed
    failed += 1
    print("FAIL - " + what, flush=True)


def check(what, cond, detail=""):
    (ok if cond else ko)(what + ("" if cond else ": " + str(detail)[:600]))
    return cond


def run(what, fn):
    try:
        fn()
    except Exception as e:  # a scenario that throws has failed
        ko("%s: %s: %s" % (what, type(e).__name__, e))


def ws(origin=None):
    return W.WsClient(host, port, DOMAIN, origin=origin)


def login_ws(user, pw, **kw):
    c = ws()
    err = c.login(user, pw, **kw)
    if err is not None:
        raise AssertionError("login of %s failed: %s" % (user, ET.tostring(err).decode()))
    return c


def is_stanza(name, **attrs):
    def pred(el):
        if W.local(el.tag) != name:
            return False
        return all(el.get(k.replace("_", "")) == v for k, v in attrs.items())
    return pred


def roster_items(c):
    c.send("<iq xmlns='jabber:client' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
    res = c.expect(lambda e: W.local(e.tag) == "iq" and e.get("id") == "r1", what="roster result")
    return {i.get("jid"): i for i in res.iter("{jabber:iq:roster}item")}


def bob_session():
    return Session(BOB, BOB_PW, server=(c2s_host, int(c2s_port)), timeout=10)


# ------------------------------------------------------------ scenarios
def t_logins():
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"):
        c = ws()
        err = c.login("carol", "carolpass", mech=mech)
        check("websocket: %s login, bind gives a full JID" % mech,
              err is None and c.jid and c.jid.startswith("carol@%s/" % DOMAIN), c.log[-3:])
        c.close()
    c = ws()
    err = c.login("carol", "carolpass", resource="desk")
    check("websocket: the requested resource is bound", c.jid == "carol@%s/desk" % DOMAIN, c.jid)
    c.close()
    c = ws()
    err = c.login("carol", "wrong")
    check("websocket: a wrong password gets <failure><not-authorized/>",
          err is not None and W.local(err.tag) == "failure" and err.find("{%s}not-authorized" % W.NS_SASL) is not None,
          c.log[-2:])
    err = None
    c.close()
    c = ws()
    err = c.login("nosuchuser", "whatever")
    check("websocket: an unknown user gets the same not-authorized",
          err is not None and err.find("{%s}not-authorized" % W.NS_SASL) is not None, c.log[-2:])
    c.close()
    c = ws()
    feats = c.open()
    mechs = [m.text for m in feats.iter("{%s}mechanism" % W.NS_SASL)]
    check("websocket: SCRAM-SHA-256 is offered first, ANONYMOUS when enabled",
          mechs[:2] == ["SCRAM-SHA-256", "SCRAM-SHA-1"] and "ANONYMOUS" in mechs, mechs)
    c.close()
    c = ws()
    err = c.login("", "", mech="ANONYMOUS")
    check("websocket: ANONYMOUS login gets a fresh JID", err is None and c.jid and c.jid.endswith("@" + DOMAIN + "/" + c.jid.split("/", 1)[1]), c.log[-3:])
    c.close()
    b = W.BoshClient(host, port, DOMAIN)
    err = b.login("carol", "carolpass")
    check("bosh: SCRAM-SHA-256 login and bind", err is None and b.jid.startswith("carol@"), err)


def expect_stream_error(c, cond, what):
    try:
        el = c.expect(lambda e: W.stream_error(e) is not None, timeout=5, what="stream error")
        got = W.stream_error(el)
        check(what, got == cond, "got %s" % got)
        # then <close/> and the connection closes
        try:
            c.expect(lambda e: W.local(e.tag) == "close", timeout=5, what="close")
            ok(what + ": <close/> follows")
        except (W.Closed, TimeoutError) as e:
            ko(what + ": no <close/> after the error: %s" % e)
    except W.Closed as e:
        ko(what + ": closed without a stream error (%s)" % e)


def t_bad_input():
    c = login_ws("carol", "carolpass")
    c.send("<message xmlns='jabber:client' to='x@y'><body>unclosed</message>")
    expect_stream_error(c, "not-well-formed", "websocket: broken XML ends the stream with not-well-formed")
    c.close()

    c = login_ws("carol", "carolpass")
    c.send("<message xmlns='jabber:client' to='bob@localhost'><body>" + "x" * 70000 + "</body></message>")
    expect_stream_error(c, "policy-violation", "websocket: an element over max_stanza_size gets policy-violation")
    c.close()

    c = login_ws("carol", "carolpass")
    c.send("<message xmlns='jabber:client' from='dave@%s/x' to='%s'><body>spoof</body></message>" % (DOMAIN, BOB))
    expect_stream_error(c, "invalid-from", "websocket: a spoofed from gets invalid-from")
    c.close()

    c = login_ws("carol", "carolpass")
    c.send("<!DOCTYPE x [<!ENTITY a 'b'>]><message xmlns='jabber:client'/>")
    expect_stream_error(c, "restricted-xml", "websocket: a DTD gets restricted-xml")
    c.close()

    c = ws()
    c.send("<open xmlns='%s' to='elsewhere.example' version='1.0'/>" % W.NS_FRAMING)
    c.recv()  # our <open/>
    expect_stream_error(c, "host-unknown", "websocket: a stream to another domain gets host-unknown")
    c.close()

    c = ws()
    c.open()
    c.send("<message xmlns='jabber:client' to='%s'><body>before auth</body></message>" % BOB)
    expect_stream_error(c, "not-authorized", "websocket: a stanza before authentication gets not-authorized")
    c.close()

    w = W.WebSocket(host, port, origin="http://evil.example")
    check("websocket: an Origin not in allowed_origins is refused (403)", w.status == 403, w.headers)
    w.close()
    w = W.WebSocket(host, port, origin=ALLOWED_ORIGIN)
    check("websocket: an allowed Origin is accepted (101)", w.status == 101, w.headers)
    w.close()
    w = W.WebSocket(host, port, protocol=None)
    check("websocket: no 'xmpp' sub-protocol is refused (400)", w.status == 400, w.headers)
    w.close()

    # an iq without id, and a stanza to a malformed JID: stanza errors
    c = login_ws("carol", "carolpass")
    c.send("<message xmlns='jabber:client' to='a@b@c' id='m1'><body>x</body></message>")
    el = c.expect(lambda e: W.local(e.tag) == "message" and e.get("id") == "m1", what="error")
    check("websocket: a malformed to gets jid-malformed", W.stanza_error(el) == ("modify", "jid-malformed"),
          ET.tostring(el).decode())
    c.close()

    b = W.BoshClient(host, port, DOMAIN)
    st, body = b.post("this is not XML")
    check("bosh: a body that is not XML gets HTTP 400", st == 400, (st, body))
    b.sid = "nosuchsid"
    st, body = b.post(b.body())
    check("bosh: an unknown sid gets terminate/item-not-found",
          st in (200, 404) and (st == 404 or (body.get("type") == "terminate" and body.get("condition") == "item-not-found")),
          (st, body if st != 200 else ET.tostring(body).decode()))


def t_local_chat():
    a = login_ws("carol", "carolpass", resource="a")
    d = login_ws("dave", "davepass", resource="d")
    for c in (a, d):
        c.send("<presence xmlns='jabber:client'/>")
    a.send("<message xmlns='jabber:client' to='dave@%s' type='chat' id='c1'><body>hello dave</body></message>" % DOMAIN)
    el = d.expect(lambda e: W.local(e.tag) == "message" and e.findtext("{jabber:client}body") == "hello dave",
                  what="message")
    check("websocket: a chat between two hosted users arrives, from stamped",
          el.get("from") == "carol@%s/a" % DOMAIN, ET.tostring(el).decode())
    d.send("<iq xmlns='jabber:client' type='get' to='carol@%s/a' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>" % DOMAIN)
    el = a.expect(lambda e: W.local(e.tag) == "iq" and e.get("id") == "p1", what="iq")
    a.send("<iq xmlns='jabber:client' type='result' to='%s' id='p1'/>" % el.get("from"))
    el = d.expect(lambda e: W.local(e.tag) == "iq" and e.get("id") == "p1", what="iq result")
    check("websocket: an iq to a full JID and its result go both ways", el.get("type") == "result", ET.tostring(el).decode())
    d.send("<message xmlns='jabber:client' to='nobody@%s' id='n1'><body>x</body></message>" % DOMAIN)
    el = d.expect(lambda e: W.local(e.tag) == "message" and e.get("id") == "n1", what="error")
    check("websocket: a message to a user who does not exist gets service-unavailable",
          W.stanza_error(el) == ("cancel", "service-unavailable"), ET.tostring(el).decode())
    # a second login with the same resource takes over
    a2 = login_ws("carol", "carolpass", resource="a")
    expect_stream_error(a, "conflict", "websocket: the same resource logging in again gets conflict on the old one")
    a2.close()
    a.close()
    d.close()


def t_remote_contact():
    """alice (hosted) and bob (on the real server): subscription both ways,
    presence both ways, chat both ways, as RFC 6121 describes."""
    bob = bob_session()
    alice = login_ws("alice", "alicepass", resource="web")
    items = roster_items(alice)
    alice.send("<presence xmlns='jabber:client'/>")
    alice.send("<iq xmlns='jabber:client' type='set' id='s1'><query xmlns='jabber:iq:roster'>"
               "<item jid='%s' name='Bob'><group>Friends</group></item></query></iq>" % BOB)
    push = alice.expect(lambda e: W.local(e.tag) == "iq" and e.get("type") == "set", what="roster push")
    item = push.find(".//{jabber:iq:roster}item")
    check("roster set: pushed with name and group", item is not None and item.get("name") == "Bob"
          and item.findtext("{jabber:iq:roster}group") == "Friends", ET.tostring(push).decode())
    alice.send("<iq xmlns='jabber:client' type='result' id='%s'/>" % push.get("id"))
    alice.expect(lambda e: W.local(e.tag) == "iq" and e.get("id") == "s1", what="roster set result")
    alice.send("<presence xmlns='jabber:client' to='%s' type='subscribe'/>" % BOB)
    # slixmpp auto-authorizes and subscribes back
    sub = bob.wait(Match(name="presence", type="subscribe"), timeout=10).xml
    check("subscribe reaches the remote contact from alice's bare JID",
          sub.get("from") == "alice@%s" % DOMAIN, ET.tostring(sub).decode())
    bob.sleep(1.5)
    el = alice.expect(lambda e: W.local(e.tag) == "presence" and e.get("type") == "subscribe", timeout=10,
                      what="bob's subscribe")
    check("the remote contact's subscribe reaches alice", el.get("from") == BOB, ET.tostring(el).decode())
    alice.send("<presence xmlns='jabber:client' to='%s' type='subscribed'/>" % BOB)
    bob.sleep(1.5)
    items = roster_items(alice)
    it = items.get(BOB)
    check("alice's roster: bob with subscription both", it is not None and it.get("subscription") == "both",
          {k: v.attrib for k, v in items.items()})
    # presence both ways
    bob.send("<presence><status>at the server</status></presence>")
    bob.sleep(1)
    el = alice.expect(lambda e: W.local(e.tag) == "presence" and (e.get("from") or "").startswith(BOB + "/")
                      and e.get("type") is None, timeout=10, what="bob's presence")
    check("alice sees bob available", el is not None, "")
    alice.send("<presence xmlns='jabber:client'><status>in a browser</status></presence>")
    p = bob.wait(Match(name="presence", **{"from": "alice@%s/web" % DOMAIN}), timeout=10).xml
    check("bob sees alice available", p.get("type") in (None, "available"), ET.tostring(p).decode())
    # chat both ways
    alice.send("<message xmlns='jabber:client' to='%s' type='chat'><body>hi bob</body></message>" % BOB)
    m = bob.wait(Match(name="message", body="hi bob"), timeout=10).xml
    check("chat alice -> bob arrives from alice's full JID", m.get("from") == "alice@%s/web" % DOMAIN,
          ET.tostring(m).decode())
    bob.send("<message to='alice@%s' type='chat'><body>hi alice</body></message>" % DOMAIN)
    bob.sleep(0.5)
    m = alice.expect(lambda e: W.local(e.tag) == "message" and e.findtext("{jabber:client}body") == "hi alice",
                     what="bob's message")
    check("chat bob -> alice arrives at the browser", (m.get("from") or "").startswith(BOB), ET.tostring(m).decode())
    # going away: bob sees unavailable
    alice.close()
    p = bob.wait(Match(name="presence", type="unavailable"), timeout=10).xml
    check("bob sees alice unavailable when her WebSocket closes", p.get("from") == "alice@%s/web" % DOMAIN,
          ET.tostring(p).decode())
    bob.close()


def t_bosh_faults():
    b = W.BoshClient(host, port, DOMAIN, wait=5)
    if b.login("dave", "davepass", resource="bosh") is not None:
        ko("bosh: login for the fault tests")
        return
    b.post(b.body("<presence xmlns='jabber:client'/>"))
    sender = login_ws("carol", "carolpass", resource="s")
    # a request is sent, its response is lost (connection dropped): the
    # client repeats the rid and must get the same stanzas
    b.rid += 1
    rid = b.rid
    results = {}

    def held():
        try:
            results["first"] = b.post(b.body(rid=rid))
        except Exception as e:
            results["first"] = e
    t = threading.Thread(target=held)
    t.start()
    time.sleep(0.5)
    sender.send("<message xmlns='jabber:client' to='dave@%s/bosh' id='flap'><body>during the flap</body></message>"
                % DOMAIN)
    t.join(10)
    first = results.get("first")
    st, again = b.post(b.body(rid=rid))
    got = lambda body: [m.findtext("{jabber:client}body") for m in body.iter("{jabber:client}message")]
    check("bosh: the held request carries the message", isinstance(first, tuple) and "during the flap" in got(first[1]),
          first)
    check("bosh: repeating the rid returns the same response (nothing lost after a network flap)",
          st == 200 and got(again) == got(first[1]), (st, ET.tostring(again).decode() if st == 200 else again))
    st, nxt = b.post(b.body())
    check("bosh: the session goes on after the repeat", st == 200 and nxt.get("type") != "terminate",
          ET.tostring(nxt).decode() if st == 200 else nxt)
    sender.close()
    # inactivity: a session nobody polls expires
    b2 = W.BoshClient(host, port, DOMAIN, wait=2)
    b2.login("dave", "davepass", resource="idle")
    created = time.time()
    inactivity = int(os.environ.get("BOSH_INACTIVITY", "6"))
    time.sleep(inactivity + 3)
    st, body = b2.post(b2.body())
    check("bosh: a session idle longer than inactivity is gone (item-not-found)",
          st == 404 or (st == 200 and body.get("type") == "terminate"),
          (st, ET.tostring(body).decode() if st == 200 else body, time.time() - created))


def t_rate_limit():
    c = login_ws("dave", "davepass", resource="fast")
    for i in range(400):
        c.send("<message xmlns='jabber:client' to='nobody@%s' id='f%d'><body>x</body></message>" % (DOMAIN, i))
    conds = []
    try:
        while len(conds) < 400:
            el = c.expect(lambda e: W.local(e.tag) == "message" or W.stream_error(e) is not None, timeout=5,
                          what="errors")
            if W.stream_error(el):
                conds.append("stream:" + W.stream_error(el))
                break
            conds.append(W.stanza_error(el)[1])
    except (TimeoutError, W.Closed):
        pass
    check("limits: stanzas over stanzas_per_second get resource-constraint",
          "resource-constraint" in conds, sorted(set(conds)))
    c.close()


def t_after_restart():
    alice = login_ws("alice", "alicepass", resource="web2")
    items = roster_items(alice)
    it = items.get(BOB)
    check("after an Epode restart: bob is still in alice's roster, subscription both, name and group",
          it is not None and it.get("subscription") == "both" and it.get("name") == "Bob"
          and it.findtext("{jabber:iq:roster}group") == "Friends", {k: v.attrib for k, v in items.items()})
    bob = bob_session()
    alice.send("<presence xmlns='jabber:client'/>")
    p = bob.wait(Match(name="presence", **{"from": "alice@%s/web2" % DOMAIN}), timeout=10).xml
    check("after the restart: bob gets alice's presence (the subscription still works)", p is not None, "")
    alice.close()
    bob.close()


phase = sys.argv[1] if len(sys.argv) > 1 else "main"
if phase == "main":
    run("logins", t_logins)
    run("bad input", t_bad_input)
    run("local chat", t_local_chat)
    run("remote contact", t_remote_contact)
    run("bosh faults", t_bosh_faults)
    run("rate limit", t_rate_limit)
else:
    run("after restart", t_after_restart)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
