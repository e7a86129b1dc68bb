use super::*;

#[test]
fn only_the_deta_hosts_v1_paths_go_to_the_data_service() {
    assert_eq!(
        data_api("database.deta.sh", "/v1/p/b/items"),
        Some(Api::Base)
    );
    assert_eq!(data_api("Drive.Deta.SH", "/v1/p/d/files"), Some(Api::Drive));
    assert_eq!(data_api("database.deta.sh", "/v2/p/b/items"), None);
    assert_eq!(data_api("database.deta.sh.evil.example", "/v1/p/b"), None);
    assert_eq!(data_api("example.com", "/v1/p/b/items"), None);
}

#[test]
fn forbidden_headers_are_the_defaults() {
    let budget = Arc::new(crate::sandbox::fds::FdBudget::new("m", 1, 1));
    let mut hooks = OutboundHooks {
        micro: "m".into(),
        policy: Arc::new(Outbound::default()),
        data: None,
        fds: FdAccount::new(budget),
    };
    let default = hooks.forbidden_header_filter();
    for name in [
        "host",
        "connection",
        "keep-alive",
        "upgrade",
        "x-custom",
        "content-type",
    ] {
        let name = http::HeaderName::from_static(name);
        assert_eq!(hooks.is_forbidden_header(&name), default(&name), "{name}");
    }
    assert!(hooks.is_forbidden_header(&http::header::HOST));
    assert!(!hooks.is_forbidden_header(&http::header::CONTENT_TYPE));
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn s14_default_policy_allows_public_and_denies_internal_ranges() {
    let p = Outbound::parse("m", &[]).unwrap();
    assert!(p.allows("https", "example.com", 443, &[ip("93.184.216.34")]));
    for internal in [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "fd00:ec2::254",
        "198.18.0.1",
        "198.19.255.254",
        "168.63.129.16",
    ] {
        assert!(!p.allows("http", "x", 80, &[ip(internal)]), "{internal}");
    }
    // A name resolving to one internal address among public ones is denied.
    assert!(!p.allows("http", "x", 80, &[ip("93.184.216.34"), ip("10.0.0.1")]));
    // Unresolvable: denied.
    assert!(!p.allows("http", "x", 80, &[]));
}

#[test]
fn s14_ipv6_forms_that_reach_ipv4_or_are_not_global_are_denied() {
    for internal in [
        "64:ff9b::7f00:1",     // NAT64 of 127.0.0.1
        "64:ff9b::5db8:d822",  // NAT64 of a public address: still a translator hop
        "64:ff9b:1::a00:1",    // local-use NAT64
        "::127.0.0.1",         // IPv4-compatible
        "::10.0.0.1",          // IPv4-compatible
        "2002:7f00:1::1",      // 6to4 of 127.0.0.1
        "2001:0:4136:e378::1", // Teredo
        "fec0::1",             // site local
        "2001:db8::1",         // documentation
        "100::1",              // discard-only
    ] {
        assert!(!is_public(ip(internal)), "{internal}");
    }
    for public in ["2606:4700::1111", "2a00:1450:4001::200e", "2001:4860::8888"] {
        assert!(is_public(ip(public)), "{public}");
    }
    assert!(is_public(ip("198.20.0.1")) && is_public(ip("168.63.129.17")));
}

#[test]
fn s14_an_entry_without_a_port_means_the_schemes_default_port() {
    let p = Outbound::parse(
        "m",
        &[
            "https://api.example.com".into(),
            "plain.example.com".into(),
            "postgres://db.internal".into(),
        ],
    )
    .unwrap();
    assert!(p.allows("https", "api.example.com", 443, &[]));
    assert!(!p.allows("https", "api.example.com", 8443, &[]));
    assert!(p.allows("http", "plain.example.com", 80, &[]));
    assert!(p.allows("https", "plain.example.com", 443, &[]));
    assert!(!p.allows("http", "plain.example.com", 22, &[]));
    assert!(p.allows("postgres", "db.internal", 5432, &[]));
    assert!(!p.allows("postgres", "db.internal", 6379, &[]));
    assert!(!p.needs_addresses());
    assert!(Outbound::parse("m", &["gopher://old.example".into()]).is_err());
}

#[test]
fn s14_with_a_list_only_listed_names_may_be_looked_up() {
    let p = Outbound::parse(
        "m",
        &[
            "https://api.example.com".into(),
            "*.internal.test:5432".into(),
        ],
    )
    .unwrap();
    for allowed in [
        "api.example.com",
        "API.Example.com.",
        "db.internal.test",
        "127.0.0.1",
        "::1",
        "[2001:db8::1]",
    ] {
        assert!(p.may_look_up(allowed), "{allowed}");
    }
    for denied in [
        "secret-data.attacker.example",
        "example.com",
        "internal.test",
        "x.api.example.com",
        "api.example.com.attacker.example",
        "db%2einternal.test",
        "",
        ".",
    ] {
        assert!(!p.may_look_up(denied), "{denied}");
    }
    let default = Outbound::parse("m", &[]).unwrap();
    assert!(default.may_look_up("anything.example"));
    let any = Outbound::parse("m", &["*".into()]).unwrap();
    assert!(any.may_look_up("anything.example"));
}

#[test]
fn s14_only_the_implicit_bind_of_a_connect_is_allowed() {
    assert!(is_implicit_bind("0.0.0.0:0".parse().unwrap()));
    assert!(is_implicit_bind("[::]:0".parse().unwrap()));
    for explicit in ["0.0.0.0:8080", "127.0.0.1:0", "[::1]:0", "10.0.0.1:4200"] {
        assert!(!is_implicit_bind(explicit.parse().unwrap()), "{explicit}");
    }
}

#[test]
fn s14_allow_list_entries_with_wildcards_schemes_and_ports() {
    let p = Outbound::parse(
        "m",
        &[
            "https://api.example.com".into(),
            "*.internal.test:5432".into(),
            "http://127.0.0.1:8080".into(),
        ],
    )
    .unwrap();
    assert!(p.allows("https", "api.example.com", 443, &[]));
    assert!(
        !p.allows("http", "api.example.com", 80, &[]),
        "scheme must match"
    );
    assert!(!p.allows("https", "evil.example.com", 443, &[]));
    assert!(p.allows("postgres", "db.internal.test", 5432, &[]));
    assert!(
        !p.allows("postgres", "db.internal.test", 5433, &[]),
        "port must match"
    );
    assert!(
        !p.allows("postgres", "internal.test", 5432, &[]),
        "wildcard needs a subdomain"
    );
    assert!(p.allows("http", "127.0.0.1", 8080, &[ip("127.0.0.1")]));
    assert!(!p.allows("http", "127.0.0.1", 8081, &[ip("127.0.0.1")]));
}

#[test]
fn s14_bad_entries_are_rejected_naming_the_micro() {
    for bad in ["https://a.com/path", "*foo.com", "", "http://"] {
        let e = Outbound::parse("api", &[bad.into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("api"), "{e}");
    }
}

#[tokio::test]
async fn s14_tcp_checks() {
    let default = Outbound::parse("m", &[]).unwrap();
    assert!(!default.allows_tcp("127.0.0.1:5432".parse().unwrap()).await);
    assert!(default.allows_tcp("8.8.8.8:53".parse().unwrap()).await);
    let listed = Outbound::parse("m", &["postgres://127.0.0.1:5432".into()]).unwrap();
    assert!(listed.allows_tcp("127.0.0.1:5432".parse().unwrap()).await);
    assert!(!listed.allows_tcp("127.0.0.1:5433".parse().unwrap()).await);
    let bare = Outbound::parse("m", &["127.0.0.1".into()]).unwrap();
    assert!(bare.allows_tcp("127.0.0.1:443".parse().unwrap()).await);
    assert!(!bare.allows_tcp("127.0.0.1:5432".parse().unwrap()).await);
    assert!(!listed.allows_tcp("8.8.8.8:53".parse().unwrap()).await);
}
