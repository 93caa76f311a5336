#!/usr/bin/env bash
# epode-translate as a user runs it: exit codes, messages, round trips.
# Usage: test_cli.sh PATH/TO/epode-translate DATA_DIR
set -u
tool=$1 data=$2
pass=0 fail=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect_rc() { # expected-rc description command...
  local want=$1 what=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"; local rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else ko "$what: exit $rc, wanted $want; stderr: $(head -c 300 "$work/err")"; fi
}
expect_err() { # substring description
  if grep -qF -- "$1" "$work/err"; then ok; else ko "$2: stderr lacks '$1': $(head -c 300 "$work/err")"; fi
}
expect_out() {
  if grep -qF -- "$1" "$work/out"; then ok; else ko "$2: stdout lacks '$1'"; fi
}

offer=$data/sdp/chromium-avd-offer.sdp
answer=$data/sdp/chromium-avd-answer.sdp

expect_rc 0 "--help" "$tool" --help
expect_out "sdp2jingle" "--help lists sdp2jingle"
expect_rc 0 "sdp2jingle --help" "$tool" sdp2jingle --help
expect_rc 2 "no command" "$tool"
expect_rc 2 "unknown command" "$tool" frobnicate
expect_err "unknown command" "unknown command"
expect_rc 2 "unknown action" "$tool" sdp2jingle --action session-dance
expect_err "unknown action 'session-dance'" "unknown action"
expect_rc 2 "bad role" "$tool" sdp2jingle --role king

# SDP -> Jingle
expect_rc 0 "offer to Jingle" "$tool" sdp2jingle --sid s1 --initiator a@x/1 --to b@y/2 <"$offer"
expect_out 'action="session-initiate"' "default action"
expect_out 'sid="s1"' "sid"
expect_out 'to="b@y/2"' "iq to"
expect_out '<group xmlns="urn:xmpp:jingle:apps:grouping:0" semantics="BUNDLE">' "BUNDLE group"
cp "$work/out" "$work/offer.xml"
expect_rc 0 "bare" "$tool" sdp2jingle --bare --sid s1 <"$offer"
if head -c 7 "$work/out" | grep -q '^<jingle'; then ok; else ko "--bare starts with <jingle"; fi

# Jingle -> SDP and back: the same facts
expect_rc 0 "Jingle to SDP" "$tool" jingle2sdp <"$work/offer.xml"
cp "$work/out" "$work/back.sdp"
if diff <(tr -d '\r' <"$offer" | sort) <(tr -d '\r' <"$work/back.sdp" | sort) >/dev/null; then ok; else ko "offer round trip lost lines"; fi
if grep -q $'\r$' "$work/back.sdp"; then ok; else ko "SDP output has CRLF line ends"; fi

# An answer, aligned on the offer's m-lines
expect_rc 0 "answer to Jingle" "$tool" sdp2jingle --action session-accept --sid s1 <"$answer"
expect_out 'action="session-accept"' "accept"
cp "$work/out" "$work/answer.xml"
expect_rc 0 "answer back with --offer" "$tool" jingle2sdp --offer "$offer" <"$work/answer.xml"
# drop one content from the Jingle answer: it comes back rejected (port 0)
python3 - "$work/answer.xml" >"$work/partial.xml" <<'PY'
import re, sys
x = open(sys.argv[1]).read()
x = re.sub(r'<content creator="initiator" name="1".*?</content>', '', x, count=1, flags=re.S)
x = x.replace('<content name="1"/>', '')
print(x)
PY
expect_rc 0 "partial answer with --offer" "$tool" jingle2sdp --offer "$offer" <"$work/partial.xml"
expect_out "m=video 0 UDP/TLS/RTP/SAVPF" "missing content is rejected"

# Trickle candidates
expect_rc 0 "candidate" "$tool" candidate --sid s1 --mid 0 --ufrag abcd <<<"candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host generation 0"
expect_out 'action="transport-info"' "transport-info"
expect_out 'ufrag="abcd"' "ufrag on transport"
cp "$work/out" "$work/ti.xml"
expect_rc 0 "transport-info to JSON" "$tool" jingle2sdp --offer "$offer" <"$work/ti.xml"
expect_out '{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host generation 0 ufrag abcd","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}' "candidate JSON"
expect_rc 0 "end-of-candidates" "$tool" candidate --sid s1 --mid 0 </dev/null
expect_out 'a=end-of-candidates' "end-of-candidates carried"
expect_rc 1 "bad candidate" "$tool" candidate --sid s1 --mid 0 <<<"candidate:1 1 udp 2122260223 192.0.2.1 54400 host"
expect_err 'expected "typ"' "bad candidate message"
expect_rc 1 "candidate with unknown mid" "$tool" candidate --sid s1 --mid 9 --offer "$offer" <<<"candidate:1 1 udp 1 192.0.2.1 1 typ host"
expect_err "sdpMid" "unknown mid message"

# Bad input: exit 1, the reason on stderr
printf 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus\r\n' >"$work/bad.sdp"
expect_rc 1 "bad SDP" "$tool" sdp2jingle <"$work/bad.sdp"
expect_err "line 6: a=rtpmap" "bad SDP names the line"
expect_rc 1 "empty SDP" "$tool" sdp2jingle </dev/null
expect_rc 1 "not XML" "$tool" jingle2sdp <<<"<iq><jingle"
expect_err "not well-formed" "XML error"
expect_rc 1 "no jingle" "$tool" jingle2sdp <<<"<iq type='set'><query xmlns='jabber:iq:roster'/></iq>"
expect_err "no <jingle" "missing jingle"
expect_rc 1 "unknown action in Jingle" "$tool" jingle2sdp <<<"<jingle xmlns='urn:xmpp:jingle:1' action='dance' sid='x'/>"
expect_err "unknown Jingle action 'dance'" "unknown action message"
expect_rc 1 "DOCTYPE" "$tool" jingle2sdp <<<'<!DOCTYPE x [<!ENTITY a "aaaa">]><jingle xmlns="urn:xmpp:jingle:1" action="session-initiate" sid="x"/>'
expect_err "document type declaration" "DOCTYPE refused"
expect_rc 1 "bad payload id" "$tool" jingle2sdp <<<"<jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='x'><content creator='initiator' name='a'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><payload-type id='999' name='opus' clockrate='48000'/></description></content></jingle>"
expect_err "content 'a': <payload-type id='999'>" "payload error names the content"
deep=$(python3 -c "print('<jingle xmlns=\"urn:xmpp:jingle:1\" action=\"session-initiate\" sid=\"x\">' + '<a>'*5000 + '</a>'*5000 + '</jingle>')")
expect_rc 1 "deep nesting" "$tool" jingle2sdp <<<"$deep"
expect_err "nested deeper" "depth limit"
expect_rc 1 "terminate has no SDP" "$tool" jingle2sdp < "$data/jingle/conversations-session-terminate.xml"
expect_err "carries no description" "terminate message"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
