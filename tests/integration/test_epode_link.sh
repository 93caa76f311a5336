#!/usr/bin/env bash
# The epode daemon attached to a real XMPP server (ejabberd 23.01 or Prosody
# 0.12, private instances on 127.0.0.1) with a real coturn, talked to by a
# real client (slixmpp):
#   - a stanza through the server reaches the component (the libstrophe
#     component crash of LAB.md stays fixed) and is answered: disco#info,
#     ping, version, XEP-0215 services whose TURN credentials coturn accepts;
#   - unknown iq and messages get their RFC 6120 errors;
#   - the server restarts under Epode: it reconnects by itself;
#   - the server is down when Epode starts: it retries, then connects;
#   - a wrong secret: exit status 1 and a message that says so;
#   - (Prosody) a second Epode for the same domain: conflict, exit 1;
#   - SIGTERM: the stream is closed and Epode exits 0.
#   - a database that cannot be used (corrupt, locked, a directory): exit 1
#     with the reason; hosted users (made with epodectl) answer disco#info.
# Usage: test_epode_link.sh EPODE_BINARY ejabberd|prosody [EPODECTL]
set -uo pipefail

epode=$1
server=$2
epodectl=${3:-$(dirname "$epode")/../tools/epodectl}
here=$(cd "$(dirname "$0")" && pwd)
servers=$here/../servers
py=/usr/bin/python3
client=$here/xmpp_client.py

case $server in
ejabberd) port_base=16000 ;;
prosody) port_base=26000 ;;
*) echo "usage: $0 EPODE ejabberd|prosody" >&2; exit 2 ;;
esac
export EJABBERD_C2S_PORT=$((port_base + 222)) EJABBERD_COMPONENT_PORT=$((port_base + 275))
export EJABBERD_HTTP_PORT=$((port_base + 280)) EJABBERD_DIST_PORT=$((port_base + 279))
export PROSODY_C2S_PORT=$((port_base + 222)) PROSODY_COMPONENT_PORT=$((port_base + 275))
export PROSODY_HTTP_PORT=$((port_base + 280))
export TURN_PORT=$((port_base + 478)) TURN_SECRET=turnsecret

work=$(mktemp -d)
epode_pid=
pass=0
fail=0

cleanup() {
  [ -n "$epode_pid" ] && kill -9 "$epode_pid" 2>/dev/null
  "$servers/$server.sh" stop "$work/server" >/dev/null 2>&1
  "$servers/coturn.sh" stop "$work/turn" >/dev/null 2>&1
  if [ "$fail" -ne 0 ] || [ -n "${KEEP_WORK:-}" ]; then
    echo "# logs kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   - $*"; }
ko() { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { # description command...
  local what=$1; shift
  if "$@" >"$work/out" 2>"$work/err"; then ok "$what"; else ko "$what: $(tail -c 400 "$work/err") $(tail -c 400 "$work/out")"; fi
}

# wait_log FILE PATTERN COUNT SECONDS: until PATTERN appears COUNT times
wait_log() {
  local file=$1 pattern=$2 count=$3 deadline=$((SECONDS + $4))
  while [ "$SECONDS" -lt "$deadline" ]; do
    local n
    n=$(grep -c -- "$pattern" "$file" 2>/dev/null)
    [ "${n:-0}" -ge "$count" ] && return 0
    sleep 0.1
  done
  return 1
}

start_server() { "$servers/$server.sh" start "$work/server" >"$work/server-start.log" 2>&1; }
stop_server() { "$servers/$server.sh" stop "$work/server" >/dev/null 2>&1; }

if ! start_server; then
  cat "$work/server-start.log"
  echo "0 passed, 1 failed"
  exit 1
fi
. "$work/server/instance.env"
c2s=127.0.0.1:$C2S_PORT
component=127.0.0.1:$COMPONENT_PORT
"$servers/coturn.sh" start "$work/turn" >/dev/null 2>&1 || ko "coturn starts"

cat >"$work/epode.conf" <<EOF
[epode]
domain = webrtc.localhost
server = $component
secret = $COMPONENT_SECRET
db = $work/epode.db
control = $work/epode.sock
log_level = info
[link]
ping_interval = 2
ping_timeout = 2
reconnect_min = 1
reconnect_max = 2
[ice]
stun = 127.0.0.1:$TURN_PORT
turn = 127.0.0.1:$TURN_PORT/udp
turn_secret = $TURN_SECRET
credential_ttl = 600
EOF

alice() { "$py" "$client" --jid alice@localhost --password alicepass --server "$c2s" --timeout 8 "$@"; }

# ---- Epode up, answering through the real server ----------------------
"$epode" --config "$work/epode.conf" >"$work/epode.log" 2>&1 &
epode_pid=$!
if wait_log "$work/epode.log" "link: connected" 1 15; then ok "$server: epode connects and completes the handshake"; else ko "$server: epode connects"; fi

check "$server: disco#info to the component (a stanza through the server reaches it)" \
  alice iq "<iq type='get' to='webrtc.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
grep -q "urn:xmpp:extdisco:2" "$work/out" && ok "$server: disco#info lists XEP-0215" || ko "$server: disco#info lists XEP-0215: $(cat "$work/out")"
kill -0 "$epode_pid" 2>/dev/null && ok "$server: epode survives the first stanza it receives (libstrophe component crash)" || ko "$server: epode died on the first stanza"

# hosted users: the store answers who exists
if "$epodectl" --db "$work/epode.db" useradd carol@webrtc.localhost carolpass >/dev/null 2>&1; then
  check "$server: disco#info to a hosted user (created with epodectl while Epode runs)" \
    alice iq "<iq type='get' to='carol@webrtc.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
  grep -q "category=.account" "$work/out" && ok "$server: a hosted user is an account" || ko "$server: hosted user disco: $(cat "$work/out")"
else
  ko "$server: epodectl useradd"
fi
check "$server: disco#info to someone who is not hosted gets service-unavailable" \
  alice iq-error "<iq type='get' to='nobody@webrtc.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>" service-unavailable

check "$server: ping" alice iq "<iq type='get' to='webrtc.localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
check "$server: software version" alice iq "<iq type='get' to='webrtc.localhost'><query xmlns='jabber:iq:version'/></iq>"
grep -q "<name>Epode</name>" "$work/out" && ok "$server: version names Epode" || ko "$server: version reply: $(cat "$work/out")"
check "$server: disco#items" alice iq "<iq type='get' to='webrtc.localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"

check "$server: XEP-0215 services" alice iq "<iq type='get' to='webrtc.localhost'><services xmlns='urn:xmpp:extdisco:2'/></iq>"
services=$(cat "$work/out")
if grep -q "type=\"stun\"\|type='stun'" <<<"$services" && grep -q "username=" <<<"$services"; then
  ok "$server: services list STUN and TURN with credentials"
else
  ko "$server: services reply: $services"
fi
turn_user=$(grep -o "username=[\"'][^\"']*" <<<"$services" | head -1 | cut -c11-)
turn_pass=$(grep -o "password=[\"'][^\"']*" <<<"$services" | head -1 | cut -c11-)
case $turn_user in
*:alice@localhost) ok "$server: TURN username is EXPIRY:alice@localhost" ;;
*) ko "$server: TURN username '$turn_user'" ;;
esac
# the credentials Epode handed out work against the real coturn
if [ -n "$turn_user" ] && command -v turnutils_uclient >/dev/null; then
  peer_port=$((port_base + 480))
  turnutils_peer -L 127.0.0.1 -p "$peer_port" >/dev/null 2>&1 &
  peer_pid=$!
  if timeout 20 turnutils_uclient -e 127.0.0.1 -r "$peer_port" -u "$turn_user" -w "$turn_pass" \
    -p "$TURN_PORT" -n 3 -m 1 -l 100 127.0.0.1 >"$work/uclient.log" 2>&1; then
    ok "$server: coturn accepts Epode's TURN credentials (allocation and relay)"
  else
    ko "$server: turnutils_uclient with Epode's credentials: $(tail -5 "$work/uclient.log")"
  fi
  kill "$peer_pid" 2>/dev/null
  bad_pass=AAAA${turn_pass#????}
  if timeout 20 turnutils_uclient -e 127.0.0.1 -r "$peer_port" -u "$turn_user" -w "$bad_pass" \
    -p "$TURN_PORT" -n 1 -m 1 -l 100 127.0.0.1 >/dev/null 2>&1; then
    ko "$server: coturn accepted a forged password"
  else
    ok "$server: coturn refuses a forged password (the test can fail)"
  fi
fi

check "$server: unknown iq gets service-unavailable" \
  alice iq-error "<iq type='get' to='webrtc.localhost'><query xmlns='jabber:iq:last'/></iq>" service-unavailable
check "$server: iq with two payloads gets bad-request" \
  alice iq-error "<iq type='get' to='webrtc.localhost'><ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>" bad-request
check "$server: a message to the component gets an error back" \
  alice send "<message to='webrtc.localhost' type='chat' id='m1'><body>hello</body></message>" \
  wait name=message type=error id=m1

# ---- the server restarts under Epode ----------------------------------
# control COMMAND [ARG]: epodectl through Epode's control socket, the
# answer (or the daemon's refusal) on stdout
control() { "$epodectl" --socket "$work/epode.sock" "$@" 2>&1; }
check "$server: epodectl status through the control socket" control status
grep -q "^link up" "$work/out" && ok "$server: status says the link is up" || ko "$server: status: $(cat "$work/out")"
stop_server
if wait_log "$work/epode.log" "reconnecting in" 1 15; then ok "$server: epode notices the server going away"; else ko "$server: epode notices the server going away"; fi
# a stanza from Epode's side during the outage waits in the queue
control send "<message to='alice@localhost' type='chat' id='outage-1'><body>sent during the outage</body></message>" >"$work/out"
grep -q "^ok" "$work/out" && ok "$server: a stanza sent during the outage is accepted" || ko "$server: send during outage: $(cat "$work/out")"
control status >"$work/out"
grep -q "^queued 1" "$work/out" && grep -q "^link down" "$work/out" && ok "$server: it waits in the queue while the link is down" ||
  ko "$server: status during outage: $(tr '\n' ' ' <"$work/out")"
if start_server; then
  if wait_log "$work/epode.log" "link: connected" 2 25; then ok "$server: epode reconnects by itself after the restart"; else ko "$server: epode reconnects after the restart: $(tail -5 "$work/epode.log")"; fi
  # alice was offline when the queue was flushed: her server kept the
  # message for her next login (the first session after the restart)
  check "$server: the stanza sent during the outage arrives afterwards" \
    alice wait name=message id=outage-1 body="sent during the outage"
  check "$server: answers again after the reconnect" alice iq "<iq type='get' to='webrtc.localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
  control status >"$work/out"
  grep -q "^queued 0" "$work/out" && ok "$server: the queue is empty after the reconnect" || ko "$server: status after: $(tr '\n' ' ' <"$work/out")"
else
  ko "$server: restarting the server"
fi
control send "<message from='someone@elsewhere' to='alice@localhost'/>" >"$work/out"
grep -q "^error from must be webrtc.localhost" "$work/out" && ok "$server: the control socket refuses a from outside the domain" || ko "$server: foreign from: $(cat "$work/out")"
control send "<notastanza/>" >"$work/out"
grep -q "^error" "$work/out" && ok "$server: the control socket refuses what is not a stanza" || ko "$server: not a stanza: $(cat "$work/out")"

# ---- a second Epode for the same domain -------------------------------
if [ "$server" = prosody ]; then
  timeout 15 "$epode" --config "$work/epode.conf" --listen 127.0.0.1:$((port_base + 281)) >"$work/second.log" 2>&1
  rc=$?
  if [ "$rc" -eq 1 ] && grep -q "another component is already connected" "$work/second.log"; then
    ok "prosody: a second Epode for the domain gets conflict, exit 1"
  else
    ko "prosody: second Epode: exit $rc, $(tail -2 "$work/second.log")"
  fi
fi

# ---- SIGTERM: graceful --------------------------------------------------
kill -TERM "$epode_pid"
deadline=$((SECONDS + 10))
while kill -0 "$epode_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
if kill -0 "$epode_pid" 2>/dev/null; then
  ko "$server: epode stops on SIGTERM"
else
  wait "$epode_pid"
  rc=$?
  epode_pid=
  [ "$rc" -eq 0 ] && grep -q "stream closed" "$work/epode.log" &&
    ok "$server: SIGTERM closes the stream and exits 0" || ko "$server: SIGTERM: exit $rc, $(tail -3 "$work/epode.log")"
fi

# ---- a wrong secret ---------------------------------------------------------
timeout 15 "$epode" --config "$work/epode.conf" --secret wrong >"$work/wrong.log" 2>&1
rc=$?
if [ "$rc" -eq 1 ] && grep -q "rejected the component secret" "$work/wrong.log"; then
  ok "$server: a wrong secret: exit 1, the message names the secret"
else
  ko "$server: wrong secret: exit $rc, $(tail -3 "$work/wrong.log")"
fi

# ---- a database Epode cannot use --------------------------------------------
echo "not a database" >"$work/corrupt.db"
timeout 10 "$epode" --config "$work/epode.conf" --db "$work/corrupt.db" >"$work/db.log" 2>&1
rc=$?
[ "$rc" -eq 1 ] && grep -q "epode: database: .*file is not a database" "$work/db.log" &&
  ok "$server: a corrupt database: exit 1, 'file is not a database'" || ko "$server: corrupt database: exit $rc, $(tail -2 "$work/db.log")"
timeout 10 "$epode" --config "$work/epode.conf" --db "$work" >"$work/db.log" 2>&1
rc=$?
[ "$rc" -eq 1 ] && grep -q "is a directory" "$work/db.log" &&
  ok "$server: a directory as database: exit 1" || ko "$server: directory database: exit $rc, $(tail -2 "$work/db.log")"
# another process holds an exclusive lock on the database
"$py" -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute("BEGIN EXCLUSIVE")
open(sys.argv[2], "w").close(); time.sleep(15)' "$work/epode.db" "$work/locked" &
locker=$!
for _ in $(seq 50); do [ -e "$work/locked" ] && break; sleep 0.1; done
timeout 14 "$epode" --config "$work/epode.conf" >"$work/db.log" 2>&1
rc=$?
kill "$locker" 2>/dev/null
wait "$locker" 2>/dev/null
[ "$rc" -eq 1 ] && grep -q "database is locked" "$work/db.log" &&
  ok "$server: a locked database: exit 1, 'database is locked'" || ko "$server: locked database: exit $rc, $(tail -2 "$work/db.log")"

# ---- the server is down when Epode starts ---------------------------------
stop_server
"$epode" --config "$work/epode.conf" >"$work/late.log" 2>&1 &
epode_pid=$!
if wait_log "$work/late.log" "cannot connect server=$component" 1 10; then
  ok "$server: server down at start: a clear message, and Epode keeps trying"
else
  ko "$server: server down at start: $(tail -3 "$work/late.log")"
fi
kill -0 "$epode_pid" 2>/dev/null && ok "$server: still running while the server is down" || ko "$server: epode gave up while the server is down"
if start_server && wait_log "$work/late.log" "link: connected" 1 25; then
  ok "$server: connects once the server is up"
  check "$server: and answers" alice iq "<iq type='get' to='webrtc.localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
else
  ko "$server: connects once the server is up: $(tail -3 "$work/late.log")"
fi
kill -TERM "$epode_pid" 2>/dev/null
wait "$epode_pid" 2>/dev/null
epode_pid=

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
