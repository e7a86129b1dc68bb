//! Outbound traffic of a Micro (S14): HTTP requests through `wasi:http/outgoing-handler` and
//! TCP connections through `wasi:sockets`, checked against the Micro's `outbound` allow-list.
//!
//! Without a list, public destinations are allowed and loopback, private, link-local,
//! shared/CGNAT, benchmarking, multicast, cloud-metadata addresses and the IPv6 forms that
//! embed or tunnel to IPv4 (NAT64, IPv4-compatible, 6to4, Teredo) are denied — checked on the
//! resolved addresses, so a public name that resolves to a private address is denied too.
//! With a list, only what it names is allowed (an entry may name a private host on purpose,
//! e.g. a database behind a pool manager), and a request's host is checked against the list
//! before it is looked up, so a denied name never reaches DNS (a raw `wasi:sockets` name
//! lookup is checked the same way, by [`Outbound::may_look_up`] in `sandbox::sockets`). An entry without a port means
//! its scheme's default port (both 80 and 443 without a scheme). Binding to an address or
//! port, listening and UDP are always denied (S18: no servers inside a Micro). This module decides and logs; it must not send anything itself beyond handing an
//! allowed request to wasmtime-wasi-http's default client.
//!
//! Requests to the Deta data hosts (`database.deta.sh`, `drive.deta.sh`, any scheme, paths
//! under `/v1/`) never leave the process: the app's data service answers them (see
//! [`data_api`]), whatever the policy says, so a guest written against the Deta HTTP API or
//! SDKs works unchanged.
//!
//! The name is resolved once for the check and again by the client, so a name whose answer
//! changes between the two (DNS rebinding) is a known gap; an allow-list closes it.
//!
//! The same wasi-http hooks size every outgoing body stream's writes ([`BODY_WRITE_MAX`]),
//! responses included.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Result;
use http_body_util::BodyExt;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::fds::FdAccount;
use crate::data::{Api, DataService};

/// The Deta data API a request to `host` and `path` is for, if any: Base on
/// `database.deta.sh`, Drive on `drive.deta.sh`, paths under `/v1/`.
pub fn data_api(host: &str, path: &str) -> Option<Api> {
    if !path.starts_with("/v1/") {
        return None;
    }
    match host.to_ascii_lowercase().as_str() {
        "database.deta.sh" => Some(Api::Base),
        "drive.deta.sh" => Some(Api::Drive),
        _ => None,
    }
}

/// One allow-list entry: `[scheme://]host[:port]`, where host may be `*` or `*.suffix`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    scheme: Option<String>,
    host: String,
    /// The port given, or the scheme's default; 80 and 443 when neither is given.
    ports: Vec<u16>,
}

/// The port a scheme's entry means when it names none.
fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        "postgres" | "postgresql" => 5432,
        "mysql" | "mariadb" => 3306,
        "redis" | "rediss" => 6379,
        "mongodb" => 27017,
        "amqp" => 5672,
        "amqps" => 5671,
        "smtp" => 25,
        "smtps" => 465,
        _ => return None,
    })
}

/// A Micro's outbound policy.
#[derive(Clone, Debug, Default)]
pub struct Outbound {
    /// `None`: the default policy (public destinations only).
    rules: Option<Vec<Rule>>,
}

impl Outbound {
    /// Parses the manifest's `outbound` list; an empty list means the default policy.
    pub fn parse(micro: &str, list: &[String]) -> Result<Outbound> {
        if list.is_empty() {
            return Ok(Outbound { rules: None });
        }
        let rules = list
            .iter()
            .map(|entry| {
                parse_rule(entry).ok_or_else(|| {
                    anyhow::anyhow!(
                        "micro `{micro}`: outbound entry `{entry}` is not [scheme://]host[:port] \
                         (a scheme without a known default port needs a port)"
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Outbound { rules: Some(rules) })
    }

    /// Whether `host` must be resolved to decide: only under the default policy. With a
    /// list the name alone decides, so a denied name is never looked up.
    pub fn needs_addresses(&self) -> bool {
        self.rules.is_none()
    }

    /// Whether a guest may look `name` up through `wasi:sockets/ip-name-lookup`: always under
    /// the default policy; with a list, an IP literal (nothing is looked up for it) or a
    /// plain host name (letters, digits, `-`, `_`, `.`; one trailing dot) that an entry names,
    /// whatever its scheme and port. Decided before any lookup (see `sandbox::sockets`).
    pub fn may_look_up(&self, name: &str) -> bool {
        let Some(rules) = &self.rules else {
            return true;
        };
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<IpAddr>().is_ok() {
            return true;
        }
        let host = name.strip_suffix('.').unwrap_or(name);
        let plain = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        plain && rules.iter().any(|r| r.matches_host(host))
    }

    /// Whether a request to `scheme://host:port` may go out, given the addresses `host`
    /// resolves to (or `host` itself when it is an IP literal); with a list, `resolved` is
    /// not used.
    pub fn allows(&self, scheme: &str, host: &str, port: u16, resolved: &[IpAddr]) -> bool {
        match &self.rules {
            None => !resolved.is_empty() && resolved.iter().all(|ip| is_public(*ip)),
            Some(rules) => rules.iter().any(|r| r.matches(scheme, host, port)),
        }
    }

    /// Whether a TCP connection to `addr` may be made. With a list, an entry must name the IP
    /// (or `*`); host names in the list are matched by resolving them.
    async fn allows_tcp(&self, addr: SocketAddr) -> bool {
        match &self.rules {
            None => is_public(addr.ip()),
            Some(rules) => {
                for r in rules {
                    if !r.ports.contains(&addr.port()) {
                        continue;
                    }
                    if r.host == "*" || r.host.parse::<IpAddr>().is_ok_and(|ip| ip == addr.ip()) {
                        return true;
                    }
                    if !r.host.starts_with('*')
                        && let Ok(ips) =
                            tokio::net::lookup_host((r.host.as_str(), addr.port())).await
                        && ips.map(|a| a.ip()).any(|ip| ip == addr.ip())
                    {
                        return true;
                    }
                }
                false
            }
        }
    }
}

impl Rule {
    fn matches_host(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        match self.host.strip_prefix("*.") {
            _ if self.host == "*" => true,
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => host == self.host,
        }
    }

    fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.matches_host(host)
            && self
                .scheme
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case(scheme))
            && self.ports.contains(&port)
    }
}

fn parse_rule(entry: &str) -> Option<Rule> {
    let (scheme, rest) = match entry.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, entry),
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p))
            if !h.ends_with(':') && !h.is_empty() && p.chars().all(|c| c.is_ascii_digit()) =>
        {
            (h, Some(p.parse().ok()?))
        }
        _ => (rest, None),
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if host.is_empty() || (host.contains('*') && host != "*" && !host.starts_with("*.")) {
        return None;
    }
    let ports = match (port, scheme.as_deref()) {
        (Some(p), _) => vec![p],
        (None, None) => vec![80, 443],
        (None, Some(s)) => vec![default_port(s)?],
    };
    Some(Rule {
        scheme,
        host,
        ports,
    })
}

/// Whether `ip` is a public unicast address (not loopback, private, link-local, CGNAT,
/// benchmarking, unspecified, multicast, documentation or cloud metadata, nor an IPv6 form
/// that embeds or tunnels to an IPv4 address).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local() // includes 169.254.169.254, the metadata service
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // shared address space (CGNAT)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18.0.0/15
                || o == [168, 63, 129, 16] // Azure's host services (wireserver)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || s[..6] == [0; 6] // IPv4-compatible ::a.b.c.d (deprecated)
                || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] // NAT64 64:ff9b::/96
                || s[..3] == [0x64, 0xff9b, 1] // local-use NAT64 64:ff9b:1::/48
                || s[..4] == [0x100, 0, 0, 0] // discard-only 100::/64
                || s[0] == 0x2002 // 6to4 2002::/16
                || s[..2] == [0x2001, 0] // Teredo 2001::/32
                || s[..2] == [0x2001, 0x0db8] // documentation
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
                || (s[0] == 0xfd00 && s[1] == 0x0ec2)) // AWS metadata over IPv6
        }
    }
}

/// The wasi:http hooks of one instance: checks each outgoing request against the policy.
pub struct OutboundHooks {
    pub micro: Arc<str>,
    pub policy: Arc<Outbound>,
    /// The app's data service, which answers requests to the Deta data hosts.
    pub data: Option<Arc<DataService>>,
    /// The instance's open-file count: each outgoing connection holds a socket until its
    /// response is dropped or read to the end.
    pub fds: FdAccount,
}

/// The most one `write` to an outgoing body stream (a Micro's response, or its outgoing
/// request) takes: what `check-write` permits. Each write becomes a host vector and one body
/// frame, which hyper copies into its write buffer; wasi-http queues one frame beside the one
/// being sent before `check-write` answers 0. At 64 KiB what is in flight stays in the CPU's
/// caches and the vectors come from the allocator's warm heap; wasi-http's default, 1 MiB,
/// made fresh pages (page faults, `munmap`) for every write. A 4 MiB download took 2738 us of
/// server CPU in 1 MiB writes and 1775 us in 64 KiB ones (16 queued instead of 1: 2368 us).
pub const BODY_WRITE_MAX: usize = 64 * 1024;

impl WasiHttpHooks for OutboundHooks {
    /// The same answer as the default, which builds an `Arc` closure on every call: this is
    /// asked once per header of every request and response.
    fn is_forbidden_header(&mut self, name: &http::HeaderName) -> bool {
        wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS.contains(name)
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        BODY_WRITE_MAX
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                    ),
                    HttpError,
                >,
            > + Send,
    > {
        drop(fut);
        let policy = self.policy.clone();
        let micro = self.micro.clone();
        let data = self.data.clone();
        let fds = self.fds.clone();
        Box::new(async move {
            let uri = request.uri().clone();
            if let Some(data) = data
                && let Some(api) = data_api(uri.host().unwrap_or_default(), uri.path())
            {
                let response = data
                    .handle(api, request.map(DrainOnDrop::new))
                    .await
                    .map(|body| {
                        body.map_err(|e| HttpError::InternalError(Some(e.to_string())))
                            .boxed_unsync()
                    });
                let done = Box::new(async { Ok(()) });
                return Ok((
                    response,
                    done as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ));
            }
            let scheme = uri.scheme_str().unwrap_or("https").to_string();
            let host = uri.host().unwrap_or_default().to_string();
            let port = uri
                .port_u16()
                .unwrap_or(if scheme == "http" { 80 } else { 443 });
            let (resolved, why) = if policy.needs_addresses() {
                (resolve(&host, port).await, "not a public address")
            } else {
                (Vec::new(), "not on the outbound list; not looked up")
            };
            if !policy.allows(&scheme, &host, port, &resolved) {
                tracing::warn!(micro = %micro, "outbound request to {scheme}://{host}:{port} denied (S14): {why}");
                return Err(HttpError::HttpRequestDenied);
            }
            let socket = fds.take().map_err(|limit| {
                tracing::warn!(micro = %micro, "outbound request to {scheme}://{host}:{port} refused: {limit}");
                HttpError::ConnectionLimitReached
            })?;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            // The connection (and its socket) lives as long as `io`, which wasi:http drops
            // with the response.
            let io = async move {
                let _socket = socket;
                io.await
            };
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

/// A guest's request body on its way to the data service. When the service answers before
/// reading all of it (a 413 at the Drive cap or the request size limit), the rest is read and
/// discarded instead of dropped: the guest still writing it then finishes its writes and reads
/// the answer, where a dropped body fails its next write (componentize-js aborts the whole
/// Micro on that). The guest's timeout bounds how long it can keep writing.
struct DrainOnDrop(Option<WasiBody>);

impl DrainOnDrop {
    fn new(body: WasiBody) -> Self {
        DrainOnDrop(Some(body))
    }
}

impl http_body::Body for DrainOnDrop {
    type Data = bytes::Bytes;
    type Error = <WasiBody as http_body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        match self.0.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0.as_ref().map_or_else(
            || http_body::SizeHint::with_exact(0),
            http_body::Body::size_hint,
        )
    }
}

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        let Some(mut body) = self.0.take() else {
            return;
        };
        if http_body::Body::is_end_stream(&body) {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { while let Some(Ok(_)) = body.frame().await {} });
        }
    }
}

async fn resolve(host: &str, port: u16) -> Vec<IpAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return vec![ip];
    }
    match tokio::net::lookup_host((bare, port)).await {
        Ok(addrs) => addrs.map(|a| a.ip()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Whether a TCP bind is the implicit one wasmtime-wasi checks before every `connect` (the
/// wildcard address, port 0); an explicit bind to an address or a port is a server's.
fn is_implicit_bind(addr: SocketAddr) -> bool {
    addr.ip().is_unspecified() && addr.port() == 0
}

/// Configures `wasi:sockets` for a Micro: TCP connections checked against the policy, name
/// lookups allowed (with a list, `sandbox::sockets` checks the name first), no binding or
/// listening, no UDP.
pub fn configure_sockets(
    b: &mut wasmtime_wasi::WasiCtxBuilder,
    micro: &str,
    policy: Arc<Outbound>,
) {
    let micro: Arc<str> = micro.into();
    b.allow_tcp(true)
        .allow_udp(false)
        .allow_ip_name_lookup(true);
    b.socket_addr_check(move |addr, use_| {
        let policy = policy.clone();
        let micro = micro.clone();
        Box::pin(async move {
            let ok = match use_ {
                SocketAddrUse::TcpBind => is_implicit_bind(addr),
                SocketAddrUse::TcpConnect => policy.allows_tcp(addr).await,
                _ => false,
            };
            if !ok {
                tracing::warn!(micro = %micro, "socket {use_:?} to {addr} denied (S14)");
            }
            ok
        })
    });
}

#[cfg(test)]
mod tests;
