//! S7: the hard byte quota on each Micro's `/tmp` (`tmp = "1MiB"` here). Every way of
//! growing the tree — one big write, many small ones, write and append streams, positional
//! writes, `set_len` to a huge (sparse) length, many files, many directories — stops at the
//! quota with `insufficient-space` in the guest; the host dir never holds more; deleting,
//! truncating or overwriting gives the space back; the runtime keeps serving.
//!
//! The quota counts a regular file's length and 4096 bytes per directory, and at most
//! `tmp / 4096` names; the status endpoint's `tmp_bytes` is that exact counter.
//!
//! The error code is checked on the probe's WASI-level routes (`/pwrite`, `/write-stream`,
//! `/append-stream`) and on the std calls whose errors carry it (`set_len`, `create_dir`,
//! `File::create`). Rust std's sequential `write` goes through wasi-libc, which turns every
//! `wasi:io/streams` error into EIO without asking `filesystem-error-code`
//! (`wasip2_handle_write_error`), so `/write` and `/append` crossing the quota fail with
//! "I/O error (os error 29)" in the guest although the host reports insufficient-space; for
//! them the tests check where they fail and what reached the disk.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::{AppDir, Resp, Server, probe_app};

const MIB: u64 = 1 << 20;
const DIR_BYTES: u64 = 4096;

/// A one-Micro probe app with `tmp = "1MiB"` and a timeout roomy enough for file floods.
fn app() -> AppDir {
    probe_app("timeout = \"10s\"", "")
}

/// The Micro's `/tmp` on the host.
fn host_tmp(app: &AppDir, micro: &str) -> PathBuf {
    app.path().join(".micro-wasm/tmp").join(micro)
}

/// Bytes under `dir` as the quota counts them: file lengths plus 4096 per directory.
fn host_usage(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            total += DIR_BYTES + host_usage(&entry.path());
        } else {
            total += meta.len();
        }
    }
    total
}

/// Total length of the regular files under `dir` (what `du --apparent-size` says).
fn host_file_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            total += host_file_bytes(&entry.path());
        } else {
            total += meta.len();
        }
    }
    total
}

async fn tmp_bytes(srv: &Server, micro: usize) -> u64 {
    let status = srv.get("/__space/status").await.json();
    status["micros"][micro]["tmp_bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no tmp_bytes: {status}"))
}

/// The host dir is within the quota and the counter agrees with it exactly.
async fn assert_within_quota(srv: &Server, app: &AppDir) {
    let dir = host_tmp(app, "probe");
    let on_disk = host_usage(&dir);
    assert!(host_file_bytes(&dir) <= MIB, "host /tmp holds {on_disk}");
    assert!(on_disk <= MIB, "host /tmp counts {on_disk}");
    assert_eq!(tmp_bytes(srv, 0).await, on_disk, "counter vs host dir");
}

/// A 500 from the guest naming ENOSPC / insufficient-space; returns the body.
#[track_caller]
fn assert_no_space(r: &Resp) -> String {
    let body = r.text();
    assert_eq!(r.status, 500, "expected a failure, got: {body}");
    assert!(
        body.contains("No space")
            || body.contains("StorageFull")
            || body.contains("insufficient-space"),
        "not an ENOSPC: {body}"
    );
    body
}

/// A failure of Rust std's stream-backed `write` at the quota: EIO from wasi-libc (see the
/// module doc), or ENOSPC should wasi-libc learn to ask for the stream's error code.
#[track_caller]
fn assert_std_write_refused(r: &Resp) -> String {
    let body = r.text();
    assert_eq!(r.status, 500, "expected a failure, got: {body}");
    assert!(
        body.contains("(os error 29)") || body.contains("No space"),
        "not a refused write: {body}"
    );
    body
}

async fn ok(srv: &Server, path: &str) -> String {
    let r = srv.get(path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.text()
}

/// The runtime still serves the Micro normally.
async fn still_serving(srv: &Server) {
    assert_eq!(srv.get("/counter").await.status, 200);
    assert_eq!(
        srv.get("/read?path=/app/hello.txt").await.text(),
        "hello from /app\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_quota_one_big_write_over_the_quota_fails() {
    let app = app();
    let srv = app.serve(&[]);
    // One `descriptor.write` of 1 MiB + 1: refused whole.
    let body = assert_no_space(
        &srv.get(&format!("/pwrite?path=/tmp/big&bytes={}", MIB + 1))
            .await,
    );
    assert!(body.contains("after 0 bytes"), "{body}");
    assert_eq!(tmp_bytes(&srv, 0).await, 0);
    // std's `fs::write` of 1 MiB + 1 (in stream chunks): stops at the quota.
    assert_std_write_refused(
        &srv.get(&format!("/write?path=/tmp/big&bytes={}", MIB + 1))
            .await,
    );
    assert_within_quota(&srv, &app).await;

    // Exactly the quota fits (the partial file is truncated first), not a byte more.
    ok(&srv, &format!("/write?path=/tmp/big&bytes={MIB}")).await;
    assert_eq!(tmp_bytes(&srv, 0).await, MIB);
    assert_no_space(
        &srv.get(&format!("/pwrite?path=/tmp/big&bytes=1&offset={MIB}"))
            .await,
    );
    assert_no_space(&srv.get("/pwrite?path=/tmp/other&bytes=1").await);
    assert_std_write_refused(&srv.get("/append?path=/tmp/big&bytes=1").await);
    assert_within_quota(&srv, &app).await;

    // Deleting gives the space back.
    ok(&srv, "/rm?path=/tmp/big").await;
    assert_eq!(tmp_bytes(&srv, 0).await, 0);
    ok(&srv, &format!("/write?path=/tmp/other&bytes={MIB}")).await;
    assert_within_quota(&srv, &app).await;
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_quota_many_small_writes_stop_exactly_at_the_boundary() {
    let app = app();
    let srv = app.serve(&[]);
    // 1000-byte writes: 1048 fit in 1 MiB (1_048_000 bytes), the 1049th does not, and
    // nothing of it is written (a write over the quota writes nothing).
    let body = assert_no_space(&srv.get("/pwrite?path=/tmp/log&bytes=1000&times=2000").await);
    assert!(
        body.contains("write 1049 of 2000 failed after 1048000 bytes"),
        "{body}"
    );
    let file = host_tmp(&app, "probe").join("log");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 1_048_000);
    assert_within_quota(&srv, &app).await;

    // The same through std's appending `File::write`.
    ok(&srv, "/rm?path=/tmp/log").await;
    let body =
        assert_std_write_refused(&srv.get("/append?path=/tmp/log&bytes=1000&times=2000").await);
    assert!(
        body.contains("write 1049 of 2000 failed after 1048000 bytes"),
        "{body}"
    );
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 1_048_000);

    // The remaining 576 bytes are still usable, then it is full.
    ok(&srv, "/append?path=/tmp/log&bytes=576").await;
    assert_eq!(tmp_bytes(&srv, 0).await, MIB);
    assert_no_space(
        &srv.get(&format!("/pwrite?path=/tmp/log&bytes=1&offset={MIB}"))
            .await,
    );
    assert_within_quota(&srv, &app).await;
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_quota_append_stream_stops_at_the_quota() {
    let app = app();
    let srv = app.serve(&[]);
    let body = assert_no_space(
        &srv.get(&format!("/append-stream?path=/tmp/a&bytes={}", 2 * MIB))
            .await,
    );
    assert!(body.contains(&format!("after {MIB} bytes")), "{body}");
    assert!(body.contains("insufficient-space"), "{body}");
    assert_eq!(tmp_bytes(&srv, 0).await, MIB);
    assert_within_quota(&srv, &app).await;

    // Another stream on the full tree fails at its first write.
    let body = assert_no_space(&srv.get("/append-stream?path=/tmp/b&bytes=10").await);
    assert!(body.contains("after 0 bytes"), "{body}");

    ok(&srv, "/rm?path=/tmp/a").await;
    assert_eq!(
        ok(&srv, &format!("/append-stream?path=/tmp/b&bytes={MIB}")).await,
        format!("ok {MIB}")
    );
    assert_within_quota(&srv, &app).await;
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_quota_write_stream_stops_at_the_quota_and_overwrites_are_free() {
    let app = app();
    let srv = app.serve(&[]);
    let body = assert_no_space(
        &srv.get(&format!("/write-stream?path=/tmp/w&bytes={}", 3 * MIB))
            .await,
    );
    assert!(body.contains(&format!("after {MIB} bytes")), "{body}");
    assert_within_quota(&srv, &app).await;

    // Rewriting bytes that exist does not grow the file: allowed on a full tree.
    assert_eq!(
        ok(&srv, &format!("/write-stream?path=/tmp/w&bytes={MIB}")).await,
        format!("ok {MIB}")
    );
    ok(&srv, "/write-stream?path=/tmp/w&bytes=4096&offset=4096").await;
    // Past the end it grows: refused.
    assert_no_space(
        &srv.get(&format!("/write-stream?path=/tmp/w&bytes=1&offset={MIB}"))
            .await,
    );
    assert_eq!(tmp_bytes(&srv, 0).await, MIB);
    assert_within_quota(&srv, &app).await;
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_quota_positional_writes_count_sparse_growth() {
    let app = app();
    let srv = app.serve(&[]);
    // One byte at offset 1 MiB makes a 1 MiB + 1 (sparse) file: refused.
    let body = assert_no_space(
        &srv.get(&format!("/pwrite?path=/tmp/p&bytes=1&offset={MIB}"))
            .await,
    );
    assert!(body.contains("insufficient-space"), "{body}");
    // The last byte of the quota is fine, and counts the hole before it.
    assert_eq!(
        ok(
            &srv,
            &format!("/pwrite?path=/tmp/p&bytes=1&offset={}", MIB - 1)
        )
        .await,
        "ok 1"
    );
    assert_eq!(tmp_bytes(&srv, 0).await, MIB);
    assert_no_space(&srv.get("/pwrite?path=/tmp/q&bytes=1").await);
    // Filling the hole does not grow the file.
    assert_eq!(
        ok(&srv, "/pwrite?path=/tmp/p&bytes=65536&offset=0").await,
        "ok 65536"
    );
    assert_within_quota(&srv, &app).await;
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_quota_set_len_to_a_huge_sparse_length_fails_and_truncate_gives_back() {
    let app = app();
    let srv = app.serve(&[]);
    let body = assert_no_space(&srv.get("/set-len?path=/tmp/sparse&len=1099511627776").await);
    assert!(body.starts_with("set_len"), "{body}");
    assert!(body.contains("kind=StorageFull"), "{body}");
    assert_no_space(
        &srv.get(&format!("/set-len?path=/tmp/sparse&len={}", MIB + 1))
            .await,
    );
    assert_within_quota(&srv, &app).await;

    // A sparse file counts its whole length.
    ok(&srv, &format!("/set-len?path=/tmp/sparse&len={MIB}")).await;
    assert_eq!(tmp_bytes(&srv, 0).await, MIB);
    assert_no_space(&srv.get("/pwrite?path=/tmp/x&bytes=1").await);

    // Truncating gives the space back.
    ok(&srv, "/truncate?path=/tmp/sparse&len=1000").await;
    assert_eq!(tmp_bytes(&srv, 0).await, 1000);
    ok(&srv, &format!("/write?path=/tmp/x&bytes={}", MIB - 1000)).await;
    assert_no_space(&srv.get("/truncate?path=/tmp/sparse&len=1001").await);
    ok(&srv, "/truncate?path=/tmp/sparse&len=0").await;
    assert_eq!(tmp_bytes(&srv, 0).await, MIB - 1000);
    assert_within_quota(&srv, &app).await;
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_quota_many_files_stop_at_the_quota() {
    let app = app();
    let srv = app.serve(&[]);
    // 16 KiB files in a directory (4096): 63 fit, the 64th does not.
    let body = assert_std_write_refused(
        &srv.get("/many-files?path=/tmp/files&n=100&bytes=16384")
            .await,
    );
    assert!(body.contains("file 63 of 100 failed after 63"), "{body}");
    assert_eq!(tmp_bytes(&srv, 0).await, DIR_BYTES + 63 * 16384);
    assert_within_quota(&srv, &app).await;

    ok(&srv, "/rm-tree?path=/tmp/files").await;
    assert_eq!(tmp_bytes(&srv, 0).await, 0);

    // Empty files cost no bytes but names: at most 1 MiB / 4096 = 256 of them.
    let body = assert_no_space(&srv.get("/many-files?path=/tmp/empty&n=1000&bytes=0").await);
    assert!(body.contains("file 255 of 1000 failed after 255"), "{body}");
    assert!(body.contains("kind=StorageFull"), "{body}");
    let names = std::fs::read_dir(host_tmp(&app, "probe").join("empty"))
        .unwrap()
        .count();
    assert_eq!(names, 255);
    assert_within_quota(&srv, &app).await;

    ok(&srv, "/rm-tree?path=/tmp/empty").await;
    assert_eq!(tmp_bytes(&srv, 0).await, 0);
    ok(&srv, &format!("/write?path=/tmp/after&bytes={MIB}")).await;
    assert_within_quota(&srv, &app).await;
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_quota_directory_flood_stops_at_the_quota() {
    let app = app();
    let srv = app.serve(&[]);
    // 4096 bytes a directory: /tmp/dirs and 255 below it fill 1 MiB.
    let body = assert_no_space(&srv.get("/mkdirs?path=/tmp/dirs&n=1000").await);
    assert!(
        body.contains("mkdir 255 of 1000 failed after 255"),
        "{body}"
    );
    assert!(body.contains("kind=StorageFull"), "{body}");
    assert_eq!(tmp_bytes(&srv, 0).await, MIB);
    assert_no_space(&srv.get("/pwrite?path=/tmp/x&bytes=1").await);
    assert_within_quota(&srv, &app).await;

    ok(&srv, "/rm-tree?path=/tmp/dirs").await;
    assert_eq!(tmp_bytes(&srv, 0).await, 0);
    ok(&srv, &format!("/write?path=/tmp/x&bytes={MIB}")).await;
    assert_within_quota(&srv, &app).await;
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_quota_space_comes_back_after_rm_truncate_and_rename_over() {
    let app = app();
    let srv = app.serve(&[]);
    let half = MIB / 2;
    ok(&srv, &format!("/write?path=/tmp/a&bytes={half}")).await;
    ok(&srv, &format!("/write?path=/tmp/b&bytes={half}")).await;
    assert_no_space(&srv.get("/pwrite?path=/tmp/c&bytes=1").await);

    // Renaming a onto b drops b's bytes.
    ok(&srv, "/rename?from=/tmp/a&to=/tmp/b").await;
    assert_eq!(tmp_bytes(&srv, 0).await, half);
    ok(&srv, &format!("/write?path=/tmp/c&bytes={half}")).await;
    assert_no_space(&srv.get("/pwrite?path=/tmp/d&bytes=1").await);

    // Rewriting a file through truncation (fs::write) reuses its space.
    ok(&srv, &format!("/write?path=/tmp/c&bytes={half}")).await;
    // Truncating and deleting give space back.
    ok(&srv, "/truncate?path=/tmp/c&len=0").await;
    assert_eq!(tmp_bytes(&srv, 0).await, half);
    ok(&srv, "/rm?path=/tmp/b").await;
    assert_eq!(tmp_bytes(&srv, 0).await, 0);
    ok(&srv, &format!("/write?path=/tmp/d&bytes={MIB}")).await;
    assert_within_quota(&srv, &app).await;
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_quota_an_unlinked_file_counts_while_it_is_open() {
    let app = app();
    let srv = app.serve(&[]);
    ok(&srv, &format!("/write?path=/tmp/a&bytes={MIB}")).await;
    // The warm instance keeps /tmp/a open, then it is unlinked: its bytes are still on the
    // host's disk, so they still count.
    ok(&srv, "/hold?path=/tmp/a").await;
    ok(&srv, "/rm?path=/tmp/a").await;
    assert_eq!(tmp_bytes(&srv, 0).await, MIB);
    assert_no_space(&srv.get("/pwrite?path=/tmp/b&bytes=1").await);
    // Closing it frees them.
    assert_eq!(ok(&srv, "/release").await, "ok 1");
    assert_eq!(tmp_bytes(&srv, 0).await, 0);
    ok(&srv, &format!("/write?path=/tmp/b&bytes={MIB}")).await;
    assert_within_quota(&srv, &app).await;
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_quota_concurrent_instances_share_one_quota() {
    let app = app();
    let srv = std::sync::Arc::new(app.serve(&[]));
    // Eight requests at once (so several instances) each write 256 KiB in one call:
    // exactly four fit, whatever the interleaving.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let srv = srv.clone();
            tokio::spawn(async move {
                srv.get(&format!("/pwrite?path=/tmp/f{i}&bytes={}", MIB / 4))
                    .await
            })
        })
        .collect();
    let mut written = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == 200 {
            written += 1;
        } else {
            assert_no_space(&r);
        }
    }
    assert_eq!(written, 4);
    assert_eq!(tmp_bytes(&srv, 0).await, MIB);
    let status = srv.get("/__space/status").await.json();
    assert!(
        status["micros"][0]["cold_starts"].as_u64().unwrap() > 1,
        "not concurrent: {status}"
    );
    assert_within_quota(&srv, &app).await;
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_quota_two_micros_have_independent_quotas() {
    let app = AppDir::new(
        "[app]\nname = \"pair\"\n\n[limits]\ntimeout = \"10s\"\ntmp = \"1MiB\"\n\n\
         [[micro]]\nname = \"alpha\"\ncomponent = '{probe}'\nsrc = \"code\"\nprimary = true\n\n\
         [[micro]]\nname = \"beta\"\ncomponent = '{probe}'\nsrc = \"code\"\n",
    );
    app.write("code/hello.txt", "hello from /app\n");
    let srv = app.serve(&[]);
    ok(&srv, &format!("/write?path=/tmp/a&bytes={MIB}")).await;
    assert_no_space(&srv.get("/pwrite?path=/tmp/more&bytes=1").await);
    // Beta's quota is untouched by alpha's full /tmp.
    ok(&srv, &format!("/beta/write?path=/tmp/b&bytes={MIB}")).await;
    assert_no_space(&srv.get("/beta/pwrite?path=/tmp/more&bytes=1").await);
    assert_eq!(tmp_bytes(&srv, 0).await, MIB);
    assert_eq!(tmp_bytes(&srv, 1).await, MIB);
    ok(&srv, "/rm?path=/tmp/a").await;
    assert_eq!(tmp_bytes(&srv, 0).await, 0);
    assert_eq!(tmp_bytes(&srv, 1).await, MIB);
    for micro in ["alpha", "beta"] {
        assert!(host_file_bytes(&host_tmp(&app, micro)) <= MIB);
    }
    assert_eq!(srv.get("/counter").await.status, 200);
    assert_eq!(srv.get("/beta/counter").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn s7_quota_is_reset_when_tmp_is_wiped_on_sleep() {
    let app = probe_app("timeout = \"10s\"\nsleep_after = \"300ms\"", "");
    let srv = app.serve(&[]);
    ok(&srv, &format!("/write?path=/tmp/a&bytes={MIB}")).await;
    assert_eq!(tmp_bytes(&srv, 0).await, MIB);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = srv.get("/__space/status").await.json();
        if status["micros"][0]["awake"] == false {
            assert_eq!(status["micros"][0]["tmp_bytes"], 0, "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "never slept: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(host_usage(&host_tmp(&app, "probe")), 0);
    // Awake again with the whole quota.
    ok(&srv, &format!("/write?path=/tmp/b&bytes={MIB}")).await;
    assert_no_space(&srv.get("/pwrite?path=/tmp/c&bytes=1").await);
    assert_within_quota(&srv, &app).await;
}
