#!/usr/bin/env python3
"""Deta Base served by micro-wasm: how fast, against the hello Micro and against SQLite alone.

One run, rounds interleaved, medians reported (as bench.py):

  (a) Base put and get by key through a Rust Micro: the notes example
      (guest-examples/notes: `POST /notes/` inserts a note, `GET /notes/<key>` gets one);
  (b) a query of the 100 items of one key prefix among 100k items, through the outside API
      (`POST /__space/v0/base/v1/<project>/bench/query` with `X-API-Key`);
  (c) the yardsticks, in the same process and run: the hello Micro (`GET /`), and the notes
      Micro's own `GET /notes/health`, which answers without a data call: what the Micro
      costs before it touches the Base;
  (d) the same operations directly on SQLite in one process (runtime/examples/data_sqlite.rs:
      the service's table and durability, no HTTP).

It prints a Markdown report with the ratios (Base get vs the notes Micro's own hello, its
`/health`: aim >= 50 %, and vs the smaller hello Micro; query p99: aim < 20 ms) and writes
the figures to bench/results/data.json.

Usage (from the repo root):
  python3 bench/data.py [--binary target/release/micro-wasm] [--rounds 3] [--duration 8]
                        [--items 100000] [--quick]

It never builds micro-wasm: pass --binary (default target/release/micro-wasm, the only build
whose figures mean anything). It builds the guests (guest-examples, release) and the SQLite
example in the profile of the binary (`--release` unless the binary is under target/debug).
Needs wrk. Loopback only; every load is bounded in time.
"""

import argparse
import http.client
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import GUESTS, ROOT, Server, data_bench_args, free_port, load_scenario, log, run  # noqa: E402

PREFIX_ITEMS = 100  # items per key prefix in the query scenario
PUT_BATCH = 25  # items per put: the Base API's limit


class App(Server):
    """`micro-wasm run` of hello (at /) and notes (at /notes/), state in `state`."""

    def __init__(self, binary, tmp, name, env=None):
        (tmp / "code").mkdir(parents=True, exist_ok=True)
        toml = tmp / "app.toml"
        toml.write_text(
            '[app]\nname = "bench"\n\n'
            f'[[micro]]\nname = "hello"\nprimary = true\nsrc = "code"\ncomponent = \'{GUESTS / "hello.wasm"}\'\n\n'
            f'[[micro]]\nname = "notes"\npath = "/notes"\nsrc = "code"\ncomponent = \'{GUESTS / "notes.wasm"}\'\n')
        port = free_port()
        super().__init__(name, [binary, "run", toml, "--listen", f"127.0.0.1:{port}", "--state-dir", tmp / "state"],
                         port, env=env or {})
        keys = json.loads((tmp / "state" / "keys.json").read_text())
        self.project = keys["app_id"]
        self.key = f"{keys['app_id']}_{keys['micros']['hello']}"


def seed(app, items):
    """`items` items k000000... in the Base `bench`, 25 a request on one connection."""
    host, port = app.addr.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    path = f"/__space/v0/base/v1/{app.project}/bench/items"
    headers = {"X-API-Key": app.key, "Content-Type": "application/json"}
    t0 = time.perf_counter()
    for start in range(0, items, PUT_BATCH):
        batch = [{"key": f"k{i:06d}", "n": i, "text": "an item of the benchmark"}
                 for i in range(start, min(start + PUT_BATCH, items))]
        c.request("PUT", path, body=json.dumps({"items": batch}), headers=headers)
        r = c.getresponse()
        body = r.read()
        if r.status != 207:
            raise RuntimeError(f"seeding: {r.status} {body[:200]!r}")
    c.close()
    return time.perf_counter() - t0


def lua(tmp, name, text):
    p = tmp / f"{name}.lua"
    p.write_text(text)
    return str(p)


def sqlite_floor(binary_profile, tmp, items, seconds, build=True):
    """runtime/examples/data_sqlite.rs, built in the binary's profile (unless `build` is off
    and it is there)."""
    profile = ["--release"] if binary_profile == "release" else []
    exe = ROOT / "target" / binary_profile / "examples" / "data_sqlite"
    if build or not exe.exists():
        run(["cargo", "build", *profile, "-p", "micro-wasm", "--example", "data_sqlite"], cwd=ROOT)
    (tmp / "sqlite").mkdir(exist_ok=True)
    out = subprocess.run([exe, tmp / "sqlite", str(items), str(seconds)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    args, binary, profile = data_bench_args(ap)

    tmp = Path(tempfile.mkdtemp(prefix="mw-bench-data-"))
    report = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "binary": profile, "rounds": args.rounds, "duration_s": args.duration, "items": args.items}
    app = App(binary, tmp / "app", "micro-wasm")
    try:
        log(f"== seeding {args.items} items")
        report["seed_s"] = seed(app, args.items)
        status, body = app.request("POST", "/notes/", json.dumps({"key": "bench-note", "text": "buy milk"}),
                                   {"Content-Type": "application/json"})
        assert status in (201, 409), (status, body)
        assert app.request("GET", "/notes/bench-note")[0] == 200

        put = lua(tmp, "put", 'wrk.method = "POST"\nwrk.body = \'{"text":"buy milk"}\'\n'
                              'wrk.headers["Content-Type"] = "application/json"\n')
        prefixes = max(args.items // PREFIX_ITEMS, 1)
        query = lua(tmp, "query", (
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["X-API-Key"] = "{app.key}"\n'
            f'math.randomseed(7)\nrequest = function()\n'
            f'  local p = string.format("k%04d", math.random(0, {prefixes - 1}))\n'
            '  return wrk.format(nil, nil, nil, \'{"query":[{"key?pfx":"\' .. p .. \'"}],"limit":1000}\')\n'
            'end\n'))
        # A check of what the query script asks: 100 items of one prefix.
        status, body = app.request("POST", f"/__space/v0/base/v1/{app.project}/bench/query",
                                   json.dumps({"query": [{"key?pfx": "k0001"}]}),
                                   {"X-API-Key": app.key, "Content-Type": "application/json"})
        assert status == 200 and len(json.loads(body)["items"]) == min(PREFIX_ITEMS, args.items), (status, body[:200])

        scenarios = {
            "hello": ("/", None),
            "notes health": ("/notes/health", None),
            "base get (notes Micro)": ("/notes/bench-note", None),
            "base put (notes Micro)": ("/notes/", put),
            "query (outside API)": (f"/__space/v0/base/v1/{app.project}/bench/query", query),
        }
        runs = {name: [] for name in scenarios}
        for _ in range(args.rounds):
            for name, (path, script) in scenarios.items():
                log(f"  {name}")
                res = load_scenario([app], lambda _s: path, args.duration, 1, script=script)[app.name]
                if res["non_2xx"]:
                    raise RuntimeError(f"{name}: {res['non_2xx']} responses were not 2xx")
                runs[name].append(res)
        for name, rs in runs.items():
            report[name] = {k: sorted(x[k] for x in rs)[len(rs) // 2] for k in rs[0]}
    finally:
        app.stop()

    log("== SQLite alone")
    report["sqlite"] = sqlite_floor(profile, tmp, args.items, max(args.duration / 2, 1),
                                    build=not args.no_build)

    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "data.json").write_text(json.dumps(report, indent=2))
    print(markdown(report))


def markdown(r):
    hello, health, get, put, q = (r["hello"], r["notes health"], r["base get (notes Micro)"],
                                  r["base put (notes Micro)"], r["query (outside API)"])
    s = r["sqlite"]
    lines = [f"Measured {r['date']} on {r['machine']}, {r['binary']} binary; `python3 bench/data.py` "
             f"(wrk -t1 -c32 -d{r['duration_s']}s, median of {r['rounds']} interleaved rounds; "
             f"{r['items']} items seeded in {r['seed_s']:.1f} s).", "",
             "| operation | micro-wasm req/s | p50 / p99 ms | SQLite alone ops/s | p50 / p99 ms |",
             "|---|---|---|---|---|",
             f"| hello Micro `GET /` | {hello['rps']:.0f} | {hello['p50_ms']:.2f} / {hello['p99_ms']:.2f} | | |",
             f"| notes Micro `GET /health` (no data call) | {health['rps']:.0f} | "
             f"{health['p50_ms']:.2f} / {health['p99_ms']:.2f} | | |"]
    for name, mw, floor in (("Base get by key (notes Micro)", get, s["get"]),
                            ("Base put (notes Micro, insert)", put, s["put"]),
                            (f"query: the 100 items of a key prefix among {r['items']} (outside API)", q, s["query"])):
        lines.append(f"| {name} | {mw['rps']:.0f} | {mw['p50_ms']:.2f} / {mw['p99_ms']:.2f} | "
                     f"{floor['ops_s']:.0f} | {floor['p50_ms']:.3f} / {floor['p99_ms']:.3f} |")
    lines += ["",
              f"- Base get vs the same Micro's `/health`: {get['rps'] / health['rps']:.0%} (aim >= 50 %)",
              f"- Base get vs the hello Micro: {get['rps'] / hello['rps']:.0%}",
              f"- Base put vs hello: {put['rps'] / hello['rps']:.0%}",
              f"- query p99: {q['p99_ms']:.1f} ms (aim < 20 ms)"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
