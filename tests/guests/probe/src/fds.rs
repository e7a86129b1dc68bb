//! Routes that hold host file descriptors in a warm instance (open files, directories, TCP
//! sockets, outbound HTTP connections), for the open-file caps, and a raw DNS lookup through
//! `wasi:sockets/ip-name-lookup`, for the outbound allow-list (S14).
//!
//! | route | behaviour |
//! |---|---|
//! | `/hoard?kind=K&n=N[&path=P][&addr=IP:PORT][&url=U]` | opens N more of kind K and keeps them in a global (they live while the instance is warm): `file` opens P (default `/app/hello.txt`) read-only with std; `dir` opens the directory P under `/tmp` (default `/tmp` itself) through `wasi:filesystem`; `socket` creates a TCP socket through `wasi:sockets` without connecting it; `connect` connects a std `TcpStream` to `addr`; `http` sends a GET to `url` through `wasi:http` and keeps the response unread → `ok <held>` (everything this instance holds), or 500 `after <k>: error: …` at the first failure (`k` opened by this request) |
//! | `/unhoard` | closes everything held → `ok <closed>` |
//! | `/lookup?name=H` | `resolve-addresses(H)` → the addresses, one a line, or 502 `error: <error-code Debug>` |

use std::cell::RefCell;
use std::fs::File;
use std::net::TcpStream;

use wasi::filesystem::preopens::get_directories;
use wasi::filesystem::types::{Descriptor, DescriptorFlags, OpenFlags, PathFlags};
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, IncomingResponse, OutgoingRequest, Scheme};
use wasi::sockets::ip_name_lookup::resolve_addresses;
use wasi::sockets::network::{ErrorCode, IpAddress, IpAddressFamily};
use wasi::sockets::tcp::TcpSocket;

use crate::reply::{Outcome, Reply, Req};

/// One held descriptor; each variant keeps its host handle alive by being kept.
#[allow(dead_code)]
enum Held {
    File(File),
    Dir(Descriptor),
    Socket(TcpSocket),
    Stream(TcpStream),
    Http(IncomingResponse),
}

thread_local! {
    static HELD: RefCell<Vec<Held>> = const { RefCell::new(Vec::new()) };
}

/// `GET /hoard?kind=K&n=N…`: opens N more of kind K and keeps them.
pub fn hoard(req: &Req) -> Outcome {
    let kind = req.required("kind")?.to_string();
    let n = req.number("n", None)?;
    for k in 0..n {
        let held = match open(req, &kind) {
            Ok(h) => h,
            Err(e) => return Ok(Reply::text(500, format!("after {k}: {e}\n"))),
        };
        HELD.with(|h| h.borrow_mut().push(held));
    }
    let held = HELD.with(|h| h.borrow().len());
    Ok(Reply::text(200, format!("ok {held}\n")))
}

/// `GET /unhoard`: closes everything held.
pub fn unhoard(_req: &Req) -> Outcome {
    let closed = HELD.with(|h| std::mem::take(&mut *h.borrow_mut()).len());
    Ok(Reply::text(200, format!("ok {closed}\n")))
}

fn open(req: &Req, kind: &str) -> Result<Held, String> {
    let io = |e: std::io::Error| {
        format!(
            "error: {e} kind={:?} raw_os_error={:?}",
            e.kind(),
            e.raw_os_error()
        )
    };
    match kind {
        "file" => File::open(req.param("path").unwrap_or("/app/hello.txt"))
            .map(Held::File)
            .map_err(io),
        "dir" => open_dir(req.param("path").unwrap_or("/tmp")).map(Held::Dir),
        "socket" => wasi::sockets::tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4)
            .map(Held::Socket)
            .map_err(|code| format!("error: {code:?}")),
        "connect" => {
            let addr = req.param("addr").ok_or("addr is required")?;
            TcpStream::connect(addr).map(Held::Stream).map_err(io)
        }
        "http" => get(req.param("url").ok_or("url is required")?).map(Held::Http),
        other => Err(format!("unknown kind `{other}`")),
    }
}

/// Opens the directory `path` (under `/tmp`) through the `/tmp` preopen.
fn open_dir(path: &str) -> Result<Descriptor, String> {
    let rel = match path.strip_prefix("/tmp") {
        Some("") => ".",
        Some(rest) => rest.trim_start_matches('/'),
        None => return Err("path must be under /tmp".into()),
    };
    let tmp = get_directories()
        .into_iter()
        .find(|(_, name)| name == "/tmp")
        .map(|(d, _)| d)
        .ok_or("no /tmp preopen")?;
    tmp.open_at(
        PathFlags::empty(),
        rel,
        OpenFlags::DIRECTORY,
        DescriptorFlags::READ,
    )
    .map_err(|code| format!("error: {code} code={code:?}"))
}

/// A GET to `url` (`http://host:port/path`) whose response is returned unread.
fn get(url: &str) -> Result<IncomingResponse, String> {
    let rest = url.strip_prefix("http://").ok_or("url must be http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(path));
    let future =
        outgoing_handler::handle(request, None).map_err(|code| format!("error: {code:?}"))?;
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response),
        Some(Ok(Err(code))) => Err(format!("error: {code:?}")),
        other => Err(format!("error: {other:?}")),
    }
}

/// `GET /lookup?name=H`: the addresses H resolves to through `wasi:sockets`.
pub fn lookup(req: &Req) -> Outcome {
    let name = req.required("name")?;
    let network = wasi::sockets::instance_network::instance_network();
    let fail = |code: ErrorCode| Reply::text(502, format!("error: {code:?}\n"));
    let stream = resolve_addresses(&network, name).map_err(fail)?;
    let mut out = String::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(IpAddress::Ipv4((a, b, c, d)))) => out.push_str(&format!("{a}.{b}.{c}.{d}\n")),
            Ok(Some(IpAddress::Ipv6(s))) => {
                let ip = std::net::Ipv6Addr::new(s.0, s.1, s.2, s.3, s.4, s.5, s.6, s.7);
                out.push_str(&format!("{ip}\n"));
            }
            Ok(None) => break,
            Err(ErrorCode::WouldBlock) => stream.subscribe().block(),
            Err(code) => return Err(fail(code)),
        }
    }
    Ok(Reply::text(200, out))
}
