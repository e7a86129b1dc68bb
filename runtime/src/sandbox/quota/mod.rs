//! The hard byte quota on a Micro's `/tmp` (S7): the host counts every byte the Micro's
//! instances put there and refuses the operation that would cross `[limits] tmp` with
//! `error-code::insufficient-space` (ENOSPC), before anything reaches the disk.
//!
//! # How
//!
//! Wasmtime 48 has no file-system hook, and an OS quota (tmpfs `size=`, loop devices) needs
//! privileges and is not portable. So the linker *shadows* `wasi:filesystem/types`
//! ([`add_to_linker`]): our implementation (`host`) forwards every method to
//! wasmtime-wasi's own `WasiFilesystemCtxView` (the sandboxed path resolution, permissions
//! and error mapping stay Wasmtime's) and, for descriptors of the read-write preopen — only
//! `/tmp` is read-write; `/app` is read-only, so its descriptors are forwarded untouched —
//! accounts for every way of growing or shrinking the tree:
//!
//! | operation | accounting |
//! |---|---|
//! | `write`, `write-via-stream`, `append-via-stream` | growth past the file's current length is reserved before the host write; the write runs in our code (the streams are our own `stream::QuotaStream`) |
//! | `set-size` | growth reserved first; shrinking releases |
//! | `open-at` with `create` / `truncate` | a new entry is reserved; truncation releases the old length |
//! | `create-directory-at`, `symlink-at`, `link-at` | one entry (plus [`INODE_BYTES`] for a directory or symlink) |
//! | `unlink-file-at`, `remove-directory-at`, `rename-at` over an existing name | releases what the removed object held |
//!
//! The descriptor and stream types wasmtime-wasi uses are public enough for this
//! (`Descriptor::{File, Dir}` with their `Arc<std::fs::File>`, the host traits on
//! `WasiFilesystemCtxView`); only its file output stream is private, so writes are done here.
//!
//! # What is counted
//!
//! * A regular file counts its apparent length (`st_size`), so a sparse file counts in full.
//!   Hard links share one inode and count once.
//! * A directory or symlink counts [`INODE_BYTES`]; and at most `tmp / 4096` (at least 16)
//!   names may exist at all, so floods of empty files, links or directories hit ENOSPC too.
//! * A file that is unlinked while a descriptor or stream still holds it open keeps counting
//!   until the last holder is dropped (its bytes are still on the host's disk); see
//!   `Handles`.
//!
//! # What the guest sees
//!
//! `insufficient-space` wherever WASI carries an error code: from `write`, `set-size`,
//! `open-at`, `create-directory-at`, `symlink-at`, `link-at`, and from
//! `filesystem-error-code` for a failed stream write (the stream then closes, as after any
//! failed write). Rust std shows it as `StorageFull` / "No space left on device" for
//! `set_len`, `write_at`, `create_dir`, `File::create`. One gap is in the guest's libc, not
//! here: wasi-libc (behind Rust std's `File::write` / `fs::write`) reports every
//! `wasi:io/streams` write error as EIO without asking `filesystem-error-code`, so those
//! calls fail at the same byte but with "I/O error".
//!
//! # Exactness
//!
//! All mutations of one Micro's `/tmp` (from all its concurrent instances) are serialised by
//! one async lock ([`TmpQuota::begin`] → [`Op`]); inside it an operation measures the length
//! before, reserves the worst-case growth, does the host call, measures again and settles
//! the reservation to the real change. So the counter is exact, never transiently lets two
//! writers past the limit, and a failed or short write gives back what it did not use.
//! Writes are all-or-nothing per call: the write that would cross the quota writes nothing.
//! If an operation is cancelled between the host call and its accounting (a timeout drops
//! the future) the [`Op`] is dropped unfinished and marks the counter dirty; the next
//! operation then recounts the tree from the host dir before going on. Sleep wipes `/tmp`
//! and [`TmpQuota::reset`]s the counter.

mod host;
mod stream;

pub use host::{TmpFsView, add_to_linker};

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

/// What a directory or a symlink counts against the quota (one block).
pub const INODE_BYTES: u64 = 4096;

/// The fewest names a `/tmp` may hold, whatever its byte quota.
const MIN_ENTRIES: u64 = 16;

/// A file's identity on the host (wasmtime-wasi's metadata hash of device and inode).
pub type FileId = (u64, u64);

/// The byte quota of one Micro's `/tmp`, shared by all its instances (one `Arc` per Micro,
/// a clone in every store).
pub struct TmpQuota {
    limit: u64,
    max_entries: u64,
    /// The host dir behind `/tmp`, walked when the counter must be rebuilt.
    dir: PathBuf,
    /// Bytes counted, including reservations of the operation in progress.
    bytes: AtomicU64,
    /// Names (files, directories, symlinks, hard links) under `/tmp`.
    entries: AtomicU64,
    /// Set when the counters may be wrong; the next operation recounts.
    dirty: AtomicBool,
    /// Serialises the mutating operations of all the Micro's instances.
    ops: Arc<tokio::sync::Mutex<()>>,
    handles: Mutex<Handles>,
}

/// Open files under `/tmp` and unlinked files that are still open.
///
/// Every `open-at` of a regular file registers the file's `Arc<std::fs::File>` (shared by
/// the descriptor, its clones and every stream made from it) by identity. When the last
/// name of a file goes, the bytes are released at once if no registered handle is alive,
/// else the file becomes an [`Orphan`] that keeps counting until all its handles are gone.
#[derive(Default)]
struct Handles {
    open: Vec<(FileId, Weak<std::fs::File>)>,
    orphans: Vec<Orphan>,
}

/// A file without a name that is still open somewhere.
struct Orphan {
    files: Vec<Weak<std::fs::File>>,
    bytes: u64,
}

impl Orphan {
    fn alive(&self) -> bool {
        self.files.iter().any(|w| w.strong_count() > 0)
    }
}

/// The error behind an `insufficient-space` caused by the quota.
#[derive(Debug)]
pub struct QuotaExceeded {
    pub limit: u64,
}

impl fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/tmp quota of {} bytes exceeded", self.limit)
    }
}

impl std::error::Error for QuotaExceeded {}

impl TmpQuota {
    /// A quota of `limit` bytes over the (empty) host dir `dir`.
    pub fn new(limit: u64, dir: impl Into<PathBuf>) -> TmpQuota {
        TmpQuota {
            limit,
            max_entries: (limit / 4096).max(MIN_ENTRIES),
            dir: dir.into(),
            bytes: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
            ops: Arc::new(tokio::sync::Mutex::new(())),
            handles: Mutex::new(Handles::default()),
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn max_entries(&self) -> u64 {
        self.max_entries
    }

    /// Bytes counted now (the exact total once no operation is in progress).
    pub fn used(&self) -> u64 {
        self.sweep();
        self.bytes.load(Ordering::Acquire)
    }

    /// Names counted now.
    pub fn entries(&self) -> u64 {
        self.entries.load(Ordering::Acquire)
    }

    /// After `/tmp` was wiped (S11): nothing is counted. The next operation recounts the
    /// host dir anyway, in case a straggling write of a dropped instance still ran.
    pub fn reset(&self) {
        let mut h = self.handles.lock().unwrap();
        h.open.clear();
        h.orphans.clear();
        self.bytes.store(0, Ordering::Release);
        self.entries.store(0, Ordering::Release);
        self.dirty.store(true, Ordering::Release);
    }

    /// The error a write over the quota fails with; the guest sees `insufficient-space`.
    pub fn exceeded(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::StorageFull,
            QuotaExceeded { limit: self.limit },
        )
    }

    /// Starts a mutating operation: waits for the Micro's other operations, and rebuilds
    /// the counters first if they are dirty.
    pub async fn begin(self: &Arc<Self>) -> Op {
        let guard = self.ops.clone().lock_owned().await;
        if self.dirty.swap(false, Ordering::AcqRel) {
            let dir = self.dir.clone();
            let walked = wasmtime_wasi::runtime::spawn_blocking(move || measure(&dir)).await;
            self.recounted(walked);
        }
        self.sweep();
        Op {
            quota: self.clone(),
            _guard: guard,
            done: false,
        }
    }

    fn recounted(&self, walked: io::Result<(u64, u64)>) {
        match walked {
            Ok((bytes, entries)) => {
                let orphans: u64 = self
                    .handles
                    .lock()
                    .unwrap()
                    .orphans
                    .iter()
                    .map(|o| o.bytes)
                    .sum();
                self.bytes.store(bytes + orphans, Ordering::Release);
                self.entries.store(entries, Ordering::Release);
            }
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), "recounting /tmp: {e}");
                self.dirty.store(true, Ordering::Release);
            }
        }
    }

    /// Releases the bytes of orphans whose last handle is gone.
    fn sweep(&self) {
        let mut h = self.handles.lock().unwrap();
        h.orphans.retain(|o| {
            let alive = o.alive();
            if !alive {
                sub(&self.bytes, o.bytes);
            }
            alive
        });
    }
}

/// One mutating operation in progress; holds the Micro's operation lock. Dropping it
/// without [`Op::finish`] (a cancelled or panicked operation) marks the counters dirty.
pub struct Op {
    quota: Arc<TmpQuota>,
    _guard: OwnedMutexGuard<()>,
    done: bool,
}

impl Op {
    pub fn quota(&self) -> &TmpQuota {
        &self.quota
    }

    /// Reserves `n` bytes, or fails when they do not fit.
    pub fn charge(&self, n: u64) -> Result<(), QuotaExceeded> {
        if n == 0 || try_add(&self.quota.bytes, n, self.quota.limit) {
            Ok(())
        } else {
            Err(QuotaExceeded {
                limit: self.quota.limit,
            })
        }
    }

    pub fn release(&self, n: u64) {
        sub(&self.quota.bytes, n);
    }

    /// Turns a reservation of `reserved` bytes into the real change of a file from `old`
    /// to `new` bytes.
    pub fn settle(&self, reserved: u64, old: u64, new: u64) {
        self.quota
            .bytes
            .fetch_add(new.saturating_sub(old), Ordering::AcqRel);
        self.release(reserved + old.saturating_sub(new));
    }

    /// Reserves one name, or fails when the tree holds the most names allowed.
    pub fn add_entry(&self) -> Result<(), QuotaExceeded> {
        if try_add(&self.quota.entries, 1, self.quota.max_entries) {
            Ok(())
        } else {
            Err(QuotaExceeded {
                limit: self.quota.limit,
            })
        }
    }

    pub fn remove_entry(&self) {
        sub(&self.quota.entries, 1);
    }

    /// Reserves a new directory or symlink: one name and [`INODE_BYTES`].
    pub fn add_inode(&self) -> Result<(), QuotaExceeded> {
        self.add_entry()?;
        self.charge(INODE_BYTES)
            .inspect_err(|_| self.remove_entry())
    }

    pub fn remove_inode(&self) {
        self.remove_entry();
        self.release(INODE_BYTES);
    }

    /// Records an open regular file under `/tmp`.
    pub fn register(&self, id: FileId, file: &Arc<std::fs::File>) {
        let mut h = self.quota.handles.lock().unwrap();
        h.open.retain(|(_, w)| w.strong_count() > 0);
        h.open.push((id, Arc::downgrade(file)));
    }

    /// The last name of the file `id`, holding `bytes`, is gone: release them now, or when
    /// the last open handle of the file is dropped.
    pub fn forget_file(&self, id: FileId, bytes: u64) {
        let mut h = self.quota.handles.lock().unwrap();
        let files: Vec<_> = h
            .open
            .iter()
            .filter(|(i, w)| *i == id && w.strong_count() > 0)
            .map(|(_, w)| w.clone())
            .collect();
        if files.is_empty() {
            drop(h);
            self.release(bytes);
        } else {
            h.orphans.push(Orphan { files, bytes });
        }
    }

    /// `file` is now `len` bytes long: keeps an orphan's count up to date.
    pub fn note_len(&self, file: &Arc<std::fs::File>, len: u64) {
        let mut h = self.quota.handles.lock().unwrap();
        for o in &mut h.orphans {
            if o.files
                .iter()
                .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(file)))
            {
                o.bytes = len;
            }
        }
    }

    /// The counters may be off after this operation (an outcome it could not observe):
    /// the next operation recounts the host dir.
    pub fn recount_later(&self) {
        self.quota.dirty.store(true, Ordering::Release);
    }

    /// The operation's accounting is complete.
    pub fn finish(mut self) {
        self.done = true;
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        if !self.done {
            self.quota.dirty.store(true, Ordering::Release);
        }
    }
}

/// Adds `n` to `counter` if the total stays within `cap`.
fn try_add(counter: &AtomicU64, n: u64, cap: u64) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
            u.checked_add(n).filter(|&t| t <= cap)
        })
        .is_ok()
}

fn sub(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
        Some(u.saturating_sub(n))
    });
}

/// Bytes and names under `dir` as the quota counts them (the root itself excluded).
pub fn measure(dir: &Path) -> io::Result<(u64, u64)> {
    let mut bytes = 0u64;
    let mut entries = 0u64;
    #[cfg(unix)]
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = std::fs::symlink_metadata(entry.path())?;
            entries += 1;
            if meta.is_dir() {
                bytes += INODE_BYTES;
                stack.push(entry.path());
            } else if meta.is_file() {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::MetadataExt;
                    if !seen.insert((meta.dev(), meta.ino())) {
                        continue;
                    }
                }
                bytes += meta.len();
            } else {
                bytes += INODE_BYTES;
            }
        }
    }
    Ok((bytes, entries))
}

#[cfg(test)]
mod tests;
