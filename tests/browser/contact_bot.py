#!/usr/bin/python3
"""The contact on the real XMPP server that the browser clients befriend.

Logs in (plaintext c2s on loopback, slixmpp) as a user of ejabberd or
Prosody and then, for anyone:
  - answers a subscription request with "subscribed", and subscribes back
    unless it is already subscribed to them;
  - answers a chat message with a chat message "echo: <body>" to the
    sender's full JID (never echoes an echo);
  - sends what it is told on standard input, one JSON object a line:
      {"cmd": "send", "to": JID, "body": TEXT}   a chat message
      {"cmd": "roster"}                          a roster get; prints it
      {"cmd": "quit"}                            unavailable, log out, exit
Everything it sees is printed on standard output as JSON lines, for the
test to assert on:
  {"event": "ready", "jid": FULLJID}
  {"event": "presence", "from": JID, "type": "available"|"unavailable"|
                        "subscribe"|"subscribed"|"unsubscribe"|...}
  {"event": "message", "from": JID, "type": T, "body": TEXT}
  {"event": "roster", "jid": JID, "subscription": S, "ask": A|null}
  {"event": "sent", "what": ..., "to": JID}
  {"event": "error", "text": ...}
Standard input closing ends it too. Run with /usr/bin/python3 (Debian's
python3-slixmpp). Exit 3 when it cannot log in.

Usage: contact_bot.py --jid JID --password PW --server HOST:PORT
"""
import argparse
import asyncio
import json
import logging
import sys
import xml.etree.ElementTree as ET

CLIENT = "jabber:client"
ROSTER = "jabber:iq:roster"


def out(**ev):
    sys.stdout.write(json.dumps(ev) + "\n")
    sys.stdout.flush()


def local(tag):
    return tag.rsplit("}", 1)[-1]


def bare(jid):
    return jid.split("/", 1)[0]


def esc(text):
    return (text.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace("'", "&apos;").replace('"', "&quot;"))


class Bot:
    def __init__(self, jid, password, server, loop):
        logging.getLogger("slixmpp.stringprep").setLevel(logging.ERROR)
        import slixmpp
        self.loop = loop
        self.server = server
        self.subs = {}          # bare JID -> (subscription, ask) from the roster
        self.done = loop.create_future()
        self.ready = loop.create_future()
        x = slixmpp.ClientXMPP(jid, password)
        x.loop = loop
        x.use_ipv6 = False
        x.reconnect_max_attempts = 0
        # No automatic answers to subscription requests: this bot answers
        # them itself, so that what it sends is logged.
        x.roster.auto_authorize = None
        x.roster.auto_subscribe = False
        x.add_filter("in", self.incoming)
        x.add_event_handler("session_start", self.session_start)
        for ev in ("failed_all_auth", "connection_failed", "disconnected", "stream_error"):
            x.add_event_handler(ev, self.ended(ev))
        self.x = x

    def ended(self, name):
        def handler(event=None):
            if not self.ready.done():
                self.ready.set_exception(RuntimeError("%s: %s" % (name, event)))
            elif name != "disconnected":
                out(event="error", text="%s: %s" % (name, event))
            if name == "disconnected" and not self.done.done():
                self.done.set_result(None)
        return handler

    async def session_start(self, _ev):
        await self.roster_get()
        self.x.send_raw("<presence/>")
        if not self.ready.done():
            self.ready.set_result(True)
        out(event="ready", jid=str(self.x.boundjid))

    async def roster_get(self):
        iq = self.x.make_iq_get(queryxmlns=ROSTER)
        try:
            res = await iq.send(timeout=10)
        except Exception as e:  # IqError, IqTimeout
            out(event="error", text="roster get: %s" % e)
            return
        for item in res.xml.iter("{%s}item" % ROSTER):
            self.roster_item(item)

    def roster_item(self, item):
        jid = item.get("jid")
        sub = item.get("subscription", "none")
        ask = item.get("ask")
        self.subs[jid] = (sub, ask)
        out(event="roster", jid=jid, subscription=sub, ask=ask)

    def send(self, xml, what, to):
        self.x.send_raw(xml)
        out(event="sent", what=what, to=to)

    def incoming(self, stanza):
        el = stanza.xml
        name = local(el.tag)
        frm = el.get("from") or ""
        if name == "presence":
            ptype = el.get("type") or "available"
            out(event="presence", **{"from": frm, "type": ptype})
            if ptype == "subscribe":
                b = bare(frm)
                self.send("<presence to='%s' type='subscribed'/>" % esc(b), "subscribed", b)
                sub, ask = self.subs.get(b, ("none", None))
                if sub not in ("to", "both") and ask != "subscribe":
                    self.send("<presence to='%s' type='subscribe'/>" % esc(b), "subscribe", b)
        elif name == "message":
            body_el = el.find("{%s}body" % CLIENT)
            body = body_el.text if body_el is not None and body_el.text else None
            out(event="message", **{"from": frm, "type": el.get("type") or "normal", "body": body})
            if body and el.get("type") != "error" and not body.startswith("echo: "):
                self.send("<message to='%s' type='chat'><body>%s</body></message>"
                          % (esc(frm), esc("echo: " + body)), "echo", frm)
        elif name == "iq" and el.get("type") == "set":
            q = el.find("{%s}query" % ROSTER)
            if q is not None:
                for item in q.findall("{%s}item" % ROSTER):
                    self.roster_item(item)
        return stanza

    def command(self, line):
        try:
            cmd = json.loads(line)
        except ValueError:
            out(event="error", text="not JSON: %r" % line)
            return
        c = cmd.get("cmd")
        if c == "send":
            self.send("<message to='%s' type='chat'><body>%s</body></message>"
                      % (esc(cmd["to"]), esc(cmd["body"])), "message", cmd["to"])
        elif c == "roster":
            asyncio.ensure_future(self.roster_get())
        elif c == "quit":
            asyncio.ensure_future(self.quit())
        else:
            out(event="error", text="unknown command %r" % c)

    async def quit(self):
        if self.x.transport is not None:
            self.x.send_raw("<presence type='unavailable'/>")
            try:
                await asyncio.wait_for(self.x.disconnect(wait=2.0), 3.0)
            except Exception:
                self.x.abort()
        if not self.done.done():
            self.done.set_result(None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jid", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--server", required=True, help="HOST:PORT (an IPv4 address)")
    ap.add_argument("--timeout", type=float, default=15)
    a = ap.parse_args()
    host, port = a.server.rsplit(":", 1)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    bot = Bot(a.jid, a.password, (host, int(port)), loop)
    bot.x.connect((host, int(port)), disable_starttls=True, force_starttls=False)
    try:
        loop.run_until_complete(asyncio.wait_for(asyncio.shield(bot.ready), a.timeout))
    except Exception as e:  # login failed or timed out
        out(event="error", text="login failed: %s" % (e or type(e).__name__))
        sys.exit(3)

    def on_stdin():
        line = sys.stdin.readline()
        if not line:
            loop.remove_reader(sys.stdin)
            asyncio.ensure_future(bot.quit())
            return
        if line.strip():
            bot.command(line)
    loop.add_reader(sys.stdin, on_stdin)
    loop.run_until_complete(bot.done)


if __name__ == "__main__":
    main()
