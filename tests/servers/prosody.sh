#!/usr/bin/env bash
# A private Prosody 0.12 for tests: config, data, logs and pid file in DIR,
# every socket on 127.0.0.1, no s2s, no system service.
#
# Usage: prosody.sh start  DIR [options]   generate config, register users, start
#        prosody.sh stop   DIR             stop, kill what is left of this instance
#        prosody.sh status DIR             exit 0 if running and accepting, 3 if not
#        prosody.sh ctl    DIR ARGS...     run prosodyctl ARGS with the instance's config
#
# Options (each also settable by the environment variable shown; option wins):
#   --c2s-port N        PROSODY_C2S_PORT        25222  client connections, plaintext
#   --component-port N  PROSODY_COMPONENT_PORT  25275  XEP-0114 (one connection per domain)
#   --http-port N       PROSODY_HTTP_PORT       25280  /xmpp-websocket, /http-bind
#   --domain D          XMPP_DOMAIN             localhost
#   --component D       COMPONENT_DOMAIN        webrtc.localhost
#   --anon-domain D     ANON_DOMAIN             anon.localhost  a second virtual
#                                   host with SASL ANONYMOUS only (browser
#                                   session benchmarks); "none": no such host
#   --secret S          COMPONENT_SECRET        secret
#   --user NAME:PASS    XMPP_USERS (space-separated list)
#                                   default "alice:alicepass bob:bobpass"
#                       (--user may be repeated; it replaces the default list)
#   --timeout SECONDS   START_TIMEOUT           20
#   --loglevel L        PROSODY_LOGLEVEL        info   (debug logs every stanza)
#
# After start, DIR/instance.env holds the settings as shell assignments
# (C2S_PORT, COMPONENT_PORT, HTTP_PORT, DOMAIN, COMPONENT_DOMAIN,
# COMPONENT_SECRET, USERS, PID, ANON_DOMAIN, WS_PATH, BOSH_PATH, ...), for
# tests to source.
#
# Limits, for load tests of 20,000 sessions: mod_limits (the only traffic
# shaper) is disabled explicitly; Prosody has no per-address connection
# limit and uses epoll, so the open files limit it inherits is the bound.
# BOSH: hold 1, 2 requests (fixed in 0.12), inactivity 60 s, wait 120 s.
set -euo pipefail

# shellcheck disable=SC2034  # SRV is used by lib.sh
SRV=prosody
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 2 ] || usage
cmd=$1 DIR=$(abs_dir "$2"); shift 2

CFG="$DIR/prosody.cfg.lua"
PIDFILE="$DIR/prosody.pid"
ENVFILE="$DIR/instance.env"
MARKER="$CFG"   # on the command line: lua5.4 /usr/bin/prosody --config DIR/prosody.cfg.lua

instance_pids() {
  {
    local p; p=$(read_pid "$PIDFILE")
    [ -n "$p" ] && pid_is_ours "$p" "$MARKER" && echo "$p"
    # Prosody is a Lua script: its process name is the interpreter's.
    marked_pids "$MARKER" lua5.4 lua5.3 lua5.2 lua5.1 luajit lua prosody
  } | sort -un
}

ctl() {
  [ -f "$CFG" ] || die "no instance in $DIR (run start first)"
  prosodyctl --config "$CFG" "$@"
}

do_stop() {
  local pids
  pids=$(instance_pids)
  if [ -n "$pids" ]; then
    # SIGTERM: Prosody closes its streams and exits cleanly.
    # shellcheck disable=SC2086
    terminate 10 $pids || die "could not stop prosody (pids $pids)"
  fi
  rm -f "$PIDFILE"
  return 0
}

load_env() {
  [ -f "$ENVFILE" ] || die "no instance in $DIR ($ENVFILE missing)"
  # shellcheck disable=SC1090
  . "$ENVFILE"
}

case $cmd in
  stop)
    if [ -f "$ENVFILE" ] || [ -f "$PIDFILE" ]; then
      do_stop; say "stopped ($DIR)"
    else
      do_stop; say "no instance in $DIR, nothing to stop"
    fi
    exit 0
    ;;
  status)
    [ -f "$ENVFILE" ] || { echo "$SRV: not running (no instance in $DIR)"; exit 3; }
    load_env
    pids=$(instance_pids)
    if [ -z "$pids" ]; then echo "prosody: not running ($DIR)"; exit 3; fi
    for port in "$C2S_PORT" "$COMPONENT_PORT" "$HTTP_PORT"; do
      port_open "$port" || { echo "prosody: running (pids ${pids//$'\n'/ }) but port $port closed"; exit 1; }
    done
    echo "prosody: running, pid ${pids//$'\n'/ }, c2s 127.0.0.1:$C2S_PORT, component 127.0.0.1:$COMPONENT_PORT ($COMPONENT_DOMAIN), http 127.0.0.1:$HTTP_PORT"
    exit 0
    ;;
  ctl)
    ctl "$@"
    exit $?
    ;;
  start) ;;
  *) usage ;;
esac

# ---------------------------------------------------------------- start
c2s_port=${PROSODY_C2S_PORT:-25222}
component_port=${PROSODY_COMPONENT_PORT:-25275}
http_port=${PROSODY_HTTP_PORT:-25280}
domain=${XMPP_DOMAIN:-localhost}
component=${COMPONENT_DOMAIN:-webrtc.localhost}
anon_domain=${ANON_DOMAIN:-anon.localhost}
secret=${COMPONENT_SECRET:-secret}
users=${XMPP_USERS:-alice:alicepass bob:bobpass}
start_timeout=${START_TIMEOUT:-20}
loglevel=${PROSODY_LOGLEVEL:-info}
opt_users=""
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || die "option $1 needs a value"
  case $1 in
    --c2s-port) c2s_port=$2 ;;
    --component-port) component_port=$2 ;;
    --http-port) http_port=$2 ;;
    --domain) domain=$2 ;;
    --component) component=$2 ;;
    --anon-domain) anon_domain=$2 ;;
    --secret) secret=$2 ;;
    --user) opt_users+="$2 " ;;
    --timeout) start_timeout=$2 ;;
    --loglevel) loglevel=$2 ;;
    *) die "unknown option $1 (see $0 without arguments)" ;;
  esac
  shift 2
done
[ -n "$opt_users" ] && users=$opt_users
for v in c2s_port component_port http_port; do check_port "$v" "${!v}"; done
for v in domain component anon_domain secret loglevel; do check_word "$v" "${!v}"; done
if [ "$anon_domain" != none ]; then
  [ "$anon_domain" != "$domain" ] && [ "$anon_domain" != "$component" ] ||
    die "the anonymous domain must differ from the domain and the component"
fi
check_word "instance directory" "$DIR"
[[ $start_timeout =~ ^[0-9]+$ ]] || die "timeout must be a number of seconds"
for u in $users; do
  [[ $u == *:* ]] || die "user '$u' must be NAME:PASSWORD"
  check_word user "$u"
done
[ "$(printf '%s\n' "$c2s_port" "$component_port" "$http_port" | sort -u | wc -l)" -eq 3 ] ||
  die "the three ports must differ"
command -v prosody >/dev/null && command -v prosodyctl >/dev/null ||
  die "prosody not found: apt-get install prosody"

if [ -n "$(instance_pids)" ]; then
  die "an instance is already running in $DIR (stop it first)"
fi
ports_free "$c2s_port" "$component_port" "$http_port"

# Interrupted while starting: leave nothing behind.
trap 'say "interrupted, stopping"; do_stop || true; exit 130' INT TERM HUP

t0=$(now_ms)
mkdir -p "$DIR/data" "$DIR/certs"   # certs: empty, keeps an error out of the log
chmod 750 "$DIR/data"

run_as_root=false
[ "$(id -u)" -eq 0 ] && run_as_root=true

cat >"$CFG" <<EOF
-- Generated by tests/servers/prosody.sh: a private test instance.
pidfile = "$PIDFILE"
data_path = "$DIR/data"
certificates = "$DIR/certs"
log = {
	{ levels = { min = "$loglevel" }, to = "file", filename = "$DIR/prosody.log" };
	{ levels = { min = "error" }, to = "file", filename = "$DIR/prosody.err" };
}
daemonize = false
run_as_root = $run_as_root
admins = { }

-- Loopback only, no s2s.
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { $c2s_port }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
component_ports = { $component_port }
component_interfaces = { "127.0.0.1" }
http_ports = { $http_port }
http_interfaces = { "127.0.0.1" }
https_ports = { }
https_interfaces = { }
-- mod_limits is not in modules_enabled; disabled here too, so that no
-- traffic shaper applies to client streams whatever the defaults.
modules_disabled = { "s2s"; "limits" }

-- Prosody 0.12 leaves Nagle on: a stanza over 8 kB then waits ~40 ms for
-- a delayed ACK. Operators running Epode with Prosody want this too.
-- The listen backlog (default 128) is raised for load tests, as ejabberd's.
network_settings = { nagle = false; tcp_backlog = 1024 }

-- Plaintext c2s on loopback (no certificates in a test instance).
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"

modules_enabled = {
	"admin_shell";
	"bosh";
	"disco";
	"offline";
	"ping";
	"posix";
	"roster";
	"saslauth";
	"version";
	"websocket";
}
consider_websocket_secure = true
consider_bosh_secure = true

VirtualHost "$domain"

Component "$component"
	component_secret = "$secret"
EOF
if [ "$anon_domain" != none ]; then
  cat >>"$CFG" <<EOF

-- SASL ANONYMOUS only: browser sessions for load tests.
VirtualHost "$anon_domain"
	authentication = "anonymous"
EOF
fi
rm -f "$DIR/prosody.err"

fail_start() {
  say "start failed: $*"
  log_tail "$DIR/prosody.out" "$DIR/prosody.log" "$DIR/prosody.err"
  do_stop || true
  exit 1
}

# Users first: prosodyctl writes them straight into data_path.
for u in $users; do
  ctl register "${u%%:*}" "$domain" "${u#*:}" >"$DIR/register.out" 2>&1 ||
    { cat "$DIR/register.out" >&2; fail_start "prosodyctl register ${u%%:*}@$domain failed"; }
done
t_users=$(now_ms)

# In the foreground of its own session, its output kept in DIR.
setsid prosody --config "$CFG" -F </dev/null >"$DIR/prosody.out" 2>&1 &
launcher=$!

pids_now() { instance_pids; }
wait_ready "$start_timeout" pids_now "$c2s_port" "$component_port" "$http_port" ||
  fail_start "not ready"
t_ready=$(now_ms)

pid=$(read_pid "$PIDFILE")
[ -n "$pid" ] || pid=$launcher
write_env "$ENVFILE" \
  SERVER=prosody DIR="$DIR" PID="$pid" \
  C2S_PORT="$c2s_port" COMPONENT_PORT="$component_port" HTTP_PORT="$http_port" \
  DOMAIN="$domain" COMPONENT_DOMAIN="$component" COMPONENT_SECRET="$secret" \
  USERS="$(echo $users)" LOG="$DIR/prosody.log" \
  ANON_DOMAIN="$([ "$anon_domain" = none ] || echo "$anon_domain")" WS_PATH=/xmpp-websocket BOSH_PATH=/http-bind \
  START_MS=$((t_ready - t_users)) REGISTER_MS=$((t_users - t0))
say "ready in $((t_ready - t0)) ms (users $((t_users - t0)) ms, listening $((t_ready - t_users)) ms): pid $pid, c2s 127.0.0.1:$c2s_port, component $component on 127.0.0.1:$component_port, http 127.0.0.1:$http_port, users: $(for u in $users; do printf '%s@%s ' "${u%%:*}" "$domain"; done)"
