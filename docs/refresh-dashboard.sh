#!/usr/bin/env bash
# Refreshes docs/dashboard.png, the README's screenshot of the live dashboard. It runs the
# dashboard conformance test (headless Chromium: `bash tests/tools.sh` installs it), which
# saves its checked screenshot where MICRO_WASM_SCREENSHOT says; a plain `cargo test` saves
# it under target/ and changes no tracked file. Commit the new PNG if it is what you want.
set -euo pipefail
cd "$(dirname "$0")/.."
MICRO_WASM_SCREENSHOT="$PWD/docs/dashboard.png" \
    cargo test --test conformance -- --exact dashboard::dashboard_in_headless_chromium --nocapture
git status --short docs/dashboard.png
