//! The Rust SDK's JSON writer in wasm (sdk/src/json_out.rs): with the guests built with SIMD
//! it is sonic-rs, not serde_json, and it must write serde_json's bytes. The guest is
//! `tests/guests/sdk-probe` (`POST /json`); the expected bytes are serde_json's, here.

use serde_json::json;

use crate::harness::{AppDir, guest};

/// Text with every ASCII character, escapes at every offset of a 16-byte block, runs longer
/// than a block, multi-byte characters and invalid UTF-8 (which the guest turns into U+FFFD).
fn tricky_text() -> Vec<u8> {
    let mut text: Vec<u8> = (0u8..0x80).collect();
    for offset in 0..40 {
        text.extend(std::iter::repeat_n(b'a', offset));
        text.extend_from_slice("\"\\\u{1}\t\u{1f}\u{7f}é€😀\u{2028}".as_bytes());
        text.extend(std::iter::repeat_n(b'b', 17 + offset % 5));
    }
    text.extend_from_slice(b"\xff\xfe end");
    text.extend(std::iter::repeat_n(b'x', 70_000));
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sdks_json_in_wasm_is_byte_for_byte_serde_jsons() {
    let sdk = guest("sdk_probe").display().to_string();
    let app = AppDir::new(&format!(
        "[app]\nname = \"json\"\n\n[[micro]]\nname = \"sdk\"\ncomponent = '{sdk}'\nsrc = \"code\"\n"
    ));
    app.write("code/.keep", "");
    let srv = app.serve(&[]);

    let sent = tricky_text();
    let r = srv.post("/json", sent.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.headers["content-type"], "application/json");
    let expected = serde_json::to_vec(&json!({
        "text": String::from_utf8_lossy(&sent),
        "numbers": [0.1, 1e21, 1e-7, -0.0, 5e-324, f64::MAX, 1.0 / 3.0, i64::MIN, u64::MAX],
        "nested": { "z": [true, false, null], "a": [[], {}], "é": "\u{2028}" },
    }))
    .unwrap();
    if r.body != expected {
        let at = r
            .body
            .iter()
            .zip(&expected)
            .take_while(|(a, b)| a == b)
            .count();
        let around = |b: &[u8]| {
            String::from_utf8_lossy(&b[at.saturating_sub(40)..(at + 40).min(b.len())]).into_owned()
        };
        panic!(
            "the bytes differ at {at} of {} / {}: guest {:?}, serde_json {:?}",
            r.body.len(),
            expected.len(),
            around(&r.body),
            around(&expected)
        );
    }
}
