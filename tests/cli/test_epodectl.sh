#!/usr/bin/env bash
# epodectl as an operator runs it: commands, messages, exit codes (0 ok,
# 1 failure, 2 usage). python3 reads the database behind the tool's back to
# check the stored SCRAM keys, and drives the password prompt through a pty.
# Usage: test_epodectl.sh PATH/TO/epodectl
set -u
tool=$1
pass=0 fail=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db=$work/epode.db
unset EPODE_DB

ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect_rc() { # expected-rc description command...
  local want=$1 what=$2; shift 2
  "$@" >"$work/out" 2>"$work/err" </dev/null; local rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else ko "$what: exit $rc, wanted $want; stderr: $(head -c 300 "$work/err")"; fi
}
expect_rc_in() { # expected-rc description stdin-text command...
  local want=$1 what=$2 input=$3; shift 3
  printf '%s' "$input" | "$@" >"$work/out" 2>"$work/err"; local rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else ko "$what: exit $rc, wanted $want; stderr: $(head -c 300 "$work/err")"; fi
}
expect_err() { # substring description
  if grep -qF -- "$1" "$work/err"; then ok; else ko "$2: stderr lacks '$1': $(head -c 300 "$work/err")"; fi
}
expect_out() {
  if grep -qF -- "$1" "$work/out"; then ok; else ko "$2: stdout lacks '$1': $(head -c 300 "$work/out")"; fi
}
expect_out_exact() { # expected-stdout description
  if [ "$(cat "$work/out")" = "$1" ]; then ok; else ko "$2: stdout is '$(cat "$work/out")', wanted '$1'"; fi
}
# 0 when PASSWORD is JID's password per the stored SCRAM-SHA-1 and -256 keys.
password_is() { # jid password
  python3 - "$db" "$1" "$2" <<'PY'
import hashlib, hmac, sqlite3, sys
db, jid, pw = sys.argv[1:]
rows = sqlite3.connect(db).execute(
    "SELECT mechanism, salt, iterations, stored_key, server_key"
    " FROM scram_credentials WHERE jid = ?", (jid,)).fetchall()
if len(rows) != 2:
    sys.exit(1)
for mech, salt, it, stored, server in rows:
    h = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}[mech]
    sp = hashlib.pbkdf2_hmac(h, pw.encode(), salt, it)
    ck = hmac.new(sp, b"Client Key", h).digest()
    if hashlib.new(h, ck).digest() != stored or hmac.new(sp, b"Server Key", h).digest() != server:
        sys.exit(1)
PY
}
check_password() { # jid password description
  if password_is "$1" "$2"; then ok; else ko "$3: stored keys do not match '$2'"; fi
}

# Help, version, usage errors
expect_rc 0 "--help" "$tool" --help
expect_out "useradd JID [PASSWORD]" "--help lists useradd"
expect_out "Exit status" "--help states exit codes"
expect_rc 0 "--version" "$tool" --version
expect_out "epodectl " "--version"
expect_rc 2 "no command" "$tool"
expect_rc 2 "unknown option" "$tool" --frobnicate
expect_rc 2 "unknown command" "$tool" --db "$db" frobnicate
expect_err "unknown command 'frobnicate'" "unknown command message"
expect_rc 2 "empty database path" "$tool" --db "" users
expect_err "empty database path" "empty path message"
# Without --db nor EPODE_DB: the daemon's default path (absent here, or not ours)
"$tool" users >"$work/out" 2>"$work/err" </dev/null; rc=$?
if [ $rc -eq 0 ] || grep -qF /var/lib/epode/epode.db "$work/err"; then ok; else ko "default path: exit $rc: $(cat "$work/err")"; fi
expect_rc 2 "useradd without JID" "$tool" --db "$db" useradd
expect_err "missing JID" "missing JID message"
expect_rc 2 "too many arguments" "$tool" --db "$db" userdel a@example.com extra
expect_rc 2 "not a user JID" "$tool" --db "$db" useradd example.com pw
expect_err "'example.com' is not a user JID" "bad JID message"
expect_rc 2 "JID with a resource" "$tool" --db "$db" useradd a@example.com/r pw
[ ! -e "$db" ] && ok || ko "usage errors must not create the database"

# Commands other than useradd do not create a database
expect_rc 1 "users on a missing database" "$tool" --db "$db" users
expect_err "no such database file" "missing database message"
[ ! -e "$db" ] && ok || ko "users created the database"

# useradd: argument, stdin, and the database it creates
expect_rc 0 "useradd with argument" "$tool" --db "$db" useradd Alice@Example.COM 's3cret pass'
[ -f "$db" ] && ok || ko "useradd did not create the database"
[ "$(stat -c %a "$db")" = 600 ] && ok || ko "database mode is $(stat -c %a "$db"), wanted 600"
check_password alice@example.com 's3cret pass' "useradd with argument"
expect_rc 1 "useradd existing" "$tool" --db "$db" useradd alice@example.com other
expect_err "alice@example.com: user already exists" "existing user message"
expect_rc_in 0 "useradd from stdin" $'hunter2\n' "$tool" --db "$db" useradd bob@example.com
check_password bob@example.com hunter2 "useradd from stdin"
expect_rc_in 0 "stdin CRLF, no echo prompt" $'crlf-pw\r\n' "$tool" --db "$db" useradd carol@example.com
check_password carol@example.com crlf-pw "CRLF stripped"
[ ! -s "$work/err" ] && ok || ko "a prompt was printed for non-tty stdin: $(cat "$work/err")"
expect_rc_in 1 "empty stdin" "" "$tool" --db "$db" useradd dave@example.com
expect_err "no password on standard input" "empty stdin message"
expect_rc_in 1 "empty line" $'\n' "$tool" --db "$db" useradd dave@example.com
expect_err "empty password" "empty line message"
expect_rc_in 1 "too long" "$(head -c 2000 /dev/zero | tr '\0' x)" "$tool" --db "$db" useradd dave@example.com
expect_err "password longer than 1023 bytes" "long password message"
expect_rc 0 "EPODE_DB" env EPODE_DB="$db" "$tool" useradd erin@example.com pw
expect_rc 0 "--db=PATH" "$tool" --db="$db" useradd frank@example.com pw

# users
expect_rc 0 "users" "$tool" --db "$db" users
expect_out_exact $'alice@example.com\nbob@example.com\ncarol@example.com\nerin@example.com\nfrank@example.com' "users sorted"

# passwd
expect_rc 0 "passwd with argument" "$tool" --db "$db" passwd ALICE@example.com n3w
check_password alice@example.com n3w "passwd with argument"
password_is alice@example.com 's3cret pass' && ko "old password still works" || ok
expect_rc 0 "passwd, password starting with -" "$tool" --db "$db" passwd alice@example.com -dash
check_password alice@example.com -dash "password starting with a dash"
expect_rc_in 0 "passwd from stdin" $'from-stdin\n' "$tool" --db "$db" passwd bob@example.com
check_password bob@example.com from-stdin "passwd from stdin"
expect_rc 1 "passwd unknown user" "$tool" --db "$db" passwd nobody@example.com pw
expect_err "nobody@example.com: no such user" "unknown user message"

# roster: items written behind the tool's back, as the daemon would
expect_rc 0 "empty roster" "$tool" --db "$db" roster alice@example.com
expect_out_exact "" "empty roster prints nothing"
python3 - "$db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA foreign_keys = ON")
c.executemany("INSERT INTO roster_items (owner, jid, name, subscription, ask, pending_in, approved, updated_at)"
              " VALUES ('alice@example.com', ?, ?, ?, ?, ?, ?, 0)",
              [("bob@example.com", "Bob\tthe\x1b[31mBuilder", "both", 0, 0, 0),
               ("carol@example.net", None, "none", 1, 1, 0),
               ("dan@example.org", "Dan", "from", 0, 0, 1)])
c.executemany("INSERT INTO roster_groups VALUES ('alice@example.com', ?, ?)",
              [("bob@example.com", "Friends"), ("bob@example.com", "Work"),
               ("dan@example.org", "back\\slash")])
c.commit()
PY
expect_rc 0 "roster" "$tool" --db "$db" roster alice@example.com
expect_out_exact "$(printf '%s\n' \
  $'bob@example.com\tboth\t-\tBob\\tthe\\x1b[31mBuilder\tFriends\tWork' \
  $'carol@example.net\tnone\task,pending-in\t' \
  $'dan@example.org\tfrom\tapproved\tDan\tback\\\\slash')" "roster lines, escaped"
expect_rc 1 "roster of unknown user" "$tool" --db "$db" roster nobody@example.com
expect_err "no such user" "roster unknown user message"

# userdel: the roster goes with the user
expect_rc 0 "userdel" "$tool" --db "$db" userdel alice@example.com
expect_rc 1 "userdel again" "$tool" --db "$db" userdel alice@example.com
expect_err "alice@example.com: no such user" "userdel unknown message"
n=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM roster_items').fetchone()[0])" "$db")
[ "$n" = 0 ] && ok || ko "userdel left $n roster items"
expect_rc 0 "users after userdel" "$tool" --db "$db" users
expect_out_exact $'bob@example.com\ncarol@example.com\nerin@example.com\nfrank@example.com' "users after userdel"

# The password prompt on a terminal: asked twice, never echoed
pty_run() { # answers... -- command...
  python3 - "$@" <<'PY'
import os, pty, sys, time
args = sys.argv[1:]
sep = args.index("--")
answers, cmd = args[:sep], args[sep + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(cmd[0], cmd)
out = b""
def read_until(token, timeout=10):
    global out
    end = time.time() + timeout
    while token not in out and time.time() < end:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
for i, a in enumerate(answers):
    read_until(b"Password: " if i == 0 else b"Retype password: ")
    os.write(fd, a.encode() + b"\n")
read_until(b"\0", timeout=3)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
PY
}
pty_run tty-secret tty-secret -- "$tool" --db "$db" useradd gina@example.com >"$work/out" 2>&1; rc=$?
[ $rc -eq 0 ] && ok || ko "tty useradd: exit $rc: $(cat "$work/out")"
expect_out "Retype password: " "tty prompts twice"
grep -q tty-secret "$work/out" && ko "the password was echoed" || ok
check_password gina@example.com tty-secret "tty useradd"
pty_run one two -- "$tool" --db "$db" passwd gina@example.com >"$work/out" 2>&1; rc=$?
[ $rc -eq 1 ] && ok || ko "tty mismatch: exit $rc, wanted 1"
expect_out "the passwords do not match" "mismatch message"
check_password gina@example.com tty-secret "mismatch keeps the old password"

# A file that is not a database, a locked database
head -c 8192 /dev/urandom >"$work/garbage.db"
expect_rc 1 "garbage file" "$tool" --db "$work/garbage.db" users
expect_err "file is not a database" "garbage message"
expect_rc 1 "directory" "$tool" --db "$work" users
expect_err "is a directory" "directory message"
python3 - "$db" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA locking_mode = EXCLUSIVE")
c.execute("BEGIN EXCLUSIVE")
c.execute("DELETE FROM presence")
c.execute("COMMIT")
open(sys.argv[1] + ".held", "w").close()
time.sleep(8)
PY
holder=$!
for _ in $(seq 50); do [ -e "$db.held" ] && break; sleep 0.1; done
start=$(date +%s%N)
expect_rc 1 "locked database" "$tool" --db "$db" users
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
expect_err "database is locked" "locked message"
[ "$elapsed" -ge 4000 ] && ok || ko "gave up after $elapsed ms, before the 5 s busy timeout"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
expect_rc 0 "unlocked again" "$tool" --db "$db" users

# Unwritable paths. Root ignores permissions: run as nobody then.
runas=()
if [ "$(id -u)" -eq 0 ]; then
  command -v setpriv >/dev/null && runas=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
if [ "$(id -u)" -ne 0 ] || [ ${#runas[@]} -gt 0 ]; then
  chmod 755 "$work"
  cp "$tool" "$work/epodectl-copy"      # reachable by nobody wherever the build is
  mkdir "$work/ro"
  "$tool" --db "$work/ro/locked-down.db" useradd a@example.com pw
  "$tool" --db "$work/ro/wal-needs-dir.db" useradd a@example.com pw
  chmod 444 "$work/ro/locked-down.db"
  chmod 666 "$work/ro/wal-needs-dir.db"
  chmod 555 "$work/ro"
  expect_rc 1 "read-only file" "${runas[@]}" "$work/epodectl-copy" --db "$work/ro/locked-down.db" passwd a@example.com x
  expect_err "locked-down.db: Permission denied" "read-only file message"
  expect_rc 1 "read-only directory, new file" "${runas[@]}" "$work/epodectl-copy" --db "$work/ro/new.db" useradd a@example.com x
  expect_err "new.db: cannot create it: Permission denied" "read-only directory message"
  expect_rc 1 "read-only directory, WAL files" "${runas[@]}" "$work/epodectl-copy" --db "$work/ro/wal-needs-dir.db" users
  expect_err "the directory must be writable for the -wal and -shm files" "WAL directory message"
  chmod 755 "$work/ro"
else
  echo "skipped: permission cases (root without setpriv)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
