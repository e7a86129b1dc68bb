//! Host file descriptors held by guests. Every file or directory a guest opens, every TCP
//! socket it creates, every outbound HTTP connection it has open and every SQLite database
//! it opens is a descriptor of the runtime's own process, kept for as long as the guest
//! holds it, and a warm instance holds it between requests. Enough of them and `accept()`
//! fails with EMFILE: the front door, the state dir, the logs and the data store stop
//! working for every Micro.
//!
//! So each one is counted by an [`FdGuard`] against two caps: `[limits] open_files` per
//! instance and `micro_open_files` over all instances of a Micro, warm or running
//! ([`FdBudget`]). At start the soft `RLIMIT_NOFILE` is raised to the hard limit
//! ([`raise_nofile_limit`]) and each Micro's cap is lowered, if need be, to its share of
//! what is left after a reserve for the front door's connections and the runtime's own files
//! ([`micro_share`]), so all Micros together cannot take the runtime's descriptors.
//!
//! A guest past a cap gets an error and keeps running: `quota` from `open-at`
//! (`wasi:filesystem` has no EMFILE; wasi-libc shows it as EDQUOT), `new-socket-limit` from
//! `create-tcp-socket` (the EMFILE of `wasi:sockets`), `connection-limit-reached` from
//! `wasi:http` and `too-large` from `micro:space/sqlite`. Descriptors in the resource table
//! are tracked by [`Fds`]: a file by a weak reference to its host handle (its streams share
//! the handle, so it counts until the last one is gone), a socket by its table entry (its
//! streams are children of the entry).
//!
//! It counts and refuses; it must not open or close anything itself.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use wasmtime::component::{Resource, ResourceTable};

/// Descriptors the runtime keeps for itself besides the front door's connections: stdio, the
/// listener, the epoch ticker, logs, the state dir, the data store, the compile cache, the
/// Micros' mounted dirs and their SQLite databases' files.
pub const RUNTIME_RESERVE: u64 = 256;

/// The smallest cap a Micro gets, however low the process's limit: enough to answer with
/// a few files and outbound requests open.
pub const MIN_MICRO_SHARE: usize = 16;

/// One Micro's caps and the descriptors its instances hold now.
#[derive(Debug)]
pub struct FdBudget {
    micro: Arc<str>,
    per_instance: usize,
    per_micro: usize,
    used: AtomicUsize,
}

impl FdBudget {
    pub fn new(micro: &str, per_instance: usize, per_micro: usize) -> FdBudget {
        FdBudget {
            micro: micro.into(),
            per_instance,
            per_micro,
            used: AtomicUsize::new(0),
        }
    }

    /// Descriptors held by all the Micro's instances now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The cap over all the Micro's instances.
    pub fn per_micro(&self) -> usize {
        self.per_micro
    }
}

/// Which cap refused a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdLimit {
    Instance(usize),
    Micro(usize),
}

impl fmt::Display for FdLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdLimit::Instance(n) => write!(f, "an instance may hold {n} open files and sockets"),
            FdLimit::Micro(n) => write!(
                f,
                "the Micro's instances may hold {n} open files and sockets together"
            ),
        }
    }
}

/// One instance's count of descriptors, shared by its hosts (files, sockets, wasi:http).
#[derive(Clone, Debug)]
pub struct FdAccount {
    budget: Arc<FdBudget>,
    mine: Arc<AtomicUsize>,
}

impl FdAccount {
    pub fn new(budget: Arc<FdBudget>) -> FdAccount {
        FdAccount {
            budget,
            mine: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Descriptors this instance holds now.
    pub fn held(&self) -> usize {
        self.mine.load(Ordering::Acquire)
    }

    /// The Micro's budget.
    pub fn budget(&self) -> &Arc<FdBudget> {
        &self.budget
    }

    /// Counts one more descriptor, or says which cap it would cross.
    pub fn take(&self) -> Result<FdGuard, FdLimit> {
        let b = &*self.budget;
        let under = |cap: usize| move |n: usize| (n < cap).then_some(n + 1);
        self.mine
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, under(b.per_instance))
            .map_err(|_| FdLimit::Instance(b.per_instance))?;
        if b.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, under(b.per_micro))
            .is_err()
        {
            self.mine.fetch_sub(1, Ordering::AcqRel);
            return Err(FdLimit::Micro(b.per_micro));
        }
        Ok(FdGuard {
            account: self.clone(),
        })
    }
}

/// One counted descriptor; dropping it gives the count back.
#[derive(Debug)]
pub struct FdGuard {
    account: FdAccount,
}

impl Drop for FdGuard {
    fn drop(&mut self) {
        self.account.mine.fetch_sub(1, Ordering::AcqRel);
        self.account.budget.used.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A descriptor in an instance's resource table, and how to tell it is still open.
enum Held {
    /// A file or directory: open while any descriptor or stream holds its handle.
    File(Weak<std::fs::File>),
    /// A TCP socket: open while its table entry is (its streams are children of it).
    Socket(u32),
}

/// The descriptors of one instance's files and sockets (wasi:http and SQLite count their
/// connections through [`FdAccount`] directly: the guard lives as long as the connection).
pub struct Fds {
    pub account: FdAccount,
    held: Vec<(Held, FdGuard)>,
    /// Whether a refusal was logged for this instance (one line per instance, not per call).
    warned: bool,
}

impl Fds {
    pub fn new(account: FdAccount) -> Fds {
        Fds {
            account,
            held: Vec::new(),
            warned: false,
        }
    }

    /// Gives back the counts of descriptors that are closed now.
    pub fn sweep(&mut self, table: &ResourceTable) {
        self.held.retain(|(h, _)| match h {
            Held::File(w) => w.strong_count() > 0,
            Held::Socket(rep) => socket_alive(table, *rep),
        });
    }

    /// Counts a descriptor about to be opened (after sweeping closed ones); the refusal is
    /// logged once per instance.
    pub fn take(&mut self, table: &ResourceTable) -> Result<FdGuard, FdLimit> {
        self.sweep(table);
        self.account.take().inspect_err(|limit| {
            if !std::mem::replace(&mut self.warned, true) {
                tracing::warn!(
                    micro = %self.account.budget.micro,
                    "open refused: {limit} (`open_files` / `micro_open_files` in [limits])"
                );
            }
        })
    }

    /// Keeps `guard` counted while `file` (a descriptor's host handle) is open.
    pub fn hold_file(&mut self, file: &Arc<std::fs::File>, guard: FdGuard) {
        self.held.push((Held::File(Arc::downgrade(file)), guard));
    }

    /// Keeps `guard` counted while the socket at `rep` is in the table.
    pub fn hold_socket(&mut self, rep: u32, guard: FdGuard) {
        // The table hands out a closed socket's slot again: that count is stale.
        self.held
            .retain(|(h, _)| !matches!(h, Held::Socket(r) if *r == rep));
        self.held.push((Held::Socket(rep), guard));
    }
}

fn socket_alive(table: &ResourceTable, rep: u32) -> bool {
    let r: Resource<wasmtime_wasi::p2::TcpSocket> = Resource::new_borrow(rep);
    table.get(&r).is_ok()
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit where the OS allows, and returns the
/// soft limit in force (`None` where there is no such limit to read).
pub fn raise_nofile_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        unix::raise()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(unix)]
mod unix {
    /// macOS refuses a soft limit above `OPEN_MAX` whatever the hard limit says.
    const OPEN_MAX: u64 = 10240;
    /// What "unlimited" is raised to: a number the kernel's tables will take.
    const UNLIMITED_TARGET: u64 = 1 << 20;

    fn get() -> Option<libc::rlimit> {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        (rc == 0).then_some(lim)
    }

    // `rlim_t` is u64 on Linux and macOS, i64 on some BSDs: the casts are not all no-ops.
    #[allow(clippy::unnecessary_cast)]
    pub fn raise() -> Option<u64> {
        let lim = get()?;
        let soft = lim.rlim_cur as u64;
        let hard = lim.rlim_max as u64;
        let hard = if lim.rlim_max == libc::RLIM_INFINITY {
            UNLIMITED_TARGET
        } else {
            hard
        };
        for target in [hard, hard.min(OPEN_MAX)] {
            if target <= soft {
                break;
            }
            let new = libc::rlimit {
                rlim_cur: target as libc::rlim_t,
                rlim_max: lim.rlim_max,
            };
            // SAFETY: setrlimit only reads the struct it is given.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
                return Some(target);
            }
        }
        Some(soft)
    }
}

/// Each of `micros` Micros' share of an open-file limit of `nofile` after `reserve` for the
/// runtime, at least [`MIN_MICRO_SHARE`].
pub fn micro_share(nofile: u64, reserve: u64, micros: usize) -> usize {
    let spare = nofile.saturating_sub(reserve) / micros.max(1) as u64;
    usize::try_from(spare)
        .unwrap_or(usize::MAX)
        .max(MIN_MICRO_SHARE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_and_its_micro_are_capped_and_guards_give_back() {
        let budget = Arc::new(FdBudget::new("m", 2, 3));
        let one = FdAccount::new(budget.clone());
        let two = FdAccount::new(budget.clone());
        let a = one.take().unwrap();
        let _b = one.take().unwrap();
        assert_eq!(one.take().unwrap_err(), FdLimit::Instance(2));
        let _c = two.take().unwrap();
        assert_eq!(two.take().unwrap_err(), FdLimit::Micro(3));
        assert_eq!(
            (budget.used(), two.held()),
            (3, 1),
            "a refusal counts nothing"
        );
        drop(a);
        assert_eq!((budget.used(), one.held()), (2, 1));
        let _d = two.take().unwrap();
    }

    #[test]
    fn files_count_until_their_last_handle_is_gone() {
        let budget = Arc::new(FdBudget::new("m", 8, 8));
        let mut fds = Fds::new(FdAccount::new(budget.clone()));
        let table = ResourceTable::new();
        let file = Arc::new(tempfile::tempfile().unwrap());
        let guard = fds.take(&table).unwrap();
        fds.hold_file(&file, guard);
        let stream = file.clone();
        drop(file);
        fds.sweep(&table);
        assert_eq!(budget.used(), 1, "a stream still holds the file");
        drop(stream);
        fds.sweep(&table);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn sockets_count_while_their_table_entry_lives() {
        use wasmtime_wasi::p2::bindings::sockets::network::IpAddressFamily;
        use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket::Host;
        let budget = Arc::new(FdBudget::new("m", 8, 8));
        let mut fds = Fds::new(FdAccount::new(budget.clone()));
        let mut ctx = wasmtime_wasi::WasiCtxBuilder::new().allow_tcp(true).build();
        let mut table = ResourceTable::new();
        let mut view = wasmtime_wasi::sockets::WasiSocketsCtxView {
            ctx: ctx.sockets(),
            table: &mut table,
        };
        let socket = view.create_tcp_socket(IpAddressFamily::Ipv4).unwrap();
        let rep = socket.rep();
        let guard = fds.take(&table).unwrap();
        fds.hold_socket(rep, guard);
        fds.sweep(&table);
        assert_eq!(budget.used(), 1);
        table.delete(socket).unwrap();
        // Another type in the socket's old slot: the socket is gone.
        let other = table.push(0u8).unwrap();
        assert_eq!(other.rep(), rep);
        fds.sweep(&table);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn each_micro_gets_its_share_after_the_reserve() {
        assert_eq!(micro_share(65536, 1024 + RUNTIME_RESERVE, 5), 12851);
        assert_eq!(
            micro_share(1024, 1024 + RUNTIME_RESERVE, 2),
            MIN_MICRO_SHARE
        );
        assert_eq!(micro_share(u64::MAX, 0, 1), usize::MAX);
    }

    #[cfg(unix)]
    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let soft = raise_nofile_limit().unwrap();
        assert_eq!(
            raise_nofile_limit(),
            Some(soft),
            "raising twice changes nothing"
        );
        assert!(soft >= 256, "{soft}");
    }
}
