#!/usr/bin/env bash
# Real JavaScript XMPP clients in headless Chromium against Epode's BOSH
# (/http-bind) and WebSocket (/xmpp-websocket) endpoints, with the contact
# on a real ejabberd 23.01 or Prosody 0.12 (a private instance on 127.0.0.1)
# played by contact_bot.py (slixmpp). See run.mjs for the scenarios:
#   - Strophe.js over BOSH and over WebSocket, converse.js over both (its
#     BOSH page from another, allowed origin: CORS preflights), StanzaJS
#     over WebSocket: each logs in as its own hosted user (alice1..alice5,
#     made with epodectl), fetches the roster, adds bob@localhost, and the
#     subscription goes both ways; presence both ways; chat both ways;
#     logout;
#   - a wrong password: SASL failure not-authorized (BOSH and WebSocket);
#   - SASL ANONYMOUS ([clients] anonymous = true);
#   - a page from Epode itself (same origin) gets a WebSocket stream and a
#     BOSH session; a page from an origin not in allowed_origins gets
#     neither;
#   - Epode restarts: epodectl finds every roster item at both, and alice1
#     logs in again, finds the contact at both, sees and is seen, chats;
#   - no sanitizer report in Epode's log.
#
# Usage: test_browser.sh EPODE_BINARY EPODECTL ejabberd|prosody
#        test_browser.sh - - prosody-native
# prosody-native runs the same clients against Prosody's own BOSH and
# WebSocket (the "hosted" users are Prosody users): a check of this harness
# that needs no Epode.
# Needs node with the packages of package.json (npm ci), /usr/bin/chromium,
# /usr/bin/python3 with slixmpp. KEEP_WORK=1 keeps the logs when all pass.
set -uo pipefail

epode=$1
epodectl=$2
server=$3
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
servers=$repo/tests/servers
py=/usr/bin/python3

case $server in
ejabberd) port_base=17000 ;;
prosody | prosody-native) port_base=27000 ;;
*) echo "usage: $0 EPODE EPODECTL ejabberd|prosody|prosody-native" >&2; exit 2 ;;
esac
real_server=${server%-native}
export EJABBERD_C2S_PORT=$((port_base + 222)) EJABBERD_COMPONENT_PORT=$((port_base + 275))
export EJABBERD_HTTP_PORT=$((port_base + 280)) EJABBERD_DIST_PORT=$((port_base + 279))
export PROSODY_C2S_PORT=$((port_base + 222)) PROSODY_COMPONENT_PORT=$((port_base + 275))
export PROSODY_HTTP_PORT=$((port_base + 280))
epode_port=$((port_base + 290))
static_port=$((port_base + 291))
users="alice1:alice1pass alice2:alice2pass alice3:alice3pass alice4:alice4pass alice5:alice5pass"
if [ "$server" = prosody-native ]; then
  export XMPP_USERS="bob:bobpass $users"
else
  export XMPP_USERS="bob:bobpass"
fi

work=$(mktemp -d)
epode_pid=
pass=0
fail=0

cleanup() {
  if [ -n "$epode_pid" ]; then kill -9 "$epode_pid" 2>/dev/null; wait "$epode_pid" 2>/dev/null; fi
  "$servers/$real_server.sh" stop "$work/server" >/dev/null 2>&1
  if [ "$fail" -ne 0 ] || [ -n "${KEEP_WORK:-}" ]; then
    echo "# logs kept in $work (browser consoles and the contact bot in $work/logs*, epode.log)"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   - $*"; }
ko() { fail=$((fail + 1)); echo "FAIL - $*"; }
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
}

# ---- what the test needs ------------------------------------------------
for need in node /usr/bin/chromium "$py"; do
  command -v "$need" >/dev/null || { ko "$need is needed"; finish; }
done
for mod in playwright-core strophe.js converse.js esbuild events stanza; do
  [ -d "$repo/node_modules/$mod" ] || { ko "node module $mod missing (npm ci in $repo)"; finish; }
done
if [ "$server" != prosody-native ]; then
  for f in "$epode" "$epodectl"; do
    [ -x "$f" ] || { ko "$f is not an executable"; finish; }
  done
fi

# ---- the pages, the real server ------------------------------------------
if node "$here/run.mjs" prepare "$work/site" >"$work/prepare.log" 2>&1; then
  ok "test pages and client libraries ready (StanzaJS bundled with esbuild)"
else
  ko "preparing the pages: $(tail -5 "$work/prepare.log")"
  finish
fi
start_server() { "$servers/$real_server.sh" start "$work/server" >"$work/server-start.log" 2>&1; }
if ! start_server; then
  ko "$real_server starts: $(tail -5 "$work/server-start.log")"
  finish
fi
. "$work/server/instance.env"
ok "$real_server started (c2s 127.0.0.1:$C2S_PORT)"

# runner NAME SCENARIO...: run.mjs, its check lines counted as ours
runner() {
  local name=$1; shift
  local args=(--site "$work/site" --static-port "$static_port" --logs "$work/logs-$name"
    --users "$(tr ' ' , <<<"$users")" --contact "bob@$DOMAIN" --contact-password bobpass
    --contact-server "127.0.0.1:$C2S_PORT"
    --app-origin "http://localhost:$static_port" --evil-origin "http://127.0.0.1:$static_port")
  if [ "$server" = prosody-native ]; then
    args+=(--page-base "http://localhost:$static_port/" --domain "$DOMAIN"
      --bosh "http://localhost:$HTTP_PORT/http-bind" --ws "ws://localhost:$HTTP_PORT/xmpp-websocket")
  else
    args+=(--page-base "http://localhost:$epode_port/" --domain webrtc.localhost
      --bosh "http://localhost:$epode_port/http-bind" --ws "ws://localhost:$epode_port/xmpp-websocket")
  fi
  timeout 230 node "$here/run.mjs" run "${args[@]}" "$@" >"$work/run-$name.out" 2>&1
  local rc=$?
  grep -v '^[0-9]* passed, [0-9]* failed$' "$work/run-$name.out"
  local p f
  p=$(grep -c '^ok ' "$work/run-$name.out")
  f=$(grep -c '^FAIL ' "$work/run-$name.out")
  pass=$((pass + p))
  fail=$((fail + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then ko "run.mjs $name exited with $rc"; fi
}

main_scenarios=(strophe-bosh strophe-ws converse-bosh converse-ws stanza-ws bad-password-bosh bad-password-ws)

# ---- prosody-native: the harness against Prosody's own endpoints --------
if [ "$server" = prosody-native ]; then
  # A Prosody with an anonymous virtual host (ANON_DOMAIN): ANONYMOUS too.
  if [ -n "${ANON_DOMAIN:-}" ] && [ "$ANON_DOMAIN" != none ]; then
    runner first "${main_scenarios[@]}" --anon-domain "$ANON_DOMAIN" anonymous
  else
    runner first "${main_scenarios[@]}"
  fi
  "$servers/prosody.sh" stop "$work/server" >/dev/null 2>&1
  if start_server; then ok "prosody restarted"; else ko "prosody restarts: $(tail -3 "$work/server-start.log")"; fi
  runner again again-ws
  finish
fi

# ---- Epode, its hosted users ------------------------------------------------
for u in $users; do
  if ! "$epodectl" --db "$work/epode.db" useradd "${u%%:*}@webrtc.localhost" "${u#*:}" >"$work/useradd.log" 2>&1; then
    ko "epodectl useradd ${u%%:*}@webrtc.localhost: $(cat "$work/useradd.log")"
  fi
done
cat >"$work/epode.conf" <<EOF
[epode]
domain = $COMPONENT_DOMAIN
server = 127.0.0.1:$COMPONENT_PORT
secret = $COMPONENT_SECRET
listen = 127.0.0.1:$epode_port
db = $work/epode.db
control = $work/epode.sock
log_level = debug
[link]
reconnect_min = 1
reconnect_max = 2
[http]
web_root = $work/site
allowed_origins = http://localhost:$static_port
[clients]
anonymous = true
EOF

start_epode() { # LOGFILE: started and connected to the server in 15 s
  : >>"$1"
  "$epode" --config "$work/epode.conf" >>"$1" 2>&1 &
  epode_pid=$!
  local deadline=$((SECONDS + 15))
  while [ "$SECONDS" -lt "$deadline" ]; do
    grep -q "link: connected" "$1" && return 0
    if ! kill -0 "$epode_pid" 2>/dev/null; then
      wait "$epode_pid"
      echo "# epode exited with status $?"
      epode_pid=
      return 1
    fi
    sleep 0.1
  done
  return 1
}
stop_epode() {
  kill -TERM "$epode_pid" 2>/dev/null
  local deadline=$((SECONDS + 10))
  while kill -0 "$epode_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$epode_pid" 2>/dev/null; then
    ko "epode stops on SIGTERM within 10 s"
    kill -9 "$epode_pid"
    wait "$epode_pid" 2>/dev/null
  else
    wait "$epode_pid"
    local rc=$?
    if [ "$rc" -eq 0 ]; then ok "epode stops on SIGTERM, exit 0"; else ko "epode exit status $rc on SIGTERM"; fi
  fi
  epode_pid=
}

if start_epode "$work/epode.log"; then
  ok "epode connected to $server"
else
  ko "epode connects to $server: $(tail -5 "$work/epode.log")"
  finish
fi
# Is there anything at /xmpp-websocket yet? (Said, not judged: the
# scenarios fail by themselves if not.)
code=$("$py" - "$epode_port" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
c.request("GET", "/xmpp-websocket", headers={"Upgrade": "websocket", "Connection": "Upgrade",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Protocol": "xmpp", "Origin": "http://localhost:%s" % sys.argv[1]})
print(c.getresponse().status)
PY
)
echo "# GET /xmpp-websocket (upgrade, sub-protocol xmpp): HTTP $code"

runner first same-origin "${main_scenarios[@]}" anonymous evil-origin

# ---- Epode restarts: rosters and subscriptions are still there --------------
roster_check() { # WHEN
  local u name bad=0
  for u in $users; do
    name=${u%%:*}
    "$epodectl" --db "$work/epode.db" roster "$name@webrtc.localhost" >"$work/roster.out" 2>&1
    if ! awk -F'\t' -v c="bob@$DOMAIN" '$1 == c && $2 == "both" { found = 1 } END { exit !found }' "$work/roster.out"; then
      ko "$1: $name's roster in the store has bob@$DOMAIN at both: $( [ -s "$work/roster.out" ] && tr '\t\n' ' |' <"$work/roster.out" || echo "(no items)")"
      bad=1
    fi
  done
  [ "$bad" -ne 0 ] || ok "$1: every user's roster in the store has bob@$DOMAIN at both (epodectl roster)"
}
roster_check "before the restart"
stop_epode
if start_epode "$work/epode-2.log"; then ok "epode started again"; else ko "epode starts again: $(tail -5 "$work/epode-2.log")"; fi
roster_check "after the restart"
runner again again-ws

# ---- sanitizers, and a clean stop -------------------------------------------
if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$work"/epode*.log; then
  ko "sanitizer report in epode's log: $(grep -m1 "ERROR: \|runtime error:" "$work"/epode*.log)"
else
  ok "no sanitizer report in epode's logs"
fi
if kill -0 "$epode_pid" 2>/dev/null; then stop_epode; else ko "epode died during the test: $(tail -3 "$work/epode-2.log")"; epode_pid=; fi
finish
