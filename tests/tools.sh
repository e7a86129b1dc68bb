#!/usr/bin/env bash
# Installs what the test suite needs besides Rust itself. Idempotent: quick when all is there.
#   - the wasm32-wasip2 target (the guests are built by the test harness),
#   - componentize-py 0.25.1 (the Python Micro of guest-examples/polyglot),
#   - Node.js with npm must be present (the JavaScript Micro's build installs componentize-js
#     0.23.0 itself, pinned by its package-lock.json),
#   - Chromium (the dashboard test drives it headless), from Debian's packages when missing,
#   - clang, llvm-ar and WASI libc headers (the `bundled-sqlite` test guest compiles SQLite's C
#     code for wasm32-wasip2; tests/conformance/c_guest.rs finds the headers), from Debian's
#     packages `clang`, `llvm` and `wasi-libc` when missing.
set -euo pipefail

apt_install() {
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    if [ -z "${apt_updated:-}" ]; then
        $sudo apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

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
    apt_install chromium
fi

# A wasi-sdk (WASI_SDK_PATH) or a sysroot of the user's own (WASI_SYSROOT) is used instead.
wasi_headers() {
    local d
    for d in /usr/include/wasm32-wasip2 /usr/include/wasm32-wasi \
             /usr/share/wasi-sysroot/include/wasm32-wasip2 \
             /usr/share/wasi-sysroot/include/wasm32-wasi /usr/share/wasi-sysroot/include; do
        [ -f "$d/stdio.h" ] && return 0
    done
    return 1
}
if [ -z "${WASI_SDK_PATH:-}${WASI_SYSROOT:-}" ]; then
    missing=()
    command -v clang >/dev/null || missing+=(clang)
    # The cc crate looks for llvm-ar beside clang's own programs, then on PATH.
    command -v llvm-ar >/dev/null || [ -x "$(clang -print-prog-name=llvm-ar 2>/dev/null)" ] ||
        missing+=(llvm)
    wasi_headers || missing+=(wasi-libc)
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
fi
