//! Property tests ("fuzzing" on stable Rust, with proptest): the parsers that read untrusted
//! input — the manifest, schedules, the router and the env overrides — never panic, and what
//! they accept keeps its invariants; and no path near a public route reaches a private one
//! without a key, however a guest decodes it. CI runs the default case count; set `PROPTEST_CASES`
//! for a longer run.

use proptest::prelude::*;

use crate::manifest;
use crate::manifest::interval::Interval;
use crate::server::auth::PublicRoutes;
use crate::server::router::{Route, Router, Target};

/// Pieces of request paths around the public prefix `/share/`: dot segments, slashes and
/// backslashes, plain and percent-encoded in both cases.
const PATH_PIECES: [&str; 18] = [
    "share", "secret", "x", "/", "/", ".", "..", "\\", "%2e", "%2E", "%2e%2e", "%2f", "%2F", "%5c",
    "%5C", "%25", "%2", "?",
];

/// How a lenient guest SDK may read a path: every `%XX` decoded once, `\` taken as `/`, dot
/// segments removed (clamped at the root) and empty segments dropped.
fn lenient_reading(path: &str) -> String {
    let mut bytes = Vec::with_capacity(path.len());
    let raw = path.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let hex = raw
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (raw[i], hex) {
            (b'%', Some(byte)) => {
                bytes.push(byte);
                i += 3;
            }
            (byte, _) => {
                bytes.push(byte);
                i += 1;
            }
        }
    }
    let text = String::from_utf8_lossy(&bytes).replace('\\', "/");
    let mut kept: Vec<&str> = Vec::new();
    for segment in text.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            _ => kept.push(segment),
        }
    }
    format!("/{}", kept.join("/"))
}

const VALID: &str = "[app]\nname = \"notes\"\n\n[limits]\ntimeout = \"5s\"\n\n[[micro]]\nname = \"api\"\ncomponent = \"api.wasm\"\npath = \"/api\"\n\n[[micro.action]]\nid = \"tick\"\nname = \"Tick\"\ninterval = \"0/15 * * * *\"\n\n[[micro]]\nname = \"web\"\ncomponent = \"web.wasm\"\nprimary = true\n";

proptest! {
    #[test]
    fn manifest_parse_never_panics(text in "\\PC{0,400}") {
        let _ = manifest::parse(std::path::Path::new("app.toml"), &text);
    }

    #[test]
    fn manifest_mutations_never_panic(at in 0usize..VALID.len(), insert in "[\\[\\]=\"a-z0-9 \\n/*,.-]{0,12}", cut in 0usize..8) {
        let at = (0..=at).rev().find(|i| VALID.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + cut).min(VALID.len());
        let end = (end..=VALID.len()).find(|i| VALID.is_char_boundary(*i)).unwrap_or(VALID.len());
        let text = format!("{}{}{}", &VALID[..at], insert, &VALID[end..]);
        if let Err(e) = manifest::parse(std::path::Path::new("app.toml"), &text) {
            // Every error names the file with a line and a column.
            prop_assert!(e.to_string().contains("app.toml:"), "{}", e);
        }
    }

    #[test]
    fn schedule_parse_never_panics_and_next_run_is_in_the_future(
        text in "[0-9*/,a-z -]{0,30}",
        secs in 0i64..4_000_000_000,
    ) {
        if let Ok(s) = Interval::parse(&text) {
            let t = chrono::DateTime::from_timestamp(secs, 0).unwrap();
            prop_assert!(s.next_after(t, t) > t);
        }
    }

    #[test]
    /// Days 29-31 are left out: a date that never occurs (June 31) is rightly refused.
    fn cron_fields_in_range_parse(m in 0u32..60, h in 0u32..24, dom in 1u32..29, mon in 1u32..13, step in 1u32..30) {
        let text = format!("{m}/{step} {h} {dom} {mon} *");
        prop_assert!(Interval::parse(&text).is_ok(), "{}", text);
    }

    #[test]
    fn router_never_panics_and_micro_paths_are_absolute(path in "/[a-zA-Z0-9%./_~?=&-]{0,60}") {
        let router = Router::new(
            vec![Route { prefix: "/".into(), micro: 0 }, Route { prefix: "/api".into(), micro: 1 }],
            0,
        );
        if let Target::Micro { path_and_query, .. } = router.route(&path) {
            prop_assert!(path_and_query.starts_with('/'), "{} -> {}", path, path_and_query);
            let p = path_and_query.split('?').next().unwrap().to_ascii_lowercase();
            prop_assert!(!p.starts_with("/__space"), "{} reached {}", path, path_and_query);
        }
    }

    #[test]
    fn no_path_reaches_a_private_route_without_a_key(
        head in prop::sample::select(vec!["/share/", "/", "/share", "/x/"]),
        pieces in prop::collection::vec(prop::sample::select(PATH_PIECES.to_vec()), 0..10),
    ) {
        let path = format!("{head}{}", pieces.concat());
        let router = Router::new(vec![Route { prefix: "/".into(), micro: 0 }], 0);
        let public = PublicRoutes { public: false, routes: vec!["/share/*".into()] };
        if let Target::Micro { path_and_query, .. } = router.route(&path) {
            let seen = path_and_query.split('?').next().unwrap();
            if public.is_public(seen) {
                let guest = lenient_reading(seen);
                prop_assert!(
                    guest.starts_with("/share/") || guest == "/share",
                    "{:?} passed as public {:?} but a guest may read {:?}", path, seen, guest
                );
            }
        }
    }

    #[test]
    fn env_override_parse_never_panics(text in "\\PC{0,60}") {
        let _ = crate::sandbox::env::Override::parse(&text);
    }
}
