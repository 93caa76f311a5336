#!/usr/bin/env bash
# The demo page (web/index.html on web/epode.js) in two headless Chromium
# pages, a real call between two hosted users through Epode:
#   - Prosody 0.12 (private instance), Epode attached to it and serving
#     web/ as its web root (the production layout: web/vendor holds
#     Strophe.js), two hosted users made with epodectl;
#   - both log in through the page's form; they become contacts through the
#     page (add contact, accept the request on the other side), and
#     `epodectl roster` shows each in the other's roster at both;
#   - alice calls bob's full JID with the per-contact call button, bob
#     accepts from the incoming-call prompt; the test passes only when
#     getStats() shows audio and video bytes growing in both directions on
#     both pages; on the wire, candidates are RTCIceCandidateInit and the
#     end of candidates {"candidate": null}; alice hangs up and both calls
#     end;
#   - epode.js by itself: iceServers() from XEP-0215 (a STUN and a TURN
#     server with credentials), a signaling iq to an offline JID rejects
#     with the stanza error condition, a guest login (ANONYMOUS) with the
#     WebSocket made to fail falls back to BOSH.
# WebRTC ignores loopback, so everything (Prosody, Epode, Chromium) runs in
# a network namespace with a veth pair (tests/browser/README.md, LAB.md).
#
# Usage: [EPODE_TEST_SERVER=ejabberd] test_calls_demo.sh EPODE_BINARY EPODECTL [SCREENSHOT.png]
# The XMPP server is Prosody unless EPODE_TEST_SERVER says ejabberd.
# With SCREENSHOT, a picture of the callee's page mid-call is written there
# (docs/demo.png is made this way). Needs root (unshare -n), node with
# playwright-core (npm ci), /usr/bin/chromium, prosody. KEEP_WORK=1 keeps
# the logs when all pass.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
server=${EPODE_TEST_SERVER:-prosody}
case $server in prosody | ejabberd) ;; *) echo "EPODE_TEST_SERVER must be prosody or ejabberd" >&2; exit 2 ;; esac
repo=$(cd "$here/../.." && pwd)

if [ $# -lt 2 ]; then
  echo "usage: $0 EPODE EPODECTL [SCREENSHOT.png]" >&2
  exit 2
fi
epode=$(readlink -f "$1")
epodectl=$(readlink -f "$2")
shot=${3:+$(readlink -f "$(dirname "$3")")/$(basename "$3")}

# Into a fresh network namespace: loopback up, and a veth pair whose
# address (127.0.0.2) Chromium gathers as its host candidate.
if [ -z "${EPODE_CALLS_NETNS:-}" ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "FAIL - root is needed for unshare -n"; echo "0 passed, 1 failed"; exit 1; fi
  # shellcheck disable=SC2016  # $0 and $@ are for the inner bash
  exec unshare -n env EPODE_CALLS_NETNS=1 bash -c 'ip link set lo up && ip link add v0 type veth peer name v1 &&
    ip addr add 127.0.0.2/32 dev v0 && ip link set v0 up && ip link set v1 up && exec "$0" "$@"' \
    "$0" "$epode" "$epodectl" ${shot:+"$shot"}
fi

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   - $*"; }
ko() { fail=$((fail + 1)); echo "FAIL - $*"; }
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
}

work=$(mktemp -d)
epode_pid=
cleanup() {
  if [ -n "$epode_pid" ]; then kill -9 "$epode_pid" 2>/dev/null; wait "$epode_pid" 2>/dev/null; fi
  "$repo/tests/servers/$server.sh" stop "$work/server" >/dev/null 2>&1
  if [ "$fail" -ne 0 ] || [ -n "${KEEP_WORK:-}" ]; then
    echo "# logs kept in $work (epode.log, logs/alice.log, logs/bob.log, run.out)"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

for need in node /usr/bin/chromium "$([ "$server" = prosody ] && echo prosody || echo ejabberdctl)"; do
  command -v "$need" >/dev/null || { ko "$need is needed"; finish; }
done
[ -d "$repo/node_modules/playwright-core" ] || { ko "node module playwright-core missing (npm ci in $repo)"; finish; }
for f in "$epode" "$epodectl"; do [ -x "$f" ] || { ko "$f is not an executable"; finish; }; done
for f in index.html epode.js demo.js demo.css vendor/strophe.umd.min.js; do
  [ -f "$repo/web/$f" ] || { ko "web/$f is missing"; finish; }
done

export PROSODY_C2S_PORT=47222 PROSODY_COMPONENT_PORT=47275 PROSODY_HTTP_PORT=47280
export EJABBERD_C2S_PORT=47222 EJABBERD_COMPONENT_PORT=47275 EJABBERD_HTTP_PORT=47280 EJABBERD_DIST_PORT=47279
export XMPP_USERS="carol:carolpass" ANON_DOMAIN=none
epode_port=47290
if ! "$repo/tests/servers/$server.sh" start "$work/server" >"$work/server-start.log" 2>&1; then
  ko "$server starts: $(tail -5 "$work/server-start.log")"
  finish
fi
. "$work/server/instance.env"
ok "$server started in the namespace (component port $COMPONENT_PORT)"

for u in alice:alicepass bob:bobpass; do
  if ! "$epodectl" --db "$work/epode.db" useradd "${u%%:*}@$COMPONENT_DOMAIN" "${u#*:}" >"$work/useradd.log" 2>&1; then
    ko "epodectl useradd ${u%%:*}: $(cat "$work/useradd.log")"
    finish
  fi
done
ok "hosted users alice and bob created with epodectl"

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
[ice]
stun = 127.0.0.2:3478
turn = 127.0.0.2:3478/udp
turn_secret = calls-demo-turn-secret
[http]
web_root = $repo/web
[clients]
anonymous = true
EOF
"$epode" --config "$work/epode.conf" >"$work/epode.log" 2>&1 &
epode_pid=$!
deadline=$((SECONDS + 15))
until grep -q "link: connected" "$work/epode.log"; do
  if ! kill -0 "$epode_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
    ko "epode connects to $server: $(tail -5 "$work/epode.log")"
    finish
  fi
  sleep 0.1
done
ok "epode connected, serving $repo/web on 127.0.0.1:$epode_port"

roster_has() { # USER CONTACT: CONTACT is in USER's roster in the store at both
  "$epodectl" --db "$work/epode.db" roster "$1@$COMPONENT_DOMAIN" 2>&1 |
    awk -F'\t' -v c="$2@$COMPONENT_DOMAIN" '$1 == c && $2 == "both" { f = 1 } END { exit !f }'
}

timeout 240 node "$here/test_calls_demo.mjs" --base "http://localhost:$epode_port/" --domain "$COMPONENT_DOMAIN" \
  --alice "alice@$COMPONENT_DOMAIN:alicepass" --bob "bob@$COMPONENT_DOMAIN:bobpass" \
  --logs "$work/logs" ${shot:+--screenshot "$shot"} >"$work/run.out" 2>&1
rc=$?
grep -v '^[0-9]* passed, [0-9]* failed$' "$work/run.out"
p=$(grep -c '^ok ' "$work/run.out")
f=$(grep -c '^FAIL ' "$work/run.out")
pass=$((pass + p))
fail=$((fail + f))
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then ko "test_calls_demo.mjs exited with $rc"; fi

if roster_has alice bob && roster_has bob alice; then
  ok "epodectl roster: alice and bob are each other's contacts at both in the store"
else
  ko "epodectl roster: alice/bob not at both: $("$epodectl" --db "$work/epode.db" roster "alice@$COMPONENT_DOMAIN" 2>&1 | tr '\t\n' ' |')"
fi
n=$(grep -c "urn:xmpp:json:0" "$work/epode.log")
if [ "$n" -gt 0 ]; then ok "the signaling went through epode ($n log lines with urn:xmpp:json:0)"; else ko "no urn:xmpp:json:0 stanza in epode's log"; fi
if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$work/epode.log"; then
  ko "sanitizer report in epode's log: $(grep -m1 "ERROR: \|runtime error:" "$work/epode.log")"
fi
kill -TERM "$epode_pid"
wait "$epode_pid"
rc=$?
epode_pid=
if [ "$rc" -eq 0 ]; then ok "epode stops on SIGTERM, exit 0"; else ko "epode exit status $rc on SIGTERM"; fi
finish
