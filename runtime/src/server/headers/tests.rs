//! Unit tests of `headers`.

use super::*;

fn peer(text: &str) -> Peer {
    ip(text).into()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn trusted(cidrs: &[&str]) -> TrustedProxies {
    let cidrs: Vec<String> = cidrs.iter().map(|cidr| cidr.to_string()).collect();
    TrustedProxies::parse(&cidrs).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn all(map: &HeaderMap, name: &str) -> Vec<String> {
    map.get_all(name)
        .iter()
        .map(|value| value.to_str().unwrap().to_string())
        .collect()
}

fn parts(method: Method, pairs: &[(&str, &str)]) -> http::request::Parts {
    let mut builder = http::Request::builder().method(method).uri("/");
    for (name, value) in pairs {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap().into_parts().0
}

// TrustedProxies

#[test]
fn s17_trusted_proxies_parse_cidrs_and_bare_ips() {
    let proxies = trusted(&[
        "10.0.0.0/8",
        "192.0.2.7",
        "fd00::/8",
        "::1",
        " 172.16.0.0/12 ",
    ]);
    assert!(proxies.contains(ip("10.1.2.3")));
    assert!(proxies.contains(ip("192.0.2.7")));
    assert!(!proxies.contains(ip("192.0.2.8")));
    assert!(proxies.contains(ip("fd12::1")));
    assert!(proxies.contains(ip("::1")));
    assert!(proxies.contains(ip("172.31.255.255")));
    assert!(!proxies.contains(ip("11.0.0.1")));
    assert!(!proxies.contains(ip("fe80::1")));
}

#[test]
fn s17_trusted_proxies_accept_host_bits_in_cidr() {
    let proxies = trusted(&["10.9.8.7/8"]);
    assert!(proxies.contains(ip("10.0.0.1")));
}

#[test]
fn s17_trusted_proxies_error_names_bad_value() {
    for bad in ["10.0.0.0/33", "nonsense", "10.0.0", "", "10.0.0.0/8/8"] {
        let error =
            TrustedProxies::parse(&["127.0.0.1".to_string(), bad.to_string()]).expect_err(bad);
        assert!(error.contains(&format!("{bad:?}")), "{error}");
        assert!(error.starts_with("invalid trusted proxy"), "{error}");
    }
}

#[test]
fn s17_trusted_proxies_match_ipv4_mapped_peers() {
    let proxies = trusted(&["10.0.0.0/8"]);
    assert!(proxies.contains(ip("::ffff:10.0.0.1")));
    assert!(!proxies.contains(ip("::ffff:11.0.0.1")));
    let mapped = trusted(&["::ffff:10.0.0.0/104"]);
    assert!(mapped.contains(ip("10.0.0.1")));
    assert!(mapped.contains(ip("::ffff:10.0.0.1")));
    assert!(trusted(&["::ffff:192.0.2.1"]).contains(ip("192.0.2.1")));
}

#[test]
fn s17_no_trusted_proxies_trusts_nobody() {
    let none = TrustedProxies::default();
    assert!(none.is_empty());
    assert!(!none.contains(ip("127.0.0.1")));
    assert_eq!(TrustedProxies::parse(&[]).unwrap(), none);
}

// set_client_ip, untrusted peer

#[test]
fn s17_client_ip_set_from_peer() {
    let mut map = HeaderMap::new();
    let client = set_client_ip(&mut map, &peer("203.0.113.5"), &TrustedProxies::default());
    assert_eq!(client, ip("203.0.113.5"));
    assert_eq!(all(&map, "x-forwarded-for"), ["203.0.113.5"]);
    assert_eq!(all(&map, "x-real-ip"), ["203.0.113.5"]);
}

#[test]
fn s17_spoofed_forwarded_for_is_replaced() {
    let mut map = headers(&[
        ("x-forwarded-for", "1.2.3.4"),
        ("x-forwarded-for", "5.6.7.8, 9.9.9.9"),
        ("x-real-ip", "1.2.3.4"),
        ("forwarded", "for=1.2.3.4;proto=https"),
        ("x-forwarded-host", "example.com"),
        ("x-forwarded-proto", "https"),
    ]);
    let proxies = trusted(&["10.0.0.0/8"]);
    let client = set_client_ip(&mut map, &peer("203.0.113.5"), &proxies);
    assert_eq!(client, ip("203.0.113.5"));
    assert_eq!(all(&map, "x-forwarded-for"), ["203.0.113.5"]);
    assert_eq!(all(&map, "x-real-ip"), ["203.0.113.5"]);
    assert!(all(&map, "forwarded").is_empty());
    assert!(all(&map, "x-forwarded-host").is_empty());
    assert!(all(&map, "x-forwarded-proto").is_empty());
}

#[test]
fn s17_ipv6_peer_is_written_plainly() {
    let mut map = HeaderMap::new();
    let client = set_client_ip(&mut map, &peer("2001:db8::7"), &TrustedProxies::default());
    assert_eq!(client, ip("2001:db8::7"));
    assert_eq!(all(&map, "x-forwarded-for"), ["2001:db8::7"]);
    assert_eq!(all(&map, "x-real-ip"), ["2001:db8::7"]);
}

#[test]
fn s17_ipv4_mapped_peer_is_reported_as_ipv4() {
    let mut map = HeaderMap::new();
    let client = set_client_ip(
        &mut map,
        &peer("::ffff:203.0.113.5"),
        &TrustedProxies::default(),
    );
    assert_eq!(client, ip("203.0.113.5"));
    assert_eq!(all(&map, "x-real-ip"), ["203.0.113.5"]);
}

// set_client_ip, trusted peer

#[test]
fn s17_trusted_proxy_forwarded_for_is_believed() {
    let mut map = headers(&[
        ("x-forwarded-for", "198.51.100.9"),
        ("x-real-ip", "6.6.6.6"),
    ]);
    let client = set_client_ip(&mut map, &peer("10.0.0.2"), &trusted(&["10.0.0.0/8"]));
    assert_eq!(client, ip("198.51.100.9"));
    assert_eq!(all(&map, "x-forwarded-for"), ["198.51.100.9, 10.0.0.2"]);
    assert_eq!(all(&map, "x-real-ip"), ["198.51.100.9"]);
}

#[test]
fn s17_trusted_proxy_client_is_rightmost_untrusted() {
    // The client spoofed 1.1.1.1; its real address was appended by the first proxy.
    let mut map = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.9, 10.0.0.3")]);
    let client = set_client_ip(&mut map, &peer("10.0.0.2"), &trusted(&["10.0.0.0/8"]));
    assert_eq!(client, ip("198.51.100.9"));
    assert_eq!(
        all(&map, "x-forwarded-for"),
        ["1.1.1.1, 198.51.100.9, 10.0.0.3, 10.0.0.2"]
    );
    assert_eq!(all(&map, "x-real-ip"), ["198.51.100.9"]);
}

#[test]
fn s17_trusted_proxy_chain_across_several_header_lines() {
    let mut map = headers(&[
        ("x-forwarded-for", "1.1.1.1"),
        ("x-forwarded-for", "198.51.100.9, 10.0.0.3"),
    ]);
    let client = set_client_ip(&mut map, &peer("10.0.0.2"), &trusted(&["10.0.0.0/8"]));
    assert_eq!(client, ip("198.51.100.9"));
    assert_eq!(
        all(&map, "x-forwarded-for"),
        ["1.1.1.1, 198.51.100.9, 10.0.0.3, 10.0.0.2"]
    );
}

#[test]
fn s17_trusted_proxy_without_chain_gives_peer() {
    let mut map = HeaderMap::new();
    let client = set_client_ip(&mut map, &peer("10.0.0.2"), &trusted(&["10.0.0.0/8"]));
    assert_eq!(client, ip("10.0.0.2"));
    assert_eq!(all(&map, "x-forwarded-for"), ["10.0.0.2"]);
    assert_eq!(all(&map, "x-real-ip"), ["10.0.0.2"]);
}

#[test]
fn s17_trusted_proxy_all_trusted_chain_gives_leftmost() {
    let mut map = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.8")]);
    let client = set_client_ip(&mut map, &peer("10.0.0.2"), &trusted(&["10.0.0.0/8"]));
    assert_eq!(client, ip("10.0.0.9"));
}

#[test]
fn s17_trusted_proxy_unparsable_entry_ends_walk() {
    let proxies = trusted(&["10.0.0.0/8"]);
    let mut map = headers(&[("x-forwarded-for", "198.51.100.9, unknown, 10.0.0.3")]);
    assert_eq!(
        set_client_ip(&mut map, &peer("10.0.0.2"), &proxies),
        ip("10.0.0.3")
    );

    let mut map = headers(&[("x-forwarded-for", "198.51.100.9, garbage")]);
    assert_eq!(
        set_client_ip(&mut map, &peer("10.0.0.2"), &proxies),
        ip("10.0.0.2")
    );
    assert_eq!(
        all(&map, "x-forwarded-for"),
        ["198.51.100.9, garbage, 10.0.0.2"]
    );
    assert_eq!(all(&map, "x-real-ip"), ["10.0.0.2"]);
}

#[test]
fn s17_trusted_proxy_entries_with_ports_and_brackets() {
    let proxies = trusted(&["10.0.0.0/8"]);
    for (chain, expected) in [
        ("198.51.100.9:4711", "198.51.100.9"),
        ("[2001:db8::9]:4711", "2001:db8::9"),
        ("[2001:db8::9]", "2001:db8::9"),
        (" 2001:db8::9 ", "2001:db8::9"),
        ("::ffff:198.51.100.9", "198.51.100.9"),
    ] {
        let mut map = headers(&[("x-forwarded-for", chain)]);
        assert_eq!(
            set_client_ip(&mut map, &peer("10.0.0.2"), &proxies),
            ip(expected),
            "{chain}"
        );
    }
}

#[test]
fn s17_trusted_proxy_skips_empty_entries() {
    let mut map = headers(&[("x-forwarded-for", "198.51.100.9, , 10.0.0.3,")]);
    let client = set_client_ip(&mut map, &peer("10.0.0.2"), &trusted(&["10.0.0.0/8"]));
    assert_eq!(client, ip("198.51.100.9"));
}

#[test]
fn s17_trusted_proxy_spoofed_forwarded_is_dropped() {
    let mut map = headers(&[
        ("x-forwarded-for", "198.51.100.9"),
        ("forwarded", "for=1.2.3.4"),
    ]);
    set_client_ip(&mut map, &peer("10.0.0.2"), &trusted(&["10.0.0.0/8"]));
    assert!(all(&map, "forwarded").is_empty());
}

#[test]
fn s17_trusted_ipv4_mapped_peer() {
    let mut map = headers(&[("x-forwarded-for", "198.51.100.9")]);
    let client = set_client_ip(
        &mut map,
        &peer("::ffff:10.0.0.2"),
        &trusted(&["10.0.0.0/8"]),
    );
    assert_eq!(client, ip("198.51.100.9"));
    assert_eq!(all(&map, "x-forwarded-for"), ["198.51.100.9, 10.0.0.2"]);
}

// wants_upgrade

#[test]
fn s18_plain_request_wants_no_upgrade() {
    assert!(!wants_upgrade(&parts(Method::GET, &[])));
    assert!(!wants_upgrade(&parts(
        Method::GET,
        &[("connection", "keep-alive")]
    )));
    assert!(!wants_upgrade(&parts(
        Method::POST,
        &[("connection", "close")]
    )));
}

#[test]
fn s18_websocket_upgrade_is_detected() {
    assert!(wants_upgrade(&parts(
        Method::GET,
        &[("connection", "Upgrade"), ("upgrade", "websocket")]
    )));
    assert!(wants_upgrade(&parts(
        Method::GET,
        &[("upgrade", "websocket")]
    )));
}

#[test]
fn s18_connection_upgrade_token_is_detected() {
    for value in [
        "upgrade",
        "UPGRADE",
        "keep-alive, Upgrade",
        " close ,upgrade ",
    ] {
        assert!(
            wants_upgrade(&parts(Method::GET, &[("connection", value)])),
            "{value}"
        );
    }
    assert!(!wants_upgrade(&parts(
        Method::GET,
        &[("connection", "upgraded, x-upgrade")]
    )));
}

#[test]
fn s18_connect_is_an_upgrade() {
    assert!(wants_upgrade(&parts(Method::CONNECT, &[])));
}

#[test]
fn s18_h2c_only_offer_is_ignored() {
    assert!(!wants_upgrade(&parts(
        Method::GET,
        &[
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "h2c"),
            ("http2-settings", "AAMAAABkAAQCAAAAAAIAAAAA"),
        ]
    )));
    assert!(wants_upgrade(&parts(
        Method::GET,
        &[("connection", "upgrade"), ("upgrade", "h2c, websocket")]
    )));
    assert!(wants_upgrade(&parts(Method::GET, &[("upgrade", "")])));
}

// X-Forwarded-Prefix

#[test]
fn routing_forwarded_prefix_replaces_incoming() {
    let mut map = headers(&[
        ("x-forwarded-prefix", "/evil"),
        ("x-forwarded-prefix", "/more"),
    ]);
    set_forwarded_prefix(&mut map, Some(&HeaderValue::from_static("/api")));
    assert_eq!(all(&map, "x-forwarded-prefix"), ["/api"]);
    set_forwarded_prefix(&mut map, Some(&HeaderValue::from_static("/")));
    assert_eq!(all(&map, "x-forwarded-prefix"), ["/"]);
}

#[test]
fn routing_forwarded_prefix_invalid_value_is_removed() {
    let mut map = headers(&[("x-forwarded-prefix", "/evil")]);
    set_forwarded_prefix(&mut map, HeaderValue::from_str("/a\nb").ok().as_ref());
    assert!(all(&map, "x-forwarded-prefix").is_empty());
}

// strip_hop_by_hop

#[test]
fn hop_by_hop_headers_are_stripped() {
    let mut map = headers(&[
        ("connection", "keep-alive"),
        ("keep-alive", "timeout=5"),
        ("proxy-connection", "keep-alive"),
        ("te", "trailers"),
        ("trailer", "x-checksum"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "h2c"),
        ("content-type", "text/plain"),
        ("accept", "*/*"),
    ]);
    strip_hop_by_hop(&mut map);
    let mut names: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["accept", "content-type"]);
}

#[test]
fn hop_by_hop_headers_named_in_connection_are_stripped() {
    let mut map = headers(&[
        ("connection", "X-Secret, close"),
        ("connection", "x-other"),
        ("x-secret", "1"),
        ("x-other", "2"),
        ("x-kept", "3"),
    ]);
    strip_hop_by_hop(&mut map);
    let names: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
    assert_eq!(names, ["x-kept"]);
}

#[test]
fn s17_connection_cannot_strip_client_ip_headers() {
    let mut map = headers(&[
        (
            "connection",
            "X-Forwarded-For, x-real-ip, X-Forwarded-Prefix, host, content-length, bad name",
        ),
        ("x-forwarded-for", "203.0.113.5"),
        ("x-real-ip", "203.0.113.5"),
        ("x-forwarded-prefix", "/api"),
        ("host", "example.com"),
        ("content-length", "3"),
    ]);
    strip_hop_by_hop(&mut map);
    assert_eq!(all(&map, "x-forwarded-for"), ["203.0.113.5"]);
    assert_eq!(all(&map, "x-real-ip"), ["203.0.113.5"]);
    assert_eq!(all(&map, "x-forwarded-prefix"), ["/api"]);
    assert_eq!(all(&map, "host"), ["example.com"]);
    assert_eq!(all(&map, "content-length"), ["3"]);
    assert!(map.get("connection").is_none());
}

#[test]
fn forwarded_host_proto_and_port_pass_only_from_trusted_proxies() {
    let sent = [
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-port", "443"),
    ];
    let mut map = headers(&sent);
    set_client_ip(&mut map, &peer("198.51.100.7"), &trusted(&[]));
    for (name, _) in sent {
        assert!(all(&map, name).is_empty(), "{name} kept from a client");
    }
    let mut map = headers(&sent);
    set_client_ip(&mut map, &peer("10.0.0.1"), &trusted(&["10.0.0.0/8"]));
    for (name, value) in sent {
        assert_eq!(all(&map, name), [value], "{name} from a trusted proxy");
    }
}

#[test]
fn local_client_is_a_loopback_peer_forwarding_for_nobody_else() {
    let none = trusted(&[]);
    for local in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
        assert!(
            is_local_client(&headers(&[]), &peer(local), &none),
            "{local}"
        );
    }
    for remote in [
        "192.0.2.2",
        "10.0.0.1",
        "::ffff:192.0.2.2",
        "2001:db8::1",
        "0.0.0.0",
    ] {
        assert!(
            !is_local_client(&headers(&[]), &peer(remote), &none),
            "{remote}"
        );
    }
    // A spoofed header never makes a remote peer local.
    let spoof = headers(&[("x-forwarded-for", "127.0.0.1"), ("x-real-ip", "127.0.0.1")]);
    assert!(!is_local_client(&spoof, &peer("192.0.2.2"), &none));
    // An untrusted loopback peer that forwards is a local proxy nobody declared.
    for sent in [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-for", "127.0.0.1"),
        ("x-real-ip", "203.0.113.9"),
        ("forwarded", "for=127.0.0.1"),
    ] {
        assert!(
            !is_local_client(&headers(&[sent]), &peer("127.0.0.1"), &none),
            "{sent:?}"
        );
    }
}

#[test]
fn local_client_behind_a_trusted_proxy_is_the_forwarded_client() {
    let proxy = trusted(&["127.0.0.1"]);
    let local =
        |pairs: &[(&str, &str)]| is_local_client(&headers(pairs), &peer("127.0.0.1"), &proxy);
    assert!(local(&[]));
    assert!(local(&[("x-forwarded-for", "127.0.0.1")]));
    assert!(local(&[("x-forwarded-for", "::1"), ("x-real-ip", "::1")]));
    assert!(!local(&[("x-forwarded-for", "203.0.113.9")]));
    assert!(!local(&[("x-forwarded-for", "127.0.0.1, 203.0.113.9")]));
    assert!(!local(&[
        ("x-forwarded-for", "127.0.0.1"),
        ("x-real-ip", "203.0.113.9")
    ]));
    assert!(!local(&[
        ("x-forwarded-for", "127.0.0.1"),
        ("forwarded", "for=1.2.3.4")
    ]));
    // A trusted proxy elsewhere never forwards a local client.
    let remote = trusted(&["10.0.0.0/8"]);
    let forwarded = headers(&[("x-forwarded-for", "127.0.0.1")]);
    assert!(!is_local_client(&forwarded, &peer("10.0.0.1"), &remote));
}

#[test]
fn loopback_host_names() {
    for host in [
        "localhost",
        "LOCALHOST:4200",
        "app.localhost",
        "127.0.0.1",
        "127.0.0.1:4200",
        "127.9.9.9:1",
        "[::1]",
        "[::1]:4200",
        "localhost.",
        "[::ffff:127.0.0.1]:80",
    ] {
        assert!(names_loopback(host), "{host}");
    }
    for host in [
        "evil.example",
        "evil.example:4200",
        "localhost.evil.example",
        "192.0.2.2:4200",
        "[2001:db8::1]:80",
        "",
        "127.0.0.1.nip.io",
        "localhostx",
    ] {
        assert!(!names_loopback(host), "{host}");
    }
}

/// `head_len` counts the bytes of a head as written: checked against heads hyper would parse.
#[test]
fn head_len_is_the_size_of_the_head_on_the_wire() {
    for raw in [
        "GET / HTTP/1.1\r\n\r\n",
        "POST /notes?limit=2 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\n",
        "GET http://example.com:8080/a/b?c HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nX-A: 2\r\n\r\n",
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let mut lines = raw.trim_end().split("\r\n");
        let mut start = lines.next().unwrap().split(' ');
        let (method, target) = (start.next().unwrap(), start.next().unwrap());
        let mut req = http::Request::builder().method(method).uri(target);
        for line in lines {
            let (name, value) = line.split_once(": ").unwrap();
            req = req.header(name, value);
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        assert_eq!(head_len(&parts), raw.len(), "{raw:?}");
    }
}
