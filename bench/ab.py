#!/usr/bin/env python3
"""Two micro-wasm binaries (or two builds of a guest) side by side, rounds interleaved: is a
change within noise?

  python3 bench/ab.py OLD_BINARY NEW_BINARY [--rounds 7] [--duration 5]
  python3 bench/ab.py BINARY BINARY --old-guest OLD.wasm --new-guest NEW.wasm \
      [--path /mirror] [--post BYTES]

Each round runs `wrk -t1 -c32` against one server, then the other (the order alternates from
round to round), each serving one Micro with its defaults, access log on: guest-examples'
hello.wasm (release) unless `--old-guest` / `--new-guest` name the components. `--path` is the
path requested (default `/`), `--post N` makes every request a POST of N bytes. It prints each
round and the medians, the new server's rate as a percentage of the old one's and, on Linux,
each server's CPU time per request (user + system, from /proc). Needs wrk and the release
guests (`cargo build --release --target wasm32-wasip2` in guest-examples). Linux or macOS;
loopback only.
"""

import argparse
import os
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


def start(binary, guest, tmp):
    """`binary run` of a one-Micro app of `guest`; returns (process, address) once it answers."""
    app = tmp / "app.toml"
    app.write_text(f"[app]\nname = \"ab\"\n\n[[micro]]\nname = \"ab\"\ncomponent = '{guest}'\n")
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


def load(addr, seconds, path, script):
    """wrk against `addr`: (requests per second, requests)."""
    extra = ["-s", script] if script else []
    out = subprocess.run(["wrk", "-t1", "-c32", f"-d{seconds}s", *extra, f"http://{addr}{path}"],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rps, int(re.search(r"(\d+) requests in", out).group(1))


def cpu_s(pid):
    """User + system CPU seconds of process `pid`, or None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--old-guest", default=HELLO)
    ap.add_argument("--new-guest", default=HELLO)
    ap.add_argument("--path", default="/")
    ap.add_argument("--post", type=int, metavar="BYTES")
    args = ap.parse_args()
    servers = {}
    with tempfile.TemporaryDirectory() as t:
        script = None
        if args.post is not None:
            script = Path(t) / "post.lua"
            script.write_text(f'wrk.method = "POST"\nwrk.body = string.rep("x", {args.post})\n'
                              'wrk.headers["Content-Type"] = "application/octet-stream"\n')
        for name in ("old", "new"):
            d = Path(t) / name
            d.mkdir()
            servers[name] = start(getattr(args, name), getattr(args, f"{name}_guest"), d)
        rates = {"old": [], "new": []}
        cpu = {"old": [], "new": []}
        try:
            for r in range(args.rounds):
                order = ("old", "new") if r % 2 == 0 else ("new", "old")
                for name in order:
                    proc, addr = servers[name]
                    load(addr, 1, args.path, script)  # warm-up
                    before = cpu_s(proc.pid)
                    rps, requests = load(addr, args.duration, args.path, script)
                    rates[name].append(rps)
                    if before is not None:
                        cpu[name].append((cpu_s(proc.pid) - before) * 1e6 / max(requests, 1))
                print(f"round {r + 1}: old {rates['old'][-1]:.0f} req/s, new {rates['new'][-1]:.0f} req/s")
        finally:
            for proc, _ in servers.values():
                proc.kill()
    old, new = statistics.median(rates["old"]), statistics.median(rates["new"])
    print(f"median of {args.rounds} interleaved rounds (wrk -t1 -c32 -d{args.duration}s): "
          f"old {old:.0f} req/s, new {new:.0f} req/s, new/old {100 * new / old:.1f} %")
    if cpu["old"]:
        print(f"server CPU per request (median): old {statistics.median(cpu['old']):.1f} us, "
              f"new {statistics.median(cpu['new']):.1f} us")


if __name__ == "__main__":
    main()
