//! Request routing: decides whether a request target is a runtime endpoint under `/__space/`
//! or belongs to a Micro, and which path that Micro sees (SPEC §4 "Routing" and
//! "Reserved prefix").
//!
//! The router works on the normalized path (see [`normalize_path`]): dot segments removed,
//! runs of `/` collapsed, percent-encoded unreserved characters decoded, so `/api/../x`,
//! `/api//x` and `/%61pi/x` cannot pick a different Micro than the path the guest will act on.
//! A path that guests may split into segments differently ([`is_ambiguous`]: a `\`, an
//! encoded `\`, or an encoded `/` that forms a `.` or `..` segment) is refused
//! ([`Target::Ambiguous`]), so the normalized path is the only reading of the request: the one
//! the Micro gets and the one the API-key check (`auth`) matches against `public_routes`. The
//! data service under `/__space/v0/` is the exception: it reaches no guest and validates its
//! own paths.
//! The longest Micro prefix that matches at a segment boundary wins and is stripped; anything
//! else goes to the primary. A Micro-relative path under `/__space` is [`Target::Reserved`]:
//! outside callers never reach a Micro's `/__space/v0/actions`, which only the scheduler sends.
//!
//! Pure: no I/O and no hyper types. It must not check auth, methods or limits, and it never
//! builds responses; the server turns a [`Target`] into one.

use std::borrow::Cow;

use http::HeaderValue;

use crate::data::Api;

/// The runtime's reserved first path segment.
const RESERVED_SEGMENT: &str = "__space";

/// One Micro mounted at a path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `"/"` for the primary, otherwise the Micro's `path` from `app.toml`, such as `"/api"`
    /// (validated: starts with `/`, no trailing `/`).
    pub prefix: String,
    /// Index of the Micro in the app's list of Micros.
    pub micro: usize,
}

/// Maps request targets to runtime endpoints and Micros.
#[derive(Debug, Clone)]
pub struct Router {
    /// Non-root routes, longest prefix first, so the first match is the longest one.
    routes: Vec<Mount>,
    /// The Micro that receives every path no other route claims.
    primary: usize,
    /// `/`, the primary's `X-Forwarded-Prefix`.
    root: HeaderValue,
}

/// A non-root route as the router keeps it: its normalized prefix, and that prefix as the
/// `X-Forwarded-Prefix` value, made once here rather than per request (`None` when the prefix
/// cannot be a header value).
#[derive(Debug, Clone)]
struct Mount {
    prefix: String,
    header: Option<HeaderValue>,
    micro: usize,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// A runtime endpoint under `/__space/`.
    Space(SpaceEndpoint),
    /// A Micro, with the path it sees.
    Micro {
        /// Index of the Micro in the app's list of Micros.
        micro: usize,
        /// The normalized path with the route prefix stripped (always starts with `/`),
        /// followed by the client's query string exactly as it was sent.
        path_and_query: String,
        /// The route prefix that matched (`"/"` for the primary) as the `X-Forwarded-Prefix`
        /// value; `None` when it cannot be a header value.
        prefix: Option<&'a HeaderValue>,
    },
    /// A Micro's own `/__space/...` reached from outside: answer 404.
    Reserved,
    /// Not an absolute path, or `..` climbs above the root: answer 404.
    NotFound,
    /// A path a guest may read differently from the router ([`is_ambiguous`]): answer 400.
    Ambiguous,
}

/// The runtime's own endpoints under `/__space`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpaceEndpoint {
    /// `/__space/health`
    Health,
    /// `/__space/status`
    Status,
    /// `/__space/metrics`
    Metrics,
    /// `/__space` or `/__space/`
    Dashboard,
    /// `/__space/actions/<id>/run`: the dashboard's "Run now", with the percent-decoded id.
    RunAction(String),
    /// `/__space/v0/base/v1/…` or `/__space/v0/drive/v1/…`: the app's data service, with the
    /// path the service reads (`/v1/…`, normalized) and the client's query.
    Data { api: Api, path_and_query: String },
    /// Any other path under `/__space/`: the full normalized path, without the query.
    Other(String),
}

impl Router {
    /// Builds a router from the Micros' routes; `primary` receives every path no other route
    /// claims. A route whose prefix is `"/"` is the primary's and needs no entry of its own.
    pub fn new(routes: Vec<Route>, primary: usize) -> Router {
        let mut routes: Vec<Mount> = routes
            .into_iter()
            .filter_map(|route| {
                let prefix = normalize_path(&route.prefix)
                    .map(Cow::into_owned)
                    .unwrap_or(route.prefix);
                let prefix = prefix.trim_end_matches('/');
                if prefix.is_empty() {
                    return None;
                }
                let prefix = if prefix.starts_with('/') {
                    prefix.to_string()
                } else {
                    format!("/{prefix}")
                };
                Some(Mount {
                    header: HeaderValue::from_str(&prefix).ok(),
                    prefix,
                    micro: route.micro,
                })
            })
            .collect();
        routes.sort_by(|a, b| {
            b.prefix
                .len()
                .cmp(&a.prefix.len())
                .then_with(|| a.prefix.cmp(&b.prefix))
        });
        Router {
            routes,
            primary,
            root: HeaderValue::from_static("/"),
        }
    }

    /// Routes a request target in origin form (`/path?query`).
    pub fn route(&self, path_and_query: &str) -> Target<'_> {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        let ambiguous = is_ambiguous(path);
        let Some(path) = normalize_path(path) else {
            return Target::NotFound;
        };
        if let Some(rest) = strip_segment_prefix(&path, "/__space") {
            let endpoint = SpaceEndpoint::from_rest(rest, &path, query);
            // The data service reaches no guest and refuses odd keys and names itself, in its
            // own error shape; every other endpoint gets the one reading only.
            if ambiguous && !matches!(endpoint, SpaceEndpoint::Data { .. }) {
                return Target::Ambiguous;
            }
            return Target::Space(endpoint);
        }
        if ambiguous {
            return Target::Ambiguous;
        }
        for route in &self.routes {
            if let Some(rest) = strip_segment_prefix(&path, &route.prefix) {
                return micro_target(route.micro, rest, query, route.header.as_ref());
            }
        }
        micro_target(self.primary, &path, query, Some(&self.root))
    }
}

impl SpaceEndpoint {
    /// `rest` is what follows `/__space` in the normalized `path`; `query` is the client's.
    fn from_rest(rest: &str, path: &str, query: Option<&str>) -> SpaceEndpoint {
        for (prefix, api) in [("/v0/base", Api::Base), ("/v0/drive", Api::Drive)] {
            if let Some(data) = strip_segment_prefix(rest, prefix)
                && data.starts_with("/v1/")
            {
                let path_and_query = match query {
                    Some(query) => format!("{data}?{query}"),
                    None => data.to_string(),
                };
                return SpaceEndpoint::Data {
                    api,
                    path_and_query,
                };
            }
        }
        match rest {
            "" | "/" => SpaceEndpoint::Dashboard,
            "/health" => SpaceEndpoint::Health,
            "/status" => SpaceEndpoint::Status,
            "/metrics" => SpaceEndpoint::Metrics,
            _ => match rest
                .strip_prefix("/actions/")
                .and_then(|r| r.strip_suffix("/run"))
                .filter(|id| !id.is_empty() && !id.contains('/'))
            {
                Some(id) => SpaceEndpoint::RunAction(
                    String::from_utf8_lossy(&decode_all(id.as_bytes())).into_owned(),
                ),
                None => SpaceEndpoint::Other(path.to_string()),
            },
        }
    }
}

/// Builds [`Target::Micro`], or [`Target::Reserved`] when the Micro-relative path is under
/// `/__space`.
fn micro_target<'a>(
    micro: usize,
    rest: &str,
    query: Option<&str>,
    prefix: Option<&'a HeaderValue>,
) -> Target<'a> {
    let rest = if rest.is_empty() { "/" } else { rest };
    if is_reserved(rest) {
        return Target::Reserved;
    }
    let path_and_query = match query {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_string(),
    };
    Target::Micro {
        micro,
        path_and_query,
        prefix,
    }
}

/// What follows `prefix` in `path` when `prefix` matches at a segment boundary
/// (`""` for an exact match), else `None`. `/apix` does not match `/api`.
fn strip_segment_prefix<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// Normalizes an absolute request path for routing.
///
/// Percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, which RFC 3986
/// §6.2.2.2 defines as equivalent, so `%2E%2E` is `..` and `%5F%5Fspace` is `__space`; every
/// other percent-encoding is kept as the client sent it. Then runs of `/` are collapsed and
/// dot segments removed (RFC 3986 §5.2.4). A trailing `/` is kept. The result is also the
/// path handed to the Micro.
///
/// Returns `None` when the path is not absolute or a `..` climbs above the root (RFC 3986
/// would clamp it; a request that tries is refused instead).
pub fn normalize_path(path: &str) -> Option<Cow<'_, str>> {
    if !path.starts_with('/') {
        return None;
    }
    if is_normal(path) {
        return Some(Cow::Borrowed(path));
    }
    normalize_slowly(path).map(Cow::Owned)
}

/// True when guests may split `path` (no query) into segments differently from the router,
/// which splits at a literal `/` only: the path holds a `\` or an encoded `\` (`%5C`), which
/// some SDKs and frameworks read as `/`, or an encoded `/` (`%2F`) that, decoded, would make a
/// `.` or `..` segment (`/share/..%2Fsecret`). An encoded `/` inside an ordinary segment
/// (`/files/a%2Fb`) reads the same either way and is kept.
pub fn is_ambiguous(path: &str) -> bool {
    if path.contains('\\') {
        return true;
    }
    if !path.contains('%') {
        return false;
    }
    let lower = path.to_ascii_lowercase();
    if lower.contains("%5c") {
        return true;
    }
    if !lower.contains("%2f") {
        return false;
    }
    decode_unreserved(&lower)
        .split('/')
        .filter(|segment| segment.contains("%2f"))
        .flat_map(|segment| segment.split("%2f"))
        .any(|part| part == "." || part == "..")
}

/// True when `path` is what the router hands a Micro: unambiguous and already normalized.
/// The API-key check matches only such paths against `public_routes`.
pub fn is_canonical(path: &str) -> bool {
    !is_ambiguous(path) && normalize_path(path).is_some_and(|normal| normal == path)
}

/// [`normalize_path`] for an absolute path, without the shortcut.
fn normalize_slowly(path: &str) -> Option<String> {
    let decoded = decode_unreserved(path);
    let segments: Vec<&str> = decoded[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut kept: Vec<&str> = Vec::with_capacity(segments.len());
    let mut trailing_slash = false;
    for (index, segment) in segments.into_iter().enumerate() {
        let is_last = index == last;
        match segment {
            "" | "." => trailing_slash = is_last,
            ".." => {
                kept.pop()?;
                trailing_slash = is_last;
            }
            _ => {
                kept.push(segment);
                trailing_slash = false;
            }
        }
    }
    let mut normalized = String::with_capacity(decoded.len());
    for segment in &kept {
        normalized.push('/');
        normalized.push_str(segment);
    }
    if normalized.is_empty() || trailing_slash {
        normalized.push('/');
    }
    Some(normalized)
}

/// True when normalizing the absolute `path` would not change it (most paths): nothing
/// percent-encoded, no dot segment, no empty segment but the last.
fn is_normal(path: &str) -> bool {
    if path.contains('%') {
        return false;
    }
    let mut segments = path[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment == "." || segment == ".." || (segment.is_empty() && !last) {
            return false;
        }
    }
    true
}

/// Decodes `%XX` triplets that encode an unreserved character; leaves everything else,
/// including malformed triplets, untouched.
fn decode_unreserved(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match tail.as_bytes().get(1..3).and_then(hex_byte) {
            Some(byte) if is_unreserved(byte) => {
                out.push(char::from(byte));
                rest = &tail[3..];
            }
            _ => {
                out.push('%');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn hex_byte(digits: &[u8]) -> Option<u8> {
    let digit = |d: u8| char::from(d).to_digit(16);
    let (high, low) = (digit(*digits.first()?)?, digit(*digits.get(1)?)?);
    u8::try_from(high * 16 + low).ok()
}

/// True when a guest might read the (normalized, Micro-relative) `path` as being under
/// `/__space`. Deliberately loose, because guests decode and match paths in many ways: every
/// percent-encoding is decoded (so `%2F` splits segments), `\` counts as `/`, `..` is clamped
/// at the root, a `;parameter` suffix is ignored and the comparison ignores ASCII case.
/// A false positive only turns an odd path into a 404.
fn is_reserved(path: &str) -> bool {
    // Without a percent-encoding, only a literal `__space` (in any case) can be reserved.
    if !path.contains('%')
        && !path
            .as_bytes()
            .windows(RESERVED_SEGMENT.len())
            .any(|w| w.eq_ignore_ascii_case(RESERVED_SEGMENT.as_bytes()))
    {
        return false;
    }
    is_reserved_decoded(path)
}

/// [`is_reserved`] without the shortcut.
fn is_reserved_decoded(path: &str) -> bool {
    let decoded: Vec<u8> = decode_all(path.as_bytes())
        .into_iter()
        .map(|byte| if byte == b'\\' { b'/' } else { byte })
        .collect();
    let mut kept: Vec<&[u8]> = Vec::new();
    for segment in decoded.split(|&byte| byte == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                kept.pop();
            }
            _ => kept.push(segment),
        }
    }
    kept.first().is_some_and(|first| {
        let name = first.split(|&byte| byte == b';').next().unwrap_or(first);
        name.eq_ignore_ascii_case(RESERVED_SEGMENT.as_bytes())
    })
}

/// Decodes every well-formed `%XX` triplet.
fn decode_all(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(byte) = bytes.get(index + 1..index + 3).and_then(hex_byte)
        {
            out.push(byte);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests;
