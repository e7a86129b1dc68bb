//! Request headers the runtime owns before a request reaches a guest: the client IP
//! (S17: `X-Forwarded-For` and `X-Real-IP` come from the TCP peer, spoofed values are dropped
//! unless the peer is a configured trusted proxy), upgrade detection (S18: the server answers
//! 501), `X-Forwarded-Prefix` (SPEC §4 "Routing") and hop-by-hop headers.
//!
//! `X-Forwarded-Host`, `-Proto` and `-Port` say where a proxy received the request: they
//! pass only from a trusted proxy and are dropped from anyone else, like a spoofed
//! `X-Forwarded-For`. [`is_local_client`] decides whether a request comes from this machine
//! (the runtime endpoints' rule without auth).
//!
//! Pure header manipulation: no I/O and no responses. It must not touch any header it does not
//! own, such as `Host`.

use std::net::{IpAddr, SocketAddr};

use http::header::{CONNECTION, FORWARDED, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// `X-Forwarded-For`: the chain of addresses a request passed through.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Real-IP`: the client address the runtime decided on.
pub const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
/// `X-Forwarded-Prefix`: the route prefix of the Micro that receives the request.
pub const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
/// `X-Forwarded-Host`, `X-Forwarded-Proto`, `X-Forwarded-Port`: the host, scheme and port a
/// proxy received the request on; believed only from a trusted proxy.
pub const X_FORWARDED_ORIGIN: [HeaderName; 3] = [
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-forwarded-port"),
];

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

/// A connection's peer address (IPv4-mapped addresses as IPv4) and its header value, made
/// once per connection.
#[derive(Debug, Clone)]
pub struct Peer {
    ip: IpAddr,
    value: HeaderValue,
}

impl From<IpAddr> for Peer {
    fn from(ip: IpAddr) -> Peer {
        let ip = ip.to_canonical();
        Peer {
            ip,
            value: ip_value(ip),
        }
    }
}

/// Rewrites the client-IP headers in place (S17) and returns the client IP it decided on.
///
/// - `peer` not trusted: every incoming `X-Forwarded-For`, `X-Real-IP` and `Forwarded` is
///   dropped, and so are `X-Forwarded-Host`, `-Proto` and `-Port`; the request gets
///   `X-Forwarded-For: <peer>` and `X-Real-IP: <peer>`.
/// - `peer` trusted: the client is the right-most untrusted address of the incoming
///   `X-Forwarded-For` chain (walking from the right, skipping trusted addresses and empty
///   entries). An unparsable entry ends the walk at the last address read (or the peer), and
///   a chain of trusted addresses only gives its left-most one. `X-Forwarded-For` becomes
///   `<incoming chain>, <peer>` and `X-Real-IP` the client.
///
/// `Forwarded` is always dropped: the runtime never parses it, so it cannot vouch for it,
/// and a trusted proxy that only maintains `X-Forwarded-For` passes a client's `Forwarded`
/// through unchanged.
pub fn set_client_ip(headers: &mut HeaderMap, peer: &Peer, trusted: &TrustedProxies) -> IpAddr {
    let Peer {
        ip: peer,
        value: peer_value,
    } = peer.clone();
    let chain: Vec<HeaderValue> = headers.get_all(&X_FORWARDED_FOR).iter().cloned().collect();
    headers.remove(&X_FORWARDED_FOR);
    headers.remove(&X_REAL_IP);
    headers.remove(FORWARDED);

    if !trusted.contains(peer) {
        for name in &X_FORWARDED_ORIGIN {
            headers.remove(name);
        }
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

/// True when the request comes from this machine: the TCP peer is a loopback address and
/// forwards for nobody else. A loopback peer that sends `X-Forwarded-For`, `X-Real-IP` or
/// `Forwarded` is taken for a local reverse proxy: unless it is a trusted proxy whose
/// forwarded client ([`set_client_ip`]'s choice, and any `X-Real-IP`) is itself loopback, the
/// request is not local. `Forwarded` is never parsed, so it always makes a request non-local.
/// Read before [`set_client_ip`] rewrites the headers.
pub fn is_local_client(headers: &HeaderMap, peer: &Peer, trusted: &TrustedProxies) -> bool {
    if !peer.ip.is_loopback() {
        return false;
    }
    let forwarded = headers.contains_key(&X_FORWARDED_FOR) || headers.contains_key(&X_REAL_IP);
    if headers.contains_key(FORWARDED) || (forwarded && !trusted.contains(peer.ip)) {
        return false;
    }
    if !forwarded {
        return true;
    }
    let chain: Vec<HeaderValue> = headers.get_all(&X_FORWARDED_FOR).iter().cloned().collect();
    client_from_chain(&chain, peer.ip, trusted).is_loopback()
        && headers.get_all(&X_REAL_IP).iter().all(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| parse_forwarded_ip(text.trim()))
                .is_some_and(|ip| ip.is_loopback())
        })
}

/// True when `host` (a `Host` header or an HTTP/2 `:authority`, with or without a port) names
/// this machine: `localhost` or a name under `.localhost`, or a loopback address. A page that
/// rebinds its own name to 127.0.0.1 (DNS rebinding) sends its own name, not one of these.
pub fn names_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        },
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
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

/// The size in bytes of an HTTP/1 request head as it is written on the wire: the request
/// line (`GET /path HTTP/1.1`), each header as `name: value`, each line and the head ending in
/// CRLF. hyper has parsed it, so whitespace a client put around values is not counted.
pub fn head_len(req: &http::request::Parts) -> usize {
    let path = req.uri.path_and_query().map_or(0, |p| p.as_str().len());
    let target = match (req.uri.scheme_str(), req.uri.authority()) {
        // Absolute form: `http://host/path`.
        (Some(scheme), Some(authority)) => {
            scheme.len() + "://".len() + authority.as_str().len() + path
        }
        // Authority form (`CONNECT host:port`).
        (None, Some(authority)) => authority.as_str().len(),
        _ => path,
    };
    let line = req.method.as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let fields: usize = req
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    line + fields + 2
}

/// Sets `X-Forwarded-Prefix` to the Micro's route prefix (`/` for the primary; made once by the
/// router), replacing any incoming value; `None` (a prefix that cannot be a header value)
/// removes it.
pub fn set_forwarded_prefix(headers: &mut HeaderMap, prefix: Option<&HeaderValue>) {
    match prefix {
        Some(value) => {
            headers.insert(X_FORWARDED_PREFIX, value.clone());
        }
        None => {
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
mod tests;
