#!/usr/bin/env bash
# Smoke test of the private test servers (tests/servers/*.sh) and of the test
# client (xmpp_client.py): each server is started in a temporary directory,
# exercised, stopped, and checked to have left nothing behind.
#
#   ejabberd, Prosody: alice logs in and gets disco#info of the server domain;
#     a wrong password is refused; a XEP-0114 handshake with the secret
#     succeeds and a wrong secret gets not-authorized; every listening socket
#     of the instance is on 127.0.0.1; no epmd is started.
#   coturn: a TURN allocation with time-limited credentials relays UDP to
#     turnutils_peer and back; a wrong password and expired credentials fail.
#
# Usage: smoke_servers.sh [ejabberd] [prosody] [coturn]   (default: all three)
# Ports: the scripts' defaults, or their environment variables
# (EJABBERD_C2S_PORT, PROSODY_C2S_PORT, TURN_PORT, ...; see tests/servers/).
# TURN_PEER_PORT (default 13480) is turnutils_peer's UDP port.
# KEEP_WORK=1 keeps the temporary directory (logs) after the run.
# Exit status: 0 if every check passed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd -P)
SERVERS=$(cd "$HERE/../servers" && pwd -P)
CLIENT=$HERE/xmpp_client.py
PY=/usr/bin/python3
# shellcheck disable=SC2034  # SRV is used by lib.sh
SRV=smoke
# shellcheck source=../servers/lib.sh
. "$SERVERS/lib.sh"

only=("$@")
[ ${#only[@]} -gt 0 ] || only=(ejabberd prosody coturn)
for s in "${only[@]}"; do
  case $s in ejabberd|prosody|coturn) ;; *) die "unknown server '$s' (ejabberd, prosody, coturn)";; esac
done
[ -x "$PY" ] || die "$PY not found"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/epode-smoke.XXXXXX")
started=()        # "script dir" pairs to stop on exit
peer_pid=""
failures=0
timings=()

cleanup() {
  local rc=$? entry
  set +e
  for entry in "${started[@]}"; do
    "$SERVERS/${entry%% *}.sh" stop "${entry#* }" >/dev/null 2>&1
  done
  if [ -n "$peer_pid" ]; then terminate 5 "$peer_pid" >/dev/null 2>&1; fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then
    echo "smoke: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "smoke: interrupted" >&2; exit 130' INT TERM HUP

pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }

# run_check DESCRIPTION EXPECTED_RC COMMAND...: run, compare the exit status,
# keep stdout in $WORK/out and stderr in $WORK/err.
run_check() {
  local what=$1 want=$2 rc=0; shift 2
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  if [ "$rc" -eq "$want" ]; then
    pass "$what"
    return 0
  fi
  fail "$what: exit $rc, wanted $want"
  sed 's/^/     | /' "$WORK/out" "$WORK/err" | head -n 20
  return 1
}

out_has() { # SUBSTRING DESCRIPTION
  if grep -qF -- "$1" "$WORK/out"; then pass "$2"; else
    fail "$2: output lacks '$1'"; sed 's/^/     | /' "$WORK/out" | head -n 10; fi
}

# The listening TCP sockets and bound UDP sockets of the given pids, one
# "proto address:port" a line, from /proc (no ss/netstat needed).
sockets_of() {
  "$PY" - "$@" <<'PY'
import os, sys, socket, struct
inodes = {}
for proto in ("tcp", "tcp6", "udp", "udp6"):
    try:
        lines = open("/proc/net/" + proto).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        f = line.split()
        addr, port = f[1].split(":")
        state, inode = f[3], f[9]
        if proto.startswith("tcp") and state != "0A":      # LISTEN only
            continue
        raw = bytes.fromhex(addr)
        if len(raw) == 4:
            ip = socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(addr, 16)))
        else:
            ip = socket.inet_ntop(socket.AF_INET6, b"".join(
                struct.pack("<I", int(addr[i:i + 8], 16)) for i in range(0, 32, 8)))
        inodes[inode] = "%s %s:%d" % (proto.rstrip("6"), ip, int(port, 16))
out = set()
for pid in sys.argv[1:]:
    try:
        fds = os.listdir("/proc/%s/fd" % pid)
    except OSError:
        continue
    for fd in fds:
        try:
            link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            s = inodes.get(link[8:-1])
            if s:
                out.add(s)
print("\n".join(sorted(out)))
PY
}

# Every process whose command line mentions the work directory.
work_pids() {
  local d pid cmd
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [ "$pid" = $$ ] && continue
    cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
    [[ $cmd == *"$WORK"* ]] || continue
    [[ $cmd == *smoke_servers.sh* ]] && continue
    pid_alive "$pid" && echo "$pid"
  done
  return 0
}

epmd_pids() {
  local d comm
  for d in /proc/[0-9]*; do
    read -r comm 2>/dev/null <"$d/comm" || continue
    [ "$comm" = epmd ] && pid_alive "${d#/proc/}" && echo "${d#/proc/}"
  done
  return 0
}

# check_instance_sockets PIDS...: everything it listens on is 127.0.0.1.
check_loopback_only() {
  local name=$1; shift
  local socks
  socks=$(sockets_of "$@")
  if [ -z "$socks" ]; then
    fail "$name: no listening socket found for pids $*"
  elif grep -v ' 127\.0\.0\.1:' <<<"$socks" >/dev/null; then
    fail "$name: listens beyond loopback:"; sed 's/^/     | /' <<<"$socks"
  else
    pass "$name: all $(wc -l <<<"$socks") listening sockets on 127.0.0.1 ($(tr '\n' ' ' <<<"$socks" | sed 's/ $//'))"
  fi
}

# check_stopped NAME DIR PORT...: no process of the instance, ports closed.
check_stopped() {
  local name=$1 dir=$2 left p; shift 2
  left=$(work_pids | while read -r p; do
           tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "$dir" && echo "$p"; done || true)
  if [ -n "$left" ]; then
    fail "$name: processes left after stop: $(echo $left)"
    for p in $left; do echo "     | $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-150)"; done
  else
    pass "$name: no process of the instance left"
  fi
  for p in "$@"; do
    if port_open "$p"; then fail "$name: port $p still accepting after stop"; fi
  done
}

ms_since() { echo $(($(now_ms) - $1)); }

# ------------------------------------------------------------ XMPP servers
smoke_xmpp() {
  local server=$1 dir="$WORK/$1" t epmd_before epmd_after stop_ms="" start_ms alice_pw local_pids
  echo "# $server"
  epmd_before=$(epmd_pids | sort | tr '\n' ' ')
  started+=("$server $dir")   # before start: an interrupted start is stopped too
  t=$(now_ms)
  if ! "$SERVERS/$server.sh" start "$dir" >"$WORK/start.out" 2>&1; then
    fail "$server: start"; sed 's/^/     | /' "$WORK/start.out" | tail -n 60
    "$SERVERS/$server.sh" stop "$dir" >/dev/null 2>&1 || true
    return 1
  fi
  start_ms=$(ms_since "$t")
  pass "$server: started in $start_ms ms ($(sed -n 's/.*: ready in \([0-9]* ms\).*/\1 by its own clock/p' "$WORK/start.out"))"
  # shellcheck disable=SC1091
  . "$dir/instance.env"
  {
    alice_pw=$(tr ' ' '\n' <<<"$USERS" | sed -n 's/^alice://p')
    run_check "$server: status" 0 "$SERVERS/$server.sh" status "$dir" || true

    local_pids=$(work_pids | while read -r p; do
      tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "$dir" && echo "$p"; done || true)
    # shellcheck disable=SC2086
    check_loopback_only "$server" $local_pids

    t=$(now_ms)
    if run_check "$server: alice logs in, disco#info to $DOMAIN" 0 \
        "$PY" "$CLIENT" --jid "alice@$DOMAIN" --password "$alice_pw" --server "127.0.0.1:$C2S_PORT" \
        iq "<iq type='get' to='$DOMAIN'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"; then
      echo "     login + iq + logout: $(ms_since "$t") ms"
      out_has 'type="result"' "$server: reply is a result"
      out_has 'category="server"' "$server: reply has the server identity"
      out_has 'var="http://jabber.org/protocol/disco#info"' "$server: reply lists disco#info"
      out_has 'var="urn:xmpp:ping"' "$server: reply lists urn:xmpp:ping (mod_ping)"
      out_has 'var="jabber:iq:version"' "$server: reply lists jabber:iq:version (mod_version)"
    fi
    run_check "$server: bob logs in, roster get" 0 \
      "$PY" "$CLIENT" --jid "bob@$DOMAIN" --password "$(tr ' ' '\n' <<<"$USERS" | sed -n 's/^bob://p')" \
      --server "127.0.0.1:$C2S_PORT" iq "<iq type='get'><query xmlns='jabber:iq:roster'/></iq>" || true
    run_check "$server: a wrong password is refused (exit 3)" 3 \
      "$PY" "$CLIENT" --jid "alice@$DOMAIN" --password "not-$alice_pw" --server "127.0.0.1:$C2S_PORT" \
      iq "<iq type='get' to='$DOMAIN'><ping xmlns='urn:xmpp:ping'/></iq>" || true
    if run_check "$server: XEP-0114 handshake as $COMPONENT_DOMAIN" 0 \
        "$PY" "$CLIENT" handshake --server "127.0.0.1:$COMPONENT_PORT" \
        --domain "$COMPONENT_DOMAIN" --secret "$COMPONENT_SECRET"; then
      out_has "handshake ok" "$server: empty <handshake/> received ($(cat "$WORK/out"))"
    fi
    if run_check "$server: XEP-0114 handshake with a wrong secret fails (exit 1)" 1 \
        "$PY" "$CLIENT" handshake --server "127.0.0.1:$COMPONENT_PORT" \
        --domain "$COMPONENT_DOMAIN" --secret "wrong-$COMPONENT_SECRET"; then
      out_has "stream error: not-authorized" "$server: wrong secret gets not-authorized"
    fi
    run_check "$server: still running after the checks" 0 "$SERVERS/$server.sh" status "$dir" || true
  }

  t=$(now_ms)
  if run_check "$server: stop" 0 "$SERVERS/$server.sh" stop "$dir"; then
    stop_ms=$(ms_since "$t")
    echo "     stopped in $stop_ms ms"
  fi
  check_stopped "$server" "$dir" "$C2S_PORT" "$COMPONENT_PORT" "$HTTP_PORT"
  epmd_after=$(epmd_pids | sort | tr '\n' ' ')
  if [ "$epmd_before" = "$epmd_after" ]; then pass "$server: no epmd started"
  else fail "$server: epmd processes changed: before '$epmd_before', after '$epmd_after'"; fi
  timings+=("$server start ${start_ms} ms, stop ${stop_ms:-?} ms")
}

# ------------------------------------------------------------ coturn
smoke_coturn() {
  local dir="$WORK/coturn" t start_ms stop_ms="" peer_port=${TURN_PEER_PORT:-13480}
  echo "# coturn"
  check_port TURN_PEER_PORT "$peer_port"
  command -v turnutils_uclient >/dev/null && command -v turnutils_peer >/dev/null ||
    { fail "coturn: turnutils_uclient/turnutils_peer not found (package coturn)"; return 1; }
  started+=("coturn $dir")
  t=$(now_ms)
  if ! "$SERVERS/coturn.sh" start "$dir" >"$WORK/start.out" 2>&1; then
    fail "coturn: start"; sed 's/^/     | /' "$WORK/start.out" | tail -n 60
    "$SERVERS/coturn.sh" stop "$dir" >/dev/null 2>&1 || true
    return 1
  fi
  start_ms=$(ms_since "$t")
  pass "coturn: started in $start_ms ms"
  # shellcheck disable=SC1091
  . "$dir/instance.env"
  run_check "coturn: status" 0 "$SERVERS/coturn.sh" status "$dir" || true
  check_loopback_only coturn "$PID"

  # The far end: turnutils_peer echoes UDP back.
  setsid turnutils_peer -L 127.0.0.1 -p "$peer_port" </dev/null >"$WORK/peer.out" 2>&1 &
  peer_pid=$!
  sleep 0.2
  pid_alive "$peer_pid" || { fail "coturn: turnutils_peer did not start"; sed 's/^/     | /' "$WORK/peer.out"; }

  local user pass
  read -r user pass < <("$SERVERS/coturn.sh" cred "$dir" smoke 600)
  t=$(now_ms)
  if run_check "coturn: allocation with time-limited credentials ($user)" 0 \
      timeout 30 turnutils_uclient -e 127.0.0.1 -r "$peer_port" -u "$user" -w "$pass" -p "$PORT" 127.0.0.1; then
    echo "     turnutils_uclient: $(ms_since "$t") ms"
    local sent recv
    sent=$(sed -n 's/.*tot_send_msgs=\([0-9]*\), tot_recv_msgs=\([0-9]*\)$/\1/p' "$WORK/out" | tail -n 1)
    recv=$(sed -n 's/.*tot_send_msgs=\([0-9]*\), tot_recv_msgs=\([0-9]*\)$/\2/p' "$WORK/out" | tail -n 1)
    if [ -n "$sent" ] && [ "$sent" -gt 0 ] && [ "$recv" = "$sent" ]; then
      pass "coturn: $sent messages relayed to the peer and back"
    else
      fail "coturn: relayed messages: sent '${sent:-?}', received '${recv:-?}'"
      sed 's/^/     | /' "$WORK/out" | tail -n 10
    fi
  fi
  run_check "coturn: a wrong password is refused" 255 \
    timeout 30 turnutils_uclient -e 127.0.0.1 -r "$peer_port" -u "$user" -w "x$pass" -p "$PORT" 127.0.0.1 || true
  local old=$(( $(date +%s) - 60 )):smoke
  local oldpass
  oldpass=$("$PY" -c 'import base64,hashlib,hmac,sys; print(base64.b64encode(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha1).digest()).decode())' "$SECRET" "$old")
  run_check "coturn: expired credentials are refused" 255 \
    timeout 30 turnutils_uclient -e 127.0.0.1 -r "$peer_port" -u "$old" -w "$oldpass" -p "$PORT" 127.0.0.1 || true

  terminate 5 "$peer_pid" || fail "coturn: could not stop turnutils_peer"
  peer_pid=""
  t=$(now_ms)
  if run_check "coturn: stop" 0 "$SERVERS/coturn.sh" stop "$dir"; then
    stop_ms=$(ms_since "$t")
    echo "     stopped in $stop_ms ms"
  fi
  check_stopped coturn "$dir" "$PORT"
  timings+=("coturn start ${start_ms} ms, stop ${stop_ms:-?} ms")
}

t_all=$(now_ms)
for s in "${only[@]}"; do
  case $s in
    ejabberd|prosody) smoke_xmpp "$s" || true ;;
    coturn) smoke_coturn || true ;;
  esac
done

left=$(work_pids)
if [ -n "$left" ]; then fail "processes still running from $WORK: $(echo $left)"; else pass "nothing left running"; fi

echo "# timings"
for t in "${timings[@]}"; do echo "#   $t"; done
echo "#   total $(ms_since "$t_all") ms"
if [ "$failures" -gt 0 ]; then
  echo "smoke: $failures check(s) FAILED (work dir $WORK$([ "${KEEP_WORK:-0}" = 1 ] || echo ', removed; KEEP_WORK=1 keeps it'))"
  exit 1
fi
echo "smoke: all checks passed"
