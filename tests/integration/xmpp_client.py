#!/usr/bin/python3
"""A small XMPP test client on slixmpp, as a library and as a command line tool.

Run it with /usr/bin/python3 (Debian's, which has python3-slixmpp).

Command line
------------
    xmpp_client.py [login options] ACTION [ARGS] [ACTION [ARGS]...]

Logs in, runs the actions in order in one session, logs out. Login options:
    --jid JID          (env XMPP_JID)        e.g. alice@localhost
    --password PW      (env XMPP_PASSWORD)
    --server H:P       (env XMPP_SERVER)     default 127.0.0.1:5222; plaintext
                                             c2s, no STARTTLS (loopback servers)
    --resource R       resource to bind (default: the server picks)
    --timeout S        per action and for login, seconds (default 10)
    --no-presence      do not send initial presence after login
    --answer-iq NS     reply "result" to iq get/set whose payload is in
                       namespace NS (repeatable), e.g. urn:xmpp:jingle:1;
                       other unhandled iq get/set get feature-not-implemented
    -v, --verbose      log the XML stream to stderr

Actions:
    iq XML             send an iq (id added if missing), print the reply;
                       fails unless the reply is type="result"
    iq-error XML [COND]
                       same, but expects type="error" (with the defined
                       condition COND, e.g. service-unavailable, if given)
    send XML           send any stanza (message, presence, ...)
    wait [KEY=VALUE...]
                       wait for a received stanza matching every condition,
                       print it. Stanzas received earlier in the session (and
                       not yet matched) count. Keys:
                         name=message|presence|iq   type=chat|result|...
                         from=JID (full, or bare: matches any resource)
                         id=ID   ns=NAMESPACE (of any element inside)
                         child=LOCALNAME (any element inside)
                         body=TEXT (substring of a message body)
                         contains=TEXT (substring of the serialized stanza)
    sleep SECONDS

Every stanza printed is on one line of stdout. Exit status: 0 all actions
succeeded, 1 a check failed (error reply, wrong condition), 2 usage,
3 connection or login failed, 4 timeout.

    xmpp_client.py handshake --server H:P --domain D --secret S [--timeout S]

Connects as an external component (XEP-0114, jabber:component:accept),
prints "handshake ok" (exit 0), or the stream error condition (exit 1, e.g.
"stream error: not-authorized"); timeout or closed connection: exit 4.

Library
-------
    sys.path.insert(0, "tests/integration"); import xmpp_client as xc
    with xc.Session("alice@localhost", "alicepass", ("127.0.0.1", 15222)) as s:
        reply = s.iq('<iq type="get" to="localhost"><query xmlns="..."/></iq>')
        s.send('<message to="bob@localhost"><body>hi</body></message>')
        stanza = s.wait(name="message", **{"from": "bob@localhost"})
    ok, detail = xc.component_handshake("127.0.0.1", 15275, "webrtc.localhost", "secret")

Session methods return slixmpp stanza objects (str() gives the XML; .xml is
the ElementTree element). Errors raise LoginFailed, CheckFailed or Timeout.
"""

import asyncio
import atexit
import hashlib
import logging
import os
import socket
import sys
import time
import xml.etree.ElementTree as ET
from xml.parsers import expat

CLIENT_NS = "jabber:client"
STANZA_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
STREAMS_NS = "urn:ietf:params:xml:ns:xmpp-streams"

EXIT_OK, EXIT_CHECK, EXIT_USAGE, EXIT_LOGIN, EXIT_TIMEOUT = 0, 1, 2, 3, 4


class ClientError(Exception):
    exit_code = EXIT_CHECK


class CheckFailed(ClientError):
    exit_code = EXIT_CHECK


class LoginFailed(ClientError):
    exit_code = EXIT_LOGIN


class Timeout(ClientError):
    exit_code = EXIT_TIMEOUT


def parse_stanza_xml(text):
    """Parse stanza XML written without a namespace as a jabber:client stanza
    (children with their own xmlns keep it)."""
    try:
        wrapper = ET.fromstring('<w xmlns="%s">%s</w>' % (CLIENT_NS, text.strip()))
    except ET.ParseError as e:
        raise CheckFailed("not well-formed XML: %s: %s" % (e, text))
    children = list(wrapper)
    if len(children) != 1:
        raise CheckFailed("expected exactly one stanza element, got %d" % len(children))
    return children[0]


def local(tag):
    return tag.rsplit("}", 1)[-1]


def namespace(tag):
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def bare(jid):
    return jid.split("/", 1)[0]


def error_condition(elem):
    """The defined condition of an error stanza (e.g. 'item-not-found'), or ''."""
    for err in elem:
        if local(err.tag) == "error":
            for c in err:
                if namespace(c.tag) == STANZA_NS and local(c.tag) != "text":
                    return local(c.tag)
    return ""


class Match:
    """A simple condition on a received stanza. Keys as documented above;
    `pred` is an optional extra callable taking the ElementTree element."""

    KEYS = ("name", "type", "from", "id", "ns", "child", "body", "contains")

    def __init__(self, pred=None, **conds):
        bad = set(conds) - set(self.KEYS)
        if bad:
            raise ValueError("unknown condition(s): %s (known: %s)"
                             % (", ".join(sorted(bad)), ", ".join(self.KEYS)))
        self.conds = conds
        self.pred = pred

    def __call__(self, elem):
        c = self.conds
        if "name" in c and local(elem.tag) != c["name"]:
            return False
        if "type" in c and elem.get("type", "normal" if local(elem.tag) == "message"
                                    else "available" if local(elem.tag) == "presence"
                                    else "") != c["type"]:
            return False
        if "from" in c:
            frm = elem.get("from", "")
            if frm != c["from"] and ("/" in c["from"] or bare(frm) != c["from"]):
                return False
        if "id" in c and elem.get("id") != c["id"]:
            return False
        inner = list(elem.iter())[1:]
        if "ns" in c and not any(namespace(e.tag) == c["ns"] for e in inner):
            return False
        if "child" in c and not any(local(e.tag) == c["child"] for e in inner):
            return False
        if "body" in c:
            bodies = [e.text or "" for e in elem if local(e.tag) == "body"]
            if not any(c["body"] in b for b in bodies):
                return False
        if "contains" in c and c["contains"] not in ET.tostring(elem, encoding="unicode"):
            return False
        if self.pred is not None and not self.pred(elem):
            return False
        return True

    def __repr__(self):
        return "Match(%s)" % ", ".join("%s=%r" % kv for kv in self.conds.items())


class AsyncClient:
    """The asyncio core. Use Session for a synchronous interface."""

    def __init__(self, jid, password, server=("127.0.0.1", 5222), timeout=10.0,
                 presence=True, answer_iq=(), loop=None):
        # "Using slower stringprep" on every import: not news.
        logging.getLogger("slixmpp.stringprep").setLevel(logging.ERROR)
        import slixmpp  # imported here: the handshake helper works without it
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher.base import MatcherBase

        self.loop = loop or asyncio.get_event_loop()
        self.timeout = timeout
        # An IPv4 address: given a name, slixmpp 1.8.3 resolves it itself
        # and then connects to port 5222 whatever port was asked for.
        self.server = (socket.getaddrinfo(server[0], int(server[1]), socket.AF_INET,
                                          socket.SOCK_STREAM)[0][4][0], int(server[1]))
        self.presence = presence
        self.received = []          # stanzas not yet matched by wait()
        self.own_ids = set()        # ids of our iqs: their replies are not buffered
        self._arrived = asyncio.Event()
        self._login = None
        self.closed = None          # why the stream ended, once it has
        xmpp = slixmpp.ClientXMPP(jid, password)
        xmpp.loop = self.loop
        xmpp.use_ipv6 = False       # the servers listen on 127.0.0.1 only
        xmpp.reconnect_max_attempts = 0
        xmpp.register_plugin("xep_0030")   # answers disco#info like a client
        xmpp.register_plugin("xep_0199")   # answers pings
        xmpp.add_filter("in", self._on_incoming)
        for ev, fn in (("session_start", self._on_session_start),
                       ("failed_all_auth", self._on_login_failed),
                       ("no_auth", self._on_login_failed),
                       ("connection_failed", self._on_login_failed),
                       ("stream_error", self._on_login_failed),
                       ("disconnected", self._on_login_failed)):
            xmpp.add_event_handler(ev, fn)

        class IqWithPayload(MatcherBase):
            def match(self, stanza):
                if local(stanza.xml.tag) != "iq" or stanza.xml.get("type") not in ("get", "set"):
                    return False
                return any(namespace(c.tag) == self._criteria for c in stanza.xml)

        for ns in answer_iq:
            xmpp.register_handler(Callback("answer %s" % ns, IqWithPayload(ns),
                                           lambda iq: iq.reply(clear=True).send()))
        self.xmpp = xmpp

    # -- events
    def _on_incoming(self, stanza):
        elem = stanza.xml
        if not (local(elem.tag) == "iq" and elem.get("type") in ("result", "error")
                and elem.get("id") in self.own_ids):
            self.received.append(stanza)
            self._arrived.set()
        return stanza

    def _on_session_start(self, _event):
        if self.presence:
            self.xmpp.send_presence()
        if self._login and not self._login.done():
            self._login.set_result(True)

    def _on_login_failed(self, event=None):
        if self._login and self._login.done():
            # After login: the stream ended (stream error, server gone).
            # wait() fails at once instead of running into its timeout.
            if self.closed is None:
                self.closed = str(event) if event else "connection closed"
            self._arrived.set()
            return
        if self._login and not self._login.done():
            what = {dict: ""}.get(type(event), event)
            self._login.set_exception(LoginFailed(
                "login to %s:%d as %s failed: %s"
                % (self.server[0], self.server[1], self.xmpp.boundjid, what or "authentication failed")))

    # -- API
    async def connect(self):
        self._login = self.loop.create_future()
        self.xmpp.connect(self.server, disable_starttls=True, force_starttls=False)
        try:
            await asyncio.wait_for(asyncio.shield(self._login), self.timeout)
        except asyncio.TimeoutError:
            self._login.cancel()
            self.xmpp.cancel_connection_attempt()
            self.xmpp.abort()
            raise Timeout("no session with %s:%d as %s after %gs"
                          % (self.server[0], self.server[1], self.xmpp.boundjid, self.timeout))
        except LoginFailed:
            self.xmpp.cancel_connection_attempt()
            self.xmpp.abort()
            raise

    def _stanza(self, xml):
        elem = parse_stanza_xml(xml) if isinstance(xml, str) else xml
        return self.xmpp._build_stanza(elem, CLIENT_NS)

    async def iq(self, xml, timeout=None):
        """Send an iq get/set; return the reply stanza (result or error)."""
        from slixmpp.exceptions import IqError, IqTimeout
        iq = self._stanza(xml)
        if local(iq.xml.tag) != "iq":
            raise CheckFailed("not an iq: %s" % xml)
        if not iq.xml.get("id"):
            iq["id"] = self.xmpp.new_id()
        self.own_ids.add(iq["id"])
        try:
            return await iq.send(timeout=timeout or self.timeout)
        except IqError as e:
            return e.iq
        except IqTimeout:
            raise Timeout("no reply to iq id=%s within %gs" % (iq["id"], timeout or self.timeout))

    def send(self, xml):
        stanza = self._stanza(xml)
        stanza.send()
        return stanza

    async def wait(self, match, timeout=None):
        """Wait for (and consume) a received stanza for which match(elem) is true."""
        if not callable(match):
            match = Match(**match)
        deadline = self.loop.time() + (timeout or self.timeout)
        while True:
            for i, st in enumerate(self.received):
                if match(st.xml):
                    del self.received[i]
                    return st
            if self.closed is not None:
                raise CheckFailed("no stanza matching %r: the stream ended: %s"
                                  % (match, self.closed))
            self._arrived.clear()
            left = deadline - self.loop.time()
            if left <= 0:
                raise Timeout("no stanza matching %r within %gs" % (match, timeout or self.timeout))
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def close(self):
        if self.xmpp.transport is not None:
            try:
                await asyncio.wait_for(self.xmpp.disconnect(wait=2.0), 3.0)
            except (asyncio.TimeoutError, Exception):
                self.xmpp.abort()


_shared_loop = None


def shared_loop():
    """The one asyncio loop every Session runs on: while any Session waits,
    all of them receive and answer (alice's iq to bob needs bob's client to
    run). Closed at interpreter exit."""
    global _shared_loop
    if _shared_loop is None or _shared_loop.is_closed():
        _shared_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_shared_loop)
        atexit.register(_close_shared_loop, _shared_loop)
    return _shared_loop


def _close_shared_loop(loop):
    if loop.is_closed():
        return
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in pending:
        t.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()


class Session:
    """Synchronous facade over AsyncClient. All Sessions share one asyncio
    loop, driven by whichever Session method is running (slixmpp 1.8.3's
    process(timeout=...) is broken on Python 3.11)."""

    def __init__(self, jid, password, server=("127.0.0.1", 5222), timeout=10.0,
                 presence=True, answer_iq=()):
        self.loop = shared_loop()
        self.client = None
        try:
            self.client = AsyncClient(jid, password, server, timeout, presence,
                                      answer_iq, loop=self.loop)
            self.run(self.client.connect())
        except BaseException:
            self.close()
            raise

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def iq(self, xml, timeout=None):
        """Return the reply; raise CheckFailed if it is an error."""
        reply = self.run(self.client.iq(xml, timeout))
        if reply["type"] != "result":
            raise CheckFailed("error reply (%s): %s" % (error_condition(reply.xml), reply))
        return reply

    def iq_error(self, xml, condition=None, timeout=None):
        """Return the error reply; raise CheckFailed unless it is one (with
        the given defined condition)."""
        reply = self.run(self.client.iq(xml, timeout))
        if reply["type"] != "error":
            raise CheckFailed("expected an error reply, got: %s" % reply)
        if condition and error_condition(reply.xml) != condition:
            raise CheckFailed("expected condition %s, got %s: %s"
                              % (condition, error_condition(reply.xml) or "none", reply))
        return reply

    def send(self, xml):
        stanza = self.client.send(xml)
        self.run(asyncio.sleep(0))          # let the send queue run
        return stanza

    def wait(self, match=None, timeout=None, **conds):
        return self.run(self.client.wait(match or Match(**conds), timeout))

    def sleep(self, seconds):
        self.run(asyncio.sleep(seconds))

    def close(self):
        """Log out (closing the stream, waiting briefly for the server's)."""
        if self.client is None or self.loop.is_closed():
            return
        client, self.client = self.client, None
        self.run(client.close())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ------------------------------------------------------------ XEP-0114
def component_handshake(host, port, domain, secret, timeout=10.0):
    """Connect as component `domain` and authenticate with `secret`.
    Returns (True, "handshake ok") or (False, "stream error: CONDITION") or
    raises Timeout (no answer, or connection closed without a stream error)."""
    deadline = time.monotonic() + timeout
    state = {"id": None, "depth": 0, "result": None, "error": None}
    parser = expat.ParserCreate(namespace_separator="}")

    def start(name, attrs):
        state["depth"] += 1
        if state["depth"] == 1:
            state["id"] = attrs.get("id")
        elif state["depth"] == 2:
            state["top"] = name
        elif state["depth"] == 3 and state.get("top") == "http://etherx.jabber.org/streams}error":
            if name.startswith(STREAMS_NS + "}") and not name.endswith("}text"):
                state["error"] = name.split("}", 1)[1]

    def end(name):
        if state["depth"] == 2:
            if name == "jabber:component:accept}handshake":
                state["result"] = (True, "handshake ok")
            elif name == "http://etherx.jabber.org/streams}error":
                state["result"] = (False, "stream error: %s" % (state["error"] or "unknown"))
        state["depth"] -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end

    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                      "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>" % domain).encode())
        sent = False
        while state["result"] is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("no handshake answer from %s:%s within %gs" % (host, port, timeout))
            sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise Timeout("%s:%s closed the connection%s" % (
                    host, port, "" if state["id"] else " before sending a stream header"))
            try:
                parser.Parse(data, False)
            except expat.ExpatError as e:
                raise CheckFailed("not well-formed XML from %s:%s: %s" % (host, port, e))
            if state["id"] and not sent and state["result"] is None:
                digest = hashlib.sha1((state["id"] + secret).encode()).hexdigest()
                sock.sendall(("<handshake>%s</handshake>" % digest).encode())
                sent = True
        try:
            sock.sendall(b"</stream:stream>")
        except OSError:
            pass
    return state["result"]


# ------------------------------------------------------------ command line
ACTIONS = {"iq": 1, "iq-error": 1, "send": 1, "wait": 0, "sleep": 1}


def parse_actions(words):
    """Split the words after the login options into (action, args) pairs."""
    actions, i = [], 0
    while i < len(words):
        name = words[i]
        if name not in ACTIONS:
            raise ValueError("unknown action %r (actions: %s)" % (name, ", ".join(ACTIONS)))
        need = ACTIONS[name]
        if i + need >= len(words) + (1 if not need else 0):
            raise ValueError("action %s needs an argument" % name)
        args = words[i + 1:i + 1 + need]
        i += 1 + need
        if name == "iq-error" and i < len(words) and words[i] not in ACTIONS and "=" not in words[i]:
            args.append(words[i]); i += 1
        if name == "wait":
            while i < len(words) and words[i] not in ACTIONS and "=" in words[i]:
                args.append(words[i]); i += 1
        actions.append((name, args))
    if not actions:
        raise ValueError("no action given")
    return actions


def parse_server(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError("--server must be HOST:PORT, got %r" % text)
    return host.strip("[]"), int(port)


def main_handshake(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="xmpp_client.py handshake",
                                 description="XEP-0114 component handshake test")
    ap.add_argument("--server", required=True, help="HOST:PORT of the component listener")
    ap.add_argument("--domain", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args(argv)
    try:
        host, port = parse_server(a.server)
        t = time.monotonic()
        ok, detail = component_handshake(host, port, a.domain, a.secret, a.timeout)
    except ValueError as e:
        print("xmpp_client: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print("xmpp_client: cannot connect to %s: %s" % (a.server, e), file=sys.stderr)
        return EXIT_LOGIN
    except ClientError as e:
        print("xmpp_client: %s" % e, file=sys.stderr)
        return e.exit_code
    print("%s (%.1f ms)" % (detail, (time.monotonic() - t) * 1000))
    return EXIT_OK if ok else EXIT_CHECK


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "handshake":
        return main_handshake(argv[1:])
    import argparse
    ap = argparse.ArgumentParser(
        prog="xmpp_client.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [options] ACTION [ARGS] [ACTION [ARGS]...]\n"
              "       %(prog)s handshake --server H:P --domain D --secret S",
        description=__doc__.split("Library\n")[0])
    ap.add_argument("--jid", default=os.environ.get("XMPP_JID"))
    ap.add_argument("--password", default=os.environ.get("XMPP_PASSWORD"))
    ap.add_argument("--server", default=os.environ.get("XMPP_SERVER", "127.0.0.1:5222"))
    ap.add_argument("--resource")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--no-presence", action="store_true")
    ap.add_argument("--answer-iq", action="append", default=[], metavar="NS")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("actions", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    try:
        if not a.jid or not a.password:
            raise ValueError("--jid and --password are required (or XMPP_JID, XMPP_PASSWORD)")
        server = parse_server(a.server)
        actions = parse_actions(a.actions)
        waits = [dict(w.split("=", 1) for w in args) for name, args in actions if name == "wait"]
        for w in waits:
            Match(**w)
    except ValueError as e:
        print("xmpp_client: %s" % e, file=sys.stderr)
        return EXIT_USAGE

    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.CRITICAL,
                        stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    jid = a.jid + ("/" + a.resource if a.resource else "")
    session = None
    try:
        session = Session(jid, a.password, server, a.timeout, not a.no_presence, a.answer_iq)
        for name, args in actions:
            if name == "iq":
                print(session.iq(args[0]), flush=True)
            elif name == "iq-error":
                print(session.iq_error(args[0], args[1] if len(args) > 1 else None), flush=True)
            elif name == "send":
                session.send(args[0])
            elif name == "wait":
                print(session.wait(**dict(w.split("=", 1) for w in args)), flush=True)
            elif name == "sleep":
                session.sleep(float(args[0]))
        return EXIT_OK
    except ClientError as e:
        print("xmpp_client: %s" % e, file=sys.stderr)
        return e.exit_code
    except (OSError, ValueError) as e:
        print("xmpp_client: %s" % e, file=sys.stderr)
        return EXIT_CHECK
    finally:
        if session is not None:
            session.close()


if __name__ == "__main__":
    sys.exit(main())
