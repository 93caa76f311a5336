# shellcheck shell=bash
# Shared helpers for the private test servers (ejabberd.sh, prosody.sh,
# coturn.sh). Sourced, not run. Everything here works on loopback only and
# touches only processes this instance started: they are found by pid file
# and by a marker (a path inside the instance directory) on their command
# line, and never by a bare program name.

# The caller sets SRV (e.g. "ejabberd") before sourcing.
: "${SRV:=server}"

say() { echo "$SRV: $*" >&2; }
die() { echo "$SRV: ERROR: $*" >&2; exit 1; }

# now_ms: milliseconds since the epoch.
now_ms() { date +%s%3N; }

# abs_dir DIR: DIR as an absolute path (it need not exist yet).
abs_dir() {
  case $1 in
    /*) printf '%s\n' "${1%/}" ;;
    *) printf '%s/%s\n' "$(pwd -P)" "${1%/}" ;;
  esac
}

# check_port NAME VALUE: VALUE is a TCP/UDP port number.
check_port() {
  [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le 65535 ] ||
    die "$1 must be a port number, got '$2'"
}

# check_word NAME VALUE: VALUE is safe to put inside a quoted string of a
# generated config file (no quotes, backslashes, whitespace or control chars).
check_word() {
  [[ -n $2 && $2 =~ ^[A-Za-z0-9._~+=@:/-]+$ ]] ||
    die "$1 may only contain letters, digits and ._~+=@:/- (got '$2')"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  timeout 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
  local stat
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat=${stat##*) }
  [[ $stat != Z* && $stat != X* ]]
}

# pid_is_ours PID MARKER: PID is alive and its command line contains MARKER
# (a stale pid file must never make us signal some unrelated process).
pid_is_ours() {
  local cmd
  pid_alive "$1" || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
  [[ $cmd == *"$2"* ]]
}

# read_pid FILE: the pid stored in FILE, or nothing.
read_pid() {
  local p=""
  [ -r "$1" ] && read -r p <"$1" 2>/dev/null || true
  [[ $p =~ ^[0-9]+$ ]] && printf '%s\n' "$p" || true
}

# marked_pids MARKER NAME...: pids of live processes whose name (comm, as
# in /proc/PID/comm) is one of NAME and whose command line contains MARKER,
# plus all their descendants. The calling shell and its ancestors are never
# listed. Pure bash: no ps (procps may be absent), few forks.
marked_pids() {
  local marker=$1; shift
  local names=" $* " d pid comm stat cmd self_chain=" " p
  local -A parent=()
  local all=" "
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    read -r stat 2>/dev/null <"$d/stat" || continue
    stat=${stat##*) }        # drop "pid (comm) ": comm may hold spaces
    stat=${stat#* }          # drop the state
    parent[$pid]=${stat%% *}
  done
  p=$$
  while [ -n "$p" ] && [ "$p" != 0 ]; do
    self_chain+="$p "
    p=${parent[$p]:-}
  done
  for pid in "${!parent[@]}"; do
    [[ $self_chain == *" $pid "* ]] && continue
    read -r comm 2>/dev/null <"/proc/$pid/comm" || continue
    [[ $names == *" $comm "* ]] || continue
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
    [[ $cmd == *"$marker"* ]] || continue
    all+="$pid "
  done
  [ "$all" != " " ] || return 0
  # Descendants (erl_child_setup and the port programs under it, ...).
  local changed=1
  while [ $changed = 1 ]; do
    changed=0
    for pid in "${!parent[@]}"; do
      [[ $all == *" $pid "* ]] && continue
      if [[ $all == *" ${parent[$pid]} "* ]]; then all+="$pid "; changed=1; fi
    done
  done
  for pid in $all; do pid_alive "$pid" && echo "$pid"; done
  return 0
}

# terminate SECONDS PID...: SIGTERM, wait up to SECONDS, then SIGKILL.
# Returns 0 once none of the pids is alive.
terminate() {
  local secs=$1; shift
  local pids=() p left deadline
  for p in "$@"; do pid_alive "$p" && pids+=("$p"); done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  deadline=$(($(now_ms) + secs * 1000))
  while :; do
    left=()
    for p in "${pids[@]}"; do pid_alive "$p" && left+=("$p"); done
    [ ${#left[@]} -eq 0 ] && return 0
    [ "$(now_ms)" -ge "$deadline" ] && break
    sleep 0.05
  done
  say "still running after ${secs}s, sending SIGKILL to ${left[*]}"
  kill -KILL "${left[@]}" 2>/dev/null || true
  deadline=$(($(now_ms) + 3000))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    left=()
    for p in "${pids[@]}"; do pid_alive "$p" && left+=("$p"); done
    [ ${#left[@]} -eq 0 ] && return 0
    sleep 0.05
  done
  say "could not kill ${left[*]}"
  return 1
}

# log_tail FILE...: print the last lines of each existing, non-empty FILE.
log_tail() {
  local f
  for f in "$@"; do
    [ -s "$f" ] || continue
    echo "----- last lines of $f -----" >&2
    tail -n 40 "$f" >&2
  done
  echo "-----" >&2
}

# wait_ready SECONDS PIDFUNC PORT...: wait until every PORT accepts TCP
# connections on 127.0.0.1. PIDFUNC is a command printing the server's pids;
# if it prints nothing for 2 s in a row (a server that is still exec'ing or
# detaching may be briefly invisible), the server is taken for dead.
# Returns 1 on death or timeout.
wait_ready() {
  local secs=$1 pidfunc=$2; shift 2
  local now deadline=$(($(now_ms) + secs * 1000)) port pending gone_since=""
  while :; do
    pending=()
    for port in "$@"; do port_open "$port" || pending+=("$port"); done
    [ ${#pending[@]} -eq 0 ] && return 0
    now=$(now_ms)
    if [ -z "$($pidfunc)" ]; then
      [ -n "$gone_since" ] || gone_since=$now
      if [ $((now - gone_since)) -ge 2000 ]; then
        say "the server exited before opening port(s) ${pending[*]}"
        return 1
      fi
    else
      gone_since=""
    fi
    if [ "$now" -ge "$deadline" ]; then
      say "port(s) ${pending[*]} not accepting connections after ${secs}s"
      return 1
    fi
    sleep 0.05
  done
}

# ports_free PORT...: fail (with a message) if any port already accepts
# connections: another server is there and would answer in our place.
ports_free() {
  local port
  for port in "$@"; do
    port_open "$port" && die "port $port on 127.0.0.1 is already in use (another instance?)"
  done
  return 0
}

# write_env FILE NAME=VALUE...: a file of shell assignments tests can source.
write_env() {
  local f=$1; shift
  local kv
  : >"$f.tmp"
  for kv in "$@"; do printf '%s=%q\n' "${kv%%=*}" "${kv#*=}" >>"$f.tmp"; done
  mv -f "$f.tmp" "$f"
}
