//! The runtime's own log lines on their way to stderr (SPEC §8): a lean text layout and
//! batched writes from the connection workers.
//!
//! Every request writes an access line (`super::access_log`), so at tens of thousands of
//! requests a second writing lines is part of the request's cost. Two things keep it small:
//! - [`LeanLayout`] lays out a text line with plain string pushes, in the default compact layout
//!   without colours (`tracing-subscriber`'s formatter sends every field through `core::fmt`
//!   and a per-character escaping writer). It escapes the same control characters. The access
//!   line uses its pieces (`write_time`, `write_quoted`…).
//! - [`Stderr`] lets connection workers ([`worker_thread`]) append their lines to one shared
//!   buffer (a short lock around a copy) instead of writing each one. The first line into an
//!   empty buffer wakes one flusher thread, which waits [`FLUSH_EVERY`] and writes the whole
//!   buffer in one call, so a line reaches stderr at most that much later, even while its
//!   worker stays busy. A buffer that passes [`FLUSH_BYTES`] is written at once. Once a worker
//!   exists, a line from any other thread is appended too and written at once with
//!   everything before it, so lines keep the order they were written in.
//!
//! [`flush`] writes everything pending (the server calls it before it reports that it
//! stopped); a process killed outright loses at most the last [`FLUSH_EVERY`] of worker
//! lines. It must not format guest output (that is `guest_logs`).

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The longest a worker's line waits before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// The buffer is written at once when it holds this many bytes.
pub const FLUSH_BYTES: usize = 64 * 1024;

/// Lines not yet written, oldest first.
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// The flusher thread, started with the first worker: from then on every line goes through
/// [`PENDING`].
static FLUSHER: OnceLock<Thread> = OnceLock::new();
/// Set while a flush is due: the next line need not wake the flusher.
static ARMED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set on connection worker threads.
    static WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Makes the calling thread a connection worker (see `server::workers`): its lines are
/// batched as described above.
pub fn worker_thread() {
    WORKER.with(|w| w.set(true));
    FLUSHER.get_or_init(|| {
        std::thread::Builder::new()
            .name("micro-wasm-log".into())
            .spawn(|| {
                loop {
                    std::thread::park();
                    std::thread::sleep(FLUSH_EVERY);
                    ARMED.store(false, Ordering::SeqCst);
                    flush();
                }
            })
            .expect("starting the log flusher thread")
            .thread()
            .clone()
    });
}

/// Writes every pending line to stderr.
pub fn flush() {
    // Holding stderr first keeps two flushes from writing their batches out of order.
    let mut stderr = io::stderr().lock();
    let mut bytes = std::mem::take(&mut *lock(&PENDING));
    if bytes.is_empty() {
        return;
    }
    let _ = stderr.write_all(&bytes);
    bytes.clear();
    // Keep the allocation for the next batch when nothing new came meanwhile.
    let mut pending = lock(&PENDING);
    if pending.is_empty() {
        std::mem::swap(&mut *pending, &mut bytes);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `MakeWriter` for runtime logs: stderr, batched as described above.
pub struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = StderrLine;
    fn make_writer(&'a self) -> StderrLine {
        StderrLine
    }
}

/// One line's writer from [`Stderr`].
pub struct StderrLine;

impl io::Write for StderrLine {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let Some(flusher) = FLUSHER.get() else {
            io::stderr().write_all(line)?;
            return Ok(line.len());
        };
        let full = {
            let mut pending = lock(&PENDING);
            pending.extend_from_slice(line);
            pending.len() >= FLUSH_BYTES
        };
        if full || !WORKER.with(Cell::get) {
            flush();
        } else if !ARMED.load(Ordering::SeqCst) && !ARMED.swap(true, Ordering::SeqCst) {
            // The plain load first: while a flush is due (nearly always under load) the line
            // costs no write to this flag, which every worker shares.
            flusher.unpark();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The text layout: `2026-11-29T07:48:30.915843Z  INFO request micro="m0" status=200`, the
/// same as `tracing-subscriber`'s compact format without target or colours.
pub struct LeanLayout;

impl<S, N> FormatEvent<S, N> for LeanLayout
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write_time(&mut w)?;
        w.write_str(match *event.metadata().level() {
            Level::ERROR => " ERROR",
            Level::WARN => "  WARN",
            Level::INFO => "  INFO",
            Level::DEBUG => " DEBUG",
            Level::TRACE => " TRACE",
        })?;
        let mut fields = Fields {
            w: &mut w,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        w.write_char('\n')
    }
}

thread_local! {
    /// The second of this thread's last line, as a Unix time and as text
    /// (`2026-11-29T07:48:30`): most lines reuse it.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Writes the time as `tracing-subscriber`'s `SystemTime` does (`2026-11-29T07:48:30.915843Z`),
/// formatting the date and time of day once a second.
pub(super) fn write_time(w: &mut (impl fmt::Write + ?Sized)) -> fmt::Result {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let second = now.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != second {
            text.clear();
            let date = i64::try_from(second)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .unwrap_or_default();
            write!(text, "{}", date.format("%Y-%m-%dT%H:%M:%S"))?;
            *cached = second;
        }
        w.write_str(text)?;
        w.write_char('.')?;
        write_digits(w, u64::from(now.subsec_micros()), 6)?;
        w.write_char('Z')
    })
}

/// Writes `n` in decimal, zero-padded to at least `width` digits, without `core::fmt`.
pub(super) fn write_digits(
    w: &mut (impl fmt::Write + ?Sized),
    mut n: u64,
    width: usize,
) -> fmt::Result {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    while n > 0 || digits.len() - at < width.max(1) {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    w.write_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"))
}

/// Writes `value` as `{:?}` would when it is a whole number of thousandths below a billion
/// (the access line's `ms`, rounded to the microsecond), without the float formatting
/// machinery; `None` for any other value.
pub(super) fn write_thousandths(
    w: &mut (impl fmt::Write + ?Sized),
    value: f64,
) -> Option<fmt::Result> {
    if !(0.0..1e9).contains(&value) {
        return None;
    }
    let n = (value * 1000.0).round() as u64;
    if n as f64 / 1000.0 != value {
        return None;
    }
    // The fraction without trailing zeros, at least one digit: 1.0, 1.25, 1.005.
    let (mut fraction, mut width) = (n % 1000, 3);
    while width > 1 && fraction % 10 == 0 {
        fraction /= 10;
        width -= 1;
    }
    Some((|| {
        write_digits(w, n / 1000, 1)?;
        w.write_char('.')?;
        write_digits(w, fraction, width)
    })())
}

/// Writes ` message` and ` name=value` for each field, values as `{:?}` would show them.
struct Fields<'a, 'w> {
    w: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn put(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            self.w.write_char(' ')?;
            if field.name() != "message" {
                self.w.write_str(field.name())?;
                self.w.write_char('=')?;
            }
            value(self.w)
        })();
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let message = field.name() == "message";
        self.put(field, |w| {
            if message {
                Escaped(w).write_str(value)
            } else {
                write_quoted(w, value)
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, |w| write!(w, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, |w| {
            write_thousandths(w, value).unwrap_or_else(|| write!(w, "{value:?}"))
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, |w| write!(Escaped(w), "{value:?}"));
    }
}

/// Writes a string field's value as `{:?}` would, escaped like any field.
pub(super) fn write_quoted(w: &mut (impl fmt::Write + ?Sized), value: &str) -> fmt::Result {
    if value
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        w.write_char('"')?;
        w.write_str(value)?;
        w.write_char('"')
    } else {
        write!(Escaped(w), "{value:?}")
    }
}

/// Passes text through, escaping the control characters a terminal could act on (ESC, BEL,
/// BS, FF, DEL and the C1 range), as `tracing-subscriber` does.
pub(super) struct Escaped<'a, W: fmt::Write + ?Sized>(pub(super) &'a mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // The C1 range is U+0080..=U+009F, which UTF-8 encodes as 0xC2 0x80..=0x9F.
        let risky = |b: &u8| matches!(b, 0x1b | 0x07 | 0x08 | 0x0c | 0x7f | 0xc2);
        if !s.as_bytes().iter().any(risky) {
            return self.0.write_str(s);
        }
        for ch in s.chars() {
            match ch {
                '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' => {
                    write!(self.0, "\\x{:02x}", ch as u32)?
                }
                '\u{80}'..='\u{9f}' => write!(self.0, "\\u{{{:x}}}", ch as u32)?,
                _ => self.0.write_char(ch)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::access_log::{AccessLine, write_text};
    use std::sync::{Arc, Mutex as StdMutex};

    /// Captures what a subscriber with [`LeanLayout`] writes.
    #[derive(Clone, Default)]
    struct Capture(Arc<StdMutex<Vec<u8>>>);

    impl io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn lines_of(emit: impl FnOnce(), lean: bool) -> String {
        let out = Capture::default();
        let sink = out.clone();
        let builder = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_target(false)
            .with_ansi(false);
        if lean {
            tracing::subscriber::with_default(builder.event_format(LeanLayout).finish(), emit);
        } else {
            tracing::subscriber::with_default(builder.compact().finish(), emit);
        }
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    /// Drops the timestamp, which differs between two runs.
    fn without_time(text: &str) -> Vec<String> {
        text.lines()
            .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).to_string())
            .collect()
    }

    fn written(f: impl FnOnce(&mut Writer<'_>) -> fmt::Result) -> String {
        let mut text = String::new();
        f(&mut Writer::new(&mut text)).unwrap();
        text
    }

    #[test]
    fn thousandths_are_written_as_debug_writes_them() {
        let whole = (0..200_000u64).chain([999_999, 1_000_000, 123_456_789, 999_999_999_999]);
        for n in whole {
            let value = n as f64 / 1000.0;
            let mut text = String::new();
            let result = write_thousandths(&mut Writer::new(&mut text), value);
            assert!(matches!(result, Some(Ok(()))), "{value:?}");
            assert_eq!(text, format!("{value:?}"));
        }
        for value in [
            0.1 + 0.2,
            1.0e-4,
            2.5e-7,
            -1.0,
            1e9,
            f64::NAN,
            f64::INFINITY,
        ] {
            assert!(
                write_thousandths(&mut Writer::new(&mut String::new()), value).is_none(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn time_has_the_system_time_layout() {
        use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
        let theirs = written(|w| SystemTime.format_time(w));
        for _ in 0..3 {
            let ours = written(|w| write_time(w));
            let shape = |t: &str| t.replace(|c: char| c.is_ascii_digit(), "0");
            assert_eq!(shape(&ours), shape(&theirs), "{ours} vs {theirs}");
            let at = chrono::DateTime::parse_from_rfc3339(&ours).unwrap();
            let off = chrono::Utc::now().signed_duration_since(at);
            assert!(off.num_seconds().abs() < 5, "{ours} is {off} away");
        }
    }

    #[test]
    fn access_line_is_the_line_of_its_event() {
        let cases = [
            AccessLine {
                micro: "m0",
                method: "GET",
                path: "/",
                status: 200,
                cold: false,
                ms: 0.231,
            },
            AccessLine {
                micro: "api",
                method: "PROPFIND",
                path: "/a b?x=\"1\"&\x1b[31m\u{85}\\",
                status: 502,
                cold: true,
                ms: 0.1 + 0.2,
            },
            AccessLine {
                micro: "ünï",
                method: "POST",
                path: "/ünïcode\x07",
                status: 404,
                cold: false,
                ms: 20_000.0,
            },
        ];
        for a in &cases {
            let start = if a.cold { "cold" } else { "warm" };
            let event = lines_of(
                || {
                    tracing::info!(
                        micro = a.micro,
                        method = %a.method,
                        path = a.path,
                        status = a.status,
                        start,
                        ms = a.ms,
                        "request"
                    )
                },
                true,
            );
            let mut ours = String::new();
            write_time(&mut ours).unwrap();
            write_text(&mut ours, a).unwrap();
            assert_eq!(
                without_time(&ours),
                without_time(&event),
                "{ours} vs {event}"
            );
        }
    }

    #[test]
    fn digits_are_padded_to_their_width() {
        for (n, width, text) in [
            (0, 1, "0"),
            (7, 6, "000007"),
            (123_456, 3, "123456"),
            (u64::MAX, 1, "18446744073709551615"),
        ] {
            assert_eq!(written(|w| write_digits(w, n, width)), text);
        }
    }

    #[test]
    fn line_matches_the_compact_layout() {
        let emit = || {
            let method = http::Method::POST;
            tracing::info!(micro = "m0", %method, path = "/a b?x=\"1\"", status = 200u16, start = "warm", ms = 0.25, "request");
            tracing::warn!(
                micro = "m0",
                failed = true,
                delta = -3i64,
                "over \x1b[31mlimit\u{85} {}",
                7
            );
            tracing::error!("plain");
            tracing::warn!(path = "/ünïcode\x07", "dbg");
        };
        let lean = lines_of(emit, true);
        let compact = lines_of(emit, false);
        assert_eq!(
            without_time(&lean),
            without_time(&compact),
            "lean:\n{lean}\ncompact:\n{compact}"
        );
        assert!(
            lean.contains(r#"INFO request micro="m0" method=POST path="/a b?x=\"1\"" status=200"#),
            "{lean}"
        );
        assert!(lean.contains(r"over \x1b[31mlimit\u{85} 7"), "{lean}");
    }
}
