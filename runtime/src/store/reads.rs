//! Our `wasi:io/streams` `read` and `blocking-read`: wasmtime-wasi-io's, except that the bytes
//! go into guest memory straight from the stream's `Bytes` (the linker shadows its two
//! functions with these, [`add_to_linker`]).
//!
//! wasmtime-wasi-io returns a read as a `Vec<u8>`, so every chunk of a request body was copied
//! twice on its way into the guest: out of hyper's read buffer into a fresh `Vec`, then into
//! guest memory. Wasmtime lowers a `Bytes` as a `list<u8>` itself (its `component-model-bytes`
//! feature), so here the second copy is the only one. It serves every body a guest reads
//! (SPEC §4's payloads), files and stdin alike, with the same results, errors and traps.
//!
//! It must not change what a read returns or when it blocks: the stream's own `read` and
//! `blocking_read` decide both, as they do for wasmtime-wasi-io.

use bytes::Bytes;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::io::streams::StreamError as WitStreamError;
use wasmtime_wasi::p2::{DynInputStream, StreamError};

/// The `wasi:io/streams` instance wasmtime-wasi-io defines (its WIT's version); the linker
/// serves older 0.2 imports from it too.
const STREAMS: &str = "wasi:io/streams@0.2.12";

/// What a read gives the guest: the bytes, or the WIT `stream-error`.
type ReadResult = (Result<Bytes, WitStreamError>,);

/// Replaces `[method]input-stream.read` and `[method]input-stream.blocking-read` in `linker`
/// (already holding `wasmtime_wasi::p2::add_to_linker_async`) with ours. Shadowing is allowed
/// for this call only.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    table: fn(&mut T) -> &mut ResourceTable,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = define(linker, table);
    linker.allow_shadowing(false);
    result
}

fn define<T: Send + 'static>(
    linker: &mut Linker<T>,
    table: fn(&mut T) -> &mut ResourceTable,
) -> wasmtime::Result<()> {
    let mut streams = linker.instance(STREAMS)?;
    streams.func_wrap(
        "[method]input-stream.read",
        move |mut store: StoreContextMut<'_, T>, (stream, len): (Resource<DynInputStream>, u64)| {
            let table = table(store.data_mut());
            let read = table.get_mut(&stream)?.read(clamp(len));
            answer(table, read)
        },
    )?;
    streams.func_wrap_async(
        "[method]input-stream.blocking-read",
        move |mut store: StoreContextMut<'_, T>, (stream, len): (Resource<DynInputStream>, u64)| {
            Box::new(async move {
                let table = table(store.data_mut());
                let read = table.get_mut(&stream)?.blocking_read(clamp(len)).await;
                answer(table, read)
            })
        },
    )
}

/// A guest's `len` as a host size (a 32-bit host reads at most `usize::MAX`).
fn clamp(len: u64) -> usize {
    len.try_into().unwrap_or(usize::MAX)
}

/// A read's outcome as the guest sees it, converted as wasmtime-wasi-io converts it: closed
/// is `closed`, a failure becomes an `error` resource, a trap stays a trap.
fn answer(
    table: &mut ResourceTable,
    read: Result<Bytes, StreamError>,
) -> wasmtime::Result<ReadResult> {
    Ok((match read {
        Ok(bytes) => Ok(bytes),
        Err(StreamError::Closed) => Err(WitStreamError::Closed),
        Err(StreamError::LastOperationFailed(e)) => {
            Err(WitStreamError::LastOperationFailed(table.push(e)?))
        }
        Err(StreamError::Trap(e)) => return Err(e),
    },))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `STREAMS` must name the instance wasmtime-wasi defines, or the shadow would add a
    /// second instance no guest uses: defining another of wasmtime-wasi's stream functions
    /// there without shadowing fails only if `STREAMS` is wasmtime-wasi's instance.
    #[test]
    fn the_shadowed_instance_is_wasmtime_wasis_own() {
        let engine = wasmtime::Engine::default();
        let mut linker = Linker::<crate::store::StoreData>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
        add_to_linker(&mut linker, |d| &mut d.table).unwrap();
        let mut streams = linker.instance(STREAMS).unwrap();
        let again = streams.func_wrap(
            "[method]input-stream.subscribe",
            |_: StoreContextMut<'_, crate::store::StoreData>, (): ()| Ok(()),
        );
        let err = again.expect_err("wasmtime-wasi's streams instance already has `subscribe`");
        assert!(format!("{err:#}").contains("defined twice"), "{err:#}");
    }
}
