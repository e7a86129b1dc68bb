//! Which routes skip the API-key check (SPEC §4 "Auth"): a Micro's `public = true` or its
//! `public_routes` patterns, matched against the Micro-relative path the router produced.
//!
//! There is one reading of a path: the router's ([`super::router::normalize_path`], which
//! refuses paths a guest could split differently). A pattern is matched only against a path
//! in that canonical form ([`super::router::is_canonical`]); any other string is not public,
//! so a caller that forgets to route first fails closed.
//!
//! It must not read or store keys: that is `keys::api`.

/// Which of a Micro's routes skip the key check: all (`public = true`) or those matching a
/// `public_routes` pattern, where `*` matches any run of characters.
#[derive(Clone, Debug, Default)]
pub struct PublicRoutes {
    pub public: bool,
    pub routes: Vec<String>,
}

impl PublicRoutes {
    /// Whether the Micro-relative `path` (no query), as the router hands it to the Micro, is
    /// public. A path that is not in the router's canonical form never matches a pattern.
    pub fn is_public(&self, path: &str) -> bool {
        self.public
            || (!self.routes.is_empty()
                && super::router::is_canonical(path)
                && self.routes.iter().any(|p| glob(p, path)))
    }
}

/// `*` matches any run of characters (including `/`); everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_routes_use_star_globs() {
        let a = PublicRoutes {
            public: false,
            routes: vec!["/share/*".into(), "/".into(), "/*.css".into()],
        };
        assert!(a.is_public("/share/x/y"));
        assert!(a.is_public("/"));
        assert!(a.is_public("/static/site.css"));
        assert!(!a.is_public("/shared"));
        assert!(!a.is_public("/private"));
        assert!(
            PublicRoutes {
                public: true,
                routes: vec![]
            }
            .is_public("/anything")
        );
        assert!(glob("/a*b*c", "/aXXbYYc"));
        // Only the router's reading of a path can match.
        for path in [
            "/share/..\\x",
            "/share/..%2Fx",
            "/share/../x",
            "/share//x",
            "/share/%61",
        ] {
            assert!(!a.is_public(path), "{path}");
        }
        assert!(a.is_public("/share/a%2Fb"));
        assert!(!glob("/a*b*c", "/aXXbYY"));
    }
}
