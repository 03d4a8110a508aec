#!/usr/bin/env bash
# GUI smoke test: runs the real `busker` binary (no command = the desktop app) under Xvfb on a
# fresh data dir, opened on the Library's Albums grid (the demo albums with their covers), takes
# a screenshot, and fails if the window did not draw (a screenshot of one
# flat colour) or the app died. Prints the app's resident memory once the demo library is open.
#
# Usage: .ci/gui-smoke.sh [--release]   (artifacts in target/gui-smoke/)
# Installs Xvfb, xwd and ImageMagick with apt-get when they are missing (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
cargo_flags=()
if [[ "${1:-}" == "--release" ]]; then
    profile=release
    cargo_flags=(--release)
fi
out=target/gui-smoke
mkdir -p "$out"

have_tools() {
    command -v Xvfb >/dev/null && command -v xwd >/dev/null &&
        convert -version 2>/dev/null | grep -q ImageMagick
}
if ! have_tools; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # The GL (Mesa llvmpipe) and X client libraries eframe's glow backend opens at run time.
    apt-get install -y -q xvfb x11-apps imagemagick libgl1 libegl1 libgl1-mesa-dri \
        libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6 libx11-xcb1
fi

# BUSKER_BIN: a binary built already (CI passes the one its test run built and tested, which
# saves a second build of the app with the features of a plain `cargo build`).
if [[ -n "${BUSKER_BIN:-}" ]]; then
    bin="$BUSKER_BIN"
else
    cargo build --locked -p busker "${cargo_flags[@]}"
    bin="${CARGO_TARGET_DIR:-target}/$profile/busker"
fi

data=$(mktemp -d)
# The app runs a peer in-process; in CI it listens on loopback only.
printf 'listen = ["/ip4/127.0.0.1/tcp/0"]\n' >"$data/config.toml"
# The window state eframe keeps (`gui.ron`: its key "app" holds the app's State in RON, every
# field defaulted but this one): open on the Albums grid.
printf '{"app":"(library_mode:Albums)"}\n' >"$data/gui.ron"
display=":$((90 + RANDOM % 100))"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >"$out/xvfb.log" 2>&1 &
xvfb_pid=$!
app_pid=
cleanup() {
    [[ -n "$app_pid" ]] && kill "$app_pid" 2>/dev/null || true
    kill "$xvfb_pid" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT
sleep 1

DISPLAY="$display" LIBGL_ALWAYS_SOFTWARE=1 "$bin" --data-dir "$data" >"$out/app.log" 2>&1 &
app_pid=$!

shot="$out/screenshot.png"
colours=0
for _ in $(seq 1 60); do
    sleep 1
    if ! kill -0 "$app_pid" 2>/dev/null; then
        echo "gui-smoke: the app exited early; its log:" >&2
        cat "$out/app.log" >&2
        exit 1
    fi
    # Wait until the demo library is open (the first start seeds it), then shoot.
    if [[ -d "$data/db" ]] && DISPLAY="$display" xwd -root -silent | convert xwd:- "png:$shot" 2>/dev/null; then
        colours=$(convert "$shot" -format %k info:)
        if ((colours > 16)); then
            break
        fi
    fi
done
sleep 3
DISPLAY="$display" xwd -root -silent | convert xwd:- "png:$shot"
colours=$(convert "$shot" -format %k info:)
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$app_pid/status")
echo "gui-smoke: screenshot $shot has $colours colours; app resident memory $((rss_kb / 1024)) MiB ($profile build, demo library)"
echo "$rss_kb" >"$out/rss_kb.txt"
if ((colours <= 16)); then
    echo "gui-smoke: the window did not draw (the screenshot is nearly one flat colour)" >&2
    exit 1
fi
kill "$app_pid"
wait "$app_pid" 2>/dev/null || true
app_pid=
echo "1 passed, 0 failed"
