#!/usr/bin/python3
"""Raw XMPP clients for browser transports, for protocol-level tests.

Python standard library only: a WebSocket client (RFC 6455, RFC 7395
framing) and a BOSH client (XEP-0124/0206) over http.client, plus SCRAM
(RFC 5802/7677) computed here from the RFC, independently of the server.
Unlike a real client library these show exactly what went over the wire
and can send what a real client never would (broken XML, spoofed from,
repeated rids)."""

import base64
import hashlib
import hmac
import http.client
import os
import re
import socket
import struct
import time
import xml.etree.ElementTree as ET

NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_CLIENT = "jabber:client"
NS_BOSH = "http://jabber.org/protocol/httpbind"


class Closed(Exception):
    pass


def local(tag):
    return tag.rsplit("}", 1)[-1]


def ns(tag):
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def stream_error(el):
    """The condition of a <stream:error/>, or None."""
    if local(el.tag) != "error" or ns(el.tag) != "http://etherx.jabber.org/streams":
        return None
    for ch in el:
        if ns(ch.tag) == NS_STREAMS and local(ch.tag) != "text":
            return local(ch.tag)
    return "?"


def stanza_error(el):
    """(type, condition) of a stanza's <error/>, or None."""
    err = el.find("{%s}error" % NS_CLIENT)
    if err is None:
        return None
    for ch in err:
        if ns(ch.tag) == NS_STANZAS and local(ch.tag) != "text":
            return err.get("type"), local(ch.tag)
    return err.get("type"), "?"


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;")


# ---------------------------------------------------------------- SCRAM
class Scram:
    def __init__(self, mech, user, password):
        self.hash = hashlib.sha256 if mech == "SCRAM-SHA-256" else hashlib.sha1
        self.user = user
        self.password = password.encode()
        self.cnonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = "n=%s,r=%s" % (user, self.cnonce)

    def first(self):
        return base64.b64encode(("n,," + self.first_bare).encode()).decode()

    def final(self, challenge_b64):
        server_first = base64.b64decode(challenge_b64).decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        if not attrs["r"].startswith(self.cnonce):
            raise ValueError("server nonce does not extend ours")
        salt = base64.b64decode(attrs["s"])
        it = int(attrs["i"])
        salted = hashlib.pbkdf2_hmac(self.hash().name, self.password, salt, it)
        client_key = hmac.new(salted, b"Client Key", self.hash).digest()
        stored = self.hash(client_key).digest()
        without_proof = "c=biws,r=" + attrs["r"]
        auth_msg = ",".join([self.first_bare, server_first, without_proof]).encode()
        sig = hmac.new(stored, auth_msg, self.hash).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        server_key = hmac.new(salted, b"Server Key", self.hash).digest()
        self.server_sig = base64.b64encode(hmac.new(server_key, auth_msg, self.hash).digest()).decode()
        return base64.b64encode((without_proof + ",p=" + base64.b64encode(proof).decode()).encode()).decode()

    def verify(self, success_b64):
        text = base64.b64decode(success_b64).decode()
        return text == "v=" + self.server_sig


# ------------------------------------------------------------ WebSocket
class WebSocket:
    """A blocking RFC 6455 client: text frames, masked, reassembled."""

    def __init__(self, host, port, path="/xmpp-websocket", protocol="xmpp", origin=None, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        head = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port), "Upgrade: websocket",
                "Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
        if protocol:
            head.append("Sec-WebSocket-Protocol: " + protocol)
        if origin:
            head.append("Origin: " + origin)
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise Closed("closed during the handshake")
            self.buf += data
        resp, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.status = int(resp.split(b" ", 2)[1])
        self.headers = resp.decode("latin-1")
        self.closed = False

    def send(self, text, opcode=1, fin=True):
        data = text.encode() if isinstance(text, str) else text
        b0 = (0x80 if fin else 0) | opcode
        n = len(data)
        if n < 126:
            hdr = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, 0x80 | 127, n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(hdr + mask + body)

    def _read(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise Closed("connection closed")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """The next text message, or raises Closed (with the close code)."""
        msg = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)
            op = b0 & 0x0F
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.closed = True
                raise Closed("close frame %s" % code)
            if op == 9:
                self.send(payload, opcode=10)
                continue
            if op == 10:
                continue
            msg += payload
            if b0 & 0x80:
                return msg.decode()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class WsClient:
    """XMPP over WebSocket (RFC 7395)."""

    def __init__(self, host, port, domain, origin=None, timeout=10):
        self.domain = domain
        self.ws = WebSocket(host, port, origin=origin, timeout=timeout)
        self.jid = None
        self.log = []

    def send(self, text):
        self.log.append(">> " + text)
        self.ws.send(text)

    def recv(self):
        text = self.ws.recv()
        self.log.append("<< " + text)
        return ET.fromstring(text)

    def open(self):
        self.send("<open xmlns='%s' to='%s' version='1.0'/>" % (NS_FRAMING, self.domain))
        opened = self.recv()
        if local(opened.tag) != "open":
            raise ValueError("expected <open/>, got " + opened.tag)
        return self.recv()  # features or a stream error

    def expect(self, pred, timeout=10, what="stanza"):
        """Reads until pred(el) holds; returns that element. Others are kept."""
        self.ws.sock.settimeout(timeout)
        deadline = time.time() + timeout
        while time.time() < deadline:
            el = self.recv()
            if pred(el):
                return el
            self.other(el)
        raise TimeoutError(what)

    def other(self, el):
        pass

    def login(self, user, password, mech="SCRAM-SHA-256", resource=None):
        feats = self.open()
        mechs = [m.text for m in feats.iter("{%s}mechanism" % NS_SASL)]
        if mech not in mechs:
            raise ValueError("%s not offered: %s" % (mech, mechs))
        if mech.startswith("SCRAM"):
            sc = Scram(mech, user, password)
            self.send("<auth xmlns='%s' mechanism='%s'>%s</auth>" % (NS_SASL, mech, sc.first()))
            ch = self.recv()
            if local(ch.tag) != "challenge":
                return ch
            self.send("<response xmlns='%s'>%s</response>" % (NS_SASL, sc.final(ch.text)))
            res = self.recv()
            if local(res.tag) != "success":
                return res
            if not sc.verify(res.text):
                raise ValueError("server signature does not verify")
        elif mech == "PLAIN":
            cred = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
            self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, cred))
            res = self.recv()
            if local(res.tag) != "success":
                return res
        elif mech == "ANONYMOUS":
            self.send("<auth xmlns='%s' mechanism='ANONYMOUS'/>" % NS_SASL)
            res = self.recv()
            if local(res.tag) != "success":
                return res
        feats = self.open()
        if feats.find("{%s}bind" % NS_BIND) is None:
            raise ValueError("no bind feature after SASL")
        r = "<resource>%s</resource>" % xml_escape(resource) if resource else ""
        self.send("<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='%s'>%s</bind></iq>" % (NS_BIND, r))
        res = self.recv()
        jid = res.find(".//{%s}jid" % NS_BIND)
        if jid is None:
            raise ValueError("bind failed: " + ET.tostring(res).decode())
        self.jid = jid.text
        return None

    def close(self):
        try:
            self.send("<close xmlns='%s'/>" % NS_FRAMING)
        except OSError:
            pass
        self.ws.close()


# ----------------------------------------------------------------- BOSH
class BoshClient:
    """XEP-0124/0206 with one HTTP connection per outstanding request."""

    def __init__(self, host, port, domain, path="/http-bind", wait=10, hold=1, origin=None):
        self.host, self.port, self.domain, self.path = host, port, domain, path
        self.wait, self.hold, self.origin = wait, hold, origin
        self.rid = int.from_bytes(os.urandom(4), "big") % 1000000000 + 1000
        self.sid = None
        self.conns = []

    def _conn(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=self.wait + 15)

    def post(self, body, conn=None):
        """Sends a raw body; returns (status, parsed <body/> or text)."""
        c = conn or self._conn()
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if self.origin:
            headers["Origin"] = self.origin
        c.request("POST", self.path, body=body.encode() if isinstance(body, str) else body, headers=headers)
        r = c.getresponse()
        data = r.read().decode()
        if not conn:
            c.close()
        if r.status != 200:
            return r.status, data
        return r.status, ET.fromstring(data)

    def body(self, children="", rid=None, **attrs):
        if rid is None:
            self.rid += 1
            rid = self.rid
        a = " ".join("%s='%s'" % (k.replace("__", ":"), v) for k, v in attrs.items())
        return "<body xmlns='%s' rid='%d' sid='%s' %s>%s</body>" % (NS_BOSH, rid, self.sid, a, children)

    def create(self):
        self.rid += 1
        st, b = self.post("<body xmlns='%s' xmlns:xmpp='urn:xmpp:xbosh' rid='%d' to='%s' wait='%d' hold='%d' "
                          "ver='1.6' xml:lang='en' xmpp:version='1.0' content='text/xml; charset=utf-8'/>"
                          % (NS_BOSH, self.rid, self.domain, self.wait, self.hold))
        if st != 200:
            raise ValueError("session creation: HTTP %d %s" % (st, b))
        self.sid = b.get("sid")
        return b

    def features(self, b):
        f = b.find("{http://etherx.jabber.org/streams}features")
        while f is None:
            st, b = self.post(self.body())
            f = b.find("{http://etherx.jabber.org/streams}features")
        return f

    def login(self, user, password, mech="SCRAM-SHA-256", resource=None):
        b = self.create()
        self.features(b)
        sc = Scram(mech, user, password)
        st, b = self.post(self.body("<auth xmlns='%s' mechanism='%s'>%s</auth>" % (NS_SASL, mech, sc.first())))
        ch = b.find("{%s}challenge" % NS_SASL)
        if ch is None:
            return b
        st, b = self.post(self.body("<response xmlns='%s'>%s</response>" % (NS_SASL, sc.final(ch.text))))
        su = b.find("{%s}success" % NS_SASL)
        if su is None:
            return b
        st, b = self.post(self.body(**{"xmpp__restart": "true", "xmlns__xmpp": "urn:xmpp:xbosh",
                                       "to": self.domain}))
        self.features(b)
        r = "<resource>%s</resource>" % resource if resource else ""
        st, b = self.post(self.body("<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='%s'>%s</bind></iq>"
                                    % (NS_BIND, r)))
        jid = b.find(".//{%s}jid" % NS_BIND)
        if jid is None:
            raise ValueError("bind failed: " + ET.tostring(b).decode())
        self.jid = jid.text
        return None
