#!/usr/bin/env python3
"""Deta Base on PostgreSQL and on several nodes: what the shared store costs and
what a second node gives, in one run with rounds interleaved, medians reported.

Base put and get by key through a Rust Micro (the notes example: `POST /notes/` inserts a note,
`GET /notes/<key>` gets one) on three set-ups, all served by the same binary at once:

  (a) one node, the embedded store (the state dir);
  (b) one node, the PostgreSQL store (`--store`);
  (c) two nodes on that same PostgreSQL database (node (b) and a second one with a state dir of
      its own), the load split evenly between them; the figure is the sum of both.

Every set-up gets the same total load, `wrk -t1 -c32` (two `-c16` for two nodes, at once).
On a machine with few cores the two nodes, the database and wrk share them: expect little
gain from the second node there.

Usage (from the repo root):
  python3 bench/nodes.py [--binary target/release/micro-wasm] [--rounds 3] [--duration 8]
                         [--store postgres://...] [--quick] [--no-build]

It never builds micro-wasm: pass --binary (default target/release/micro-wasm, the only build
whose figures mean anything). Without --store it starts a throwaway PostgreSQL with
tests/pg.sh and stops it at the end. It builds the hello and notes guests (guest-examples,
release) unless --no-build. Needs wrk. Prints a Markdown report and writes the figures to
bench/results/nodes.json. Loopback only; every load is bounded in time.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import GUESTS, ROOT, Server, data_bench_args, free_port, log, median_of, wrk  # noqa: E402

CONNS = 32  # wrk connections per set-up, split between its nodes


class Node(Server):
    """`micro-wasm run` of hello (at /) and notes (at /notes/) with `store_args`."""

    def __init__(self, binary, app_dir, state, store_args):
        port = free_port()
        super().__init__("node", [binary, "run", app_dir / "app.toml", "--listen", f"127.0.0.1:{port}",
                                  "--state-dir", state, *store_args], port, env={"MICRO_WASM_LOG": "warn"})


def write_app(app_dir):
    (app_dir / "code").mkdir(parents=True, exist_ok=True)
    (app_dir / "app.toml").write_text(
        '[app]\nname = "bench-nodes"\n\n'
        f'[[micro]]\nname = "hello"\nprimary = true\nsrc = "code"\ncomponent = \'{GUESTS / "hello.wasm"}\'\n\n'
        f'[[micro]]\nname = "notes"\npath = "/notes"\nsrc = "code"\ncomponent = \'{GUESTS / "notes.wasm"}\'\n')


def pg_start():
    out = subprocess.run(["bash", ROOT / "tests" / "pg.sh", "start"], capture_output=True, text=True,
                         check=True).stdout
    env = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines()
               if line.startswith("export "))
    return env["MICRO_WASM_TEST_PG"], env["MICRO_WASM_TEST_PG_DIR"]


def load(nodes, path, duration, script):
    """`wrk` on every node at once, CONNS connections in all: summed req/s, the worst node's
    p50 and p99, summed non-2xx."""
    results = [None] * len(nodes)

    def one(i, node):
        results[i] = wrk(node.addr, path, duration, conns=CONNS // len(nodes), script=script)

    threads = [threading.Thread(target=one, args=(i, n)) for i, n in enumerate(nodes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"rps": sum(r["rps"] for r in results),
            "p50_ms": max(r["p50_ms"] for r in results),
            "p99_ms": max(r["p99_ms"] for r in results),
            "non_2xx": sum(r["non_2xx"] for r in results)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", help="a PostgreSQL URL (default: a throwaway server from tests/pg.sh)")
    args, binary, profile = data_bench_args(ap)

    tmp = Path(tempfile.mkdtemp(prefix="mw-bench-nodes-"))
    write_app(tmp / "app")
    pg_dir = None
    url = args.store
    if url is None:
        url, pg_dir = pg_start()
    report = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "binary": profile, "rounds": args.rounds, "duration_s": args.duration}
    nodes = []
    try:
        embedded = Node(binary, tmp / "app", tmp / "embedded", [])
        nodes.append(embedded)
        pg_a = Node(binary, tmp / "app", tmp / "pg-a", ["--store", url])
        nodes.append(pg_a)
        pg_b = Node(binary, tmp / "app", tmp / "pg-b", ["--store", url])
        nodes.append(pg_b)
        setups = {"embedded, 1 node": [embedded], "PostgreSQL, 1 node": [pg_a],
                  "PostgreSQL, 2 nodes": [pg_a, pg_b]}
        # The note every get reads: made through the first node of each set-up, read by all.
        for setup in setups.values():
            status, body = setup[0].request("POST", "/notes/", json.dumps({"key": "bench-note", "text": "buy milk"}),
                                            {"Content-Type": "application/json"})
            assert status in (201, 409), (status, body)
            for node in setup:
                assert node.request("GET", "/notes/bench-note")[0] == 200
        put = tmp / "put.lua"
        put.write_text('wrk.method = "POST"\nwrk.body = \'{"text":"buy milk"}\'\n'
                       'wrk.headers["Content-Type"] = "application/json"\n')
        scenarios = {"base get (notes Micro)": ("/notes/bench-note", None),
                     "base put (notes Micro)": ("/notes/", str(put))}
        runs = {(s, o): [] for s in setups for o in scenarios}
        for r in range(args.rounds):
            for op, (path, script) in scenarios.items():
                for name, setup in setups.items():
                    res = load(setup, path, args.duration, script)
                    log(f"  round {r + 1} {op}, {name}: {res['rps']:.0f} req/s "
                        f"p50 {res['p50_ms']:.2f} ms p99 {res['p99_ms']:.2f} ms")
                    if res["non_2xx"]:
                        raise RuntimeError(f"{op}, {name}: {res['non_2xx']} responses were not 2xx")
                    runs[(name, op)].append(res)
        report["figures"] = [{"setup": s, "operation": o, **median_of(rs)} for (s, o), rs in runs.items()]
    finally:
        for node in nodes:
            node.stop()
        if pg_dir:
            subprocess.run(["bash", ROOT / "tests" / "pg.sh", "stop", pg_dir], check=False)

    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "nodes.json").write_text(json.dumps(report, indent=2))
    print(markdown(report))


def markdown(r):
    lines = [f"Measured {r['date']} on {r['machine']}, {r['binary']} binary; `python3 bench/nodes.py` "
             f"(wrk -t1, {CONNS} connections per set-up, {r['duration_s']} s, median of {r['rounds']} "
             "interleaved rounds).", "",
             "| operation | set-up | req/s | p50 / p99 ms | vs embedded |", "|---|---|---|---|---|"]
    base = {f["operation"]: f["rps"] for f in r["figures"] if f["setup"] == "embedded, 1 node"}
    for f in r["figures"]:
        lines.append(f"| {f['operation']} | {f['setup']} | {f['rps']:.0f} | {f['p50_ms']:.2f} / "
                     f"{f['p99_ms']:.2f} | {f['rps'] / base[f['operation']]:.0%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
