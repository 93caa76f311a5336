#!/usr/bin/env bash
# Real calls between a browser on Epode (web/epode.js in headless Chromium,
# and once in Firefox ESR) and a Jingle IM client (StanzaJS 12 in Chromium,
# logged in to the real server): the scenarios are listed in run.mjs and
# README.md. Everything (the XMPP server, Epode, the browsers) runs in a
# network namespace of its own, because WebRTC ignores the loopback
# interface: a veth pair, one end with 127.0.0.2 (Chromium's host
# candidate), the other with 198.51.100.1 and the default route (Firefox
# ignores 127/8 and gathers nothing without a route). Two interfaces, not
# two addresses on one: Chromium gathers one IPv4 address per interface,
# and which of the two it took changed from run to run (Firefox then had
# no address it would use: scenario 8 never connected).
#
# Usage: test_calls.sh EPODE EPODECTL ejabberd|prosody [SCENARIO...]
# SCENARIO: 1 to 10 (default: all). Needs root (unshare -n), node with
# playwright-core, puppeteer-core, esbuild and stanza (npm ci),
# /usr/bin/chromium, /usr/bin/firefox-esr, and the server. KEEP_WORK=1
# keeps the logs when all pass (a failure keeps them anyway).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ $# -lt 3 ]; then
  echo "usage: $0 EPODE EPODECTL ejabberd|prosody [SCENARIO...]" >&2
  exit 2
fi
epode=$(readlink -f "$1")
epodectl=$(readlink -f "$2")
server=$3
shift 3
case $server in
ejabberd | prosody) ;;
*) echo "usage: $0 EPODE EPODECTL ejabberd|prosody [SCENARIO...]" >&2; exit 2 ;;
esac

if [ -z "${EPODE_CALLS_NETNS:-}" ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "FAIL - root is needed for unshare -n"; echo "0 passed, 1 failed"; exit 1; fi
  # shellcheck disable=SC2016  # $0 and $@ are for the inner bash
  exec unshare -n env EPODE_CALLS_NETNS=1 bash -c 'ip link set lo up && ip link add v0 type veth peer name v1 &&
    ip addr add 127.0.0.2/32 dev v0 && ip addr add 198.51.100.1/32 dev v1 &&
    ip link set v0 up && ip link set v1 up && ip route add default dev v1 && exec "$0" "$@"' \
    "$0" "$epode" "$epodectl" "$server" "$@"
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
chmod 755 "$work"   # ejabberd runs as its own user and needs to reach its directory
cleanup() {
  "$repo/tests/servers/$server.sh" stop "$work/server" >/dev/null 2>&1
  if [ "$fail" -ne 0 ] || [ -n "${KEEP_WORK:-}" ]; then
    echo "# logs kept in $work (epode.log, logs/*.log: browser consoles with every stanza, run.out)"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

server_cmd=$server
[ "$server" = ejabberd ] && server_cmd=ejabberdctl
for need in node /usr/bin/chromium /usr/bin/firefox-esr "$server_cmd"; do
  command -v "$need" >/dev/null || { ko "$need is needed"; finish; }
done
for mod in playwright-core puppeteer-core esbuild stanza; do
  [ -d "$repo/node_modules/$mod" ] || { ko "node module $mod missing (npm ci in $repo)"; finish; }
done
for f in "$epode" "$epodectl"; do [ -x "$f" ] || { ko "$f is not an executable"; finish; }; done

# Ports are private to the namespace; the same for both servers.
export EJABBERD_C2S_PORT=48222 EJABBERD_COMPONENT_PORT=48275 EJABBERD_HTTP_PORT=48280 EJABBERD_DIST_PORT=48279
export PROSODY_C2S_PORT=48222 PROSODY_COMPONENT_PORT=48275 PROSODY_HTTP_PORT=48280
export XMPP_USERS="bob:bobpass" ANON_DOMAIN=none
epode_port=48290
t0=$SECONDS
if ! "$repo/tests/servers/$server.sh" start "$work/server" >"$work/server-start.log" 2>&1; then
  ko "$server starts in the namespace: $(tail -5 "$work/server-start.log")"
  finish
fi
. "$work/server/instance.env"
ok "$server started in the namespace in $((SECONDS - t0)) s (c2s $C2S_PORT, component $COMPONENT_PORT, http $HTTP_PORT$WS_PATH)"

users=""
for n in 1 2 3 4 5 6 7 8 9 10; do
  if ! "$epodectl" --db "$work/epode.db" useradd "alice$n@$COMPONENT_DOMAIN" "alice${n}pass" >"$work/useradd.log" 2>&1; then
    ko "epodectl useradd alice$n: $(cat "$work/useradd.log")"
    finish
  fi
  users+="${users:+,}alice$n@$COMPONENT_DOMAIN:alice${n}pass"
done
ok "hosted users alice1..alice10@$COMPONENT_DOMAIN created with epodectl"

mkdir -p "$work/site"
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
EOF

# The runner starts (and restarts) Epode itself, scenario 7 needs that.
timeout 600 node "$here/run.mjs" --server "$server" --work "$work" --epode "$epode" --config "$work/epode.conf" \
  --base "http://localhost:$epode_port/" --xmpp-ws "ws://127.0.0.1:$HTTP_PORT$WS_PATH" \
  --users "$users" --jingle "bob@$DOMAIN:bobpass" --only "$(echo "$@" | tr ' ' ,)" \
  >"$work/run.out" 2>&1
rc=$?
grep -v '^[0-9]* passed, [0-9]* failed$' "$work/run.out"
p=$(grep -c '^ok ' "$work/run.out")
f=$(grep -c '^FAIL ' "$work/run.out")
pass=$((pass + p))
fail=$((fail + f))
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then ko "run.mjs exited with $rc: $(tail -3 "$work/run.out")"; fi
if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$work/epode.log"; then
  ko "sanitizer report in epode's log: $(grep -m1 "ERROR: \|runtime error:" "$work/epode.log")"
fi
echo "# $server: $((SECONDS - t0)) s in all"
finish
