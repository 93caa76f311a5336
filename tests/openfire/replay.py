#!/usr/bin/python3
"""Replay recorded Openfire behaviour against a real epode process.

Usage: replay.py [-v] EPODE TRANSCRIPT...

For each transcript this script plays a fake Openfire: it listens on
127.0.0.1 (an ephemeral port), starts EPODE pointed at that port, and runs
the transcript's steps in order against the connection(s) Epode makes.
Every step has at most 5 s and a whole scenario at most 20 s. The last line
of output is "N passed, M failed" (scenarios); the exit status is 0 only if
every scenario passed (1 if one failed, 2 for a usage error).

Python standard library only. The transcript format is described in
tests/data/openfire/README.md; in short:

    # comment                      (Openfire source file/method, version)
    SET name = value               variable: domain, secret, openfire_domain,
                                   openfire_secret (default: secret)
    CONFIG section.key = value     line for Epode's configuration file
    ACCEPT                         Epode connects (the first connection)
    EXPECT_RECONNECT               Epode connects again (the old socket is
                                   closed first if still open)
    S: text                        the fake server sends text ({var} expanded)
    C: <xml pattern/>              the next element Epode sent matches it
    C: <stream:stream ...>         the next thing Epode sent is a stream header
    C: </stream:stream>            the next thing Epode sent is a stream close
    C: /regex/                     the next element's raw text matches regex
    HANDSHAKE accept|reject        the next element is <handshake>HEX</handshake>
                                   and HEX is hex(sha1(streamid + secret)) as
                                   Epode must compute it; accept: it matches
                                   openfire_secret too, reject: it does not
    CLOSE                          the fake server closes the TCP connection
    EXPECT_EOF                     Epode closes the TCP connection
    EXPECT_EXIT CODE [/regex/]     Epode exits with CODE, stderr matches
    EXPECT_STDERR /regex/          Epode's stderr (log) matches, eventually
    EXPECT_ALIVE SECONDS           Epode is still running SECONDS from now,
                                   without connecting or sending anything
    SIGTERM                        send SIGTERM to Epode
    SLEEP SECONDS

A line starting with whitespace continues the previous line: it is
appended without a separator if it starts with '<', else after one space.

After the last step the scenario still fails if Epode sent an element no
step looked at, sent anything after the end of its stream, exited without
an EXPECT_EXIT, or (still running) does not exit 0 within 5 s of SIGTERM. Lines after the first step may not be SET/CONFIG.
"""

import codecs
import hashlib
import os
import re
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

STEP_TIMEOUT = 5.0
SCENARIO_TIMEOUT = 20.0

NS_STREAM = "http://etherx.jabber.org/streams"
NS_ACCEPT = "jabber:component:accept"

VERBOSE = False


class StepFailed(Exception):
    pass


class TranscriptError(Exception):
    pass


# --------------------------------------------------------------------------
# Transcript parsing

STEP_NAMES = {
    "ACCEPT", "EXPECT_RECONNECT", "S:", "C:", "HANDSHAKE", "CLOSE", "EXPECT_EOF",
    "EXPECT_EXIT", "EXPECT_STDERR", "EXPECT_ALIVE", "SIGTERM", "SLEEP",
}


class Step:
    def __init__(self, lineno, name, arg):
        self.lineno = lineno
        self.name = name
        self.arg = arg

    def __str__(self):
        arg = self.arg if len(self.arg) <= 100 else self.arg[:97] + "..."
        return "line %d: %s %s" % (self.lineno, self.name, arg)


def parse_regex(text, what):
    text = text.strip()
    if len(text) < 2 or text[0] != "/" or text[-1] != "/":
        raise TranscriptError("%s must be /regex/, got %r" % (what, text))
    return text[1:-1]


def parse_transcript(path):
    with open(path, encoding="utf-8") as f:
        raw = f.read().split("\n")
    logical = []  # (lineno, text)
    for i, line in enumerate(raw, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            if not logical:
                raise TranscriptError("line %d: continuation line with nothing to continue" % i)
            n, t = logical[-1]
            more = line.strip()
            logical[-1] = (n, t + ("" if more.startswith("<") else " ") + more)
            continue
        logical.append((i, line.rstrip()))

    variables = {}
    config = []
    steps = []
    for n, text in logical:
        if text.startswith(("S:", "C:")):
            name, arg = text[:2], text[2:].strip()
        else:
            name, _, arg = text.partition(" ")
            arg = arg.strip()
        if name == "SET":
            if steps:
                raise TranscriptError("line %d: SET after the first step" % n)
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)", arg)
            if not m:
                raise TranscriptError("line %d: SET name = value" % n)
            variables[m.group(1)] = m.group(2)
        elif name == "CONFIG":
            if steps:
                raise TranscriptError("line %d: CONFIG after the first step" % n)
            m = re.fullmatch(r"([a-z_]+)\.([a-z_]+)\s*=\s*(.*)", arg)
            if not m:
                raise TranscriptError("line %d: CONFIG section.key = value" % n)
            config.append(m.groups())
        elif name in STEP_NAMES:
            step = Step(n, name, arg)
            check_step_syntax(step)
            steps.append(step)
        else:
            raise TranscriptError("line %d: unknown directive %r" % (n, name))
    for required in ("domain", "secret"):
        if required not in variables:
            raise TranscriptError("SET %s = ... is missing" % required)
    variables.setdefault("openfire_secret", variables["secret"])
    if not steps:
        raise TranscriptError("no steps: a transcript must exercise Epode")
    if steps[0].name != "ACCEPT":
        raise TranscriptError("line %d: the first step must be ACCEPT" % steps[0].lineno)
    return variables, config, steps


def check_step_syntax(step):
    a = step.arg
    if step.name in ("ACCEPT", "EXPECT_RECONNECT", "CLOSE", "EXPECT_EOF", "SIGTERM"):
        if a:
            raise TranscriptError("line %d: %s takes no argument" % (step.lineno, step.name))
    elif step.name == "HANDSHAKE":
        if a not in ("accept", "reject"):
            raise TranscriptError("line %d: HANDSHAKE accept|reject" % step.lineno)
    elif step.name in ("SLEEP", "EXPECT_ALIVE"):
        try:
            v = float(a)
        except ValueError:
            raise TranscriptError("line %d: %s SECONDS" % (step.lineno, step.name))
        if not 0 <= v <= STEP_TIMEOUT:
            raise TranscriptError("line %d: %s is limited to %g s" % (step.lineno, step.name, STEP_TIMEOUT))
    elif step.name == "EXPECT_EXIT":
        m = re.fullmatch(r"(\d+)(\s+(/.*/))?", a)
        if not m:
            raise TranscriptError("line %d: EXPECT_EXIT CODE [/regex/]" % step.lineno)
    elif step.name == "EXPECT_STDERR":
        parse_regex(a, "EXPECT_STDERR")
    elif step.name == "C:":
        if not (a.startswith("<") or (a.startswith("/") and a.endswith("/") and len(a) > 1)):
            raise TranscriptError("line %d: C: takes an XML pattern or /regex/" % step.lineno)
    elif step.name == "S:":
        if not a:
            raise TranscriptError("line %d: S: with nothing to send" % step.lineno)


# --------------------------------------------------------------------------
# Variables

VAR_RE = re.compile(r"\{(=?)([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(text, variables, regex=False, capture_ok=False):
    """Replace {name} by its value (escaped for a regex if regex). With
    capture_ok, {=name} becomes a capture marker for XML patterns."""
    def repl(m):
        if m.group(1):
            if not capture_ok:
                raise StepFailed("{=%s} is only allowed in attribute values of a C: pattern" % m.group(2))
            return "@@capture:%s@@" % m.group(2)
        name = m.group(2)
        if name not in variables:
            raise StepFailed("unknown variable {%s}" % name)
        v = variables[name]
        return re.escape(v) if regex else v
    return VAR_RE.sub(repl, text)


def openfire_stream_id():
    """Like Openfire's BasicStreamIDFactory: 50 random bits in base 36."""
    n = secrets.randbits(50)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


# --------------------------------------------------------------------------
# Splitting what Epode sends into stream-level tokens

class Splitter:
    """Cuts an XMPP stream into tokens (kind, raw): kind is 'decl', 'header',
    'element', 'close', 'text' (non-blank text between elements) or
    'after-close' (anything after the stream's end)."""

    def __init__(self):
        self.buf = ""
        self.pos = 0
        self.depth = 0
        self.start = None
        self.closed = False

    def _closed(self, out, rest):
        self.closed = True
        self.depth = 0
        self.start = None
        self.buf, self.pos = "", 0
        if rest.strip():
            out.append(("after-close", rest))
        return out

    def feed(self, s):
        self.buf += s
        out = []
        if self.closed:
            # nothing may follow the end of the stream
            if self.buf.strip():
                out.append(("after-close", self.buf))
            self.buf = ""
            return out
        buf = self.buf
        while True:
            lt = buf.find("<", self.pos)
            if self.depth <= 1:
                text_end = lt if lt >= 0 else len(buf)
                text = buf[self.pos:text_end]
                if text.strip():
                    out.append(("text", text))
                self.pos = text_end
            if lt < 0:
                if self.depth >= 2:
                    self.pos = len(buf)
                break
            if buf.startswith("<?", lt):
                end = buf.find("?>", lt)
                if end < 0:
                    break
                if self.depth == 0:
                    out.append(("decl", buf[lt:end + 2]))
                self.pos = end + 2
                continue
            if buf.startswith("<!--", lt):
                end = buf.find("-->", lt)
                if end < 0:
                    break
                self.pos = end + 3
                continue
            if buf.startswith("<![CDATA[", lt):
                end = buf.find("]]>", lt)
                if end < 0:
                    break
                self.pos = end + 3
                continue
            j, quote = lt + 1, None
            while j < len(buf):
                c = buf[j]
                if quote:
                    if c == quote:
                        quote = None
                elif c in "\"'":
                    quote = c
                elif c == ">":
                    break
                j += 1
            if j >= len(buf):
                break
            tag = buf[lt:j + 1]
            if tag.startswith("</"):
                if self.depth <= 1:
                    out.append(("close", tag))
                    return self._closed(out, buf[j + 1:])
                else:
                    self.depth -= 1
                    if self.depth == 1:
                        out.append(("element", buf[self.start:j + 1]))
                        self.start = None
            elif tag.endswith("/>"):
                if self.depth == 0:
                    out.append(("header", tag))
                    out.append(("close", ""))
                    return self._closed(out, buf[j + 1:])
                elif self.depth == 1:
                    out.append(("element", tag))
            else:
                if self.depth == 0:
                    out.append(("header", tag))
                    self.depth = 1
                else:
                    if self.depth == 1:
                        self.start = lt
                    self.depth += 1
            self.pos = j + 1
        # forget what has been consumed
        keep = self.start if self.start is not None else self.pos
        self.buf = buf[keep:]
        self.pos -= keep
        if self.start is not None:
            self.start = 0
        return out


# --------------------------------------------------------------------------
# XML pattern matching

ATTR_RE = re.compile(r"""([A-Za-z_][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
CAPTURE_RE = re.compile(r"@@capture:([A-Za-z_][A-Za-z0-9_]*)@@")


def parse_element(raw, what):
    wrapped = '<wrap xmlns="%s" xmlns:stream="%s">%s</wrap>' % (NS_ACCEPT, NS_STREAM, raw)
    try:
        root = ET.fromstring(wrapped)
    except ET.ParseError as e:
        raise StepFailed("%s is not well-formed XML (%s): %s" % (what, e, raw))
    kids = list(root)
    if len(kids) != 1:
        raise StepFailed("%s is not one element: %s" % (what, raw))
    return kids[0]


def header_attrs(raw):
    return {m.group(1): (m.group(2) if m.group(2) is not None else m.group(3))
            for m in ATTR_RE.finditer(raw)}


def value_matches(pattern, actual, captures, where):
    if actual is None:
        return "%s is missing" % where
    m = CAPTURE_RE.fullmatch(pattern)
    if m:
        captures[m.group(1)] = actual
        return None
    if pattern == "*":
        return None
    if len(pattern) >= 2 and pattern[0] == "/" and pattern[-1] == "/":
        if re.fullmatch(pattern[1:-1], actual, re.S):
            return None
        return "%s is %r, not matching /%s/" % (where, actual, pattern[1:-1])
    if pattern != actual:
        return "%s is %r, expected %r" % (where, actual, pattern)
    return None


def local(tag):
    return tag.split("}", 1)[-1]


def element_matches(pat, act, captures, path):
    """None if act has pat's name and namespace, pat's attributes with their
    values, pat's text (if any) and, for each child of pat, a distinct
    matching child; otherwise why not."""
    here = path + "/" + local(pat.tag)
    if pat.tag != act.tag:
        return "%s: element is <%s>, expected <%s>" % (path or "/", act.tag, pat.tag)
    for k, v in pat.attrib.items():
        why = value_matches(v, act.attrib.get(k), captures, "%s@%s" % (here, k))
        if why:
            return why
    if pat.text and pat.text.strip():
        why = value_matches(pat.text.strip(), (act.text or "").strip(), captures, here + " text")
        if why:
            return why
    used = set()
    for pc in pat:
        reasons = []
        for i, ac in enumerate(act):
            if i in used:
                continue
            trial = dict(captures)
            why = element_matches(pc, ac, trial, here)
            if why is None:
                used.add(i)
                captures.update(trial)
                break
            reasons.append(why)
        else:
            return "%s: no child matches <%s%s>%s" % (
                here, local(pc.tag), "".join(' %s="%s"' % kv for kv in pc.attrib.items()),
                " (" + reasons[0] + ")" if len(reasons) == 1 else "")
    return None


# --------------------------------------------------------------------------
# One scenario

class Scenario:
    def __init__(self, epode, path):
        self.epode = epode
        self.path = path
        self.name = os.path.basename(path)
        self.variables, self.config, self.steps = parse_transcript(path)
        self.proc = None
        self.listener = None
        self.conn = None
        self.conn_eof = False
        self.decoder = None
        self.splitter = None
        self.tokens = []
        self.connections = 0
        self.exit_expected = False
        self.tmp = None
        self.stderr_path = None
        self.deadline = None

    # -- helpers --

    def log(self, msg):
        if VERBOSE:
            print("  [%s] %s" % (self.name, msg), flush=True)

    def step_deadline(self):
        now = time.monotonic()
        if now >= self.deadline:
            raise StepFailed("the scenario took longer than %g s" % SCENARIO_TIMEOUT)
        return min(now + STEP_TIMEOUT, self.deadline)

    def stderr_text(self):
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def check_running(self):
        if self.proc.poll() is not None:
            raise StepFailed("epode exited unexpectedly with status %d" % self.proc.returncode)

    def close_conn(self):
        if self.conn is not None:
            try:
                self.conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.conn.close()
            self.conn = None

    def read_some(self, until):
        """Read what Epode sent into tokens; False at the deadline."""
        if self.conn is None:
            raise StepFailed("no connection from Epode is open")
        if self.conn_eof:
            return False
        timeout = max(0.0, until - time.monotonic())
        r, _, _ = select.select([self.conn], [], [], min(timeout, 0.05))
        if not r:
            return time.monotonic() < until
        try:
            data = self.conn.recv(65536)
        except (ConnectionResetError, OSError):
            data = b""
        if not data:
            self.conn_eof = True
            self.log("Epode closed the TCP connection")
            return False
        text = self.decoder.decode(data)
        self.log("C> %s" % text)
        self.tokens.extend(t for t in self.splitter.feed(text) if t[0] != "decl")
        return True

    def next_token(self):
        until = self.step_deadline()
        while not self.tokens:
            if not self.read_some(until):
                if self.conn_eof:
                    raise StepFailed("Epode closed the connection instead of sending more")
                if time.monotonic() >= until:
                    raise StepFailed("Epode sent nothing more within %g s" % STEP_TIMEOUT)
                if self.proc.poll() is not None:
                    raise StepFailed("epode exited (status %d) instead of sending more" % self.proc.returncode)
        return self.tokens.pop(0)

    def accept(self):
        until = self.step_deadline()
        while True:
            if self.proc.poll() is not None:
                raise StepFailed("epode exited (status %d) instead of connecting" % self.proc.returncode)
            left = until - time.monotonic()
            if left <= 0:
                raise StepFailed("Epode did not connect within %g s" % STEP_TIMEOUT)
            r, _, _ = select.select([self.listener], [], [], min(left, 0.1))
            if r:
                conn, peer = self.listener.accept()
                conn.setblocking(True)
                self.conn = conn
                self.conn_eof = False
                self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
                self.splitter = Splitter()
                self.tokens = []
                self.connections += 1
                self.variables["streamid"] = openfire_stream_id()
                self.log("accepted connection %d from %s:%d (stream id %s)" %
                         (self.connections, peer[0], peer[1], self.variables["streamid"]))
                return

    # -- steps --

    def do_ACCEPT(self, step):
        self.accept()

    def do_EXPECT_RECONNECT(self, step):
        self.close_conn()
        self.accept()

    def do_S(self, step):
        text = expand(step.arg, self.variables)
        if self.conn is None:
            raise StepFailed("no connection to send on")
        self.log("S> %s" % text)
        try:
            self.conn.sendall(text.encode("utf-8"))
        except OSError as e:
            raise StepFailed("cannot send to Epode: %s" % e)

    def do_C(self, step):
        arg = step.arg
        if arg.startswith("/"):
            rx = expand(arg[1:-1], self.variables, regex=True)
            kind, raw = self.next_token()
            if not re.search(rx, raw, re.S):
                raise StepFailed("Epode sent %s %s\n    which does not match /%s/" % (kind, raw, rx))
            return
        pattern = expand(arg, self.variables, capture_ok=True)
        if pattern.strip() == "</stream:stream>":
            kind, raw = self.next_token()
            if kind != "close":
                raise StepFailed("expected Epode to close the stream, it sent %s %s" % (kind, raw))
            return
        if pattern.startswith("<stream:stream") and not pattern.endswith("/>"):
            kind, raw = self.next_token()
            if kind != "header":
                raise StepFailed("expected a stream header, Epode sent %s %s" % (kind, raw))
            act = header_attrs(raw)
            captures = {}
            for k, v in header_attrs(pattern).items():
                why = value_matches(v, act.get(k), captures, "stream header @" + k)
                if why:
                    raise StepFailed("%s\n    Epode sent %s" % (why, raw))
            self.variables.update(captures)
            return
        pat = parse_element(pattern, "the C: pattern")
        kind, raw = self.next_token()
        if kind != "element":
            raise StepFailed("expected an element, Epode sent %s %s" % (kind, raw))
        act = parse_element(raw, "what Epode sent")
        captures = {}
        why = element_matches(pat, act, captures, "")
        if why:
            raise StepFailed("%s\n    Epode sent %s" % (why, raw))
        self.variables.update(captures)

    def do_HANDSHAKE(self, step):
        kind, raw = self.next_token()
        if kind != "element":
            raise StepFailed("expected <handshake/>, Epode sent %s %s" % (kind, raw))
        el = parse_element(raw, "the handshake")
        if el.tag != "{%s}handshake" % NS_ACCEPT:
            raise StepFailed("expected <handshake/> in %s, Epode sent %s" % (NS_ACCEPT, raw))
        digest = (el.text or "")
        if not re.fullmatch(r"[0-9a-fA-F]{40}", digest):
            raise StepFailed("the handshake does not hold 40 hex digits: %r" % digest)
        sid = self.variables["streamid"]
        # XEP-0114: hex(SHA1(stream id + secret)); Openfire compares ignoring case
        mine = hashlib.sha1((sid + self.variables["secret"]).encode("utf-8")).hexdigest()
        theirs = hashlib.sha1((sid + self.variables["openfire_secret"]).encode("utf-8")).hexdigest()
        if digest.lower() != mine:
            raise StepFailed("the digest %s is not sha1(stream id %r + Epode's secret) = %s"
                             % (digest, sid, mine))
        accepted = digest.lower() == theirs
        if step.arg == "accept" and not accepted:
            raise StepFailed("the digest %s does not match Openfire's secret (%s)" % (digest, theirs))
        if step.arg == "reject" and accepted:
            raise StepFailed("the digest %s matches Openfire's secret; the transcript expected a mismatch"
                             % digest)

    def do_CLOSE(self, step):
        if self.conn is None:
            raise StepFailed("no connection to close")
        self.close_conn()

    def do_EXPECT_EOF(self, step):
        until = self.step_deadline()
        while not self.conn_eof:
            if self.tokens:
                kind, raw = self.tokens.pop(0)
                raise StepFailed("expected Epode to close the connection, it sent %s %s" % (kind, raw))
            if not self.read_some(until) and not self.conn_eof:
                if time.monotonic() >= until:
                    raise StepFailed("Epode did not close the connection within %g s" % STEP_TIMEOUT)
        if self.tokens:
            kind, raw = self.tokens.pop(0)
            raise StepFailed("Epode sent %s %s before closing" % (kind, raw))

    def do_EXPECT_EXIT(self, step):
        m = re.fullmatch(r"(\d+)(\s+(/.*/))?", step.arg)
        code = int(m.group(1))
        self.exit_expected = True
        until = self.step_deadline()
        try:
            rc = self.proc.wait(timeout=max(0.0, until - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise StepFailed("epode did not exit within %g s" % STEP_TIMEOUT)
        if rc != code:
            raise StepFailed("epode exited with status %d, expected %d" % (rc, code))
        if m.group(3):
            rx = expand(m.group(3)[1:-1], self.variables, regex=True)
            if not re.search(rx, self.stderr_text(), re.M):
                raise StepFailed("epode's stderr does not match /%s/" % rx)

    def do_EXPECT_STDERR(self, step):
        rx = expand(parse_regex(step.arg, "EXPECT_STDERR"), self.variables, regex=True)
        until = self.step_deadline()
        while not re.search(rx, self.stderr_text(), re.M):
            if time.monotonic() >= until:
                raise StepFailed("epode's stderr does not match /%s/ within %g s" % (rx, STEP_TIMEOUT))
            time.sleep(0.05)

    def do_EXPECT_ALIVE(self, step):
        until = min(time.monotonic() + float(step.arg), self.step_deadline())
        while time.monotonic() < until:
            self.check_running()
            if self.conn is not None and not self.conn_eof:
                self.read_some(until)
                if self.tokens:
                    kind, raw = self.tokens.pop(0)
                    raise StepFailed("expected silence, Epode sent %s %s" % (kind, raw))
            else:
                r, _, _ = select.select([self.listener], [], [], 0.05)
                if r:
                    raise StepFailed("expected silence, Epode connected again")
        self.check_running()

    def do_SIGTERM(self, step):
        self.check_running()
        self.proc.send_signal(signal.SIGTERM)

    def do_SLEEP(self, step):
        end = min(time.monotonic() + float(step.arg), self.deadline)
        while time.monotonic() < end:
            time.sleep(min(0.05, end - time.monotonic()))

    # -- driver --

    def start(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="epode-openfire-")
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        port = self.listener.getsockname()[1]
        # a free port for the HTTP side, should this epode bind one
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            http_port = s.getsockname()[1]
        cfg = os.path.join(self.tmp.name, "epode.conf")
        sections = {}
        for section, key, value in self.config:
            sections.setdefault(section, []).append("%s = %s" % (key, value))
        with open(cfg, "w", encoding="utf-8") as f:
            f.write("[epode]\ndb = %s\nlisten = 127.0.0.1:%d\n" % (os.path.join(self.tmp.name, "epode.db"), http_port))
            f.write("\n".join(sections.pop("epode", [])) + "\n")
            for section, lines in sections.items():
                f.write("[%s]\n%s\n" % (section, "\n".join(lines)))
        self.stderr_path = os.path.join(self.tmp.name, "stderr.log")
        cmd = [self.epode, "--config", cfg, "--domain", self.variables["domain"],
               "--server", "127.0.0.1:%d" % port, "--secret", self.variables["secret"],
               "--log-level", "debug"]
        self.log("running %s" % " ".join(cmd))
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err, close_fds=True)

    def stop(self):
        self.close_conn()
        if self.listener is not None:
            self.listener.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=4)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def run(self):
        """Returns None on success, else a description of the failure."""
        self.deadline = time.monotonic() + SCENARIO_TIMEOUT
        try:
            self.start()
        except OSError as e:
            self.stop()
            return "cannot start %s: %s" % (self.epode, e)
        current = None
        try:
            for step in self.steps:
                current = step
                self.log(str(step))
                getattr(self, "do_" + step.name.rstrip(":"))(step)
            current = None
            # Nothing unexpected may be left: no stanza Epode sent that the
            # transcript did not look at, and no exit it did not expect.
            if self.conn is not None and not self.conn_eof:
                until = time.monotonic() + 0.3
                while self.read_some(until):
                    pass
            left = [t for t in self.tokens if t[0] in ("element", "text", "after-close")]
            if left:
                raise StepFailed("Epode sent what the transcript does not expect: %s %s" % left[0])
            if not self.exit_expected:
                if self.proc.poll() is not None:
                    raise StepFailed("epode exited (status %d) although the transcript does not expect it"
                                     % self.proc.returncode)
                # Still running: it must stop cleanly when asked to.
                self.close_conn()
                self.proc.send_signal(signal.SIGTERM)
                try:
                    rc = self.proc.wait(timeout=STEP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    raise StepFailed("epode did not stop within %g s of SIGTERM" % STEP_TIMEOUT)
                if rc != 0:
                    raise StepFailed("epode exited with status %d on SIGTERM, expected 0" % rc)
            return None
        except StepFailed as e:
            where = str(current) if current else "after the last step"
            tail = self.stderr_text().splitlines()[-25:]
            return "%s\n  %s\n  epode's stderr (last lines):\n%s" % (
                where, e, "\n".join("    | " + l for l in tail))
        finally:
            self.stop()
            if self.tmp is not None:
                self.tmp.cleanup()


def main(argv):
    global VERBOSE
    args = argv[1:]
    if args and args[0] == "-v":
        VERBOSE = True
        args = args[1:]
    if len(args) < 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        print("replay.py: give the epode binary and at least one transcript", file=sys.stderr)
        return 2
    epode, transcripts = args[0], args[1:]
    if not (os.path.isfile(epode) and os.access(epode, os.X_OK)):
        print("replay.py: %s is not an executable file" % epode, file=sys.stderr)
        return 2
    passed = failed = 0
    for path in transcripts:
        name = os.path.basename(path)
        try:
            scenario = Scenario(epode, path)
        except (OSError, TranscriptError) as e:
            print("FAIL %s: bad transcript: %s" % (name, e), flush=True)
            failed += 1
            continue
        t0 = time.monotonic()
        why = scenario.run()
        dt = time.monotonic() - t0
        if why is None:
            print("ok   %s (%d steps, %.1f s)" % (name, len(scenario.steps), dt), flush=True)
            passed += 1
        else:
            print("FAIL %s (%.1f s): %s" % (name, dt, why), flush=True)
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
