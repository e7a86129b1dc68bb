#!/usr/bin/env python3
"""Soak test: a mix of normal and hostile requests across three Micros for a bounded time,
against a real `micro-wasm run` on loopback. Reports requests served, responses by status,
and the runtime's RSS at start, at its peak, at the end of the load and once the Micros
have gone back to sleep (sleep_after = 5 s).

Usage (from the repo root, after `cargo build --release` and building tests/guests):
    python3 bench/soak.py [--minutes 3] [--workers 8] [--max-requests 200000] [--bursts 1]
                          [--binary target/release/micro-wasm] [--sample-every 5]

--bursts N repeats load-then-sleep N times against the same process (--minutes each): when
the RSS after each sleep stays level, what the first burst added is a one-time cost (caches,
code pages), not a leak.

Alongside the mix, hostile clients (unless --no-hostile-clients): IDLE_SOCKETS connections that
never send a byte (reopened as the server closes them), and SLOW_READERS connections that
pipeline requests for large responses and read nothing for a while. The server runs with
--idle-timeout 2s; the report counts the connections it closed. And hostile guests (also off
with --no-hostile-clients): HOARDERS clients make Micro `b` open files and TCP sockets in its
warm instances and keep them (the open-file caps: `open_files`, `micro_open_files`), and
PINNERS clients make many instances of Micro `c` grow their memory at once, to be kept warm
(the `warm_memory` budget, 256 MiB here).

Throughout, a sampler records the runtime's RSS and open file descriptors (/proc/PID/fd) every
--sample-every seconds, and a health checker asks /__space/health twice a second (5 s
timeout): both should stay flat and answered.

Loopback only; stops by itself after --minutes or --max-requests, whichever comes first.
"""

import argparse
import collections
import http.client
import random
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BIN = ROOT / "target" / "release" / "micro-wasm"
PROBE = ROOT / "tests" / "guests" / "target" / "wasm32-wasip2" / "release" / "probe.wasm"

# (weight, micro prefix, method, path, body bytes)
MIX = [
    (40, "", "GET", "/counter", 0),
    (15, "/b", "POST", "/consume", 20_000),
    (10, "/c", "GET", "/env", 0),
    (5, "/b", "GET", "/write?path=/tmp/f&bytes=1000", 0),
    (3, "", "GET", "/loop", 0),               # 504
    (3, "/b", "GET", "/alloc?mb=200", 0),     # 502 memory limit
    (3, "/c", "GET", "/panic", 0),            # 502 trap
    (3, "", "GET", "/big-response?bytes=300000", 0),  # 502 response too large
    (2, "/b", "GET", "/forever", 0),          # 502/504
    (2, "/c", "GET", "/stack-overflow", 0),   # 502
    (2, "", "GET", "/spin-stdout", 0),        # 504
    (2, "/b", "POST", "/consume", 300_000),   # 413
    (1, "", "GET", "/__space/v0/actions", 0), # 404
]


IDLE_SOCKETS = 20   # with the workers, slow readers, hoarders, pinners and the health checker,
                    # under the per-address cap of 64
SLOW_READERS = 4
IDLE_TIMEOUT_S = 2
HOARDERS = 4        # clients making Micro b hoard files and sockets in warm instances
PINNERS = 6         # clients making Micro c grow many instances' memory at once
WARM_MEMORY = "256MiB"


def hoarder(port, stop_at, counts, lock):
    """Makes Micro b open 50 files or TCP sockets a request and keep them in the instance
    (lingering 50 ms, so concurrent hoarders get instances of their own); every tenth
    request lets them go. Counts the answers: `ok` (all opened), `capped` (a cap refused
    some: 500 `after K: ...`), or other."""
    rnd = random.Random()
    while time.time() < stop_at:
        kind = rnd.choice(["file", "socket"])
        path = ("/b/unhoard" if rnd.random() < 0.1
                else f"/b/hoard?kind={kind}&n=50&linger_ms=50")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            c.close()
            key = ("fd hoard: ok" if r.status == 200
                   else "fd hoard: capped" if body.startswith(b"after ")
                   else f"fd hoard: {r.status}")
        except Exception as e:
            key = f"fd hoard: {type(e).__name__}"
        with lock:
            counts[key] += 1


def pinner(port, stop_at, counts, lock):
    """Makes an instance of Micro c grow its memory by 40 MiB and hold the request 100 ms;
    PINNERS of these at once keep that many instances grown, each to be kept warm."""
    while time.time() < stop_at:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/c/grow?mb=40&ms=100")
            r = c.getresponse()
            r.read()
            c.close()
            key = f"warm pin: {r.status}"
        except Exception as e:
            key = f"warm pin: {type(e).__name__}"
        with lock:
            counts[key] += 1


def open_fds(pid):
    try:
        return len(list(Path(f"/proc/{pid}/fd").iterdir()))
    except OSError:
        return -1


class Watch:
    """Samples the runtime's RSS and open descriptors every `every` seconds, and asks
    /__space/health twice a second, until stopped."""

    def __init__(self, port, pid, every):
        self.port, self.pid, self.every = port, pid, every
        self.samples = []          # (seconds since start, RSS MiB, open fds)
        self.health = collections.Counter()
        self.slowest = 0.0
        self.stopped = threading.Event()
        self.started = time.time()
        self.threads = [threading.Thread(target=self.sample), threading.Thread(target=self.check)]
        for t in self.threads:
            t.start()

    def sample(self):
        while not self.stopped.is_set():
            self.samples.append((time.time() - self.started, rss_mib(self.pid), open_fds(self.pid)))
            self.stopped.wait(self.every)

    def check(self):
        while not self.stopped.is_set():
            t0 = time.time()
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/__space/health")
                r = c.getresponse()
                r.read()
                c.close()
                self.health["200" if r.status == 200 else str(r.status)] += 1
            except Exception as e:
                self.health[type(e).__name__] += 1
            self.slowest = max(self.slowest, time.time() - t0)
            self.stopped.wait(0.5)

    def stop(self):
        self.stopped.set()
        for t in self.threads:
            t.join()

    def report(self):
        s = self.samples
        if not s:
            return
        step = max(1, len(s) // 20)
        print("runtime over time (s: RSS MiB, open fds): " +
              ", ".join(f"{t:.0f}: {r:.0f}, {f}" for t, r, f in s[::step] + ([s[-1]] if (len(s) - 1) % step else [])))
        q = max(1, len(s) // 4)
        first, last = s[:q], s[-q:]
        print(f"  open fds: max {max(f for _, _, f in s)}; first quarter max {max(f for _, _, f in first)}, "
              f"last quarter max {max(f for _, _, f in last)}")
        print(f"  RSS MiB: max {max(r for _, r, _ in s):.1f}; first quarter max {max(r for _, r, _ in first):.1f}, "
              f"last quarter max {max(r for _, r, _ in last):.1f}")
        total = sum(self.health.values())
        print(f"  /__space/health: {total} checks, " +
              ", ".join(f"{k}: {v}" for k, v in sorted(self.health.items())) +
              f"; slowest {self.slowest * 1000:.0f} ms")


def idle_sockets(port, stop_at, counts, lock):
    """Keeps IDLE_SOCKETS silent connections open; counts those the server closes."""
    socks = []
    while time.time() < stop_at:
        while len(socks) < IDLE_SOCKETS:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                with lock:
                    counts["idle: connect failed"] += 1
                break
            s.setblocking(False)
            socks.append(s)
        time.sleep(0.2)
        for s in list(socks):
            try:
                closed = s.recv(1) == b""
            except BlockingIOError:
                closed = False
            except OSError:
                closed = True
            if closed:
                socks.remove(s)
                s.close()
                with lock:
                    counts["idle: closed by the server"] += 1
    for s in socks:
        s.close()


def slow_reader(port, stop_at, counts, lock):
    """Pipelines 50 requests for 200 kB responses, reads nothing for three idle timeouts,
    then reads what is left: fewer than 50 responses means the server closed it."""
    req = b"GET /big-response?bytes=200000 HTTP/1.1\r\nHost: x\r\n\r\n" * 50
    while time.time() < stop_at:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(req)
        except OSError:
            with lock:
                counts["slow reader: connect failed"] += 1
            time.sleep(0.5)
            continue
        time.sleep(3 * IDLE_TIMEOUT_S)
        got = 0
        s.settimeout(5)
        try:
            while got < 50 * 200_000:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                got += len(chunk)
        except OSError:
            pass
        s.close()
        with lock:
            counts["slow reader: closed by the server" if got < 50 * 200_000
                   else "slow reader: served in full"] += 1


def app_toml(dir_):
    text = ('[app]\nname = "soak"\n\n[limits]\ntimeout = "300ms"\nmemory = "64MiB"\ntmp = "1MiB"\n'
            f'payload = "256kB"\nconcurrency = 16\nsleep_after = "5s"\nwarm_memory = "{WARM_MEMORY}"\n')
    for i, name in enumerate("abc"):
        text += (f'\n[[micro]]\nname = "{name}"\ncomponent = \'{PROBE}\'\nsrc = "code"\n'
                 f'primary = {"true" if i == 0 else "false"}\n')
    (dir_ / "code").mkdir()
    (dir_ / "code" / "hello.txt").write_text("hello from /app\n")  # what /hoard?kind=file opens
    (dir_ / "app.toml").write_text(text)
    return dir_ / "app.toml"


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_breakdown(pid):
    """Resident KiB by kind of mapping: heap (malloc's brk and anonymous arenas), pool (the
    pooling allocator's big reserved anonymous regions, > 1 GiB), code (file mappings:
    the binary, libraries, compiled components) and stacks."""
    kinds = collections.Counter()
    kind, size = "other", 0
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and len(head) >= 5 and ":" in head[3]:
            lo, hi = (int(x, 16) for x in head[0].split("-"))
            name = head[5] if len(head) > 5 else ""
            size = hi - lo
            if name.startswith("[stack"):
                kind = "stacks"
            elif name == "[heap]":
                kind = "heap"
            elif name.startswith("/"):
                kind = "code"
            elif size > (1 << 30):
                kind = "pool"
            else:
                kind = "heap"
        elif head[0] == "Rss:":
            kinds[kind] += int(head[1])
    return {k: v / 1024 for k, v in kinds.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=3)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--max-requests", type=int, default=200_000)
    ap.add_argument("--bursts", type=int, default=1)
    ap.add_argument("--no-hostile-clients", action="store_true")
    ap.add_argument("--binary", type=Path, default=DEFAULT_BIN,
                    help="the micro-wasm binary (default target/release/micro-wasm)")
    ap.add_argument("--sample-every", type=float, default=5,
                    help="seconds between RSS / open-fd samples (default 5)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mw-soak-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([args.binary, "run", app_toml(tmp), "--listen", f"127.0.0.1:{port}",
                             "--idle-timeout", f"{IDLE_TIMEOUT_S}s"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)

    watch = Watch(port, proc.pid, args.sample_every)
    bursts = []
    for _ in range(args.bursts):
        bursts.append(burst(port, proc.pid, args))
    watch.stop()
    alive = proc.poll() is None
    proc.terminate()
    proc.wait(30)

    for i, b in enumerate(bursts, 1):
        statuses, failures, rss = b["statuses"], b["failures"], b["rss"]
        total = sum(statuses.values())
        print(f"burst {i}: {b['elapsed']:.0f} s, {args.workers} workers, {total} responses "
              f"({total / b['elapsed']:.0f}/s)")
        print("  responses by status: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
        print("  client-side failures: " + (", ".join(f"{k}: {v}" for k, v in failures.items()) or "none"))
        if b["hostile"]:
            print("  hostile clients: " + ", ".join(f"{k}: {v}" for k, v in sorted(b["hostile"].items())))
        print(f"  RSS MiB: start {rss['start']:.1f}, peak {rss['peak']:.1f}, end of load {rss['end']:.1f}, "
              f"after the Micros slept {rss['asleep']:.1f}")
        for when in ("start", "asleep"):
            print(f"  {when}, RSS MiB by mapping: " +
                  ", ".join(f"{k} {v:.1f}" for k, v in sorted(b["by_kind"][when].items())))
    watch.report()
    print(f"runtime alive at the end: {alive}")


def burst(port, pid, args):
    """One bounded load of the MIX, then a wait past sleep_after; statuses and RSS."""
    statuses = collections.Counter()
    failures = collections.Counter()
    lock = threading.Lock()
    sent = [0]
    stop_at = time.time() + args.minutes * 60
    weights = [m[0] for m in MIX]

    def worker():
        rnd = random.Random()
        while time.time() < stop_at:
            with lock:
                if sent[0] >= args.max_requests:
                    return
                sent[0] += 1
            _, prefix, method, path, size = rnd.choices(MIX, weights)[0]
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                c.request(method, prefix + path, body=b"x" * size if size else None)
                r = c.getresponse()
                r.read()
                c.close()
                with lock:
                    statuses[r.status] += 1
            except Exception as e:  # a broken connection is a finding, counted by kind
                with lock:
                    failures[type(e).__name__] += 1

    rss = {"start": rss_mib(pid)}
    by_kind = {"start": rss_breakdown(pid)}
    threads = [threading.Thread(target=worker) for _ in range(args.workers)]
    hostile = collections.Counter()
    if not args.no_hostile_clients:
        threads.append(threading.Thread(target=idle_sockets, args=(port, stop_at, hostile, lock)))
        threads += [threading.Thread(target=slow_reader, args=(port, stop_at, hostile, lock))
                    for _ in range(SLOW_READERS)]
        threads += [threading.Thread(target=hoarder, args=(port, stop_at, hostile, lock))
                    for _ in range(HOARDERS)]
        threads += [threading.Thread(target=pinner, args=(port, stop_at, hostile, lock))
                    for _ in range(PINNERS)]
    started = time.time()
    for t in threads:
        t.start()
    peak = 0.0
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_mib(pid))
        time.sleep(0.5)
    elapsed = time.time() - started
    rss["peak"] = peak
    rss["end"] = rss_mib(pid)
    time.sleep(8)  # past sleep_after: the Micros sleep and drop their instances
    rss["asleep"] = rss_mib(pid)
    by_kind["asleep"] = rss_breakdown(pid)
    return {"statuses": statuses, "failures": failures, "rss": rss, "by_kind": by_kind,
            "elapsed": elapsed, "hostile": hostile}


if __name__ == "__main__":
    main()
