#!/usr/bin/env bash
# Epode's HTTP side (bosh/http.c: libwebsockets on the daemon's libuv loop),
# against a running epode whose XMPP link has nobody to talk to (it keeps
# retrying, which is the point: the loop serves both):
#   - XEP-0156 host-meta (XML and JSON) built from the Host header, or from
#     [http] public_url;
#   - static files from the web root: the placeholder page, Content-Types,
#     404, HEAD, a directory redirect; traversal (../, %2e%2e, %2f) and a
#     symbolic link out of the root refused;
#   - CORS: preflights allowed and refused per origin, headers on answers;
#   - /http-bind takes POST only, /xmpp-websocket upgrades with "xmpp" only
#     (what they speak is tested by test_clients.sh);
#   - /metrics from loopback, refused when forwarded by a proxy;
#   - other methods 405, keep-alive, max_connections, idle and request
#     timeouts;
#   - https with a self-signed certificate (openssl req -x509), TLS only;
#   - a port in use: exit 1 with the reason;
#   - SIGTERM with connections open: exit 0 within 2 s;
#   - no sanitizer report in any log (run it with the ASan build too).
# Usage: test_http.sh EPODE_BINARY
# Needs /usr/bin/python3 (http.client, ssl) and openssl; no XMPP server.
set -uo pipefail

epode=$1
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
repo_web=$(cd "$here/../../web" && pwd)
work=$(mktemp -d)
pids=()
pass=0
fail=0

cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  if [ "$fail" -ne 0 ] || [ -n "${KEEP_WORK:-}" ]; then
    echo "# logs kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   - $*"; }
ko() { fail=$((fail + 1)); echo "FAIL - $*"; }
expect() { # description command...: passes when the command succeeds
  local what=$1; shift
  if "$@"; then ok "$what"; else ko "$what"; fi
}

for tool in "$py" openssl; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL - $tool is needed"
    echo "0 passed, 1 failed"
    exit 1
  fi
done

# ---- an HTTP client that shows everything -----------------------------
# req.py OUT [--ca FILE] [--host H] [-H 'Name: value']... METHOD URL
# writes OUT.status, OUT.headers (lower-case names) and OUT.body; the path
# is sent as given (no normalisation), as an attacker would.
cat >"$work/req.py" <<'EOF'
import http.client, ssl, sys, urllib.parse
out, args = sys.argv[1], sys.argv[2:]
ca, host, headers = None, None, []
while args and args[0].startswith('-'):
    opt = args.pop(0)
    if opt == '--ca': ca = args.pop(0)
    elif opt == '--host': host = args.pop(0)
    elif opt == '-H': headers.append(args.pop(0).split(': ', 1))
method, url = args
u = urllib.parse.urlsplit(url)
path = url[len(u.scheme) + 3 + len(u.netloc):] or '/'
try:
    if u.scheme == 'https':
        ctx = ssl.create_default_context(cafile=ca)
        c = http.client.HTTPSConnection(u.hostname, u.port, timeout=5, context=ctx)
    else:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    c.putheader('Host', host if host is not None else u.netloc)
    for k, v in headers:
        c.putheader(k, v)
    body = b'x=1' if method in ('POST', 'PUT') else None
    if body:
        c.putheader('Content-Length', str(len(body)))
    c.endheaders(body)
    r = c.getresponse()
    data = r.read()
    status, hdrs = str(r.status), ''.join('%s: %s\n' % (k.lower(), v) for k, v in r.getheaders())
except Exception as e:
    status, hdrs, data = 'ERROR %s: %s' % (type(e).__name__, e), '', b''
open(out + '.status', 'w').write(status + '\n')
open(out + '.headers', 'w').write(hdrs)
open(out + '.body', 'wb').write(data)
EOF
r=$work/r
req() { "$py" "$work/req.py" "$r" "$@"; }
status_is() { [ "$(cat "$r.status")" = "$1" ] || { echo "#   status: $(cat "$r.status")"; return 1; }; }
has_header() { grep -qixF -- "$1" "$r.headers" || { echo "#   headers:"; sed 's/^/#     /' "$r.headers"; return 1; }; }
no_header() { ! grep -qi -- "^$1:" "$r.headers"; }
body_has() { grep -qF -- "$1" "$r.body" || { echo "#   body: $(head -c 300 "$r.body")"; return 1; }; }
body_lacks() { ! grep -qF -- "$1" "$r.body"; }

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_log FILE PATTERN SECONDS
wait_log() {
  local deadline=$((SECONDS + $3))
  while [ "$SECONDS" -lt "$deadline" ]; do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# start NAME CONFIG: runs epode in the background, waits for its listener
start() {
  "$epode" --config "$2" >"$work/$1.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  eval "${1}_pid=$pid"
  if wait_log "$work/$1.log" "http: listening on" 20; then
    ok "$1: epode starts and listens"
  else
    ko "$1: epode starts and listens: $(tail -5 "$work/$1.log")"
  fi
}

# stop NAME: SIGTERM, expects exit 0 within 2 s
stop() {
  local pid
  eval "pid=\$${1}_pid"
  local t0 t1 rc
  t0=$(date +%s%N)
  kill -TERM "$pid"
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then
    ko "$1: SIGTERM stops epode within 2 s"
    kill -9 "$pid" 2>/dev/null
    return
  fi
  wait "$pid"
  rc=$?
  t1=$(date +%s%N)
  if [ "$rc" -eq 0 ]; then
    ok "$1: SIGTERM: exit 0 in $(((t1 - t0) / 1000000)) ms"
  else
    ko "$1: SIGTERM: exit status $rc: $(tail -5 "$work/$1.log")"
  fi
}

component_port=$(free_port) # nothing listens there: the link retries

common_conf() { # NAME HTTP_PORT
  cat <<EOF
[epode]
domain = webrtc.localhost
server = 127.0.0.1:$component_port
secret = secret
db = $work/$1.db
control = $work/$1.sock
listen = 127.0.0.1:$2
log_level = debug
[link]
reconnect_min = 1
reconnect_max = 2
EOF
}

# ======================================================================
# plain: HTTP, the default web root (the repository's web/), CORS list
port=$(free_port)
base=http://127.0.0.1:$port
{
  common_conf plain "$port"
  echo "[http]"
  echo "allowed_origins = https://app.example.com http://localhost:8000"
} >"$work/plain.conf"
start plain "$work/plain.conf"

# ---- host-meta ---------------------------------------------------------
req GET "$base/.well-known/host-meta"
expect "host-meta: 200, application/xrd+xml" \
  eval 'status_is 200 && has_header "content-type: application/xrd+xml; charset=utf-8"'
cat >"$work/xrd.py" <<'EOF'
import sys, xml.etree.ElementTree as ET
ns = '{http://docs.oasis-open.org/ns/xri/xrd-1.0}'
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == ns + 'XRD', root.tag
links = {l.get('rel'): l.get('href') for l in root.findall(ns + 'Link')}
assert links == {'urn:xmpp:alt-connections:xbosh': sys.argv[2],
                 'urn:xmpp:alt-connections:websocket': sys.argv[3]}, links
EOF
expect "host-meta: XRD with xbosh $base/http-bind and websocket ws://127.0.0.1:$port/xmpp-websocket" \
  "$py" "$work/xrd.py" "$r.body" "$base/http-bind" "ws://127.0.0.1:$port/xmpp-websocket"

req GET "$base/.well-known/host-meta.json"
expect "host-meta.json: 200, application/json" eval 'status_is 200 && has_header "content-type: application/json"'
cat >"$work/jrd.py" <<'EOF'
import json, sys
links = {l['rel']: l['href'] for l in json.load(open(sys.argv[1]))['links']}
assert links == {'urn:xmpp:alt-connections:xbosh': sys.argv[2],
                 'urn:xmpp:alt-connections:websocket': sys.argv[3]}, links
EOF
expect "host-meta.json: the same two links" \
  "$py" "$work/jrd.py" "$r.body" "$base/http-bind" "ws://127.0.0.1:$port/xmpp-websocket"

req --host chat.example.com:5280 GET "$base/.well-known/host-meta.json"
expect "host-meta.json: built from the Host header" \
  "$py" "$work/jrd.py" "$r.body" "http://chat.example.com:5280/http-bind" "ws://chat.example.com:5280/xmpp-websocket"
req --host "evil'><x" GET "$base/.well-known/host-meta"
expect "host-meta: a Host header that is no host name gets 400" eval 'status_is 400 && body_lacks "<x"'
req HEAD "$base/.well-known/host-meta"
expect "host-meta: HEAD gets the headers and no body" eval 'status_is 200 && [ ! -s "$r.body" ]'

# ---- static files ----------------------------------------------------
req GET "$base/"
expect "/: the placeholder page, text/html; charset=utf-8" \
  eval 'status_is 200 && has_header "content-type: text/html; charset=utf-8" && body_has "Epode is running"'
expect "/: served from the repository's web/ (the build-tree default)" cmp -s "$r.body" "$repo_web/index.html"
expect "/: X-Content-Type-Options nosniff" has_header "x-content-type-options: nosniff"
req GET "$base/index.html"
expect "/index.html: 200" status_is 200
req HEAD "$base/"
expect "HEAD /: 200 with Content-Length, no body" \
  eval 'status_is 200 && has_header "content-length: $(stat -c %s "$repo_web/index.html")" && [ ! -s "$r.body" ]'
req GET "$base/no-such-page.html"
expect "a missing file: 404" status_is 404
for path in /../../etc/passwd /%2e%2e/%2e%2e/etc/passwd /..%2f..%2f..%2fetc%2fpasswd \
  /%2E%2E/%2E%2E/%2E%2E/etc/passwd /web/../../etc/passwd /../CMakeLists.txt /..%2fCMakeLists.txt; do
  req GET "$base$path"
  expect "traversal $path: 404, nothing from outside the web root" \
    eval 'status_is 404 && body_lacks "root:" && body_lacks "cmake_minimum_required"'
done

# ---- the XMPP endpoints, as HTTP sees them -----------------------------
req GET "$base/http-bind"
expect "GET /http-bind: 405, BOSH takes POST" eval 'status_is 405 && has_header "allow: POST, OPTIONS"'
req POST "$base/http-bind"
expect "POST /http-bind without a body: 400 (not a BOSH <body/>)" status_is 400
req -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
  -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Protocol: xmpp' GET "$base/xmpp-websocket"
expect "/xmpp-websocket (upgrade with sub-protocol xmpp): 101" status_is 101
req -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
  -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' GET "$base/xmpp-websocket"
expect "/xmpp-websocket (upgrade without sub-protocol): 400" eval 'status_is 400 && body_has "xmpp"'
req GET "$base/xmpp-websocket"
expect "/xmpp-websocket (plain GET): 426 Upgrade Required" status_is 426

# ---- CORS ----------------------------------------------------------------
req -H 'Origin: https://app.example.com' -H 'Access-Control-Request-Method: POST' \
  -H 'Access-Control-Request-Headers: content-type' OPTIONS "$base/http-bind"
expect "preflight from an allowed origin: 204 with the CORS headers" \
  eval 'status_is 204 && has_header "access-control-allow-origin: https://app.example.com" &&
        has_header "access-control-allow-methods: GET, POST, OPTIONS" &&
        has_header "access-control-allow-headers: Content-Type" && has_header "access-control-max-age: 86400"'
req -H 'Origin: http://localhost:8000' -H 'Access-Control-Request-Method: POST' OPTIONS "$base/http-bind"
expect "preflight from the second allowed origin: 204" \
  eval 'status_is 204 && has_header "access-control-allow-origin: http://localhost:8000"'
req -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: POST' OPTIONS "$base/http-bind"
expect "preflight from an origin not allowed: 403, no CORS headers" \
  eval 'status_is 403 && no_header access-control-allow-origin && no_header access-control-allow-methods'
req -H 'Origin: https://app.example.com.evil.example' -H 'Access-Control-Request-Method: POST' OPTIONS "$base/http-bind"
expect "preflight from a look-alike origin: 403" status_is 403
req -H 'Origin: https://app.example.com' GET "$base/.well-known/host-meta"
expect "GET from an allowed origin: Access-Control-Allow-Origin and Vary: Origin" \
  eval 'status_is 200 && has_header "access-control-allow-origin: https://app.example.com" && has_header "vary: Origin"'
req -H 'Origin: https://evil.example' GET "$base/.well-known/host-meta"
expect "GET from another origin: answered, without Access-Control-Allow-Origin" \
  eval 'status_is 200 && no_header access-control-allow-origin'
req OPTIONS "$base/"
expect "OPTIONS without Origin (not a preflight): 204 with Allow" \
  eval 'status_is 204 && has_header "allow: GET, HEAD, POST, OPTIONS"'

# ---- metrics ---------------------------------------------------------------
req GET "$base/metrics"
expect "/metrics from loopback: 200, Prometheus text" \
  eval 'status_is 200 && has_header "content-type: text/plain; version=0.0.4; charset=utf-8"'
expect "/metrics: link counters (down, no connect), services counters, HTTP figures" \
  eval 'body_has "epode_link_up 0" && body_has "epode_link_connects_total 0" &&
        body_has "# TYPE epode_link_stanzas_in_total counter" && body_has "epode_iq_answered_total 0" &&
        body_has "epode_http_requests_total{code=\"2xx\"}" && body_has "epode_http_connections 1"'
req -H 'X-Forwarded-For: 203.0.113.9' GET "$base/metrics"
expect "/metrics through a reverse proxy (X-Forwarded-For): 403" status_is 403
req -H 'Forwarded: for=203.0.113.9' GET "$base/metrics"
expect "/metrics through a reverse proxy (Forwarded): 403" status_is 403

# ---- methods, keep-alive, lws' corners ---------------------------------------
req PUT "$base/"
expect "PUT: 405 with Allow" eval 'status_is 405 && has_header "allow: GET, HEAD, POST, OPTIONS"'
req DELETE "$base/index.html"
expect "DELETE: 405" status_is 405
"$py" - "$port" >"$work/raw.out" 2>&1 <<'EOF'
import http.client, socket, sys
port = int(sys.argv[1])
c = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
for path in ('/', '/.well-known/host-meta', '/no-such'):
    c.request('GET', path)
    r = c.getresponse(); r.read()
    print('keepalive', path, r.status)
def raw(data):
    s = socket.create_connection(('127.0.0.1', port), timeout=3)
    s.sendall(data)
    out = b''
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except OSError:
        pass
    return out
print('connect', raw(b'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n')[:12])
print('h2c', raw(b'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n'
                 b'HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n')[:24])
EOF
expect "keep-alive: three requests on one connection" \
  eval 'grep -qx "keepalive / 200" "$work/raw.out" && grep -qx "keepalive /.well-known/host-meta 200" "$work/raw.out" &&
        grep -qx "keepalive /no-such 404" "$work/raw.out"'
expect "CONNECT (lws makes it a raw socket): closed without an answer" grep -qx "connect b''" "$work/raw.out"
expect "an h2c upgrade: 400, HTTP/1.1 only" grep -q "^h2c b'HTTP/1.0 400" "$work/raw.out"
expect "one debug line per request (module http)" \
  grep -q 'debug http: GET "/.well-known/host-meta" status=200 bytes=[0-9]* peer=127.0.0.1' "$work/plain.log"
expect "the link keeps retrying meanwhile (same loop)" grep -q "link: reconnecting in" "$work/plain.log"

# ---- SIGTERM with connections open -------------------------------------------
"$py" - "$port" <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
idle = socket.create_connection(('127.0.0.1', port))          # keep-alive, idle
half = socket.create_connection(('127.0.0.1', port))          # request head half sent
half.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n')
time.sleep(4)
EOF
holder=$!
sleep 0.5
stop plain
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
expect "plain: the HTTP side says it stopped" grep -q "http: stopping" "$work/plain.log"

# ======================================================================
# tls: https, a web root of our own, public_url, metrics_public
port=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1 &&
  ok "openssl makes a self-signed certificate" || ko "openssl makes a self-signed certificate"
www=$work/www
mkdir -p "$www/sub" "$work/secret"
echo '<!doctype html><title>t</title>test root' >"$www/index.html"
echo 'console.log(1);' >"$www/app.js"
echo 'body{}' >"$www/style.css"
echo '{"a":1}' >"$www/data.json"
echo 'sub index' >"$www/sub/index.html"
echo 'top secret' >"$work/secret/key.txt"
ln -s /etc/passwd "$www/passwd"
ln -s "$work/secret" "$www/out"
ln -s "$www/app.js" "$www/alias.js"
mkdir -p "$www/.hidden" && echo hidden >"$www/.hidden/x.txt"
{
  common_conf tls "$port"
  cat <<EOF
[http]
web_root = $www
public_url = https://chat.example.com/epode/
tls_cert = $work/cert.pem
tls_key = $work/key.pem
metrics_public = true
EOF
} >"$work/tls.conf"
start tls "$work/tls.conf"
base=https://localhost:$port
tls() { req --ca "$work/cert.pem" "$@"; }

tls GET "$base/"
expect "https: / from the configured web root, verified against the self-signed CA" \
  eval 'status_is 200 && body_has "test root"'
tls GET "$base/.well-known/host-meta.json"
expect "https: host-meta from public_url (https -> wss, path kept, trailing slash dropped)" \
  "$py" "$work/jrd.py" "$r.body" "https://chat.example.com/epode/http-bind" "wss://chat.example.com/epode/xmpp-websocket"
for f in "app.js:text/javascript; charset=utf-8" "style.css:text/css; charset=utf-8" \
  "data.json:application/json" "sub/index.html:text/html; charset=utf-8"; do
  tls GET "$base/${f%%:*}"
  expect "Content-Type of ${f%%:*}: ${f#*:}" eval 'status_is 200 && has_header "content-type: ${f#*:}"'
done
tls GET "$base/sub"
expect "a directory without its slash: 301 to /sub/" eval 'status_is 301 && has_header "location: /sub/"'
tls GET "$base/sub/"
expect "/sub/: its index.html" eval 'status_is 200 && body_has "sub index"'
tls GET "$base/alias.js"
expect "a symbolic link inside the root: served" eval 'status_is 200 && body_has "console.log"'
tls GET "$base/passwd"
expect "a symbolic link to /etc/passwd: 404" eval 'status_is 404 && body_lacks "root:"'
tls GET "$base/out/key.txt"
expect "a symbolic link to a directory outside the root: 404" eval 'status_is 404 && body_lacks "top secret"'
tls GET "$base/.hidden/x.txt"
expect "a hidden file: 404" status_is 404
tls -H 'X-Forwarded-For: 203.0.113.9' GET "$base/metrics"
expect "metrics_public = true: /metrics even through a proxy" eval 'status_is 200 && body_has "epode_link_up"'
req GET "http://127.0.0.1:$port/"
expect "plain HTTP on the TLS port: no HTTP answer" eval '! grep -q "^[0-9]" "$r.status"'
"$py" - "$port" "$work/cert.pem" >"$work/tlsver.out" 2>&1 <<'EOF'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.set_alpn_protocols(['h2', 'http/1.1'])
with socket.create_connection(('127.0.0.1', int(sys.argv[1]))) as s:
    with ctx.wrap_socket(s, server_hostname='localhost') as t:
        print(t.version(), t.selected_alpn_protocol())
EOF
expect "TLS 1.2 or later, ALPN http/1.1 (no h2)" grep -Eq "^TLSv1\.[23] http/1\.1$" "$work/tlsver.out"
stop tls

# ======================================================================
# limits: max_connections, and a port already in use
port=$(free_port)
{
  common_conf limit "$port"
  echo "[http]"
  echo "max_connections = 2"
  echo "idle_timeout = 2"
  echo "request_timeout = 1"
} >"$work/limit.conf"
start limit "$work/limit.conf"
"$py" - "$port" >"$work/limit.out" 2>&1 <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
def get():
    try:
        s = socket.create_connection(('127.0.0.1', port), timeout=3)
        s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        return s.recv(12)
    except OSError as e:
        return type(e).__name__
held = [socket.create_connection(('127.0.0.1', port)) for _ in range(2)]
time.sleep(0.3)
print('third', get())
for s in held:
    s.close()
time.sleep(0.3)
print('after', get())
EOF
expect "max_connections = 2: a third connection is refused" grep -Eq "^third (b''|ConnectionResetError)" "$work/limit.out"
expect "max_connections: connections are accepted again once others closed" \
  grep -q "^after b'HTTP/1.1 200" "$work/limit.out"
expect "max_connections: a warning says so" grep -q "warn http: max_connections (2) reached" "$work/limit.log"
"$py" - "$port" >"$work/timeouts.out" 2>&1 <<'EOF2'
import socket, sys, time
port = int(sys.argv[1])
def closed_after(first):
    s = socket.create_connection(('127.0.0.1', port))
    s.settimeout(8)
    if first:
        s.sendall(first)
    t = time.time()
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    return time.time() - t
print('silent %.1f' % closed_after(b''))
print('slow-head %.1f' % closed_after(b'GET / HTTP/1.1\r\nHost: x\r\n'))
print('keep-alive %.1f' % closed_after(b'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'))
EOF2
expect "request_timeout = 1: a silent connection is closed within 2 s" \
  "$py" -c 'import sys; v = float(open(sys.argv[1]).read().split("silent ")[1].split()[0]); sys.exit(not 0.5 <= v <= 2)' "$work/timeouts.out"
expect "request_timeout = 1: an unfinished request head is closed within 2 s" \
  "$py" -c 'import sys; v = float(open(sys.argv[1]).read().split("slow-head ")[1].split()[0]); sys.exit(not 0.5 <= v <= 2)' "$work/timeouts.out"
expect "idle_timeout = 2: an idle keep-alive connection is closed within 3 s" \
  "$py" -c 'import sys; v = float(open(sys.argv[1]).read().split("keep-alive ")[1].split()[0]); sys.exit(not 1 <= v <= 3)' "$work/timeouts.out"
sed -e "s#$work/limit\.#$work/busy.#" "$work/limit.conf" >"$work/busy.conf" # same port, own files
"$epode" --config "$work/busy.conf" >"$work/busy.log" 2>&1
rc=$?
expect "a port already in use: exit 1, and the message says so" \
  eval '[ $rc -eq 1 ] && grep -q "epode: http: cannot listen on 127.0.0.1:$port: the address is already in use" "$work/busy.log"'
stop limit

# ---- sanitizers (an ASan/UBSan build of epode reports here) -----------------
if grep -lE "AddressSanitizer|LeakSanitizer|runtime error:" "$work"/*.log >/dev/null 2>&1; then
  ko "no sanitizer report: $(grep -lE "AddressSanitizer|LeakSanitizer|runtime error:" "$work"/*.log)"
else
  ok "no sanitizer report in any log"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
