#!/usr/bin/env python3
"""micro-wasm benchmarks: micro-wasm vs `wasmtime serve` vs a native hyper server, on the
same machine, in one run, with rounds interleaved. Prints a Markdown report and writes the
raw figures to bench/results/latest.json.

Usage (from the repo root):  python3 bench/bench.py [--rounds 3] [--duration 8] [--quick]
                             python3 bench/bench.py --polyglot [--rounds 3] [--duration 8]
                             python3 bench/bench.py --flask [--rounds 3] [--duration 8]

--polyglot compares only the Python and JavaScript hello Micros (componentize-py and
componentize-js builds of guest-examples/polyglot/{python,js}/hello.py|js) under micro-wasm
(warm reuse) and `wasmtime serve` (an instance per request). Build them first with
`micro-wasm build guest-examples/polyglot/app.toml`; results go to bench/results/polyglot.json.

--flask compares the Flask example's hello route (`GET /hello` of guest-examples/flask's
backend component, Flask behind the SDK's WSGI adapter) the same way; it builds that component
with `micro-wasm build guest-examples/flask/app.toml` unless --no-build. Results go to
bench/results/flask.json. `--bin PATH` runs another micro-wasm binary (e.g. a debug build, with
--no-build) and `--wasmtime PATH` another wasmtime 48.

Needs: wrk (Debian package `wrk`), the wasm32-wasip2 target. Installs `wasmtime` 48.0.8 with
`cargo install wasmtime-cli --locked` into bench/.cache/ when missing. Linux only (reads
/proc for RSS). Loopback only; every load is bounded in time.
"""

import argparse
import http.client
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
WASMTIME_VERSION = "48.0.8"
WASMTIME = CACHE / f"wasmtime-{WASMTIME_VERSION}" / "bin" / "wasmtime"
MICRO_WASM = ROOT / "target" / "release" / "micro-wasm"
NATIVE = ROOT / "bench" / "native" / "target" / "release" / "native-hello"
GUESTS = ROOT / "guest-examples" / "target" / "wasm32-wasip2" / "release"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(str(c) for c in cmd))
    subprocess.run(cmd, check=True, **kw)


def build():
    run(["cargo", "build", "--release", "-p", "micro-wasm", "--bin", "micro-wasm"], cwd=ROOT)
    run(["cargo", "build", "--release"], cwd=ROOT / "bench" / "native")
    run(["cargo", "build", "--release", "--target", "wasm32-wasip2"], cwd=ROOT / "guest-examples")
    if not WASMTIME.exists():
        run(["cargo", "install", "wasmtime-cli", "--version", WASMTIME_VERSION, "--locked",
             "--root", str(WASMTIME.parent.parent)])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process; `addr` is host:port once it answers."""

    def __init__(self, name, cmd, port, cwd=None, env=None, ready="/"):
        self.name = name
        self.addr = f"127.0.0.1:{port}"
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=None if env is None else {**os.environ, **env})
        try:
            wait_ok(self.addr, ready, timeout=300)
        except RuntimeError:
            self.stop()
            raise

    def rss_kib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def request(self, method, path, body=None, headers=None):
        return request(self.addr, method, path, body, headers)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def request(addr, method, path, body=None, headers=None, timeout=30.0):
    """One request on a connection of its own: (status, body)."""
    host, port = addr.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def get(addr, path, timeout=5.0):
    return request(addr, "GET", path, timeout=timeout)[0]


def wait_ok(addr, path, timeout):
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        try:
            if get(addr, path, timeout=1) == 200:
                return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.001)
    raise RuntimeError(f"{addr}{path} did not answer 200 within {timeout}s")


def write_app(dir_, micros, limits="", sleep_after="60s"):
    """An app of `micros` hello Micros (`m0` primary at /, the others at /m1 ...), plus an
    `echo` Micro at /echo when there is only one."""
    parts = [f'[app]\nname = "bench"\n\n[limits]\nsleep_after = "{sleep_after}"\n{limits}\n']
    names = [(f"m{i}", "hello") for i in range(micros)] + ([("echo", "echo")] if micros == 1 else [])
    for i, (name, guest) in enumerate(names):
        parts.append(f'[[micro]]\nname = "{name}"\ncomponent = \'{GUESTS / (guest + ".wasm")}\'\n'
                     f'src = "code"\nprimary = {"true" if i == 0 else "false"}\n')
    d = Path(dir_)
    (d / "code").mkdir(parents=True, exist_ok=True)
    (d / "app.toml").write_text("\n".join(parts))
    return d / "app.toml"


def write_single(dir_, component):
    """An app of one Micro `hello` running `component`."""
    d = Path(dir_)
    (d / "code").mkdir(parents=True, exist_ok=True)
    (d / "app.toml").write_text(f'[app]\nname = "bench"\n\n[[micro]]\nname = "hello"\n'
                                f'component = \'{component}\'\nsrc = "code"\n')
    return d / "app.toml"


def polyglot(args):
    """Python and JavaScript hello: micro-wasm vs wasmtime serve, rounds interleaved."""
    report = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "rounds": args.rounds, "duration_s": args.duration}
    tmp = Path(tempfile.mkdtemp(prefix="mw-bench-poly-"))
    for lang in ("python", "js"):
        component = ROOT / "guest-examples" / "polyglot" / lang / "hello.wasm"
        if not component.exists():
            sys.exit(f"{component} is missing: run `micro-wasm build guest-examples/polyglot/app.toml`")
        log(f"== {lang} hello ({component.stat().st_size / 1e6:.1f} MB component)")
        mw, wt = micro_wasm(write_single(tmp / lang, component)), wasmtime_serve(component)
        try:
            report[lang] = load_scenario([mw, wt], lambda s: "/", args.duration, args.rounds)
        finally:
            mw.stop()
            wt.stop()
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "polyglot.json").write_text(json.dumps(report, indent=2))
    lines = [f"Measured {report['date']} on {report['machine']}; `python3 bench/bench.py --polyglot` "
             f"(wrk -t1 -c32 -d{args.duration}s, median of {args.rounds} interleaved rounds).", "",
             "| hello Micro | micro-wasm req/s | wasmtime serve req/s | ratio | micro-wasm p50 / p99 ms | wasmtime serve p50 / p99 ms |",
             "|---|---|---|---|---|---|"]
    for lang in ("python", "js"):
        a, b = report[lang]["micro-wasm"], report[lang]["wasmtime serve"]
        lines.append(f"| {lang} | {a['rps']:.0f} | {b['rps']:.0f} | {a['rps'] / b['rps']:.1f}x | "
                     f"{a['p50_ms']:.2f} / {a['p99_ms']:.2f} | {b['p50_ms']:.2f} / {b['p99_ms']:.2f} |")
    print("\n".join(lines))


def flask(args):
    """The Flask example's hello route: micro-wasm vs wasmtime serve on the same component."""
    app = ROOT / "guest-examples" / "flask"
    component = app / ".build" / "backend.wasm"
    if not args.no_build:
        build()
        run([MICRO_WASM, "build", app / "app.toml"])
    if not component.exists():
        sys.exit(f"{component} is missing: run `micro-wasm build guest-examples/flask/app.toml`")
    for tool in (MICRO_WASM, WASMTIME):
        if not Path(tool).exists():
            sys.exit(f"{tool} is missing (build it, or pass --bin / --wasmtime)")
    report = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "rounds": args.rounds, "duration_s": args.duration,
              "micro_wasm": os.path.relpath(MICRO_WASM, ROOT)}
    tmp = Path(tempfile.mkdtemp(prefix="mw-bench-flask-"))
    log(f"== Flask hello ({component.stat().st_size / 1e6:.1f} MB component)")
    mw = micro_wasm(write_single(tmp / "flask", component), ready="/hello")
    try:
        wt = wasmtime_serve(component, ready="/hello")
    except BaseException:
        mw.stop()
        raise
    try:
        for s in (mw, wt):  # the same answer from both, or the comparison means nothing
            body = fetch(s.addr, "/hello")
            if body != b"Hello from Flask!":
                sys.exit(f"{s.name} answered {body!r} to GET /hello")
        report["flask"] = load_scenario([mw, wt], lambda s: "/hello", args.duration, args.rounds)
    finally:
        mw.stop()
        wt.stop()
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "flask.json").write_text(json.dumps(report, indent=2))
    a, b = report["flask"]["micro-wasm"], report["flask"]["wasmtime serve"]
    print("\n".join([
        f"Measured {report['date']} on {report['machine']}; `python3 bench/bench.py --flask` "
        f"(wrk -t1 -c32 -d{args.duration}s, median of {args.rounds} interleaved rounds).", "",
        "| Flask hello (`GET /hello`) | micro-wasm | wasmtime serve | micro-wasm / wasmtime serve |",
        "|---|---|---|---|",
        f"| req/s | {a['rps']:.0f} | {b['rps']:.0f} | {a['rps'] / b['rps']:.1f}x |",
        f"| p50 / p99 ms | {a['p50_ms']:.2f} / {a['p99_ms']:.2f} | {b['p50_ms']:.2f} / {b['p99_ms']:.2f} | |",
        f"| non-2xx responses | {a['non_2xx']:.0f} | {b['non_2xx']:.0f} | |",
    ]))


def fetch(addr, path):
    return request(addr, "GET", path)[1]


def micro_wasm(app_toml, name="micro-wasm", env=None, ready="/"):
    port = free_port()
    return Server(name, [MICRO_WASM, "run", app_toml, "--listen", f"127.0.0.1:{port}"], port, env=env, ready=ready)


def wasmtime_serve(component, ready="/"):
    port = free_port()
    return Server("wasmtime serve", [WASMTIME, "serve", "-Scli", "--addr", f"127.0.0.1:{port}",
                                     "--env", "DETA_SPACE_APP_MICRO_NAME=hello", component], port, ready=ready)


def native():
    port = free_port()
    return Server("native hyper", [NATIVE, f"127.0.0.1:{port}"], port)


QUIET = "micro-wasm, MICRO_WASM_LOG=warn"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(addr, path, duration, conns=32, script=None, timeout=None):
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency"]
    if timeout:
        cmd += ["--timeout", f"{timeout}s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [f"http://{addr}{path}"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    lat = {p: float(v) * UNITS[u] for p, v, u in re.findall(r"\s+(50|99)%\s+([\d.]+)(us|ms|s)\b", out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": rps, "requests": requests, "p50_ms": lat.get("50"), "p99_ms": lat.get("99"),
            "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0}


def median_of(runs):
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def load_scenario(servers, path_of, duration, rounds, script=None, timeout=None):
    """Rounds interleaved across servers; the median of each figure per server."""
    results = {s.name: [] for s in servers}
    for r in range(rounds):
        for s in servers:
            res = wrk(s.addr, path_of(s), duration, script=script, timeout=timeout)
            log(f"  round {r + 1} {s.name}: {res['rps']:.0f} req/s p50 {res['p50_ms']:.3f} ms p99 {res['p99_ms']:.3f} ms")
            results[s.name].append(res)
    return {name: median_of(runs) for name, runs in results.items()}


def latency_ms(addr, path, n, pause):
    """Median latency of one request on an already open connection, after `pause` idle.

    A raw socket and a fixed request, not http.client: its header parsing alone adds about
    0.4 ms per request here, which would hide the servers' differences. The response must
    carry a Content-Length (all the measured hellos do)."""
    host, port = addr.split(":")
    req = f"GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n".encode()
    samples = []
    for _ in range(n):
        time.sleep(pause)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t0 = time.perf_counter()
            s.sendall(req)
            status = read_response(s)
            samples.append((time.perf_counter() - t0) * 1000)
        assert status == 200, status
    samples.sort()
    return {"p50_ms": statistics.median(samples), "p99_ms": samples[int(len(samples) * 0.99) - 1]}


def read_response(s):
    """Reads one response with a Content-Length from socket `s`; returns its status."""
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError(f"connection closed mid-response: {buf[:200]!r}")
        buf += chunk
        head, sep, body = buf.partition(b"\r\n\r\n")
        if not sep:
            continue
        lines = head.split(b"\r\n")
        length = [int(l.split(b":", 1)[1]) for l in lines if l.lower().startswith(b"content-length:")]
        if not length:
            raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
        if len(body) >= length[0]:
            return int(lines[0].split()[1])


def status(addr):
    host, port = addr.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    c.request("GET", "/__space/status")
    return json.loads(c.getresponse().read())


def data_bench_args(ap):
    """The options data.py and nodes.py share (--binary, --rounds, --duration, --quick,
    --no-build) added to `ap` and parsed; the binary checked, and the hello and notes guests
    built unless --no-build. Returns (args, binary, its profile)."""
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "micro-wasm"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="1 round of 2 s")
    ap.add_argument("--no-build", action="store_true", help="use the guests as they are")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, 2
    binary = Path(args.binary).resolve()
    if not binary.exists():
        sys.exit(f"{binary} is missing: build it (cargo build --release) or pass --binary")
    profile = "debug" if "debug" in binary.parts else "release"
    if profile == "debug":
        log("WARNING: a debug binary; the figures only show that the script works")
    if not args.no_build:
        run(["cargo", "build", "--release", "--target", "wasm32-wasip2", "-p", "hello", "-p", "notes"],
            cwd=ROOT / "guest-examples")
    return args, binary, profile


def main():
    global MICRO_WASM, WASMTIME, NATIVE, GUESTS
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="1 round of 2 s, fewer samples")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--polyglot", action="store_true", help="only the Python and JavaScript hello Micros")
    ap.add_argument("--flask", action="store_true", help="only the Flask example's hello route")
    ap.add_argument("--bodies", action="store_true", help="only the body scenarios (bench/bodies.py)")
    ap.add_argument("--bin", type=Path, help="the micro-wasm binary (default: target/release/micro-wasm)")
    ap.add_argument("--wasmtime", type=Path, help=f"the wasmtime binary (default: {WASMTIME.relative_to(ROOT)})")
    ap.add_argument("--native", type=Path, help=f"the native server (default: {NATIVE.relative_to(ROOT)})")
    ap.add_argument("--guests", type=Path, help=f"the guests' directory (default: {GUESTS.relative_to(ROOT)})")
    args = ap.parse_args()
    MICRO_WASM = (args.bin or MICRO_WASM).resolve()
    WASMTIME = (args.wasmtime or WASMTIME).resolve()
    NATIVE = (args.native or NATIVE).resolve()
    GUESTS = (args.guests or GUESTS).resolve()
    if args.polyglot:
        return polyglot(args)
    if args.bodies:
        if args.quick:
            args.rounds, args.duration = 1, 2
        import bodies
        return bodies.main(args, sys.modules[__name__])
    if args.flask:
        if args.quick:
            args.rounds, args.duration = 1, 2
        return flask(args)
    if args.quick:
        args.rounds, args.duration = 1, 2
    samples = 30 if args.quick else 200
    if not args.no_build:
        build()
    report = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "rounds": args.rounds, "duration_s": args.duration}
    tmp = Path(tempfile.mkdtemp(prefix="mw-bench-"))
    body = tmp / "post64k.lua"
    body.write_text('wrk.method = "POST"\nwrk.body = string.rep("x", 65536)\n'
                    'wrk.headers["Content-Type"] = "application/octet-stream"\n')

    one = write_app(tmp / "one", 1)
    nolimits = write_app(tmp / "nolimits", 1, limits='timeout = "1h"\nmemory = "1GiB"\npayload = "1GB"\n')
    five = write_app(tmp / "five", 5)
    idle5 = write_app(tmp / "idle5", 5, sleep_after="1s")
    cold = write_app(tmp / "cold", 1, sleep_after="20ms")

    # hello and echo: micro-wasm vs wasmtime serve vs native.
    log("== hello / echo")
    mw, wt, nat = micro_wasm(one), wasmtime_serve(GUESTS / "hello.wasm"), native()
    # Neither wasmtime serve nor the native server logs requests; micro-wasm logs each one at
    # info by default. The same app with MICRO_WASM_LOG=warn shows what that line costs.
    quiet = micro_wasm(one, QUIET, env={"MICRO_WASM_LOG": "warn"})
    wt_echo = wasmtime_serve(GUESTS / "echo.wasm")
    wt_echo.name = "wasmtime serve"
    try:
        report["hello"] = load_scenario([mw, wt, nat, quiet], lambda s: "/", args.duration, args.rounds)
        echo_paths = {mw.name: "/echo/", nat.name: "/echo"}
        wt_echo_servers = [mw, wt_echo, nat]
        report["echo64k"] = load_scenario(wt_echo_servers, lambda s: echo_paths.get(s.name, "/"),
                                          args.duration, args.rounds, script=str(body))
        report["rss_after_load_kib"] = {"micro-wasm": mw.rss_kib(), "wasmtime serve": wt.rss_kib(),
                                        "native hyper": nat.rss_kib()}
    finally:
        for s in (mw, wt, nat, quiet, wt_echo):
            s.stop()

    log("== cost of enforcement, five Micros vs one")
    a, b, c = micro_wasm(one, "seed limits"), micro_wasm(nolimits, "limits off"), micro_wasm(five, "five micros")
    try:
        paths = {"seed limits": "/", "limits off": "/", "five micros": "/m4/"}
        report["enforcement_and_router"] = load_scenario([a, b, c], lambda s: paths[s.name], args.duration, args.rounds)
    finally:
        for s in (a, b, c):
            s.stop()

    log("== cold start (first request to a sleeping Micro) and warm latency")
    s = micro_wasm(cold)
    try:
        before = status(s.addr)["micros"][0]["cold_starts"]
        report["cold_start"] = latency_ms(s.addr, "/", samples, pause=0.15)
        report["cold_start"]["cold_starts_seen"] = status(s.addr)["micros"][0]["cold_starts"] - before
    finally:
        s.stop()
    s = micro_wasm(one)
    try:
        report["warm"] = latency_ms(s.addr, "/", samples, pause=0.0)
        # The same 150 ms idle pause as the cold starts, with the Micro awake: what the pause
        # itself costs (parked threads, a new connection), so cold minus this is the wake-up.
        report["warm_after_pause"] = latency_ms(s.addr, "/", samples, pause=0.15)
    finally:
        s.stop()
    wt = wasmtime_serve(GUESTS / "hello.wasm")
    try:
        report["wasmtime_serve_single"] = latency_ms(wt.addr, "/", samples, pause=0.0)
    finally:
        wt.stop()
    nat = native()
    try:
        # What the same pause costs a native server: the floor for any request after idle.
        report["native_after_pause"] = latency_ms(nat.addr, "/", samples, pause=0.15)
    finally:
        nat.stop()

    log("== start to first 200 OK, five Micros, warm compile cache")
    micro_wasm(five).stop()  # warm the cache
    starts = []
    for _ in range(5 if args.quick else 15):
        port = free_port()
        t0 = time.perf_counter()
        p = subprocess.Popen([MICRO_WASM, "run", five, "--listen", f"127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t1 = wait_ok(f"127.0.0.1:{port}", "/", timeout=60)
        starts.append((t1 - t0) * 1000)
        p.terminate()
        p.wait()
    report["start_to_first_200_ms"] = statistics.median(starts)

    log("== RSS: idle five sleeping Micros; burst then sleep")
    s = micro_wasm(idle5)
    try:
        rss = {"started": s.rss_kib()}
        wrk(s.addr, "/", 2)
        for i in range(1, 5):
            wrk(s.addr, f"/m{i}/", 1)
        rss["after_burst"] = s.rss_kib()
        time.sleep(3)
        rss["after_sleep"] = s.rss_kib()
        rss["awake_after_sleep"] = [m["awake"] for m in status(s.addr)["micros"]]
        report["rss_kib"] = rss
    finally:
        s.stop()

    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(report, indent=2))
    print(markdown(report))


def markdown(r):
    h = r["hello"]
    mw, wt, nat = h["micro-wasm"], h["wasmtime serve"], h["native hyper"]
    e = r["echo64k"]
    en = r["enforcement_and_router"]
    lines = [
        f"Measured {r['date']} on {r['machine']}; `python3 bench/bench.py` "
        f"(wrk -t1 -c32 -d{r['duration_s']}s, median of {r['rounds']} interleaved rounds).",
        "",
        "| scenario | micro-wasm | wasmtime serve 48.0.8 | native hyper | micro-wasm / wasmtime | micro-wasm / native |",
        "|---|---|---|---|---|---|",
    ]
    for name, d in (("hello GET", h), ("echo 64 KiB POST", e)):
        a, b, c = d["micro-wasm"], d["wasmtime serve"], d["native hyper"]
        lines.append(f"| {name}: req/s | {a['rps']:.0f} | {b['rps']:.0f} | {c['rps']:.0f} | "
                     f"{a['rps'] / b['rps']:.1f}x | {100 * a['rps'] / c['rps']:.0f} % |")
        lines.append(f"| {name}: p50 / p99 ms | {a['p50_ms']:.2f} / {a['p99_ms']:.2f} | "
                     f"{b['p50_ms']:.2f} / {b['p99_ms']:.2f} | {c['p50_ms']:.2f} / {c['p99_ms']:.2f} | | |")
    q = h[QUIET]
    lines.append(f"| hello GET, no access log (`MICRO_WASM_LOG=warn`): req/s | {q['rps']:.0f} | | | "
                 f"{q['rps'] / wt['rps']:.1f}x | {100 * q['rps'] / nat['rps']:.0f} % |")
    seed, off, five = en["seed limits"], en["limits off"], en["five micros"]
    lines += [
        "",
        "| figure | value |",
        "|---|---|",
        f"| cold start, first request to a sleeping Micro, p50 / p99 | {r['cold_start']['p50_ms']:.3f} / {r['cold_start']['p99_ms']:.3f} ms "
        f"({r['cold_start']['cold_starts_seen']} cold starts) |",
        f"| warm request after the same 150 ms pause, p50 / p99 | {r['warm_after_pause']['p50_ms']:.3f} / {r['warm_after_pause']['p99_ms']:.3f} ms |",
        f"| cold start minus that (the wake-up itself), p50 | {r['cold_start']['p50_ms'] - r['warm_after_pause']['p50_ms']:.3f} ms |",
        f"| native hyper after the same pause, p50 / p99 | {r['native_after_pause']['p50_ms']:.3f} / {r['native_after_pause']['p99_ms']:.3f} ms |",
        f"| warm request, p50 / p99 (one connection, sequential) | {r['warm']['p50_ms']:.3f} / {r['warm']['p99_ms']:.3f} ms |",
        f"| wasmtime serve, same sequential request, p50 / p99 | {r['wasmtime_serve_single']['p50_ms']:.3f} / {r['wasmtime_serve_single']['p99_ms']:.3f} ms |",
        f"| `micro-wasm run` start to first 200 OK, five Micros, warm cache (median) | {r['start_to_first_200_ms']:.0f} ms |",
        f"| hello req/s with the seed limits vs limits effectively off | {seed['rps']:.0f} vs {off['rps']:.0f} "
        f"({100 * (off['rps'] - seed['rps']) / off['rps']:+.1f} % cost) |",
        f"| hello req/s through the router, five Micros (/m4/) vs one | {five['rps']:.0f} vs {seed['rps']:.0f} |",
        f"| RSS: five sleeping Micros at start / after a burst / after sleep | {r['rss_kib']['started'] / 1024:.1f} / "
        f"{r['rss_kib']['after_burst'] / 1024:.1f} / {r['rss_kib']['after_sleep'] / 1024:.1f} MiB |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
