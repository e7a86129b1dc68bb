"""space_static.py: a Micro that serves the files of its code dir, as Deta's `engine: static`.

Build it as the Micro's component, with the Micro's `src` holding the files (the runtime
mounts it read-only at /app):

    componentize-py -d <wit> -w wasi:http/proxy@0.2.12 componentize space_static -p <sdk/python> -o site.wasm

`GET` and `HEAD` of `/a/b.css` answer `/app/a/b.css`; a directory answers its `index.html`;
with `SPACE_STATIC_FALLBACK` set in the Micro's env (`[micro.env]`, e.g. `index.html`), a path
that names no file answers that file instead, for single-page apps with client-side routes.
Anything else is 404 (405 for other methods). The type comes from the file's extension.
`files(root)` is the same as a WSGI application, to mount inside another one.
"""

import mimetypes
import os

import space_wsgi

__all__ = ["files"]

CHUNK = 65536


def files(root: str, index: str = "index.html", fallback_env: str = "SPACE_STATIC_FALLBACK"):
    """A WSGI application answering with the files under `root`."""

    def app(environ, start_response):
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")])
            return [b"method not allowed\n"]
        path = _resolve(root, environ.get("PATH_INFO", "/"), index)
        fallback = os.environ.get(fallback_env, "")
        if path is None and fallback:
            path = _resolve(root, "/" + fallback, index)
        if path is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        kind, encoding = mimetypes.guess_type(path)
        kind = kind or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
            kind += "; charset=utf-8"
        headers = [("Content-Type", kind), ("Content-Length", str(os.path.getsize(path)))]
        if encoding:
            headers.append(("Content-Encoding", encoding))
        start_response("200 OK", headers)
        if environ["REQUEST_METHOD"] == "HEAD":
            return []
        return _read(path)

    return app


def _resolve(root: str, path_info: str, index: str):
    """The file `path_info` names under `root`, or None. Refuses `.`/`..` segments and NUL
    (the runtime already normalises paths; this does not rely on it)."""
    parts = [p for p in path_info.split("/") if p]
    if any(p in (".", "..") or "\x00" in p or "\\" in p for p in parts):
        return None
    path = os.path.join(root, *parts)
    if os.path.isdir(path):
        path = os.path.join(path, index)
    return path if os.path.isfile(path) else None


def _read(path: str):
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return
            yield chunk


if space_wsgi.HAVE_WASI:  # inside a componentize-py build: this module is the Micro
    IncomingHandler = space_wsgi.export(files("/app"))
