//! What a component's bytes tell about how it may be run, read once when it is loaded.
//!
//! Today one thing: whether it answers only one request per instance. componentize-js builds
//! on StarlingMonkey, whose classic `addEventListener("fetch", …)` mode answers the first
//! fetch event of an instance and then returns without a response for every later one; a
//! module that exports `incomingHandler` itself (the JS SDK's style) has no such limit. The
//! JS source is part of the component's initialised memory, so an `export … incomingHandler`
//! is there when the module defines one (a mere mention, as in a comment, is not an export).
//!
//! A heuristic on bytes: it must never slow down or refuse a component, only decide to give
//! it a fresh instance per request (which is always correct, only slower).

/// Whether the component is a StarlingMonkey (componentize-js) one in the fetch-event style,
/// which must get a fresh instance for every request.
pub fn one_request_per_instance(bytes: &[u8]) -> bool {
    find_all(bytes, b"StarlingMonkey").next().is_some() && !exports_incoming_handler(bytes)
}

/// Whether some `incomingHandler` follows an `export` within the same statement
/// (`export const incomingHandler =`, `export { app as incomingHandler }`).
fn exports_incoming_handler(bytes: &[u8]) -> bool {
    const REACH: usize = 40;
    find_all(bytes, b"incomingHandler").any(|at| {
        let before = &bytes[at.saturating_sub(REACH)..at];
        let statement = before
            .rsplit(|b| matches!(b, b';' | b'\n' | b'`'))
            .next()
            .unwrap_or(before);
        find_all(statement, b"export").next().is_some()
    })
}

/// The offsets of `needle` in `haystack`.
fn find_all<'a>(haystack: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(move |(_, w)| *w == needle)
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_starlingmonkey_components_without_an_incoming_handler_are_one_shot() {
        let fetch_style = b"..StarlingMonkey..// (no `incomingHandler` export)\naddEventListener('fetch', e => e.respondWith(r))..";
        let handler_style =
            b"..StarlingMonkey..export const incomingHandler = app.incomingHandler;..";
        let renamed = b"..StarlingMonkey..export { handler as incomingHandler };..";
        assert!(!one_request_per_instance(renamed));
        let rust = b"..wasi:http/incoming-handler@0.2.12#handle..";
        assert!(one_request_per_instance(fetch_style));
        assert!(!one_request_per_instance(handler_style));
        assert!(!one_request_per_instance(rust));
        assert!(!one_request_per_instance(b""));
    }
}
