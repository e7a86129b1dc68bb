#!/usr/bin/env bash
# Installs what the test suite needs besides Rust itself. Idempotent: quick when all is there.
#   - the wasm32-wasip2 target (the guests are built by the test harness),
#   - componentize-py 0.25.1 (the Python Micro of guest-examples/polyglot),
#   - Node.js with npm must be present (the JavaScript Micro's build installs componentize-js
#     0.23.0 itself, pinned by its package-lock.json),
#   - Chromium (the dashboard test drives it headless), from Debian's packages when missing.
set -euo pipefail

rustup target add wasm32-wasip2

if ! python3 -c 'import componentize_py' 2>/dev/null ||
   [ "$(python3 -m pip show componentize-py 2>/dev/null | sed -n 's/^Version: //p')" != "0.25.1" ]; then
    python3 -m pip install --quiet componentize-py==0.25.1 ||
        python3 -m pip install --quiet --user --break-system-packages componentize-py==0.25.1
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "tests/tools.sh: Node.js with npm is needed (the JavaScript Micro is built with it)" >&2
    exit 1
fi

if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
