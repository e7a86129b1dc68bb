//! The floor for `bench/data.py`: the Base operations it measures through micro-wasm, done
//! directly on SQLite in one process, with the data service's table, journal mode and
//! durability (`base_items`, WAL, `synchronous=FULL`, one transaction per write) and its JSON
//! work (items are parsed and written as JSON), but no HTTP, no Micro and no validation.
//!
//! Usage: `data_sqlite DIR [ITEMS] [SECONDS]` (defaults 100000 and 2). Seeds ITEMS items
//! `k000000`, `k000001`, ... into DIR/bench.sqlite3, then runs each operation for SECONDS
//! and prints one JSON object: for `put` (a new item, committed), `get` (an item by key) and
//! `query` (the 100 items of a key prefix), operations per second and p50 / p99 in ms.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

const BASE: &str = "bench";

fn main() -> rusqlite::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .expect("usage: data_sqlite DIR [ITEMS] [SECONDS]"),
    );
    let items: usize = args.next().map_or(100_000, |n| n.parse().expect("ITEMS"));
    let seconds: f64 = args.next().map_or(2.0, |s| s.parse().expect("SECONDS"));
    let run_for = Duration::from_secs_f64(seconds);

    let conn = Connection::open(dir.join("bench.sqlite3"))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS base_items (
             base TEXT NOT NULL, key TEXT NOT NULL, expires INTEGER, value TEXT NOT NULL,
             UNIQUE (base, key));",
    )?;
    seed(&conn, items)?;

    let mut put = conn.prepare(
        "INSERT INTO base_items (base, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (base, key) DO UPDATE SET value = excluded.value",
    )?;
    let mut n = 0u64;
    let put_stats = measure(run_for, || {
        n += 1;
        let key = format!("p{n:09}");
        let item = json!({ "key": key, "text": "buy milk", "created": "2026-01-01T00:00:00Z" });
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        put.execute(params![BASE, key, item.to_string()]).unwrap();
        conn.execute_batch("COMMIT").unwrap();
    });

    let mut get = conn.prepare("SELECT value FROM base_items WHERE base = ?1 AND key = ?2")?;
    let mut i = 0usize;
    let get_stats = measure(run_for, || {
        i = (i + 7919) % items;
        let value: Option<String> = get
            .query_row(params![BASE, format!("k{i:06}")], |row| row.get(0))
            .optional()
            .unwrap();
        let item: Value = serde_json::from_str(&value.expect("seeded")).unwrap();
        std::hint::black_box(item.to_string());
    });

    let mut query = conn.prepare(
        "SELECT value FROM base_items WHERE base = ?1 AND key >= ?2 AND key < ?3
         ORDER BY key LIMIT 100",
    )?;
    let prefixes = (items / 100).max(1);
    let mut p = 0usize;
    let query_stats = measure(run_for, || {
        p = (p + 31) % prefixes;
        let (from, to) = (format!("k{p:04}"), format!("k{p:04}\u{10FFFF}"));
        let page: Vec<Value> = query
            .query_map(params![BASE, from, to], |row| row.get::<_, String>(0))
            .unwrap()
            .map(|v| serde_json::from_str(&v.unwrap()).unwrap())
            .collect();
        assert_eq!(page.len(), 100.min(items));
        std::hint::black_box(json!({ "items": page }).to_string());
    });

    println!(
        "{}",
        json!({ "items": items, "put": put_stats, "get": get_stats, "query": query_stats })
    );
    Ok(())
}

/// `items` items `k000000`..., in one transaction (skipped when they are there already).
fn seed(conn: &Connection, items: usize) -> rusqlite::Result<()> {
    let have: i64 = conn.query_row(
        "SELECT count(*) FROM base_items WHERE base = ?1 AND key LIKE 'k%'",
        [BASE],
        |row| row.get(0),
    )?;
    if usize::try_from(have).unwrap_or(0) >= items {
        return Ok(());
    }
    conn.execute_batch("BEGIN")?;
    {
        let mut put = conn
            .prepare("INSERT OR REPLACE INTO base_items (base, key, value) VALUES (?1, ?2, ?3)")?;
        for i in 0..items {
            let key = format!("k{i:06}");
            let item = json!({ "key": key, "n": i, "text": "an item of the benchmark" });
            put.execute(params![BASE, key, item.to_string()])?;
        }
    }
    conn.execute_batch("COMMIT")
}

/// Runs `op` for `run_for`; operations per second and the p50 / p99 latency in ms.
fn measure(run_for: Duration, mut op: impl FnMut()) -> Value {
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < run_for {
        let t = Instant::now();
        op();
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let total = start.elapsed().as_secs_f64();
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    json!({ "ops_s": samples.len() as f64 / total, "p50_ms": at(0.5), "p99_ms": at(0.99) })
}
