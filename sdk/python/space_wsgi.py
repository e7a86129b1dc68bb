"""space_wsgi.py: serve a WSGI application (Flask, Bottle, Django's WSGI handler…) as a Micro.

    from flask import Flask
    import space_wsgi

    app = Flask(__name__)

    @app.get("/")
    def index():
        return "hello"

    IncomingHandler = space_wsgi.export(app)     # what componentize-py looks for

Each `wasi:http` request becomes a PEP 3333 `environ`:

- `REQUEST_METHOD`, `PATH_INFO` (percent-decoded, as latin-1 text), `QUERY_STRING`,
  `SCRIPT_NAME` from the runtime's `X-Forwarded-Prefix` (the Micro's path, `""` for the
  primary: Flask's `url_for` then builds links under it), `CONTENT_TYPE`, `CONTENT_LENGTH`,
  every other header as `HTTP_*` (repeated ones joined with `, `, cookies with `; `; names
  holding `_` are dropped, as common servers do, so `X_Real_IP` cannot pose as `X-Real-IP`),
  `SERVER_NAME`/`SERVER_PORT` from `Host`, `REMOTE_ADDR` from `X-Real-IP` (set by the runtime
  from the TCP peer), `REQUEST_URI` (the target as received);
- `wsgi.input` is the request body (read whole first: a request is at most 5.5 MB),
  `wsgi.errors` is stderr (the Micro's log), `wsgi.url_scheme` is `X-Forwarded-Proto` when a
  trusted proxy sent it, else `http`; `wsgi.multiprocess` is true (several instances of a
  Micro run at once, none shares memory), `wsgi.multithread` and `wsgi.run_once` false (an
  instance is reused for the next request).

The response is sent as the application produces it: the head when the first non-empty chunk
(or the end) arrives, then each chunk, so a generator streams. A body given as a list gets a
`Content-Length`. `start_response(status, headers, exc_info)` may replace the head until it
is sent; after that it re-raises. Hop-by-hop headers (`Connection`, `Transfer-Encoding`…) are
dropped, as `wasi:http` refuses them. An exception before the head is sent is a 500
`text/plain` with the traceback on stderr; after it, the traceback is logged and the body is
cut short (the runtime logs `response cut short`). `close()` of the body is always called.

Scheduled actions arrive as `POST /__space/v0/actions` with `{"event": {"id": …}}` like any
other request: give the application a route for that path (outside callers cannot reach it).

This module needs nothing but the standard library and space.py beside it (its `wasi:io`
stream helpers and `enter_app_dir`); the `wasi:http` bindings exist inside a componentize-py
build only, so the environ and response logic (`environ`, `serve`) also runs under plain
python3: `python3 -m unittest discover -s sdk/python/tests`.
"""

import codecs
import io
import os
import sys
import traceback
from urllib.parse import unquote_to_bytes

import space
from space import enter_app_dir  # one copy for the SDK; space_asgi calls it from here

try:  # the wasi:http bindings exist inside a componentize-py build, not under plain python3
    from componentize_py_types import Err, Ok
    from wit_world import exports as _exports
    from wit_world.imports import types as _http
except ImportError:
    _exports = None

__all__ = ["ACTIONS_PATH", "HAVE_WASI", "environ", "export", "preload", "serve"]

HAVE_WASI = _exports is not None  # False under plain python3 (the unit tests)

ACTIONS_PATH = "/__space/v0/actions"
HOP_BY_HOP = frozenset(
    ["connection", "keep-alive", "proxy-connection", "proxy-authenticate",
     "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "http2-settings"]
)
# --- environ ---------------------------------------------------------------------------


def environ(method: str, target: str, headers, body: bytes) -> dict:
    """The PEP 3333 environ of one request: `target` is the path with its query as the
    runtime sent it, `headers` a list of (name, value) text pairs in arrival order."""
    path, _, query = (target or "/").partition("?")
    joined = {}
    for name, value in headers:
        name = name.lower()
        if name in joined:
            sep = "; " if name == "cookie" else ", "
            joined[name] = joined[name] + sep + value
        else:
            joined[name] = value
    scheme = joined.get("x-forwarded-proto", "http").lower()
    scheme = scheme if scheme in ("http", "https") else "http"
    host = joined.get("host") or os.environ.get("DETA_SPACE_APP_HOSTNAME", "localhost")
    server_name, server_port = _split_host(host, scheme)
    prefix = joined.get("x-forwarded-prefix", "").rstrip("/")
    env = {
        "REQUEST_METHOD": method.upper(),
        "SCRIPT_NAME": _latin1(prefix),
        "PATH_INFO": _latin1(path),
        "QUERY_STRING": query,
        "REQUEST_URI": target or "/",
        "RAW_URI": target or "/",
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": joined.get("x-real-ip")
        or joined.get("x-forwarded-for", "").split(",")[0].strip(),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if "content-type" in joined:
        env["CONTENT_TYPE"] = joined["content-type"]
    if body or "content-length" in joined:
        env["CONTENT_LENGTH"] = str(len(body))
    for name, value in joined.items():
        if name in ("content-type", "content-length") or "_" in name:
            continue
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def _latin1(path: str) -> str:
    """A percent-encoded path as PEP 3333 wants it: its bytes, decoded as latin-1."""
    return unquote_to_bytes(path).decode("latin-1")


def _split_host(host: str, scheme: str):
    default = "443" if scheme == "https" else "80"
    if host.startswith("["):  # [v6]:port
        end = host.find("]")
        rest = host[end + 1 :]
        return host[: end + 1], rest[1:] if rest.startswith(":") and rest[1:].isdigit() else default
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, port
    return host, default


# --- running the application -----------------------------------------------------------


class _Head:
    """What start_response was given, and whether it has gone out."""

    def __init__(self):
        self.status = None
        self.headers = None
        self.sent = False


def serve(app, env: dict, sink) -> None:
    """Runs the WSGI `app` on `env` and sends its answer to `sink`, which has
    `start(status: int, headers: [(str, str)], length: int | None)`, `write(bytes)`,
    `finish()` and `abort()` (the body cannot be completed)."""
    head = _Head()

    def send(data: bytes, length=None):
        if not head.sent:
            if head.status is None:
                raise AssertionError("the application sent body bytes before start_response")
            sink.start(head.status, head.headers, length)
            head.sent = True
        if data:
            sink.write(data)

    def write(data):  # PEP 3333's legacy write callable
        send(_check_chunk(data))

    def start_response(status, headers, exc_info=None):
        if exc_info:
            try:
                if head.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif head.status is not None:
            raise AssertionError("start_response called a second time without exc_info")
        head.status, head.headers = _check_head(status, headers)
        return write

    result = None
    try:
        result = app(env, start_response)
        length = _known_length(result, head)
        for chunk in result:
            chunk = _check_chunk(chunk)
            if chunk:
                send(chunk, length)
        send(b"", length)
    except Exception:
        traceback.print_exc(file=sys.stderr)
        if head.sent:
            _close(result)
            sink.abort()
            return
        head.status, head.headers = 500, [("Content-Type", "text/plain; charset=utf-8")]
        body = b"Internal Server Error\n"
        sink.start(500, head.headers, len(body))
        sink.write(body)
    _close(result)
    sink.finish()


def _close(result):
    close = getattr(result, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            traceback.print_exc(file=sys.stderr)


def _known_length(result, head: _Head):
    """The body's length when the application did not give one and the body is a list or
    tuple of bytes (start_response has been called by then)."""
    if head.status is None or not isinstance(result, (list, tuple)):
        return None
    if any(name.lower() == "content-length" for name, _ in head.headers):
        return None
    if not all(isinstance(c, (bytes, bytearray)) for c in result):
        return None
    return sum(len(c) for c in result)


def _check_chunk(chunk) -> bytes:
    if not isinstance(chunk, (bytes, bytearray, memoryview)):
        raise TypeError(f"a WSGI body chunk must be bytes, not {type(chunk).__name__}")
    return bytes(chunk)


def _check_head(status, headers):
    if not isinstance(status, str) or len(status) < 3 or not status[:3].isdigit():
        raise ValueError(f"bad WSGI status {status!r} (want '200 OK')")
    kept = []
    for pair in headers:
        name, value = pair
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"a WSGI header must be a pair of str, not {pair!r}")
        if name.lower() not in HOP_BY_HOP:
            kept.append((name, value))
    return int(status[:3]), kept


# --- build time -------------------------------------------------------------------------


def preload(*packages: str) -> list:
    """Imports every submodule of each named package, now. Call it at module level.

    componentize-py puts into the component only the modules imported while it builds (when
    it runs the module level of your app and snapshots it): a module that a library imports
    later, inside a function (anyio loads its backend so, Starlette its form parser), is then
    missing at run time (`ModuleNotFoundError`). A submodule that fails to import (an
    optional dependency that is not installed) is skipped. Returns the names imported."""
    import importlib
    import pkgutil

    loaded = []
    for name in packages:
        package = importlib.import_module(name)
        loaded.append(name)
        for info in pkgutil.walk_packages(getattr(package, "__path__", []), name + ".", onerror=lambda _: None):
            try:
                importlib.import_module(info.name)
                loaded.append(info.name)
            except Exception:  # an optional dependency missing: it would fail at run time too
                pass
    return loaded


# Codecs that the standard library finds by name at first use (Werkzeug encodes host names
# with "idna"): looked up now, at build time, so they are in the component.
for _codec in ("idna", "punycode", "ascii", "latin-1", "utf-8-sig", "unicode-escape", "raw-unicode-escape"):
    codecs.lookup(_codec)


# --- wasi:http glue --------------------------------------------------------------------


def export(app):
    """The `IncomingHandler` class componentize-py exports, serving the WSGI `app`: assign
    it to a module-level name `IncomingHandler` in the module you build."""
    if _exports is None:
        raise RuntimeError("space_wsgi.export needs wasi:http (build with componentize-py)")

    class IncomingHandler(_exports.IncomingHandler):
        def handle(self, request, response_out):
            enter_app_dir()
            sink = _WasiSink(response_out)
            try:
                env = environ(*_read_request(request))
                sink.head_request = env["REQUEST_METHOD"] == "HEAD"
            except Exception:
                traceback.print_exc(file=sys.stderr)
                sink.start(400, [("content-type", "text/plain")], 12)
                sink.write(b"bad request\n")
                sink.finish()
                return
            serve(app, env, sink)

    return IncomingHandler


def _method(m) -> str:
    if isinstance(m, _http.Method_Other):
        return m.value.upper()
    return type(m).__name__.rpartition("_")[2].upper()  # Method_Get -> GET


def _read_request(request):
    method = _method(request.method())
    target = request.path_with_query() or "/"
    with request.headers() as fields:
        headers = [(n, v.decode("latin-1")) for n, v in fields.entries()]
    with request.consume() as body, body.stream() as stream:
        data = space.read_all(stream)
    return method, target, headers, data


class _WasiSink:
    """Sends the head and body chunks over wasi:http's response-outparam."""

    def __init__(self, response_out):
        self.response_out = response_out
        self.body = self.stream = None
        self.head_request = False  # HEAD: a Content-Length with no body is what is expected

    def start(self, status, headers, length):
        fields = [(n.lower(), v.encode("latin-1")) for n, v in headers]
        if length is not None:
            fields.append(("content-length", str(length).encode()))
        response = _http.OutgoingResponse(_http.Fields.from_list(fields))
        response.set_status_code(status)
        self.body = response.body()
        _http.ResponseOutparam.set(self.response_out, Ok(response))
        self.stream = self.body.write()

    def write(self, data: bytes):
        space.write_all(self.stream, data)  # flushed: a generator's chunk goes out now

    def finish(self):
        self.stream.__exit__(None, None, None)
        try:
            _http.OutgoingBody.finish(self.body, None)
        except Err as e:  # the body's size differs from its Content-Length
            if not (self.head_request and isinstance(e.value, _http.ErrorCode_HttpResponseBodySize)):
                print(f"space_wsgi: the response body does not match its head: {e.value}", file=sys.stderr)

    def abort(self):
        """Drops the body unfinished: the runtime sees the response end in an error."""
        if self.stream is not None:
            self.stream.__exit__(None, None, None)
            self.body.__exit__(None, None, None)
