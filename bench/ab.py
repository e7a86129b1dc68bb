#!/usr/bin/env python3
"""Two micro-wasm binaries on the same hello Micro, rounds interleaved: is a change within noise?

  python3 bench/ab.py OLD_BINARY NEW_BINARY [--rounds 7] [--duration 5]

Each round runs `wrk -t1 -c32` against one binary, then the other (the order alternates from
round to round), each serving guest-examples' hello.wasm (release) with its defaults, access
log on. It prints each round and the medians, and the new binary's rate as a percentage of the
old one's. Needs wrk and the release guests (`cargo build --release --target wasm32-wasip2` in
guest-examples). Linux or macOS; loopback only.
"""

import argparse
import re
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELLO = ROOT / "guest-examples" / "target" / "wasm32-wasip2" / "release" / "hello.wasm"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, tmp):
    """`binary run` of a one-Micro hello app; returns (process, address) once it answers."""
    app = tmp / "app.toml"
    app.write_text(f"[app]\nname = \"ab\"\n\n[[micro]]\nname = \"hello\"\ncomponent = '{HELLO}'\n")
    addr = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen([binary, "run", app, "--listen", addr, "--state-dir", tmp / "state"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", int(addr.split(":")[1])), timeout=1):
                return proc, addr
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{binary} did not start listening on {addr}")


def rate(addr, seconds):
    out = subprocess.run(["wrk", "-t1", "-c32", f"-d{seconds}s", f"http://{addr}/"],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--duration", type=int, default=5)
    args = ap.parse_args()
    servers = {}
    with tempfile.TemporaryDirectory() as t:
        for name in ("old", "new"):
            d = Path(t) / name
            d.mkdir()
            servers[name] = start(getattr(args, name), d)
        rates = {"old": [], "new": []}
        try:
            for r in range(args.rounds):
                order = ("old", "new") if r % 2 == 0 else ("new", "old")
                for name in order:
                    rate(servers[name][1], 1)  # warm-up
                    rates[name].append(rate(servers[name][1], args.duration))
                print(f"round {r + 1}: old {rates['old'][-1]:.0f} req/s, new {rates['new'][-1]:.0f} req/s")
        finally:
            for proc, _ in servers.values():
                proc.kill()
    old, new = statistics.median(rates["old"]), statistics.median(rates["new"])
    print(f"median of {args.rounds} interleaved rounds (wrk -t1 -c32 -d{args.duration}s): "
          f"old {old:.0f} req/s, new {new:.0f} req/s, new/old {100 * new / old:.1f} %")


if __name__ == "__main__":
    main()
