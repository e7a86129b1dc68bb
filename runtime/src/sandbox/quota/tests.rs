//! Unit tests of the accounting (the guest-facing behaviour is in
//! tests/conformance/tmp_quota.rs).

use std::sync::Arc;

use super::stream::{Mode, write_counted};
use super::*;

fn quota(limit: u64) -> (tempfile::TempDir, Arc<TmpQuota>) {
    let dir = tempfile::tempdir().unwrap();
    let q = Arc::new(TmpQuota::new(limit, dir.path()));
    (dir, q)
}

#[tokio::test]
async fn charges_up_to_the_limit_and_not_a_byte_more() {
    let (_d, q) = quota(1000);
    let op = q.begin().await;
    op.charge(600).unwrap();
    op.charge(400).unwrap();
    assert!(op.charge(1).is_err());
    // A refused charge leaves nothing behind, and zero always fits.
    op.charge(0).unwrap();
    assert_eq!(q.used(), 1000);
    op.release(1);
    op.charge(1).unwrap();
    assert!(op.charge(u64::MAX).is_err());
    op.finish();
    assert_eq!(q.used(), 1000);
}

#[tokio::test]
async fn settle_keeps_only_the_real_change() {
    let (_d, q) = quota(1000);
    let op = q.begin().await;
    // Reserved 500 for a write that grew the file by 200 (a short write).
    op.charge(500).unwrap();
    op.settle(500, 100, 300);
    assert_eq!(q.used(), 200);
    // A failed write: nothing changed.
    op.charge(300).unwrap();
    op.settle(300, 300, 300);
    assert_eq!(q.used(), 200);
    // A shrink from 300 to 50 with nothing reserved.
    op.settle(0, 300, 50);
    assert_eq!(q.used(), 0);
    op.finish();
}

#[tokio::test]
async fn names_are_capped_and_inodes_cost_a_block() {
    let (_d, q) = quota(64 * 4096);
    assert_eq!(q.max_entries(), 64);
    let op = q.begin().await;
    for _ in 0..64 {
        op.add_entry().unwrap();
    }
    assert!(op.add_entry().is_err());
    assert_eq!(q.entries(), 64);
    op.remove_entry();
    op.add_inode().unwrap();
    assert_eq!(q.used(), INODE_BYTES);
    op.remove_inode();
    assert_eq!((q.used(), q.entries()), (0, 63));
    op.finish();

    // A tiny quota still allows a few names, and an inode that does not fit in bytes
    // takes no name either.
    let (_d, q) = quota(100);
    assert_eq!(q.max_entries(), 16);
    let op = q.begin().await;
    assert!(op.add_inode().is_err());
    assert_eq!((q.used(), q.entries()), (0, 0));
    op.finish();
}

#[tokio::test]
async fn an_unlinked_file_counts_until_its_last_handle_is_dropped() {
    let (d, q) = quota(1000);
    let file = Arc::new(std::fs::File::create(d.path().join("f")).unwrap());
    let other = Arc::new(std::fs::File::create(d.path().join("g")).unwrap());
    let op = q.begin().await;
    op.charge(700).unwrap();
    op.register((1, 1), &file);
    op.register((2, 2), &other);
    op.forget_file((1, 1), 700);
    // Still open: still counted, and growth through the open handle is tracked.
    assert_eq!(q.used(), 700);
    op.charge(100).unwrap();
    op.note_len(&file, 800);
    op.finish();
    assert_eq!(q.used(), 800);
    let clone = file.clone();
    drop(file);
    assert_eq!(q.used(), 800);
    drop(clone);
    assert_eq!(q.used(), 0);

    // A file nobody holds is released at once.
    let op = q.begin().await;
    op.charge(300).unwrap();
    op.forget_file((3, 3), 300);
    assert_eq!(q.used(), 0);
    op.finish();
}

#[tokio::test]
async fn writes_reserve_first_and_settle_to_the_real_growth() {
    let (d, q) = quota(10_000);
    let path = d.path().join("f");
    let file = Arc::new(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap(),
    );
    let write = |buf: Vec<u8>, mode| {
        let (q, file) = (q.clone(), file.clone());
        async move {
            let op = q.begin().await;
            write_counted(op, &file, &buf, mode, true)
        }
    };
    assert_eq!(write(vec![1; 6000], Mode::Append).await.unwrap(), 6000);
    assert_eq!(q.used(), 6000);
    // Overwriting is free; growing past the end counts only the growth.
    write(vec![2; 6000], Mode::At(0)).await.unwrap();
    assert_eq!(q.used(), 6000);
    write(vec![3; 4000], Mode::At(5000)).await.unwrap();
    assert_eq!(q.used(), 9000);
    // Over the quota: refused whole, nothing written, nothing kept.
    let e = write(vec![4; 1001], Mode::Append).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
    assert!(e.get_ref().unwrap().is::<QuotaExceeded>());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 9000);
    assert_eq!(q.used(), 9000);
    // A hole counts in full.
    assert!(write(vec![5], Mode::At(10_000)).await.is_err());
    write(vec![5], Mode::At(9_999)).await.unwrap();
    assert_eq!(q.used(), 10_000);
    assert!(!q.dirty.load(Ordering::Acquire));
}

#[tokio::test]
async fn an_unfinished_operation_makes_the_next_one_recount() {
    let (d, q) = quota(1 << 20);
    std::fs::write(d.path().join("a"), vec![0; 1234]).unwrap();
    std::fs::create_dir(d.path().join("sub")).unwrap();
    std::fs::write(d.path().join("sub/b"), vec![0; 10]).unwrap();
    {
        let op = q.begin().await;
        op.charge(99).unwrap();
        // Dropped without `finish`, as when a host call is cancelled mid-way.
    }
    assert!(q.dirty.load(Ordering::Acquire));
    let op = q.begin().await;
    op.finish();
    assert_eq!(q.used(), 1234 + INODE_BYTES + 10);
    assert_eq!(q.entries(), 3);

    // Reset (after a wipe) zeroes the counters and recounts at the next operation.
    std::fs::remove_dir_all(d.path().join("sub")).unwrap();
    q.reset();
    assert_eq!((q.used(), q.entries()), (0, 0));
    q.begin().await.finish();
    assert_eq!((q.used(), q.entries()), (1234, 1));
}

#[tokio::test]
async fn operations_of_concurrent_instances_never_pass_the_limit() {
    let (_d, q) = quota(10_000);
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let q = q.clone();
            tokio::spawn(async move {
                let op = q.begin().await;
                let ok = op.charge(300).is_ok();
                op.finish();
                ok
            })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        granted += t.await.unwrap() as u64;
    }
    assert_eq!(granted, 33);
    assert_eq!(q.used(), 9900);
}

#[test]
fn measure_counts_files_once_and_directories_and_links_a_block() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a"), vec![0; 100]).unwrap();
    std::fs::create_dir_all(d.path().join("x/y")).unwrap();
    std::fs::write(d.path().join("x/y/b"), vec![0; 50]).unwrap();
    let (bytes, entries) = measure(d.path()).unwrap();
    assert_eq!((bytes, entries), (150 + 2 * INODE_BYTES, 4));
    #[cfg(unix)]
    {
        std::fs::hard_link(d.path().join("a"), d.path().join("a2")).unwrap();
        std::os::unix::fs::symlink("a", d.path().join("s")).unwrap();
        let (bytes, entries) = measure(d.path()).unwrap();
        assert_eq!((bytes, entries), (150 + 3 * INODE_BYTES, 6));
    }
}
