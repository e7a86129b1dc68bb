//! Unit tests of `router`.

use super::*;

const PRIMARY: usize = 0;
const API: usize = 1;
const API_V2: usize = 2;
const API_ADMIN: usize = 3;

fn router() -> Router {
    Router::new(
        vec![
            Route {
                prefix: "/".into(),
                micro: PRIMARY,
            },
            Route {
                prefix: "/api".into(),
                micro: API,
            },
            Route {
                prefix: "/api-v2".into(),
                micro: API_V2,
            },
            Route {
                prefix: "/api/admin".into(),
                micro: API_ADMIN,
            },
        ],
        PRIMARY,
    )
}

fn micro(micro: usize, path_and_query: &str, prefix: &'static str) -> Target<'static> {
    Target::Micro {
        micro,
        path_and_query: path_and_query.into(),
        // A test's few expected values may live for the whole run.
        prefix: Some(Box::leak(Box::new(HeaderValue::from_static(prefix)))),
    }
}

#[track_caller]
fn assert_route(target: &str, expected: Target<'_>) {
    assert_eq!(router().route(target), expected, "routing {target:?}");
}

// normalize_path

#[test]
fn routing_normalize_keeps_plain_paths() {
    for path in ["/", "/a", "/a/b", "/a/b/", "/a.b/c~d_e-f"] {
        assert_eq!(normalize_path(path).as_deref(), Some(path));
    }
}

#[test]
fn routing_normalize_collapses_repeated_slashes() {
    assert_eq!(normalize_path("//").as_deref(), Some("/"));
    assert_eq!(normalize_path("//a///b").as_deref(), Some("/a/b"));
    assert_eq!(normalize_path("/a//").as_deref(), Some("/a/"));
}

#[test]
fn routing_normalize_removes_dot_segments() {
    assert_eq!(normalize_path("/a/./b").as_deref(), Some("/a/b"));
    assert_eq!(normalize_path("/a/b/../c").as_deref(), Some("/a/c"));
    assert_eq!(normalize_path("/a/b/..").as_deref(), Some("/a/"));
    assert_eq!(normalize_path("/a/.").as_deref(), Some("/a/"));
    assert_eq!(normalize_path("/a/..").as_deref(), Some("/"));
    assert_eq!(normalize_path("/.").as_deref(), Some("/"));
    assert_eq!(normalize_path("/a/b/../../c/").as_deref(), Some("/c/"));
}

#[test]
fn routing_normalize_keeps_dots_inside_segments() {
    assert_eq!(normalize_path("/a/...").as_deref(), Some("/a/..."));
    assert_eq!(normalize_path("/a/..b/.c").as_deref(), Some("/a/..b/.c"));
}

#[test]
fn routing_normalize_refuses_climbing_above_root() {
    assert_eq!(normalize_path("/.."), None);
    assert_eq!(normalize_path("/../x"), None);
    assert_eq!(normalize_path("/a/../../x"), None);
    assert_eq!(normalize_path("/%2e%2e/x"), None);
    assert_eq!(normalize_path("/.%2E/x"), None);
}

#[test]
fn routing_normalize_refuses_relative_paths() {
    assert_eq!(normalize_path(""), None);
    assert_eq!(normalize_path("a/b"), None);
    assert_eq!(normalize_path("*"), None);
    assert_eq!(normalize_path("http://host/a"), None);
}

#[test]
fn routing_normalize_decodes_only_unreserved_characters() {
    assert_eq!(
        normalize_path("/%5F%5fspace/%41%7E%2D").as_deref(),
        Some("/__space/A~-")
    );
    assert_eq!(
        normalize_path("/a%2Fb/c%20d/%3f/%25").as_deref(),
        Some("/a%2Fb/c%20d/%3f/%25")
    );
    assert_eq!(
        normalize_path("/bad%zz/%4/%").as_deref(),
        Some("/bad%zz/%4/%")
    );
    assert_eq!(normalize_path("/caf%C3%A9").as_deref(), Some("/caf%C3%A9"));
}

#[test]
fn routing_normalize_keeps_non_ascii_text() {
    assert_eq!(normalize_path("/café/../ü").as_deref(), Some("/ü"));
}

// Routing to Micros

#[test]
fn routing_prefix_is_stripped() {
    assert_route("/api/items?x=1", micro(API, "/items?x=1", "/api"));
    assert_route("/api/items/", micro(API, "/items/", "/api"));
    assert_route("/api/a/b/c", micro(API, "/a/b/c", "/api"));
}

#[test]
fn routing_exact_prefix_becomes_root() {
    assert_route("/api", micro(API, "/", "/api"));
    assert_route("/api/", micro(API, "/", "/api"));
    assert_route("/api?x=1", micro(API, "/?x=1", "/api"));
}

#[test]
fn routing_prefix_matches_only_at_segment_boundary() {
    assert_route("/apix", micro(PRIMARY, "/apix", "/"));
    assert_route("/apix/items", micro(PRIMARY, "/apix/items", "/"));
    assert_route("/ap", micro(PRIMARY, "/ap", "/"));
}

#[test]
fn routing_longest_prefix_wins() {
    assert_route("/api-v2/items", micro(API_V2, "/items", "/api-v2"));
    assert_route("/api-v2", micro(API_V2, "/", "/api-v2"));
    assert_route("/api/admin/users", micro(API_ADMIN, "/users", "/api/admin"));
    assert_route("/api/administrators", micro(API, "/administrators", "/api"));
}

#[test]
fn routing_longest_prefix_ignores_route_order() {
    let reversed = Router::new(
        vec![
            Route {
                prefix: "/api".into(),
                micro: API,
            },
            Route {
                prefix: "/api/admin".into(),
                micro: API_ADMIN,
            },
        ],
        PRIMARY,
    );
    assert_eq!(
        reversed.route("/api/admin/x"),
        micro(API_ADMIN, "/x", "/api/admin")
    );
}

#[test]
fn routing_everything_else_goes_to_primary() {
    assert_route("/", micro(PRIMARY, "/", "/"));
    assert_route("/index.html", micro(PRIMARY, "/index.html", "/"));
    assert_route("/?q=1", micro(PRIMARY, "/?q=1", "/"));
    assert_route("/deep/path/", micro(PRIMARY, "/deep/path/", "/"));
}

#[test]
fn routing_without_routes_sends_all_to_primary() {
    let single = Router::new(Vec::new(), 7);
    assert_eq!(single.route("/api/x"), micro(7, "/api/x", "/"));
}

#[test]
fn routing_route_prefix_with_trailing_slash_is_tolerated() {
    let router = Router::new(
        vec![Route {
            prefix: "/api/".into(),
            micro: API,
        }],
        PRIMARY,
    );
    assert_eq!(router.route("/api/x"), micro(API, "/x", "/api"));
}

#[test]
fn routing_query_is_preserved_untouched() {
    assert_route(
        "/api/items?a=%2F..%2F&b=/../__space&c",
        micro(API, "/items?a=%2F..%2F&b=/../__space&c", "/api"),
    );
    assert_route("/api/items?", micro(API, "/items?", "/api"));
    assert_route("/x?y?z", micro(PRIMARY, "/x?y?z", "/"));
    assert_route("/x/../y?p=..", micro(PRIMARY, "/y?p=..", "/"));
}

#[test]
fn routing_uses_normalized_path() {
    assert_route("/api//items", micro(API, "/items", "/api"));
    assert_route("//api/items", micro(API, "/items", "/api"));
    assert_route("/api/./items", micro(API, "/items", "/api"));
    assert_route("/other/../api/items", micro(API, "/items", "/api"));
    assert_route("/%61pi/items", micro(API, "/items", "/api"));
    assert_route("/api/../items", micro(PRIMARY, "/items", "/"));
    assert_route("/api/..", micro(PRIMARY, "/", "/"));
}

#[test]
fn routing_keeps_client_encoding_of_reserved_characters() {
    assert_route("/api/a%2Fb?x", micro(API, "/a%2Fb?x", "/api"));
    assert_route("/api/a%20b", micro(API, "/a%20b", "/api"));
}

#[test]
fn routing_escape_above_root_is_not_found() {
    assert_route("/..", Target::NotFound);
    assert_route("/../api/x", Target::NotFound);
    assert_route("/%2e%2e/x", Target::NotFound);
    assert_route("/api/../../x", Target::NotFound);
    assert_route("/api/%2E%2E/%2e%2e/x?y", Target::NotFound);
}

#[test]
fn routing_relative_target_is_not_found() {
    assert_route("", Target::NotFound);
    assert_route("*", Target::NotFound);
    assert_route("api/x", Target::NotFound);
    assert_route("?x=1", Target::NotFound);
}

// Runtime endpoints

#[test]
fn reserved_prefix_runtime_endpoints() {
    assert_route("/__space/health", Target::Space(SpaceEndpoint::Health));
    assert_route("/__space/status", Target::Space(SpaceEndpoint::Status));
    assert_route("/__space/metrics", Target::Space(SpaceEndpoint::Metrics));
    assert_route("/__space", Target::Space(SpaceEndpoint::Dashboard));
    assert_route("/__space/", Target::Space(SpaceEndpoint::Dashboard));
}

#[test]
fn reserved_prefix_runtime_endpoints_ignore_query() {
    assert_route(
        "/__space/health?verbose=1",
        Target::Space(SpaceEndpoint::Health),
    );
    assert_route("/__space?x", Target::Space(SpaceEndpoint::Dashboard));
}

#[test]
fn reserved_prefix_other_runtime_paths() {
    assert_route(
        "/__space/v0/actions",
        Target::Space(SpaceEndpoint::Other("/__space/v0/actions".into())),
    );
    assert_route(
        "/__space/health/",
        Target::Space(SpaceEndpoint::Other("/__space/health/".into())),
    );
    assert_route(
        "/__space/healthz",
        Target::Space(SpaceEndpoint::Other("/__space/healthz".into())),
    );
}

#[test]
fn reserved_prefix_run_action_endpoint() {
    let run = |id: &str| Target::Space(SpaceEndpoint::RunAction(id.into()));
    assert_route("/__space/actions/cleanup/run", run("cleanup"));
    assert_route("/__space/actions/a%20b/run?x=1", run("a b"));
    assert_route("/__space/actions//cleanup//run", run("cleanup"));
    for other in [
        "/__space/actions//run",
        "/__space/actions/a/b/run",
        "/__space/actions/a",
    ] {
        let normalized = normalize_path(other).unwrap().into_owned();
        assert_route(other, Target::Space(SpaceEndpoint::Other(normalized)));
    }
}

#[test]
fn reserved_prefix_runtime_endpoints_after_normalization() {
    assert_route("/%5F%5Fspace/health", Target::Space(SpaceEndpoint::Health));
    assert_route("//__space//metrics", Target::Space(SpaceEndpoint::Metrics));
    assert_route("/x/../__space/status", Target::Space(SpaceEndpoint::Status));
    assert_route(
        "/api/../__space/health",
        Target::Space(SpaceEndpoint::Health),
    );
}

#[test]
fn reserved_prefix_is_a_whole_segment() {
    assert_route("/__spacex", micro(PRIMARY, "/__spacex", "/"));
    assert_route("/__spaces/x", micro(PRIMARY, "/__spaces/x", "/"));
    assert_route("/api/__spacex/y", micro(API, "/__spacex/y", "/api"));
    assert_route("/x/__space", micro(PRIMARY, "/x/__space", "/"));
}

// A Micro's own /__space/ from outside

#[test]
fn reserved_prefix_micro_actions_unreachable() {
    assert_route("/api/__space/v0/actions", Target::Reserved);
    assert_route("/api/__space", Target::Reserved);
    assert_route("/api/__space/", Target::Reserved);
    assert_route("/api-v2/__space/v0/actions?x=1", Target::Reserved);
}

#[test]
fn reserved_prefix_micro_actions_unreachable_through_dot_segments() {
    assert_route("/api/x/../__space/v0/actions", Target::Reserved);
    assert_route("/api/./__space/v0/actions", Target::Reserved);
    assert_route("/api/x/%2e%2e/__space/v0/actions", Target::Reserved);
}

#[test]
fn reserved_prefix_parent_of_micro_is_the_runtime() {
    // `..` leaves the Micro's prefix: the runtime answers, never the Micro.
    assert_route(
        "/api/../__space/v0/actions",
        Target::Space(SpaceEndpoint::Other("/__space/v0/actions".into())),
    );
}

#[test]
fn reserved_prefix_micro_actions_unreachable_through_repeated_slashes() {
    assert_route("/api//__space/v0/actions", Target::Reserved);
    assert_route("/api///__space//v0/actions", Target::Reserved);
}

#[test]
fn reserved_prefix_micro_actions_unreachable_through_percent_encoding() {
    assert_route("/api/%5F%5Fspace/v0/actions", Target::Reserved);
    assert_route("/api/%5f_space/v0/actions", Target::Reserved);
    assert_route("/api/__%73pace/v0/actions", Target::Reserved);
}

#[test]
fn reserved_prefix_micro_actions_unreachable_through_encoded_slashes() {
    assert_route("/api/%2F__space/v0/actions", Target::Reserved);
    assert_route("/api/x%2F..%2F__space/v0/actions", Target::Ambiguous);
    assert_route("/api/__space%2Fv0%2Factions", Target::Reserved);
    assert_route("/%2F__space/v0/actions", Target::Reserved);
    assert_route("/api/x%2f..%2f..%2f__space/v0/actions", Target::Ambiguous);
}

#[test]
fn reserved_prefix_micro_actions_unreachable_through_case_or_backslash() {
    assert_route("/api/__SPACE/v0/actions", Target::Reserved);
    assert_route("/api/__Space", Target::Reserved);
    assert_route("/__SPACE/v0/actions", Target::Reserved);
    assert_route("/api/x\\..\\__space/v0/actions", Target::Ambiguous);
    assert_route("/api/%5C__space/v0/actions", Target::Ambiguous);
    assert_route("/api/__space;x=1/v0/actions", Target::Reserved);
}

#[test]
fn reserved_prefix_primary_actions_unreachable() {
    // The primary's relative path is the whole path; variants that are not the exact
    // runtime prefix must still never reach it.
    assert_route("/__Space/v0/actions", Target::Reserved);
    assert_route("/%5F%5FSPACE/v0/actions", Target::Reserved);
}

#[test]
fn routing_refuses_backslashes_and_encoded_slashes_that_make_dot_segments() {
    for path in [
        "/share/..\\secret",
        "/share\\x",
        "/share/..%5Csecret",
        "/share/..%5csecret",
        "/share/..%2Fsecret",
        "/share/x%2f..%2f..%2fsecret",
        "/share/%2e%2e%2Fsecret",
        "/share/.%2Fsecret",
        "/share/%2F..",
        "/api/..%2Fx?y=1",
    ] {
        assert_route(path, Target::Ambiguous);
        assert!(!is_canonical(path.split('?').next().unwrap()), "{path}");
    }
    // An encoded `/` inside a segment, or next to a segment that is only dots by name, is
    // one reading; so is a `\` or `%2F` in the query.
    assert_route("/files/a%2Fb", micro(PRIMARY, "/files/a%2Fb", "/"));
    assert_route("/files/..a%2F...", micro(PRIMARY, "/files/..a%2F...", "/"));
    assert_route("/x?p=..%2F..\\y", micro(PRIMARY, "/x?p=..%2F..\\y", "/"));
    assert_route("/__space/status\\x", Target::Ambiguous);
    // The data service validates its own paths (and answers in its own error shape).
    assert!(matches!(
        router().route("/__space/v0/base/v1/p/b/..%2Fx/items"),
        Target::Space(SpaceEndpoint::Data { .. })
    ));
    assert!(is_canonical("/files/a%2Fb"));
    assert!(!is_canonical("/files/../b"));
    assert!(!is_canonical("/files//b"));
    assert!(!is_canonical("/%61"));
}

/// Every path of up to four segments from a set of awkward ones.
fn awkward_paths() -> Vec<String> {
    let parts = [
        "a",
        "",
        ".",
        "..",
        "%41",
        "%2e",
        "b.c",
        "__space",
        "__SPACE;x",
        "%5f_space",
    ];
    let mut paths = vec![String::new()];
    let mut all = Vec::new();
    for _ in 0..4 {
        paths = paths
            .iter()
            .flat_map(|p| parts.iter().map(move |s| format!("{p}/{s}")))
            .collect();
        all.extend(paths.iter().cloned());
    }
    all
}

#[test]
fn the_normal_path_shortcut_agrees_with_full_normalization() {
    for path in awkward_paths() {
        if is_normal(&path) {
            assert_eq!(normalize_slowly(&path).as_deref(), Some(path.as_str()));
        }
        assert_eq!(
            normalize_path(&path).as_deref(),
            normalize_slowly(&path).as_deref(),
            "{path}"
        );
    }
}

#[test]
fn the_reserved_shortcut_agrees_with_full_decoding() {
    for path in awkward_paths() {
        assert_eq!(is_reserved(&path), is_reserved_decoded(&path), "{path}");
    }
}
