"""space_asgi.py: serve an ASGI application (Starlette, or a bare ASGI callable) as a Micro.

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    import space_asgi

    async def index(request):
        return JSONResponse({"hello": "world"})

    app = Starlette(routes=[Route("/", index)])
    IncomingHandler = space_asgi.export(app)

Each request is one ASGI `http` connection (ASGI 3.0, spec 2.3): `scope` has `method`,
`root_path` from the runtime's `X-Forwarded-Prefix` (the Micro's path), `path` (that prefix
and the path, percent-decoded, UTF-8, as servers send it since ASGI 2.3 said `path` includes
`root_path`), `raw_path`, `query_string`, the headers as lower-case byte pairs, `client` from `X-Real-IP`,
`server` from `Host` and `scheme` from `X-Forwarded-Proto` (else `http`). `receive()` gives
the whole body in one `http.request` message, then waits until the response is complete and
says `http.disconnect`. `send()` sends `http.response.start` and each `http.response.body`
chunk as it comes (streaming). An exception before the response starts is a 500 with the
traceback on stderr; after it, the body is cut short. No `lifespan` events are sent.

**The event loop.** A component has no threads and no sockets to select on, and asyncio's
own loops need a socket pair at creation. `WasiLoop` is CPython's `BaseEventLoop` with a
"selector" that only sleeps until the next timer, so tasks, timers, `asyncio.sleep`, task
groups and cancellation work as usual; I/O is done by blocking calls (deta.py's Base and
Drive requests). Each request runs `run_until_complete` on a new loop.

**Threads.** `anyio.to_thread.run_sync`, which Starlette uses for plain `def` endpoints and
background tasks, would start a thread; `export` replaces it (when anyio is present) with a
call made in place, which is what one request per instance allows. `FileResponse` and
`StaticFiles` also go through it, and so work.

**ssl and lazy imports.** componentize-py's CPython has no `_ssl` and keeps only the modules
imported at build time; anyio imports `ssl` at module level and its backend lazily. `export`
installs a stand-in `ssl` (its classes raise when used) and imports all of anyio at build
time. Packages with native code (pydantic-core, so FastAPI) cannot be bundled: see README.md.
"""

import asyncio
import asyncio.base_events
import sys
import time
import traceback
from urllib.parse import unquote_to_bytes

import space_wsgi

__all__ = ["WasiLoop", "export", "run", "scope"]


# --- the event loop --------------------------------------------------------------------


class _SleepSelector:
    """The selector of a loop with no file descriptors: waiting is sleeping."""

    def select(self, timeout=None):
        if timeout is None:
            raise RuntimeError("the event loop would wait forever: no task is ready and no timer is due")
        if timeout > 0:
            time.sleep(timeout)
        return []

    def close(self):
        pass


class WasiLoop(asyncio.base_events.BaseEventLoop):
    """An asyncio loop for a component: CPython's base loop, waiting only for timers."""

    def __init__(self):
        super().__init__()
        self._selector = _SleepSelector()

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        pass  # call_soon_threadsafe: there are no other threads to wake us


def run(coroutine):
    """Runs `coroutine` to completion on a fresh `WasiLoop` and closes it."""
    loop = WasiLoop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


# --- scope -----------------------------------------------------------------------------


def scope(method: str, target: str, headers) -> dict:
    """The ASGI `http` scope of one request (`headers`: (name, value) text pairs)."""
    env = space_wsgi.environ(method, target, headers, b"")
    path, _, query = (target or "/").partition("?")
    prefix = env["SCRIPT_NAME"].encode("latin-1")  # as ASGI 2.3 says, `path` includes it
    client = env["REMOTE_ADDR"]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": env["REQUEST_METHOD"],
        "scheme": env["wsgi.url_scheme"],
        "path": (prefix + unquote_to_bytes(path)).decode("utf-8", "replace"),
        "raw_path": prefix + path.encode("latin-1", "replace"),
        "query_string": query.encode("latin-1", "replace"),
        "root_path": prefix.decode("utf-8", "replace"),
        "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers],
        "client": (client, 0) if client else None,
        "server": (env["SERVER_NAME"], int(env["SERVER_PORT"])),
        "state": {},
    }


# --- running the application -------------------------------------------------------------


async def _serve(app, scope_: dict, body: bytes, sink) -> None:
    started, finished = False, asyncio.Event()
    length = None
    requested = False

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal started, length
        kind = message["type"]
        if kind == "http.response.start":
            if started:
                raise RuntimeError("http.response.start sent twice")
            status = int(message["status"])
            headers = []
            for name, value in message.get("headers", []):
                name = bytes(name).decode("latin-1")
                if name.lower() in space_wsgi.HOP_BY_HOP:
                    continue
                headers.append((name, bytes(value).decode("latin-1")))
            started = True
            sink.start(status, headers, None)
        elif kind == "http.response.body":
            if not started:
                raise RuntimeError("http.response.body before http.response.start")
            if finished.is_set():
                raise RuntimeError("http.response.body after the last one")
            chunk = bytes(message.get("body", b""))
            if chunk:
                sink.write(chunk)
            if not message.get("more_body", False):
                finished.set()
        else:
            raise RuntimeError(f"unsupported ASGI message {kind!r}")

    try:
        await app(scope_, receive, send)
        if not started:
            raise RuntimeError("the application returned without starting a response")
        if not finished.is_set():
            raise RuntimeError("the application returned before its last body chunk")
    except Exception:
        traceback.print_exc(file=sys.stderr)
        if started:  # Starlette sends its 500 page, then raises: a complete body is kept
            if not finished.is_set():
                finished.set()
                sink.abort()
                return
            sink.finish()
            return
        text = b"Internal Server Error\n"
        sink.start(500, [("content-type", "text/plain; charset=utf-8")], len(text))
        sink.write(text)
    finished.set()
    sink.finish()


def serve(app, scope_: dict, body: bytes, sink) -> None:
    """Runs the ASGI `app` for one request; `sink` as in `space_wsgi.serve`."""
    run(_serve(app, scope_, body, sink))


# --- wasi:http glue --------------------------------------------------------------------


def _ssl_stand_in():
    """Installs a stand-in `ssl` module when the real one cannot load (componentize-py's
    CPython has no `_ssl`). anyio imports `ssl` at module level, only to name its types; with
    the stand-in it loads, and any use of TLS through it raises. A component makes outbound
    HTTPS requests through wasi:http, which needs no `ssl`."""
    try:
        import ssl  # noqa: F401
        return
    except ImportError:
        pass
    import enum
    import types

    def unavailable(*_args, **_kwargs):
        raise RuntimeError("ssl is not available in a component (use wasi:http for HTTPS)")

    class SSLError(OSError):
        pass

    stand_in = types.ModuleType("ssl", "A stand-in: componentize-py's CPython has no _ssl.")
    stand_in.SSLError = SSLError
    for name in ("SSLEOFError", "SSLWantReadError", "SSLWantWriteError", "SSLSyscallError",
                 "SSLZeroReturnError", "CertificateError", "SSLCertVerificationError"):
        setattr(stand_in, name, type(name, (SSLError,), {}))
    for name in ("SSLContext", "SSLObject", "SSLSocket", "MemoryBIO", "SSLSession"):
        setattr(stand_in, name, type(name, (), {"__init__": unavailable}))
    stand_in.Purpose = enum.Enum("Purpose", ["SERVER_AUTH", "CLIENT_AUTH"])
    stand_in.create_default_context = unavailable
    stand_in.OP_IGNORE_UNEXPECTED_EOF = 0
    stand_in.HAS_ALPN = False
    sys.modules["ssl"] = stand_in


def _inline_threads():
    """Makes `anyio.to_thread.run_sync` call its function in place (no threads in WASI), and
    loads all of anyio now (it imports its backend lazily, which a component cannot)."""
    _ssl_stand_in()
    try:
        import anyio.to_thread
    except ImportError:
        return
    space_wsgi.preload("anyio")

    async def run_sync(func, *args, abandon_on_cancel=False, cancellable=None, limiter=None):
        return func(*args)

    anyio.to_thread.run_sync = run_sync


def export(app):
    """The `IncomingHandler` class componentize-py exports, serving the ASGI `app`."""
    if not space_wsgi.HAVE_WASI:
        raise RuntimeError("space_asgi.export needs wasi:http (build with componentize-py)")
    _inline_threads()

    class IncomingHandler(space_wsgi._exports.IncomingHandler):
        def handle(self, request, response_out):
            space_wsgi.enter_app_dir()
            sink = space_wsgi._WasiSink(response_out)
            try:
                method, target, headers, body = space_wsgi._read_request(request)
                scope_ = scope(method, target, headers)
                sink.head_request = scope_["method"] == "HEAD"
            except Exception:
                traceback.print_exc(file=sys.stderr)
                sink.start(400, [("content-type", "text/plain")], 12)
                sink.write(b"bad request\n")
                sink.finish()
                return
            serve(app, scope_, body, sink)

    return IncomingHandler
