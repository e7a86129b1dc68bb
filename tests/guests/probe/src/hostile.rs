//! Hostile routes: they hit the runtime's limits (time, memory, stack, payload, output)
//! or trap on purpose.

use std::hint::black_box;
use std::io::Write;

use wasi::clocks::monotonic_clock;

use crate::reply::{self, Outcome, Reply, Req, TEXT, header};

const MIB: u64 = 1024 * 1024;
/// `/big-response` writes in chunks of this size.
const BIG_CHUNK: usize = 64 * 1024;
/// `blocking-write-and-flush` accepts at most 4096 bytes per call.
const FOREVER_CHUNK: usize = 4096;

/// `GET /loop`: spins forever without a host call; only epoch interruption stops it.
pub fn busy_loop(_: &Req) -> Outcome {
    let mut i = 0u64;
    loop {
        i = black_box(i.wrapping_add(1));
    }
}

/// `GET /sleep?ms=N`: blocks inside a host call (a monotonic-clock pollable).
pub fn sleep(req: &Req) -> Outcome {
    pause(req.number("ms", None)?);
    Ok(Reply::text(200, "slept"))
}

/// Blocks for `ms` milliseconds in a host call.
pub fn pause(ms: u64) {
    monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000)).block();
}

/// N MiB as a byte count the guest can address, or None when it does not fit wasm32.
fn mebibytes(req: &Req) -> Result<Option<usize>, Reply> {
    let mb = req.number("mb", None)?;
    Ok(mb.checked_mul(MIB).and_then(|n| usize::try_from(n).ok()))
}

/// `GET /alloc?mb=N`: one N MiB vector, every byte written. Failure aborts (traps).
pub fn alloc(req: &Req) -> Outcome {
    let n = mebibytes(req)?.expect("allocation larger than the wasm32 address space");
    let v = black_box(vec![1u8; n]);
    Ok(Reply::text(200, v.len().to_string()))
}

/// `GET /grow?mb=N&ms=M`: grows memory by N MiB (touched, then freed: linear memory never
/// shrinks), then waits M ms, so concurrent requests each hold a grown instance.
pub fn grow(req: &Req) -> Outcome {
    let n = mebibytes(req)?.expect("allocation larger than the wasm32 address space");
    let v = black_box(vec![1u8; n]);
    drop(v);
    pause(req.number("ms", Some(0))?);
    Ok(Reply::text(200, "grown"))
}

/// `GET /alloc-many?mb=N`: N MiB as 1 KiB vectors kept alive. Failure aborts (traps).
pub fn alloc_many(req: &Req) -> Outcome {
    let n = mebibytes(req)?.expect("allocation larger than the wasm32 address space");
    let count = n / 1024;
    let mut kept = Vec::new();
    for _ in 0..count {
        kept.push(black_box(vec![1u8; 1024]));
    }
    Ok(Reply::text(200, black_box(kept).len().to_string()))
}

/// `GET /try-alloc?mb=N`: like `/alloc` but reports failure: 200 "ok" or 507.
pub fn try_alloc(req: &Req) -> Outcome {
    let failed = || Reply::text(507, "allocation failed");
    let n = mebibytes(req)?.ok_or_else(failed)?;
    let mut v: Vec<u8> = Vec::new();
    v.try_reserve_exact(n).map_err(|_| failed())?;
    v.resize(n, 1);
    black_box(&v);
    Ok(Reply::text(200, "ok"))
}

/// `GET /panic`: panics; on wasm32-wasip2 a panic aborts, i.e. traps.
pub fn panic(_: &Req) -> Outcome {
    panic!("probe panic")
}

/// `GET /stack-overflow`: unbounded recursion.
pub fn stack_overflow(_: &Req) -> Outcome {
    let depth = recurse(black_box(0));
    Ok(Reply::text(500, format!("recursion returned {depth}?")))
}

/// Every frame keeps a buffer alive across the call, so it cannot be a tail call.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth as u8; 256]);
    let below = recurse(black_box(depth + 1));
    below.wrapping_add(u64::from(frame[(depth % 256) as usize]))
}

/// `GET /big-response?bytes=N[&content-length=1]`: N bytes of 'x' in 64 KiB chunks.
pub fn big_response(req: &Req) -> Outcome {
    let total = req.number("bytes", None)?;
    let mut headers = vec![header("content-type", TEXT)];
    if req.param("content-length") == Some("1") {
        headers.push(header("content-length", &total.to_string()));
    }
    let body = Box::new(move |stream: &_| {
        let chunk = vec![b'x'; BIG_CHUNK];
        let mut left = total;
        while left > 0 {
            let n = left.min(BIG_CHUNK as u64) as usize;
            reply::write_all(stream, &chunk[..n])?;
            left -= n as u64;
        }
        Ok(())
    });
    Ok(Reply::Stream {
        status: 200,
        headers,
        body,
    })
}

/// `GET /forever`: a response head, then body chunks until the stream breaks.
pub fn forever(_: &Req) -> Outcome {
    let body = Box::new(|stream: &wasi::io::streams::OutputStream| {
        let chunk = [b'x'; FOREVER_CHUNK];
        loop {
            stream.blocking_write_and_flush(&chunk)?;
        }
    });
    Ok(Reply::Stream {
        status: 200,
        headers: vec![header("content-type", TEXT)],
        body,
    })
}

/// `GET /spin-stdout`: writes to stdout forever.
pub fn spin_stdout(_: &Req) -> Outcome {
    let mut out = std::io::stdout().lock();
    let mut i = 0u64;
    loop {
        // Errors are ignored: the point is to keep the host busy until the timeout.
        let _ = writeln!(out, "spin {i}");
        i = i.wrapping_add(1);
    }
}

/// `GET /handles?n=N`: holds N `fields` resources at once (a host resource-table flood).
pub fn handles(req: &Req) -> Outcome {
    let n = req.number("n", None)?;
    let held: Vec<wasi::http::types::Fields> =
        (0..n).map(|_| wasi::http::types::Fields::new()).collect();
    Ok(Reply::text(200, held.len().to_string()))
}
