//! Which routes skip the API-key check (SPEC §4 "Auth"): a Micro's `public = true` or its
//! `public_routes` patterns, matched against the Micro-relative path the router produced.
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
    /// Whether the Micro-relative `path` (no query) is public.
    pub fn is_public(&self, path: &str) -> bool {
        self.public || self.routes.iter().any(|p| glob(p, path))
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
        assert!(!glob("/a*b*c", "/aXXbYY"));
    }
}
