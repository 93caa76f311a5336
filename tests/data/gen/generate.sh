#!/bin/sh
# Regenerate tests/data/sdp/ from real headless Chromium and Firefox ESR.
# Run as root (it needs a network namespace):  tests/data/gen/generate.sh [--out DIR]
#
# WebRTC ignores loopback, and Firefox gathers nothing without a default route,
# so the browsers run in a private network namespace with a veth pair: v0 holds
# the TEST-NET-2 address 198.51.100.1 and the default route. Nothing leaves the
# namespace. Everything stops after 20 minutes at most.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "generate.sh: run as root (unshare -n)" >&2; exit 1; }
[ -d "$root/node_modules/playwright-core" ] && [ -d "$root/node_modules/puppeteer-core" ] || {
    echo "generate.sh: run 'npm ci' in $root first" >&2; exit 1; }
cd "$root"
exec timeout -k 10 1200 unshare -n sh -euc '
ip link set lo up
ip link add v0 type veth peer name v1
ip addr add 198.51.100.1/24 dev v0
ip link set v0 up
ip link set v1 up
ip route add default dev v0
exec node "$0" "$@"
' "$here/generate.mjs" "$@"
