//! JSON output for every body the SDK serialises (`Response::json`, `client::Request::json`,
//! Deta Base and Drive requests): the bytes serde_json writes, written by sonic-rs when the
//! guest is built with WebAssembly SIMD (`-C target-feature=+simd128`, as `guest-examples`
//! and `tests/guests` are), where it escapes strings 16 bytes at a time.
//!
//! Measured in wasm (wasmtime 48, a JSON object with a 64 KiB string): serde_json 49-50 us,
//! sonic-rs 4.2 us. Without SIMD, sonic-rs's scalar fallback is no faster than serde_json, so
//! serde_json writes. Parsing stays serde_json's; this module does not read JSON. That
//! the bytes are serde_json's is checked in wasm, on the real guest
//! (tests/conformance/sdk_json.rs).

use serde::Serialize;

/// `value` as JSON, the same bytes either way; the error's message when it cannot be
/// serialised (a map with keys that are not strings).
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return sonic_rs::to_vec(value).map_err(|e| e.to_string());
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    serde_json::to_vec(value).map_err(|e| e.to_string())
}
