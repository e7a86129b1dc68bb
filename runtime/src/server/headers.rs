//! Request headers the runtime owns before a request reaches a guest: the client IP
//! (S17: `X-Forwarded-For` and `X-Real-IP` come from the TCP peer, spoofed values are dropped
//! unless the peer is a configured trusted proxy), upgrade detection (S18: the server answers
//! 501), `X-Forwarded-Prefix` (SPEC §4 "Routing") and hop-by-hop headers.
//!
//! Pure header manipulation: no I/O and no responses. It must not touch any header it does not
//! own, such as `Host`, `X-Forwarded-Host` or `X-Forwarded-Proto`.

use std::net::{IpAddr, SocketAddr};

use http::header::{CONNECTION, FORWARDED, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// `X-Forwarded-For`: the chain of addresses a request passed through.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Real-IP`: the client address the runtime decided on.
pub const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
/// `X-Forwarded-Prefix`: the route prefix of the Micro that receives the request.
pub const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Headers that never go past a hop, named or not in `Connection`.
const HOP_BY_HOP: [HeaderName; 7] = [
    CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// Headers a client cannot get removed by naming them in `Connection`: the runtime sets them
/// (or needs them) for the guest.
const NOT_REMOVABLE_BY_CONNECTION: [HeaderName; 5] = [
    http::header::HOST,
    http::header::CONTENT_LENGTH,
    X_FORWARDED_FOR,
    X_REAL_IP,
    X_FORWARDED_PREFIX,
];

/// The proxies whose `X-Forwarded-For` is believed (`--trusted-proxy`, S17).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Parses CIDRs (`10.0.0.0/8`, `fd00::/8`) and bare addresses (`192.0.2.7`, `::1`).
    ///
    /// # Errors
    ///
    /// The first value that is neither, named in the message.
    pub fn parse(cidrs: &[String]) -> Result<Self, String> {
        cidrs
            .iter()
            .map(|text| {
                let trimmed = text.trim();
                if let Ok(net) = trimmed.parse::<ipnet::IpNet>() {
                    return Ok(canonical_net(net));
                }
                trimmed
                    .parse::<IpAddr>()
                    .map(|ip| ipnet::IpNet::from(ip.to_canonical()))
                    .map_err(|_| {
                        format!(
                            "invalid trusted proxy {text:?}: expected an IP address or a CIDR such as 10.0.0.0/8"
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// True when `ip` lies in one of the trusted networks. IPv4-mapped IPv6 addresses
    /// (`::ffff:10.0.0.1`, as a dual-stack listener reports IPv4 peers) count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// True when no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) as the IPv4 network it denotes, so it
/// matches canonicalized peers.
fn canonical_net(net: ipnet::IpNet) -> ipnet::IpNet {
    if let ipnet::IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && v6.prefix_len() >= 96
        && let Ok(mapped) = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return ipnet::IpNet::V4(mapped.trunc());
    }
    net.trunc()
}

/// Rewrites the client-IP headers in place (S17) and returns the client IP it decided on.
///
/// - `peer` not trusted: every incoming `X-Forwarded-For`, `X-Real-IP` and `Forwarded` is
///   dropped; the request gets `X-Forwarded-For: <peer>` and `X-Real-IP: <peer>`.
/// - `peer` trusted: the client is the right-most untrusted address of the incoming
///   `X-Forwarded-For` chain (walking from the right, skipping trusted addresses and empty
///   entries). An unparsable entry ends the walk at the last address read (or the peer), and
///   a chain of trusted addresses only gives its left-most one. `X-Forwarded-For` becomes
///   `<incoming chain>, <peer>` and `X-Real-IP` the client.
///
/// `Forwarded` is always dropped: the runtime never parses it, so it cannot vouch for it,
/// and a trusted proxy that only maintains `X-Forwarded-For` passes a client's `Forwarded`
/// through unchanged.
pub fn set_client_ip(headers: &mut HeaderMap, peer: IpAddr, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    let chain: Vec<HeaderValue> = headers.get_all(&X_FORWARDED_FOR).iter().cloned().collect();
    headers.remove(&X_FORWARDED_FOR);
    headers.remove(&X_REAL_IP);
    headers.remove(FORWARDED);

    let peer_value = ip_value(peer);
    if !trusted.contains(peer) {
        headers.insert(X_FORWARDED_FOR, peer_value.clone());
        headers.insert(X_REAL_IP, peer_value);
        return peer;
    }

    let client = client_from_chain(&chain, peer, trusted);
    let forwarded_for = if chain.is_empty() {
        peer_value
    } else {
        let mut joined = Vec::new();
        for value in &chain {
            joined.extend_from_slice(value.as_bytes());
            joined.extend_from_slice(b", ");
        }
        joined.extend_from_slice(peer_value.as_bytes());
        HeaderValue::from_bytes(&joined).unwrap_or(peer_value)
    };
    headers.insert(X_FORWARDED_FOR, forwarded_for);
    headers.insert(X_REAL_IP, ip_value(client));
    client
}

/// Walks an `X-Forwarded-For` chain (possibly split across several header lines) from the
/// right; see [`set_client_ip`].
fn client_from_chain(chain: &[HeaderValue], peer: IpAddr, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer;
    for value in chain.iter().rev() {
        let Ok(text) = value.to_str() else {
            return client;
        };
        for entry in text.rsplit(',').map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            let Some(ip) = parse_forwarded_ip(entry) else {
                return client;
            };
            client = ip;
            if !trusted.contains(ip) {
                return client;
            }
        }
    }
    client
}

/// One `X-Forwarded-For` entry: `192.0.2.1`, `2001:db8::1`, and, as some proxies write them,
/// `192.0.2.1:4711`, `[2001:db8::1]:4711` or `[2001:db8::1]`.
fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .or_else(|| {
            entry
                .strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<IpAddr>()
                .ok()
        })?;
    Some(ip.to_canonical())
}

fn ip_value(ip: IpAddr) -> HeaderValue {
    HeaderValue::from_str(&ip.to_string()).expect("an IP address is a valid header value")
}

/// True when the request asks for a protocol upgrade (S18): method `CONNECT` (including an
/// HTTP/2 extended CONNECT, as WebSockets over HTTP/2 use), an `Upgrade` header, or a
/// `Connection` header listing the `upgrade` token.
///
/// One exception: an `Upgrade` that offers only `h2c` (what `curl --http2` sends over plain
/// HTTP/1.1) is an optional offer a server may ignore, which the runtime does: the request is
/// served over HTTP/1.1 instead of being refused.
pub fn wants_upgrade(req: &http::request::Parts) -> bool {
    if req.method == Method::CONNECT {
        return true;
    }
    if req.headers.contains_key(UPGRADE) {
        let mut only_h2c = true;
        let mut offers = 0;
        for value in req.headers.get_all(UPGRADE) {
            let Ok(text) = value.to_str() else {
                return true;
            };
            for protocol in tokens(text) {
                offers += 1;
                only_h2c &= protocol.eq_ignore_ascii_case("h2c");
            }
        }
        return offers == 0 || !only_h2c;
    }
    req.headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(tokens)
        .any(|token| token.eq_ignore_ascii_case("upgrade"))
}

/// Sets `X-Forwarded-Prefix` to the Micro's route prefix (`/` for the primary), replacing any
/// incoming value.
pub fn set_forwarded_prefix(headers: &mut HeaderMap, prefix: &str) {
    match HeaderValue::from_str(prefix) {
        Ok(value) => {
            headers.insert(X_FORWARDED_PREFIX, value);
        }
        Err(_) => {
            headers.remove(X_FORWARDED_PREFIX);
        }
    }
}

/// Removes hop-by-hop headers before a request goes to a guest: `Connection`, `Keep-Alive`,
/// `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`, and every header named
/// in `Connection` except the ones the runtime sets or needs (`Host`, `Content-Length`,
/// `X-Forwarded-For`, `X-Real-IP`, `X-Forwarded-Prefix`), so a client cannot use
/// `Connection: X-Real-IP` to strip what S17 guarantees.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(tokens)
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .filter(|name| !NOT_REMOVABLE_BY_CONNECTION.contains(name))
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
}

/// The non-empty, trimmed elements of a comma-separated header list.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(',')
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let client = set_client_ip(&mut map, ip("203.0.113.5"), &TrustedProxies::default());
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
        let client = set_client_ip(&mut map, ip("203.0.113.5"), &proxies);
        assert_eq!(client, ip("203.0.113.5"));
        assert_eq!(all(&map, "x-forwarded-for"), ["203.0.113.5"]);
        assert_eq!(all(&map, "x-real-ip"), ["203.0.113.5"]);
        assert!(all(&map, "forwarded").is_empty());
        assert_eq!(all(&map, "x-forwarded-host"), ["example.com"]);
        assert_eq!(all(&map, "x-forwarded-proto"), ["https"]);
    }

    #[test]
    fn s17_ipv6_peer_is_written_plainly() {
        let mut map = HeaderMap::new();
        let client = set_client_ip(&mut map, ip("2001:db8::7"), &TrustedProxies::default());
        assert_eq!(client, ip("2001:db8::7"));
        assert_eq!(all(&map, "x-forwarded-for"), ["2001:db8::7"]);
        assert_eq!(all(&map, "x-real-ip"), ["2001:db8::7"]);
    }

    #[test]
    fn s17_ipv4_mapped_peer_is_reported_as_ipv4() {
        let mut map = HeaderMap::new();
        let client = set_client_ip(
            &mut map,
            ip("::ffff:203.0.113.5"),
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
        let client = set_client_ip(&mut map, ip("10.0.0.2"), &trusted(&["10.0.0.0/8"]));
        assert_eq!(client, ip("198.51.100.9"));
        assert_eq!(all(&map, "x-forwarded-for"), ["198.51.100.9, 10.0.0.2"]);
        assert_eq!(all(&map, "x-real-ip"), ["198.51.100.9"]);
    }

    #[test]
    fn s17_trusted_proxy_client_is_rightmost_untrusted() {
        // The client spoofed 1.1.1.1; its real address was appended by the first proxy.
        let mut map = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.9, 10.0.0.3")]);
        let client = set_client_ip(&mut map, ip("10.0.0.2"), &trusted(&["10.0.0.0/8"]));
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
        let client = set_client_ip(&mut map, ip("10.0.0.2"), &trusted(&["10.0.0.0/8"]));
        assert_eq!(client, ip("198.51.100.9"));
        assert_eq!(
            all(&map, "x-forwarded-for"),
            ["1.1.1.1, 198.51.100.9, 10.0.0.3, 10.0.0.2"]
        );
    }

    #[test]
    fn s17_trusted_proxy_without_chain_gives_peer() {
        let mut map = HeaderMap::new();
        let client = set_client_ip(&mut map, ip("10.0.0.2"), &trusted(&["10.0.0.0/8"]));
        assert_eq!(client, ip("10.0.0.2"));
        assert_eq!(all(&map, "x-forwarded-for"), ["10.0.0.2"]);
        assert_eq!(all(&map, "x-real-ip"), ["10.0.0.2"]);
    }

    #[test]
    fn s17_trusted_proxy_all_trusted_chain_gives_leftmost() {
        let mut map = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.8")]);
        let client = set_client_ip(&mut map, ip("10.0.0.2"), &trusted(&["10.0.0.0/8"]));
        assert_eq!(client, ip("10.0.0.9"));
    }

    #[test]
    fn s17_trusted_proxy_unparsable_entry_ends_walk() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let mut map = headers(&[("x-forwarded-for", "198.51.100.9, unknown, 10.0.0.3")]);
        assert_eq!(
            set_client_ip(&mut map, ip("10.0.0.2"), &proxies),
            ip("10.0.0.3")
        );

        let mut map = headers(&[("x-forwarded-for", "198.51.100.9, garbage")]);
        assert_eq!(
            set_client_ip(&mut map, ip("10.0.0.2"), &proxies),
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
                set_client_ip(&mut map, ip("10.0.0.2"), &proxies),
                ip(expected),
                "{chain}"
            );
        }
    }

    #[test]
    fn s17_trusted_proxy_skips_empty_entries() {
        let mut map = headers(&[("x-forwarded-for", "198.51.100.9, , 10.0.0.3,")]);
        let client = set_client_ip(&mut map, ip("10.0.0.2"), &trusted(&["10.0.0.0/8"]));
        assert_eq!(client, ip("198.51.100.9"));
    }

    #[test]
    fn s17_trusted_proxy_spoofed_forwarded_is_dropped() {
        let mut map = headers(&[
            ("x-forwarded-for", "198.51.100.9"),
            ("forwarded", "for=1.2.3.4"),
        ]);
        set_client_ip(&mut map, ip("10.0.0.2"), &trusted(&["10.0.0.0/8"]));
        assert!(all(&map, "forwarded").is_empty());
    }

    #[test]
    fn s17_trusted_ipv4_mapped_peer() {
        let mut map = headers(&[("x-forwarded-for", "198.51.100.9")]);
        let client = set_client_ip(&mut map, ip("::ffff:10.0.0.2"), &trusted(&["10.0.0.0/8"]));
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
        set_forwarded_prefix(&mut map, "/api");
        assert_eq!(all(&map, "x-forwarded-prefix"), ["/api"]);
        set_forwarded_prefix(&mut map, "/");
        assert_eq!(all(&map, "x-forwarded-prefix"), ["/"]);
    }

    #[test]
    fn routing_forwarded_prefix_invalid_value_is_removed() {
        let mut map = headers(&[("x-forwarded-prefix", "/evil")]);
        set_forwarded_prefix(&mut map, "/a\nb");
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
}
