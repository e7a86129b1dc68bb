"""Body scenarios of bench.py (`python3 bench/bench.py --bodies`): request and response
bodies through micro-wasm, `wasmtime serve` running the same component, and the native server
doing the same work, in one run with rounds interleaved (medians reported).

  mirror 64 KiB / 1 MiB  POST of the body to the `mirror` guest (guest-examples/mirror, raw
                         wasi:http, streaming), which sends it back byte for byte; the
                         native server streams the request body back.
  splice 64 KiB          the same through the mirror's `POST /splice`: the guest has the host
                         move the bytes (`splice`), so they never enter guest memory.
  SDK echo 64 KiB        POST to the `echo` guest (guest-examples/echo, the Rust SDK), which
                         answers the request as JSON, body included; the native server builds
                         the same JSON the same way (the same struct, written by
                         sonic-rs as the SDK does).
  download 4 MiB         GET /download of the `mirror` guest: 4 MiB generated in the guest;
                         the native server sends the same bytes from one buffer.

GB/s counts body bytes (1 GB = 10^9 bytes) in one direction. The figures go to
bench/results/bodies.json. Not run on its own: bench.py parses the options and calls main.
"""

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB
DOWNLOAD = 4 * MIB
PATTERN = b"abcdefghijklmnopqrstuvwxyz"  # what a download repeats
# A wrk round ends with the requests in flight; 4 MiB under load can take longer than wrk's
# default 2 s timeout on a slow server, which would then count as errors.
TIMEOUT_S = 30


def main(args, bench):
    """`bench` is bench.py's module: its servers, wrk and rounds."""
    if not args.no_build:
        bench.build()
    for tool in (bench.MICRO_WASM, bench.WASMTIME, bench.NATIVE):
        if not Path(tool).exists():
            sys.exit(f"{tool} is missing (build it, or pass --bin / --wasmtime)")
    for guest in ("mirror", "echo"):
        if not (bench.GUESTS / f"{guest}.wasm").exists():
            sys.exit(f"{bench.GUESTS / guest}.wasm is missing: build guest-examples (see bench/README.md)")
    tmp = Path(tempfile.mkdtemp(prefix="mw-bench-bodies-"))
    scripts = {size: post_script(tmp, size) for size in (64 * KIB, MIB)}
    report = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "rounds": args.rounds, "duration_s": args.duration,
              "micro_wasm": binary_name(bench)}

    mw = bench.micro_wasm(write_app(tmp / "app", bench.GUESTS))
    wt_mirror = wt_echo = nat = None
    try:
        wt_mirror = bench.wasmtime_serve(bench.GUESTS / "mirror.wasm")
        wt_echo = bench.wasmtime_serve(bench.GUESTS / "echo.wasm")
        nat = bench.native()
        mirrors = {mw: "/", wt_mirror: "/", nat: "/"}
        echoes = {mw: "/echo/", wt_echo: "/", nat: "/echo"}
        splices = {mw: "/splice", wt_mirror: "/splice"}
        check(mirrors, echoes, splices)
        for name, size in (("mirror_64k", 64 * KIB), ("mirror_1m", MIB)):
            log_scenario(bench, name)
            report[name] = scenario(bench, args, mirrors, scripts[size])
            add_rate(report[name], size)
        log_scenario(bench, "splice_64k")
        # The native server has no guest memory to spare: its splice is its mirror.
        report["splice_64k"] = scenario(bench, args, splices | {nat: "/"}, scripts[64 * KIB])
        add_rate(report["splice_64k"], 64 * KIB)
        log_scenario(bench, "echo_64k")
        report["echo_64k"] = scenario(bench, args, echoes, scripts[64 * KIB])
        log_scenario(bench, "download_4m")
        downloads = {s: "/download" for s in mirrors}
        report["download_4m"] = scenario(bench, args, downloads, None)
        add_rate(report["download_4m"], DOWNLOAD)
    finally:
        for s in (mw, wt_mirror, wt_echo, nat):
            if s:
                s.stop()

    out = bench.ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "bodies.json").write_text(json.dumps(report, indent=2))
    print(markdown(report))


def binary_name(bench):
    """The micro-wasm binary relative to the repository, or only its name when outside it (no
    machine paths in the results)."""
    try:
        return str(bench.MICRO_WASM.relative_to(bench.ROOT))
    except ValueError:
        return bench.MICRO_WASM.name


def log_scenario(bench, name):
    bench.log(f"== {name}")


def scenario(bench, args, paths, script):
    """Every server of `paths` (server -> path) under load, rounds interleaved; the median of
    each figure, keyed by the server's name (micro-wasm, wasmtime serve, native hyper).

    Besides wrk's figures, the server's CPU time per request (user + system, from /proc):
    on 2 cores wrk itself takes a core, so at large bodies req/s meets the client's limit
    while the CPU per request still tells the servers apart."""
    results = {s.name: [] for s in paths}
    for r in range(args.rounds):
        for s, path in paths.items():
            before = cpu_s(s.proc.pid)
            res = bench.wrk(s.addr, path, args.duration, script=script, timeout=TIMEOUT_S)
            res["cpu_us_per_req"] = (cpu_s(s.proc.pid) - before) * 1e6 / max(res["requests"], 1)
            bench.log(f"  round {r + 1} {s.name}: {res['rps']:.0f} req/s p50 {res['p50_ms']:.3f} ms "
                      f"p99 {res['p99_ms']:.3f} ms, server CPU {res['cpu_us_per_req']:.0f} us/req")
            results[s.name].append(res)
    return {name: bench.median_of(runs) for name, runs in results.items()}


TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """User + system CPU seconds of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def add_rate(figures, size):
    for f in figures.values():
        f["gb_per_s"] = f["rps"] * size / 1e9


def post_script(tmp, size):
    path = tmp / f"post{size}.lua"
    path.write_text(f'wrk.method = "POST"\nwrk.body = string.rep("x", {size})\n'
                    'wrk.headers["Content-Type"] = "application/octet-stream"\n')
    return str(path)


def write_app(dir_, guests):
    """One app: `mirror` (primary, at /) and `echo` (at /echo), the seed limits."""
    d = Path(dir_)
    (d / "code").mkdir(parents=True, exist_ok=True)
    (d / "app.toml").write_text(
        '[app]\nname = "bench"\n\n'
        f'[[micro]]\nname = "mirror"\nprimary = true\nsrc = "code"\ncomponent = \'{guests / "mirror.wasm"}\'\n\n'
        f'[[micro]]\nname = "echo"\npath = "/echo"\nsrc = "code"\ncomponent = \'{guests / "echo.wasm"}\'\n')
    return d / "app.toml"


OCTETS = {"Content-Type": "application/octet-stream"}


def check(mirrors, echoes, splices):
    """Every server does the work it is measured on, or the comparison means nothing."""
    sent = bytes(range(256)) * (3 * KIB)
    for s, path in splices.items():
        status, got = s.request("POST", path, sent, OCTETS)
        if status != 200 or got != sent:
            sys.exit(f"{s.name} did not splice a {len(sent)}-byte body: {status}, {len(got)} bytes back")
    for s, path in mirrors.items():
        status, got = s.request("POST", path, sent, OCTETS)
        if status != 200 or got != sent:
            sys.exit(f"{s.name} did not mirror a {len(sent)}-byte body: {status}, {len(got)} bytes back")
        status, got = s.request("GET", "/download")
        if status != 200 or got != PATTERN * (DOWNLOAD // 26) + PATTERN[:DOWNLOAD % 26]:
            sys.exit(f"{s.name} answered GET /download with {status}, {len(got)} bytes")
    for s, path in echoes.items():
        status, got = s.request("POST", path, b"x" * (64 * KIB), OCTETS)
        echoed = json.loads(got) if status == 200 else {}
        if echoed.get("body_len") != 64 * KIB or echoed.get("body") != "x" * (64 * KIB):
            sys.exit(f"{s.name} did not echo a 64 KiB body as JSON: {status}")


def markdown(r):
    lines = [
        f"Measured {r['date']} on {r['machine']}; `python3 bench/bench.py --bodies` "
        f"(wrk -t1 -c32 -d{r['duration_s']}s, median of {r['rounds']} interleaved rounds).",
        "",
        "| scenario | micro-wasm | wasmtime serve 48.0.8 | native hyper | micro-wasm / wasmtime | micro-wasm / native |",
        "|---|---|---|---|---|---|",
    ]
    for key, name in (("mirror_64k", "mirror 64 KiB POST"), ("mirror_1m", "mirror 1 MiB POST"),
                      ("splice_64k", "splice 64 KiB POST"),
                      ("echo_64k", "SDK echo 64 KiB POST"), ("download_4m", "download 4 MiB GET")):
        d = r[key]
        a, b, c = d["micro-wasm"], d["wasmtime serve"], d["native hyper"]
        lines.append(f"| {name}: req/s | {a['rps']:.0f} | {b['rps']:.0f} | {c['rps']:.0f} | "
                     f"{a['rps'] / b['rps']:.1f}x | {100 * a['rps'] / c['rps']:.0f} % |")
        if "gb_per_s" in a:
            lines.append(f"| {name}: GB/s each way | {a['gb_per_s']:.2f} | {b['gb_per_s']:.2f} | {c['gb_per_s']:.2f} | | |")
        lines.append(f"| {name}: server CPU us per request | {a['cpu_us_per_req']:.0f} | {b['cpu_us_per_req']:.0f} | "
                     f"{c['cpu_us_per_req']:.0f} | {b['cpu_us_per_req'] / a['cpu_us_per_req']:.1f}x less | |")
        lines.append(f"| {name}: p50 / p99 ms | {a['p50_ms']:.2f} / {a['p99_ms']:.2f} | "
                     f"{b['p50_ms']:.2f} / {b['p99_ms']:.2f} | {c['p50_ms']:.2f} / {c['p99_ms']:.2f} | | |")
        errors = {s: int(d[s]["non_2xx"] + d[s].get("socket_errors", 0)) for s in d}
        if any(errors.values()):
            lines.append(f"| {name}: non-2xx or socket errors | {errors['micro-wasm']} | "
                         f"{errors['wasmtime serve']} | {errors['native hyper']} | | |")
    return "\n".join(lines)
