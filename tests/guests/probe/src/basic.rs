//! Well-behaved routes: environment, echo, warm-instance counter, status codes, logging.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};

use crate::reply::{self, Outcome, Reply, Req, TEXT, header};

/// Bodies are echoed up to this many bytes (`body_len` still counts them all).
const ECHO_KEEP: usize = 64 * 1024;

/// Survives between requests while the instance is kept warm.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `GET /env`: every env var, plus `__cwd` (what std reports) and `__initial_cwd` (what the
/// host passes through `wasi:cli/environment.initial-cwd`).
pub fn env(_: &Req) -> Outcome {
    let mut vars = Map::new();
    for (k, v) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        vars.insert(k, Value::String(v.to_string_lossy().into_owned()));
    }
    let cwd = match std::env::current_dir() {
        Ok(dir) => dir.display().to_string(),
        Err(e) => format!("error: {e}"),
    };
    vars.insert("__cwd".to_string(), Value::String(cwd));
    let initial = wasi::cli::environment::initial_cwd().unwrap_or_default();
    vars.insert("__initial_cwd".to_string(), Value::String(initial));
    Ok(Reply::json(200, &Value::Object(vars)))
}

/// `ANY /echo`: method, path+query, headers in order, and the body.
pub fn echo(req: &Req) -> Outcome {
    Ok(Reply::json(200, &echo_json(req)?))
}

/// The echo document; also used by `/__space/v0/actions` bookkeeping.
pub fn echo_json(req: &Req) -> Result<Value, Reply> {
    let headers: Vec<Value> = req
        .headers()
        .into_iter()
        .map(|(k, v)| json!([k, String::from_utf8_lossy(&v)]))
        .collect();
    let (body_len, body) = req.read_body(ECHO_KEEP)?;
    Ok(json!({
        "method": req.method,
        "path": req.path_with_query,
        "headers": headers,
        "body_len": body_len,
        "body": String::from_utf8_lossy(&body),
    }))
}

/// `POST /consume`: reads the whole body and answers only its length.
pub fn consume(req: &Req) -> Outcome {
    let (len, _) = req.read_body(0)?;
    Ok(Reply::text(200, len.to_string()))
}

/// `GET /check-write`: asks the response stream's `check-write` three times in a row, writing
/// as many bytes (`x`) as each non-zero answer permits, with no wait in between; the body is
/// those bytes, then `permits A B C`.
pub fn check_write(_: &Req) -> Outcome {
    let body = Box::new(|stream: &wasi::io::streams::OutputStream| {
        let mut permits = Vec::new();
        for _ in 0..3 {
            let n = stream.check_write()?;
            permits.push(n.to_string());
            if n > 0 {
                stream.write(&vec![b'x'; n as usize])?;
            }
        }
        reply::write_all(stream, format!("permits {}", permits.join(" ")).as_bytes())
    });
    Ok(Reply::Stream {
        status: 200,
        headers: vec![header("content-type", TEXT)],
        body,
    })
}

/// `GET /counter`: increments a global and returns its new value.
pub fn counter(_: &Req) -> Outcome {
    let value = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
    Ok(Reply::text(200, value.to_string()))
}

/// `GET /status?code=N[&empty=1]`: answers with that status, and body `status N` or, with
/// `empty=1`, no header and no body.
pub fn status(req: &Req) -> Outcome {
    let code = req.number("code", None)?;
    let empty = req.number("empty", Some(0))? == 1;
    match u16::try_from(code) {
        Ok(code @ 100..=999) if empty => Ok(Reply::Stream {
            status: code,
            headers: Vec::new(),
            body: Box::new(|_| Ok(())),
        }),
        Ok(code @ 100..=999) => Ok(Reply::text(code, format!("status {code}"))),
        _ => Err(Reply::text(400, format!("invalid status code {code}\n"))),
    }
}

/// `GET /no-response`: returns without setting the response-outparam.
pub fn no_response(_: &Req) -> Outcome {
    Ok(Reply::NoResponse)
}

/// `GET /stdout?lines=N`: N lines to stdout, one to stderr.
pub fn stdout(req: &Req) -> Outcome {
    let lines = req.number("lines", Some(1))?;
    let mut out = std::io::stdout().lock();
    for i in 0..lines {
        // A host that drops or throttles stdout must not turn this route into a trap.
        let _ = writeln!(out, "probe line {i}");
    }
    let _ = out.flush();
    let _ = writeln!(std::io::stderr(), "probe err");
    Ok(Reply::text(200, format!("printed {lines} lines\n")))
}

/// `GET /print?text=...`: writes `text` (percent-decoded, so control characters can be sent)
/// and a newline to stdout.
pub fn print(req: &Req) -> Outcome {
    let text = req.required("text")?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
    Ok(Reply::text(200, "printed\n"))
}
