#!/usr/bin/python3
"""Checks that replay.py cannot pass vacuously.

Usage: selftest.py [TRANSCRIPT_DIR]   (default: tests/data/openfire)

It runs replay.py against stand-ins for epode that are wrong in one way
each, and against broken transcripts, and expects every run to fail (exit
status 1, "0 passed, N failed" on the last line), except one stand-in that
does the success scenario right, which must pass: so a failure is the
harness judging, not the harness being unable to pass. Standard library
only; everything listens and connects on 127.0.0.1.
"""

import os
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.path.join(HERE, "replay.py")

# A stand-in component: same flags as epode; MODE says what it gets wrong.
FAKE = r'''#!/usr/bin/python3
import hashlib, re, socket, sys, time
MODE = %(mode)r
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
domain, secret = args["--domain"], args["--secret"]
host, port = args["--server"].rsplit(":", 1)
if MODE == "never-connects":
    time.sleep(30); sys.exit(0)
if MODE == "exits":
    sys.exit(0)
s = socket.create_connection((host, int(port)))
buf = ""
def until(rx):
    global buf
    while True:
        m = re.search(rx, buf, re.S)
        if m:
            buf = buf[m.end():]
            return m
        d = s.recv(65536)
        if not d:
            sys.exit(0)
        buf += d.decode()
if MODE == "silent":
    time.sleep(30); sys.exit(0)
s.sendall(("<?xml version='1.0'?><stream:stream to='%%s' xmlns='jabber:component:accept' "
           "xmlns:stream='http://etherx.jabber.org/streams'>" %% domain).encode())
sid = until(r"<stream:stream[^>]*\bid=\"([^\"]+)\"[^>]*>").group(1)
if MODE == "digest-swapped":
    digest = hashlib.sha1((secret + sid).encode()).hexdigest()
elif MODE == "digest-stale-id":
    digest = hashlib.sha1(("someotherid" + secret).encode()).hexdigest()
else:
    digest = hashlib.sha1((sid + secret).encode()).hexdigest()
s.sendall(("<handshake>%%s</handshake>" %% digest).encode())
until(r"<handshake></handshake>")
def answer(kind):
    m = until(r"<iq type=\"get\" id=\"([^\"]+)\" from=\"([^\"]+)\" to=\"([^\"]+)\"><query xmlns=\"([^\"]+)\"/></iq>")
    iid, frm, to, ns = m.groups()
    if ns.endswith("disco#info"):
        ident = "" if MODE == "disco-no-identity" else "<identity category='gateway' type='webrtc' name='x'/>"
        body = "<query xmlns='%%s'>%%s<feature var='%%s'/></query>" %% (ns, ident, ns)
    else:
        body = "<query xmlns='%%s'><name>x</name><version>1</version></query>" %% ns
    idv = iid + "x" if MODE == "wrong-id" else iid
    s.sendall(("<iq type='result' from='%%s' to='%%s' id='%%s'>%%s</iq>" %% (to, frm, idv, body)).encode())
answer("disco"); answer("version")
m = until(r"<iq type=\"get\" to=\"[^\"]+\" id=\"([^\"]+)\" from=\"([^\"]+)\"><ping")
if MODE == "extra-stanza":
    s.sendall(b"<message to='alice@example.com'><body>unexpected</body></message>")
s.sendall(("<iq type='result' from='%%s' to='%%s' id='%%s'/>" %% (domain, m.group(2), m.group(1))).encode())
until(r"</stream:stream>")
if MODE == "no-reconnect":
    time.sleep(30); sys.exit(0)
s.close()
%(tail)s
'''

# What the one correct stand-in does after the first session (the success
# transcript's reconnect, probes and SIGTERM).
GOOD_TAIL = r'''
import signal
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
s = socket.create_connection((host, int(port)))
buf = ""
s.sendall(("<stream:stream to='%s' xmlns='jabber:component:accept' "
           "xmlns:stream='http://etherx.jabber.org/streams'>" % domain).encode())
sid = until(r"<stream:stream[^>]*\bid=\"([^\"]+)\"[^>]*>").group(1)
s.sendall(("<handshake>%s</handshake>" % hashlib.sha1((sid + secret).encode()).hexdigest()).encode())
until(r"<handshake></handshake>")
answer("disco"); answer("version")
while not stop:
    time.sleep(0.05)
s.sendall(b"</stream:stream>")
until(r"</stream:stream>")
sys.exit(0)
'''


def make_fake(tmp, mode, good=False):
    path = os.path.join(tmp, "fake-" + mode)
    with open(path, "w") as f:
        f.write(FAKE % {"mode": mode, "tail": GOOD_TAIL if good else "time.sleep(30)"})
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def run(binary, transcripts):
    p = subprocess.run([sys.executable, REPLAY, binary] + transcripts,
                       capture_output=True, text=True, timeout=120)
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    return p.returncode, last, p.stdout + p.stderr


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "data", "openfire")
    success = os.path.join(data, "success.txt")
    wrong = os.path.join(data, "wrong-secret.txt")
    bad = 0
    with tempfile.TemporaryDirectory(prefix="replay-selftest-") as tmp:
        def expect(label, binary, transcripts, code, last):
            nonlocal bad
            rc, got_last, out = run(binary, transcripts)
            if rc == code and got_last == last:
                print("ok   %s" % label)
            else:
                bad += 1
                print("FAIL %s: exit %d, last line %r (expected exit %d, %r)\n%s"
                      % (label, rc, got_last, code, last, out))

        expect("a correct stand-in passes success.txt",
               make_fake(tmp, "good", good=True), [success], 0, "1 passed, 0 failed")
        for mode in ("exits", "never-connects", "silent", "digest-swapped", "digest-stale-id",
                     "disco-no-identity", "wrong-id", "extra-stanza", "no-reconnect"):
            expect("stand-in '%s' fails success.txt" % mode, make_fake(tmp, mode), [success], 1,
                   "0 passed, 1 failed")
        expect("/bin/true fails wrong-secret.txt", "/bin/true", [wrong], 1, "0 passed, 1 failed")

        empty = os.path.join(tmp, "empty.txt")
        with open(empty, "w") as f:
            f.write("# nothing but comments\nSET domain = a.example.com\nSET secret = s\n")
        expect("a transcript without steps fails", "/bin/true", [empty], 1, "0 passed, 1 failed")
        unknown = os.path.join(tmp, "unknown.txt")
        with open(unknown, "w") as f:
            f.write("SET domain = a.example.com\nSET secret = s\nACCEPT\nEXPECT_SOMETHING\n")
        expect("an unknown directive fails", "/bin/true", [unknown], 1, "0 passed, 1 failed")
        # The right secret where the transcript says Openfire has another one.
        flipped = os.path.join(tmp, "flipped.txt")
        with open(wrong) as f:
            text = f.read().replace("SET openfire_secret", "# SET openfire_secret")
        with open(flipped, "w") as f:
            f.write(text)
        epode = os.path.join(HERE, "..", "..", "build", "component", "epode")
        if os.access(epode, os.X_OK):
            expect("epode with the secret Openfire accepts fails wrong-secret.txt", epode, [flipped], 1,
                   "0 passed, 1 failed")
        rc, last, out = run("/bin/true", [])
        if rc == 2:
            print("ok   no transcript is a usage error")
        else:
            bad += 1
            print("FAIL no transcript: exit %d\n%s" % (rc, out))
    print("selftest: %s" % ("all checks passed" if not bad else "%d check(s) failed" % bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
