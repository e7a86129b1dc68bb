//! The access line: one per request, at info level for the `micro_wasm::server` target
//! (SPEC §8), so `MICRO_WASM_LOG=warn` drops it like any info line.
//!
//! This module owns the line's format outright, in both of `--log-format`'s layouts: `text`
//! (`… INFO request micro="m0" method=GET path="/" status=200 start="warm" ms=0.231`, the
//! same bytes [`console::LeanLayout`] writes for runtime lines) and `json` (the object
//! `tracing-subscriber`'s JSON layer writes for an event: `timestamp`, `level`, `message`,
//! then the fields). It lays the line out itself, with no tracing event, field visitors or
//! `core::fmt` on the request path, and hands it to [`console::Stderr`]'s batched writer.
//!
//! It must not decide anything about the request: the front door hands it what to write.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::Level;

use super::console::{self, write_digits, write_quoted, write_thousandths, write_time};

/// Set when `--log-format json` is in use.
static JSON: AtomicBool = AtomicBool::new(false);

/// The access line's layout, chosen once at start with the runtime's log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Makes `format` the access line's layout.
pub fn set_format(format: Format) {
    JSON.store(format == Format::Json, Ordering::Relaxed);
}

/// What one request's access line says.
pub struct AccessLine<'a> {
    pub micro: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub cold: bool,
    /// Milliseconds, rounded to the microsecond.
    pub ms: f64,
}

/// Writes one request's access line, when the runtime's log filter lets info lines of
/// `micro_wasm::server` through.
pub fn write(a: &AccessLine<'_>) {
    if !tracing::enabled!(target: "micro_wasm::server", Level::INFO) {
        return;
    }
    thread_local! {
        static TEXT: RefCell<String> = const { RefCell::new(String::new()) };
    }
    TEXT.with_borrow_mut(|text| {
        text.clear();
        let laid_out = if JSON.load(Ordering::Relaxed) {
            write_json(text, a)
        } else {
            write_time(text).and_then(|()| write_text(text, a))
        };
        if laid_out.is_ok() {
            let _ = io::Write::write_all(&mut console::StderrLine, text.as_bytes());
        }
    });
}

/// The text line after its time.
pub(super) fn write_text(w: &mut (impl fmt::Write + ?Sized), a: &AccessLine<'_>) -> fmt::Result {
    w.write_str("  INFO request micro=")?;
    write_quoted(w, a.micro)?;
    w.write_str(" method=")?;
    console::Escaped(w).write_str(a.method)?;
    w.write_str(" path=")?;
    write_quoted(w, a.path)?;
    w.write_str(" status=")?;
    write_digits(w, u64::from(a.status), 1)?;
    w.write_str(if a.cold {
        " start=\"cold\" ms="
    } else {
        " start=\"warm\" ms="
    })?;
    write_thousandths(w, a.ms).unwrap_or_else(|| write!(w, "{:?}", a.ms))?;
    w.write_char('\n')
}

/// The JSON line, as `tracing-subscriber`'s flattened JSON layer writes the event.
fn write_json(w: &mut String, a: &AccessLine<'_>) -> fmt::Result {
    let mut time = String::new();
    write_time(&mut time)?;
    let line = serde_json::json!({
        "timestamp": time,
        "level": "INFO",
        "message": "request",
        "micro": a.micro,
        "method": a.method,
        "path": a.path,
        "status": a.status,
        "start": if a.cold { "cold" } else { "warm" },
        "ms": a.ms,
    });
    w.push_str(&line.to_string());
    w.push('\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_the_fields_of_the_event() {
        let mut line = String::new();
        let a = AccessLine {
            micro: "m\"0",
            method: "GET",
            path: "/x?y=1",
            status: 201,
            cold: true,
            ms: 1.25,
        };
        write_json(&mut line, &a).unwrap();
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["message"], "request");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["micro"], "m\"0");
        assert_eq!(v["status"], 201);
        assert_eq!(v["start"], "cold");
        assert_eq!(v["ms"], 1.25);
        assert!(chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).is_ok());
    }
}
