"""space_wsgi.py on plain python3 (no wasi:http): the PEP 3333 environ it builds, and how it
runs an application and sends its answer (checked by the standard library's
`wsgiref.validate`, which fails on any breach of PEP 3333 by server or application).

    python3 -m unittest discover -s sdk/python/tests

The Flask case runs when Flask is installed and is skipped otherwise.
"""

import contextlib
import io
import json
import os
import sys
import unittest
import warnings
from wsgiref.validate import validator

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import space_wsgi  # noqa: E402
from space_wsgi import environ, serve  # noqa: E402

try:
    import flask
except ImportError:
    flask = None


class Sink:
    """Records what `serve` sends, and fails on an out-of-order call."""

    def __init__(self):
        self.status, self.headers, self.length = None, None, None
        self.chunks, self.finished, self.aborted = [], False, False

    def start(self, status, headers, length):
        assert self.status is None, "start twice"
        self.status, self.headers, self.length = status, dict(headers), length

    def write(self, data):
        assert self.status is not None and not self.finished, "write outside the body"
        assert isinstance(data, bytes) and data
        self.chunks.append(data)

    def finish(self):
        assert self.status is not None and not (self.finished or self.aborted)
        self.finished = True

    def abort(self):
        assert not (self.finished or self.aborted)
        self.aborted = True

    @property
    def body(self):
        return b"".join(self.chunks)


def run(app, method="GET", target="/", headers=(), body=b""):
    """Serves one request; returns the sink and what went to stderr."""
    sink, err = Sink(), io.StringIO()
    with contextlib.redirect_stderr(err):
        env = environ(method, target, list(headers), body)
        serve(app, env, sink)
    return sink, err.getvalue()


class EnvironTest(unittest.TestCase):
    def test_request_line_and_prefix(self):
        env = environ(
            "post",
            "/notes/a%20b/%C3%A9?x=1&y=%20",
            [("host", "127.0.0.1:4200"), ("x-forwarded-prefix", "/api")],
            b"",
        )
        self.assertEqual(env["REQUEST_METHOD"], "POST")
        self.assertEqual(env["SCRIPT_NAME"], "/api")
        # PEP 3333: the decoded bytes, as latin-1 text
        self.assertEqual(env["PATH_INFO"], "/notes/a b/\xc3\xa9")
        self.assertEqual(env["QUERY_STRING"], "x=1&y=%20")
        self.assertEqual(env["REQUEST_URI"], "/notes/a%20b/%C3%A9?x=1&y=%20")
        self.assertEqual((env["SERVER_NAME"], env["SERVER_PORT"]), ("127.0.0.1", "4200"))
        self.assertEqual(env["SERVER_PROTOCOL"], "HTTP/1.1")

    def test_the_primary_has_an_empty_script_name(self):
        env = environ("GET", "/", [("x-forwarded-prefix", "/")], b"")
        self.assertEqual((env["SCRIPT_NAME"], env["PATH_INFO"]), ("", "/"))
        self.assertEqual(environ("GET", "", [], b"")["PATH_INFO"], "/")

    def test_headers(self):
        env = environ(
            "GET",
            "/",
            [
                ("Accept", "text/html"),
                ("x-many", "a"),
                ("x-many", "b"),
                ("cookie", "a=1"),
                ("cookie", "b=2"),
                ("x_real_ip", "6.6.6.6"),
                ("x-real-ip", "10.1.2.3"),
                ("x-forwarded-for", "10.1.2.3"),
                ("x-forwarded-proto", "https"),
                ("host", "[::1]:8080"),
            ],
            b"",
        )
        self.assertEqual(env["HTTP_ACCEPT"], "text/html")
        self.assertEqual(env["HTTP_X_MANY"], "a, b")
        self.assertEqual(env["HTTP_COOKIE"], "a=1; b=2")
        self.assertEqual(env["HTTP_X_REAL_IP"], "10.1.2.3", "the `_` spelling is dropped")
        self.assertEqual(env["REMOTE_ADDR"], "10.1.2.3")
        self.assertEqual(env["wsgi.url_scheme"], "https")
        self.assertEqual((env["SERVER_NAME"], env["SERVER_PORT"]), ("[::1]", "8080"))
        self.assertNotIn("CONTENT_TYPE", env)
        self.assertNotIn("CONTENT_LENGTH", env)

    def test_body_and_defaults(self):
        env = environ(
            "PUT",
            "/x",
            [("content-type", "application/json"), ("content-length", "7"), ("host", "a.example")],
            b'{"a":1}',
        )
        self.assertEqual(env["CONTENT_TYPE"], "application/json")
        self.assertEqual(env["CONTENT_LENGTH"], "7")
        self.assertNotIn("HTTP_CONTENT_TYPE", env)
        self.assertEqual(env["wsgi.input"].read(), b'{"a":1}')
        self.assertEqual((env["SERVER_NAME"], env["SERVER_PORT"]), ("a.example", "80"))
        self.assertEqual(env["wsgi.url_scheme"], "http")
        self.assertEqual(env["wsgi.version"], (1, 0))
        self.assertIs(env["wsgi.errors"], sys.stderr)
        self.assertEqual(
            (env["wsgi.multithread"], env["wsgi.multiprocess"], env["wsgi.run_once"]),
            (False, True, False),
        )

    def test_an_odd_scheme_is_http(self):
        env = environ("GET", "/", [("x-forwarded-proto", "gopher")], b"")
        self.assertEqual(env["wsgi.url_scheme"], "http")


def echo_app(environ, start_response):
    """Answers with a JSON view of the request (the body read through wsgi.input)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    out = json.dumps(
        {
            "method": environ["REQUEST_METHOD"],
            "script": environ["SCRIPT_NAME"],
            "path": environ["PATH_INFO"],
            "query": environ["QUERY_STRING"],
            "body": body.decode(),
        }
    ).encode()
    start_response("201 Created", [("Content-Type", "application/json"), ("X-Two", "2")])
    return [out]


class ServeTest(unittest.TestCase):
    def test_a_validated_application_round_trip(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # wsgiref.validate warns on softer breaches
            sink, err = run(
                validator(echo_app),
                "POST",
                "/items/1?q=2",
                [("content-type", "text/plain"), ("x-forwarded-prefix", "/api")],
                b"hello",
            )
        self.assertEqual(err, "")
        self.assertEqual(sink.status, 201)
        self.assertEqual(sink.headers["Content-Type"], "application/json")
        self.assertEqual(sink.headers["X-Two"], "2")
        self.assertEqual(
            json.loads(sink.body),
            {"method": "POST", "script": "/api", "path": "/items/1", "query": "q=2", "body": "hello"},
        )
        self.assertTrue(sink.finished)

    def test_a_list_body_gets_a_content_length(self):
        sink, _ = run(echo_app)
        self.assertEqual(sink.status, 201)
        self.assertEqual(sink.length, len(sink.body))

    def test_a_generator_streams_chunk_by_chunk_and_is_closed(self):
        closed = []

        def app(environ, start_response):
            def body():
                try:
                    yield b""  # an empty first chunk sends nothing yet
                    start_response("200 OK", [("Content-Type", "text/plain")])
                    for i in range(3):
                        yield f"part {i}\n".encode()
                finally:
                    closed.append(True)

            return body()

        sink, err = run(app)  # not validated: wsgiref.validate wants start_response first
        self.assertEqual((sink.status, err), (200, ""))
        self.assertEqual(sink.chunks, [b"part 0\n", b"part 1\n", b"part 2\n"])
        self.assertIsNone(sink.length, "an unknown length is streamed without one")
        self.assertEqual(closed, [True])

    def test_the_applications_content_length_is_kept(self):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Length", "2")])
            return [b"o", b"k"]

        sink, _ = run(app)
        self.assertEqual((sink.headers["Content-Length"], sink.length, sink.body), ("2", None, b"ok"))

    def test_an_empty_body(self):
        def app(environ, start_response):
            start_response("204 No Content", [])
            return []

        sink, _ = run(app)
        self.assertEqual((sink.status, sink.length, sink.body, sink.finished), (204, 0, b"", True))

    def test_exc_info_replaces_the_head_before_it_is_sent(self):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/html")])
            try:
                raise KeyError("boom")
            except KeyError:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
            return [b"sorry"]

        sink, _ = run(validator(app))
        self.assertEqual((sink.status, sink.headers, sink.body), (503, {"Content-Type": "text/plain"}, b"sorry"))

    def test_exc_info_after_the_head_is_sent_reraises_and_cuts_the_body(self):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b"first"
            try:
                raise KeyError("late")
            except KeyError:
                start_response("500 Oops", [], sys.exc_info())
            yield b"never"

        sink, err = run(app)
        self.assertEqual((sink.status, sink.body), (200, b"first"))
        self.assertTrue(sink.aborted and not sink.finished)
        self.assertIn("KeyError: 'late'", err)

    def test_an_exception_is_a_500_with_the_traceback_on_stderr(self):
        closed = []

        class Body:
            def __iter__(self):
                raise ZeroDivisionError("division by zero in the view")

            def close(self):
                closed.append(True)

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/html")])
            return Body()

        sink, err = run(app)
        self.assertEqual(sink.status, 500)
        self.assertEqual(sink.headers, {"Content-Type": "text/plain; charset=utf-8"})
        self.assertEqual(sink.body, b"Internal Server Error\n")
        self.assertEqual(sink.length, len(sink.body))
        self.assertIn("Traceback (most recent call last)", err)
        self.assertIn("ZeroDivisionError: division by zero in the view", err)
        self.assertEqual(closed, [True], "close() is called on failure too")

    def test_breaches_of_pep_3333_are_500s(self):
        def twice(environ, start_response):
            start_response("200 OK", [])
            start_response("200 OK", [])
            return [b""]

        def text_chunk(environ, start_response):
            start_response("200 OK", [])
            return ["not bytes"]

        def no_head(environ, start_response):
            return [b"body first"]

        def bad_status(environ, start_response):
            start_response("OK", [])
            return [b""]

        for app, message in [
            (twice, "start_response called a second time"),
            (text_chunk, "must be bytes, not str"),
            (no_head, "before start_response"),
            (bad_status, "bad WSGI status"),
        ]:
            sink, err = run(app)
            self.assertEqual(sink.status, 500, app.__name__)
            self.assertIn(message, err, app.__name__)

    def test_hop_by_hop_headers_are_dropped(self):
        def app(environ, start_response):
            start_response("200 OK", [("Connection", "close"), ("Transfer-Encoding", "chunked"), ("X-Kept", "1")])
            return [b"x"]

        sink, _ = run(app)
        self.assertEqual(sink.headers, {"X-Kept": "1"})

    def test_the_legacy_write_callable(self):
        def app(environ, start_response):
            write = start_response("200 OK", [("Content-Type", "text/plain")])
            write(b"written ")
            return [b"returned"]

        sink, _ = run(app)
        self.assertEqual((sink.status, sink.body, sink.finished), (200, b"written returned", True))

    def test_export_needs_wasi_http(self):
        with self.assertRaises(RuntimeError):
            space_wsgi.export(echo_app)

    def test_preload_imports_every_submodule(self):
        sys.modules.pop("xmlrpc.server", None)
        loaded = space_wsgi.preload("xmlrpc")
        self.assertEqual(loaded[0], "xmlrpc")
        self.assertIn("xmlrpc.server", loaded)
        self.assertIn("xmlrpc.server", sys.modules)


@unittest.skipUnless(flask, "Flask is not installed (pip install flask to run this case)")
class FlaskTest(unittest.TestCase):
    def setUp(self):
        app = flask.Flask(__name__)
        self.seen = []

        @app.get("/")
        def index():
            return flask.render_template_string(
                "<a href='{{ url_for('note', key=k) }}'>{{ k }}</a>", k="n1<"
            )

        @app.get("/notes/<key>")
        def note(key):
            return flask.jsonify(key=key, q=flask.request.args.get("q"))

        @app.post("/__space/v0/actions")
        def action():
            self.seen.append(flask.request.get_json()["event"])
            return {"ok": True}

        @app.get("/fail")
        def fail():
            raise RuntimeError("a bug in a view")

        self.app = app

    def test_templates_and_links_under_the_micros_path(self):
        sink, _ = run(self.app, "GET", "/", [("host", "h:1"), ("x-forwarded-prefix", "/api")])
        self.assertEqual(sink.status, 200)
        self.assertEqual(sink.body, b"<a href='/api/notes/n1%3C'>n1&lt;</a>")
        self.assertEqual(sink.headers["Content-Length"], str(len(sink.body)))

    def test_json_and_actions(self):
        sink, _ = run(self.app, "GET", "/notes/a%20b?q=x")
        self.assertEqual(json.loads(sink.body), {"key": "a b", "q": "x"})
        body = b'{"event":{"id":"tidy","trigger":"schedule"}}'
        sink, _ = run(self.app, "POST", "/__space/v0/actions", [("content-type", "application/json")], body)
        self.assertEqual((sink.status, self.seen), (200, [{"id": "tidy", "trigger": "schedule"}]))

    def test_a_view_error_is_flasks_500_and_logged(self):
        sink, err = run(self.app, "GET", "/fail")
        self.assertEqual(sink.status, 500)
        self.assertIn("RuntimeError: a bug in a view", err)


if __name__ == "__main__":
    unittest.main()
