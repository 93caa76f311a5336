#!/usr/bin/env bash
# A private ejabberd 23.01 for tests: everything (config, spool, logs, Erlang
# cookie, pid file) lives in DIR, every socket is on 127.0.0.1, no epmd at all
# (the node's distribution port is fixed with ERL_DIST_PORT), no system service.
#
# Usage: ejabberd.sh start  DIR [options]   generate config, start, register users
#        ejabberd.sh stop   DIR             stop, kill what is left of this instance
#        ejabberd.sh status DIR             exit 0 if running and accepting, 3 if not
#        ejabberd.sh ctl    DIR ARGS...     run ejabberdctl ARGS against the instance
#
# Options (each also settable by the environment variable shown; option wins):
#   --c2s-port N        EJABBERD_C2S_PORT        15222  client connections, plaintext
#   --component-port N  EJABBERD_COMPONENT_PORT  15275  XEP-0114 (ejabberd_service)
#   --http-port N       EJABBERD_HTTP_PORT       15280  /api (mod_http_api), /ws, /bosh
#   --dist-port N       EJABBERD_DIST_PORT       15279  Erlang distribution (ejabberdctl)
#   --domain D          XMPP_DOMAIN              localhost
#   --component D       COMPONENT_DOMAIN         webrtc.localhost
#   --anon-domain D     ANON_DOMAIN              anon.localhost  a second virtual
#                                    host with SASL ANONYMOUS only (browser
#                                    session benchmarks); "none": no such host
#   --secret S          COMPONENT_SECRET         secret
#   --user NAME:PASS    XMPP_USERS (space-separated list)
#                                    default "alice:alicepass bob:bobpass"
#                       (--user may be repeated; it replaces the default list)
#   --timeout SECONDS   START_TIMEOUT            20
#   --loglevel L        EJABBERD_LOGLEVEL        info
#
# After start, DIR/instance.env holds the settings as shell assignments
# (C2S_PORT, COMPONENT_PORT, HTTP_PORT, DOMAIN, COMPONENT_DOMAIN,
# COMPONENT_SECRET, USERS, PID, ANON_DOMAIN, WS_PATH, BOSH_PATH, ...), for
# tests to source.
#
# Limits are raised for load tests of 20,000 sessions: no traffic shaper on
# client streams (TCP, WebSocket and BOSH alike), 100,000 messages queued
# per session process, 65,536 Erlang ports, BOSH inactivity 60 s (as
# Prosody's and Epode's). ejabberd has no per-address connection limit.
set -euo pipefail

# shellcheck disable=SC2034  # SRV is used by lib.sh
SRV=ejabberd
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 2 ] || usage
cmd=$1 DIR=$(abs_dir "$2"); shift 2

CTL="$DIR/ejabberdctl"
CTLCFG="$DIR/ejabberdctl.cfg"
PIDFILE="$DIR/ejabberd.pid"
ENVFILE="$DIR/instance.env"
MARKER="$DIR/spool"   # on the beam command line: -mnesia dir "DIR/spool"

# All processes of this instance (beam.smp, erl_child_setup, inet_gethost,
# and epmd should one ever appear with our marker).
instance_pids() {
  {
    local p; p=$(read_pid "$PIDFILE")
    [ -n "$p" ] && pid_is_ours "$p" "$MARKER" && echo "$p"
    marked_pids "$MARKER" beam.smp beam epmd
  } | sort -un
}

ctl() {
  [ -x "$CTL" ] && [ -f "$CTLCFG" ] || die "no instance in $DIR (run start first)"
  # ejabberdctl prints a warning to stderr on every call as root: hide it.
  "$CTL" --config-dir "$DIR" --ctl-config "$CTLCFG" "$@" \
    2> >(grep -v 'It is not recommended to run ejabberd as root' >&2)
}

do_stop() {
  local pids pid
  pids=$(instance_pids)
  if [ -z "$pids" ]; then
    rm -f "$PIDFILE"
    return 0
  fi
  # SIGTERM to the VM alone makes it run init:stop(): a clean shutdown
  # (Mnesia closed, port programs ended by the VM itself), quicker than
  # starting a second VM for "ejabberdctl stop".
  local beams
  beams=$(marked_pids "$MARKER" beam.smp beam | while read -r pid; do
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = beam.smp ] && echo "$pid"; done || true)
  pid=$(read_pid "$PIDFILE")
  pid_is_ours "$pid" "$MARKER" || pid=""
  # shellcheck disable=SC2086
  terminate 15 $pid $beams || die "could not stop ejabberd (pids $pid $beams)"
  rm -f "$PIDFILE"
  # Whatever is left of this instance (port programs, should the VM have
  # been killed): it goes too.
  pids=$(instance_pids)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || terminate 5 $pids || die "leftover processes $pids"
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
      do_stop
      say "stopped ($DIR)"
    else
      do_stop
      say "no instance in $DIR, nothing to stop"
    fi
    exit 0
    ;;
  status)
    [ -f "$ENVFILE" ] || { echo "$SRV: not running (no instance in $DIR)"; exit 3; }
    load_env
    pids=$(instance_pids)
    if [ -z "$pids" ]; then echo "ejabberd: not running ($DIR)"; exit 3; fi
    for port in "$C2S_PORT" "$COMPONENT_PORT" "$HTTP_PORT"; do
      port_open "$port" || { echo "ejabberd: running (pids ${pids//$'\n'/ }) but port $port closed"; exit 1; }
    done
    echo "ejabberd: running, pid $(read_pid "$PIDFILE"), c2s 127.0.0.1:$C2S_PORT, component 127.0.0.1:$COMPONENT_PORT ($COMPONENT_DOMAIN), http 127.0.0.1:$HTTP_PORT"
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
c2s_port=${EJABBERD_C2S_PORT:-15222}
component_port=${EJABBERD_COMPONENT_PORT:-15275}
http_port=${EJABBERD_HTTP_PORT:-15280}
dist_port=${EJABBERD_DIST_PORT:-15279}
domain=${XMPP_DOMAIN:-localhost}
component=${COMPONENT_DOMAIN:-webrtc.localhost}
anon_domain=${ANON_DOMAIN:-anon.localhost}
secret=${COMPONENT_SECRET:-secret}
users=${XMPP_USERS:-alice:alicepass bob:bobpass}
start_timeout=${START_TIMEOUT:-20}
loglevel=${EJABBERD_LOGLEVEL:-info}
opt_users=""
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || die "option $1 needs a value"
  case $1 in
    --c2s-port) c2s_port=$2 ;;
    --component-port) component_port=$2 ;;
    --http-port) http_port=$2 ;;
    --dist-port) dist_port=$2 ;;
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
for v in c2s_port component_port http_port dist_port; do check_port "$v" "${!v}"; done
for v in domain component anon_domain secret loglevel; do check_word "$v" "${!v}"; done
if [ "$anon_domain" != none ]; then
  [ "$anon_domain" != "$domain" ] && [ "$anon_domain" != "$component" ] ||
    die "the anonymous domain must differ from the domain and the component"
fi
[[ $start_timeout =~ ^[0-9]+$ ]] || die "timeout must be a number of seconds"
for u in $users; do
  [[ $u == *:* ]] || die "user '$u' must be NAME:PASSWORD"
  check_word user "$u"
done
[ "$(printf '%s\n' "$c2s_port" "$component_port" "$http_port" "$dist_port" | sort -u | wc -l)" -eq 4 ] ||
  die "the four ports must differ"

command -v ejabberdctl >/dev/null || [ -x /usr/sbin/ejabberdctl ] ||
  die "ejabberdctl not found: apt-get install ejabberd"
[ -x /usr/bin/python3 ] || die "/usr/bin/python3 not found (used to register users)"

if [ -n "$(instance_pids)" ]; then
  die "an instance is already running in $DIR (stop it first)"
fi
ports_free "$c2s_port" "$component_port" "$http_port" "$dist_port"

# Interrupted while starting: leave nothing behind.
trap 'say "interrupted, stopping"; do_stop || true; exit 130' INT TERM HUP

t0=$(now_ms)
mkdir -p "$DIR/spool" "$DIR/log" "$DIR/home"
chmod 700 "$DIR/home"

# A copy of ejabberdctl with INSTALLUSER emptied: it then runs as the
# current user (root in CI) instead of su-ing to "ejabberd", which would
# need DIR readable by that user. Debian's copy lives in /usr/sbin.
src_ctl=$(command -v ejabberdctl || echo /usr/sbin/ejabberdctl)
sed 's/^INSTALLUSER=.*/INSTALLUSER=/' "$src_ctl" >"$CTL.tmp"
grep -q '^INSTALLUSER=$' "$CTL.tmp" || die "could not patch INSTALLUSER in $src_ctl"
chmod 755 "$CTL.tmp"
mv -f "$CTL.tmp" "$CTL"

# Name resolution for the VM: localhost only, no DNS.
cat >"$DIR/inetrc" <<'EOF'
{lookup,["file","native"]}.
{host,{127,0,0,1}, ["localhost"]}.
{file, resolv, "/etc/resolv.conf"}.
EOF

# ejabberdctl's own settings: sourced by the script, so they override
# whatever /etc/ejabberd/ejabberdctl.cfg or /etc/default/ejabberd say.
node="epode$dist_port@localhost"
cat >"$CTLCFG" <<EOF
# Generated by tests/servers/ejabberd.sh
CONFIG_DIR="$DIR"
EJABBERD_CONFIG_PATH="$DIR/ejabberd.yml"
SPOOL_DIR="$DIR/spool"
LOGS_DIR="$DIR/log"
EJABBERD_PID_PATH="$PIDFILE"
ERLANG_NODE="$node"
INET_DIST_INTERFACE=127.0.0.1
ERL_DIST_PORT=$dist_port
ERL_EPMD_ADDRESS=127.0.0.1
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"
# One port per socket: room for 20,000 client connections and then some.
ERL_MAX_PORTS=65536
EJABBERD_BYPASS_WARNINGS=true
CONTRIB_MODULES_PATH="$DIR/contrib"
CONTRIB_MODULES_CONF_DIR="$DIR/contrib/conf"
# The Erlang cookie goes to \$HOME/.erlang.cookie: keep it in DIR.
HOME="$DIR/home"
export HOME
EOF

anon_host="" anon_config=""
if [ "$anon_domain" != none ]; then
  anon_host="  - \"$anon_domain\""
  anon_config="host_config:
  \"$anon_domain\":
    auth_method: anonymous
    anonymous_protocol: sasl_anon
    allow_multiple_connections: true"
fi

cat >"$DIR/ejabberd.yml" <<EOF
# Generated by tests/servers/ejabberd.sh: a private test instance.
hosts:
  - "$domain"
$anon_host
$anon_config
loglevel: $loglevel
# Load tests: messages a session process may queue before it is stopped
# (default 10000).
max_fsm_queue: 100000
hide_sensitive_log_data: false
acme:
  auto: false
# No s2s listener. Outgoing s2s is left as in production: a stanza for the
# component's domain while no component is connected bounces with
# remote-server-not-found after a failed DNS look-up (milliseconds here).
# ("s2s_access: none" would bounce it with "forbidden" instead.)
auth_method: internal
listen:
  -
    port: $c2s_port
    ip: "127.0.0.1"
    module: ejabberd_c2s
    backlog: 1024
    # No traffic shaper: the first ejabberd_c2s listener's shaper also
    # applies to WebSocket and BOSH streams.
    shaper: none
  -
    port: $component_port
    ip: "127.0.0.1"
    module: ejabberd_service
    backlog: 1024
    hosts:
      "$component":
        password: "$secret"
  -
    port: $http_port
    ip: "127.0.0.1"
    module: ejabberd_http
    backlog: 1024
    request_handlers:
      /api: mod_http_api
      /bosh: mod_bosh
      /ws: ejabberd_http_ws
acl:
  loopback:
    ip:
      - 127.0.0.0/8
api_permissions:
  "ejabberdctl":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
  "http api from loopback":
    from:
      - mod_http_api
    who:
      ip: 127.0.0.0/8
    what: "*"
modules:
  mod_admin_extra: {}
  mod_bosh:
    max_inactivity: 60
  mod_disco: {}
  mod_http_api: {}
  mod_offline: {}
  mod_ping: {}
  mod_roster: {}
  mod_version: {}
EOF

pids_now() { instance_pids; }
fail_start() {
  say "start failed: $*"
  log_tail "$DIR/ctl.out" "$DIR/log/ejabberd.log" "$DIR/log/error.log" "$DIR/log/crash.log"
  do_stop || true
  exit 1
}

if ! ctl start >"$DIR/ctl.out" 2>&1; then
  fail_start "ejabberdctl start returned an error"
fi
wait_ready "$start_timeout" pids_now "$c2s_port" "$component_port" "$http_port" ||
  fail_start "not ready"
t_ready=$(now_ms)

# Register the users through mod_http_api: one HTTP request each, no new
# Erlang VM per user ("ejabberdctl register" costs about 0.3 s each).
# A user already there (DIR reused) gets its password reset instead.
if [ -n "$users" ]; then
  /usr/bin/python3 - "$http_port" "$domain" $users <<'PY' || fail_start "registering users failed"
import json, sys, time, urllib.request, urllib.error
port, host, users = sys.argv[1], sys.argv[2], sys.argv[3:]
def call(cmd, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/{cmd}",
        data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
for u in users:
    name, pw = u.split(":", 1)
    # The listener opens before every command is registered: for a moment
    # /api answers 404 "Endpoint not found". Retry for up to 10 s.
    for attempt in range(100):
        code, text = call("register", {"user": name, "host": host, "password": pw})
        if code not in (404, 503):
            break
        time.sleep(0.1)
    if code == 409 or "already registered" in text:
        code, text = call("change_password", {"user": name, "host": host, "newpass": pw})
    if code != 200:
        sys.exit(f"ejabberd: register {name}@{host}: HTTP {code}: {text}")
PY
fi
t_users=$(now_ms)

pid=$(read_pid "$PIDFILE")
[ -n "$pid" ] || pid=$(instance_pids | head -n1)
write_env "$ENVFILE" \
  SERVER=ejabberd DIR="$DIR" PID="$pid" NODE="$node" \
  C2S_PORT="$c2s_port" COMPONENT_PORT="$component_port" HTTP_PORT="$http_port" \
  DIST_PORT="$dist_port" DOMAIN="$domain" COMPONENT_DOMAIN="$component" \
  COMPONENT_SECRET="$secret" USERS="$(echo $users)" \
  ANON_DOMAIN="$([ "$anon_domain" = none ] || echo "$anon_domain")" WS_PATH=/ws BOSH_PATH=/bosh \
  LOG="$DIR/log/ejabberd.log" \
  START_MS=$((t_ready - t0)) REGISTER_MS=$((t_users - t_ready))
say "ready in $((t_users - t0)) ms (listening $((t_ready - t0)) ms, users $((t_users - t_ready)) ms): pid $pid, c2s 127.0.0.1:$c2s_port, component $component on 127.0.0.1:$component_port, http 127.0.0.1:$http_port, users: $(for u in $users; do printf '%s@%s ' "${u%%:*}" "$domain"; done)"
