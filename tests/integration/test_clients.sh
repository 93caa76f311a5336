#!/usr/bin/env bash
# Epode's client side at the protocol level (test_clients.py): hosted users
# over raw WebSocket and BOSH clients, a contact on the real server (ejabberd
# or Prosody, private instance) driven by slixmpp; then Epode restarts and
# what was stored is checked again.
# Usage: test_clients.sh EPODE_BINARY EPODECTL ejabberd|prosody
set -uo pipefail

epode=$1
epodectl=$2
server=$3
here=$(cd "$(dirname "$0")" && pwd)
servers=$here/../servers
py=/usr/bin/python3

case $server in
ejabberd) port_base=14000 ;;
prosody) port_base=24000 ;;
*) echo "usage: $0 EPODE EPODECTL ejabberd|prosody" >&2; exit 2 ;;
esac
# PORT_BASE moves every port, to run beside another copy of this test
port_base=${PORT_BASE:-$port_base}
export EJABBERD_C2S_PORT=$((port_base + 222)) EJABBERD_COMPONENT_PORT=$((port_base + 275))
export EJABBERD_HTTP_PORT=$((port_base + 280)) EJABBERD_DIST_PORT=$((port_base + 279))
export PROSODY_C2S_PORT=$((port_base + 222)) PROSODY_COMPONENT_PORT=$((port_base + 275))
export PROSODY_HTTP_PORT=$((port_base + 280))
http_port=$((port_base + 290))

work=$(mktemp -d)
epode_pid=
fail=0

cleanup() {
  [ -n "$epode_pid" ] && kill -9 "$epode_pid" 2>/dev/null
  "$servers/$server.sh" stop "$work/server" >/dev/null 2>&1
  if [ "$fail" -ne 0 ] || [ -n "${KEEP_WORK:-}" ]; then
    echo "# logs kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

wait_log() { # FILE PATTERN SECONDS
  local deadline=$((SECONDS + $3))
  while [ "$SECONDS" -lt "$deadline" ]; do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

if ! "$servers/$server.sh" start "$work/server" >"$work/server-start.log" 2>&1; then
  cat "$work/server-start.log"
  echo "FAIL - $server starts"
  fail=1
  exit 1
fi
. "$work/server/instance.env"

for u in alice:alicepass carol:carolpass dave:davepass; do
  "$epodectl" --db "$work/epode.db" useradd "${u%%:*}@webrtc.localhost" "${u#*:}" >/dev/null 2>"$work/epodectl.err" || { cat "$work/epodectl.err"; fail=1; exit 1; }
done

cat >"$work/epode.conf" <<CONF
[epode]
domain = webrtc.localhost
server = 127.0.0.1:$COMPONENT_PORT
secret = $COMPONENT_SECRET
listen = 127.0.0.1:$http_port
db = $work/epode.db
control = $work/epode.sock
log_level = ${EPODE_LOG_LEVEL:-debug}
[http]
allowed_origins = http://localhost:8080
[clients]
anonymous = true
stanzas_per_second = 50
sessions_per_address = 0
auth_failure_delay_ms = 100
[bosh]
inactivity = 6
CONF

start_epode() {
  "$epode" --config "$work/epode.conf" >>"$work/epode.log" 2>&1 &
  epode_pid=$!
  if ! wait_log "$work/epode.log" "link: connected" 15; then
    echo "FAIL - epode connects to $server"
    tail -20 "$work/epode.log"
    fail=1
    exit 1
  fi
}

export EPODE_HTTP=127.0.0.1:$http_port DOMAIN=webrtc.localhost SERVER_C2S=127.0.0.1:$C2S_PORT
export BOB=bob@localhost BOB_PASSWORD=bobpass BOSH_INACTIVITY=6 ALLOWED_ORIGIN=http://localhost:8080
export EPODE_TRANSLATE=$(dirname "$epode")/../tools/epode-translate CALL_STATE=$work/call-state.json
export TEST_DATA=$here/../data EPODE_LOG=$work/epode.log

start_epode
"$py" "$here/test_clients.py" main || fail=1
kill -TERM "$epode_pid"
wait "$epode_pid" 2>/dev/null
status=$?
if [ "$status" -eq 0 ]; then echo "ok   - epode stops cleanly with sessions open (SIGTERM, exit 0)"; else echo "FAIL - epode exit status $status after SIGTERM"; fail=1; fi
epode_pid=
start_epode
"$py" "$here/test_clients.py" after-restart || fail=1
kill -TERM "$epode_pid"
wait "$epode_pid" 2>/dev/null
epode_pid=
if grep -q "ERROR\|AddressSanitizer\|runtime error" "$work/epode.log"; then
  echo "FAIL - epode logged errors:"; grep "ERROR\|AddressSanitizer\|runtime error" "$work/epode.log" | head -20; fail=1
fi
exit $fail
