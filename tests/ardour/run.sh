#!/usr/bin/env bash
# Cadenza's VST3 bundle in a real DAW: Ardour 7 headless (Debian's `ardour`), None (Dummy) backend.
# Usage: tests/ardour/run.sh [--reopen] [path/to/Cadenza.vst3]   (default: target/bundled/Cadenza.vst3)
# Prints CADENZA_NOTES on=N off=M and fails unless N > 0 and every note-on got its note-off.
# With --reopen a second ardour7-lua process then opens the saved session and checks that Cadenza's
# parameters set before saving came back.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
reopen=0; [ "${1:-}" = "--reopen" ] && { reopen=1; shift; }
bundle="$(realpath "${1:-$here/../../target/bundled/Cadenza.vst3}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_CACHE_HOME="$work/home/.cache" XDG_DATA_HOME="$work/home/.local/share"
mkdir -p "$HOME/.vst3" "$XDG_CONFIG_HOME/ardour7/scripts"
cp -r "$bundle" "$HOME/.vst3/"
cp "$here/cadenza_probe.lua" "$here/cadenza_source.lua" "$XDG_CONFIG_HOME/ardour7/scripts/"
# Ardour skips a module newer than its cache entry (whole-second stamps): age the copy first.
find "$HOME/.vst3" -exec touch -d '1 minute ago' {} +
LD_LIBRARY_PATH=/usr/lib/ardour7 /usr/lib/ardour7/ardour-vst3-scanner -f "$HOME/.vst3/Cadenza.vst3" >"$work/scan.log" 2>&1 || { cat "$work/scan.log"; exit 1; }
export CADENZA_ARDOUR_DIR="$work" CADENZA_ARDOUR_REOPEN="$reopen"
out="$(NICE_LOG=stderr stdbuf -o0 timeout 120 ardour7-lua "$here/session.lua" 2>&1 || true)"
echo "$out" | grep -iE "CADENZA|engine|rror|warn" || true
line="$(echo "$out" | grep -o 'CADENZA_NOTES on=[0-9]* off=[0-9]* open=[0-9]*' || true)"
[ -n "$line" ] || { echo "$out" | tail -30; echo "FAIL: the session did not finish"; exit 1; }
on="$(echo "$line" | sed 's/.*on=\([0-9]*\).*/\1/')"; open="$(echo "$line" | sed 's/.*open=\([0-9]*\)/\1/')"
[ "$on" -gt 0 ] || { echo "FAIL: Cadenza played no notes in Ardour"; exit 1; }
# Ardour itself also ends notes it saw leave a plugin when the transport stops, so note-offs may
# outnumber note-ons; what matters is that no key is left sounding.
[ "$open" -eq 0 ] || { echo "FAIL: $open of Cadenza's keys still sounding after the stop"; exit 1; }
if [ "$reopen" = 0 ]; then echo "PASS: Cadenza played $on notes in Ardour, all ended"; exit 0; fi
[ -f "$work/before.txt" ] || { echo "FAIL: the session was not saved"; exit 1; }
NICE_LOG=stderr stdbuf -o0 timeout 120 ardour7-lua "$here/reopen.lua" >"$work/reopen.log" 2>&1 || true
before="$(cat "$work/before.txt")"; after="$(cat "$work/after.txt" 2>/dev/null || true)"
[ -n "$after" ] || { tail -20 "$work/reopen.log"; echo "FAIL: the saved session did not reopen"; exit 1; }
[ "$before" = "3.0,1234.0" ] || { echo "FAIL: Scale and Seed were not set before saving: $before"; exit 1; }
[ "$after" = "$before" ] || { echo "FAIL: parameters not restored: before $before, after $after"; exit 1; }
echo "PASS: Cadenza played $on notes in Ardour, all ended; Scale and Seed restored in the reopened session"
