"""space_asgi.py on plain python3: the scope it builds, its event loop (the one a component
uses), and how it runs an ASGI application. The Starlette case runs when Starlette is
installed and is skipped otherwise.

    python3 -m unittest discover -s sdk/python/tests
"""

import asyncio
import contextlib
import io
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

import space_asgi  # noqa: E402
from test_wsgi import Sink  # noqa: E402

try:
    import starlette  # noqa: F401
except ImportError:
    starlette = None

HEADERS = [("host", "h.example:4200"), ("x-forwarded-prefix", "/api"), ("x-real-ip", "10.0.0.7")]


def run(app, method="GET", target="/", headers=HEADERS, body=b""):
    sink, err = Sink(), io.StringIO()
    with contextlib.redirect_stderr(err):
        space_asgi.serve(app, space_asgi.scope(method, target, list(headers)), body, sink)
    return sink, err.getvalue()


class ScopeTest(unittest.TestCase):
    def test_scope(self):
        s = space_asgi.scope("post", "/a%20b/%C3%A9?x=1", HEADERS + [("X-Many", "1"), ("x-many", "2")])
        self.assertEqual(s["type"], "http")
        self.assertEqual(s["method"], "POST")
        self.assertEqual(s["root_path"], "/api")
        self.assertEqual(s["path"], "/api/a b/\u00e9", "ASGI 2.3: path includes root_path")
        self.assertEqual(s["raw_path"], b"/api/a%20b/%C3%A9")
        self.assertEqual(s["query_string"], b"x=1")
        self.assertEqual(s["server"], ("h.example", 4200))
        self.assertEqual(s["client"], ("10.0.0.7", 0))
        self.assertEqual(s["scheme"], "http")
        self.assertIn((b"x-many", b"1"), s["headers"])
        self.assertIn((b"x-many", b"2"), s["headers"])

    def test_the_primary(self):
        s = space_asgi.scope("GET", "/", [("x-forwarded-prefix", "/")])
        self.assertEqual((s["root_path"], s["path"], s["client"]), ("", "/", None))


class LoopTest(unittest.TestCase):
    def test_tasks_timers_and_cancellation(self):
        async def main():
            order = []

            async def worker(n, delay):
                await asyncio.sleep(delay)
                order.append(n)
                return n

            results = await asyncio.gather(worker(1, 0.02), worker(2, 0.01), worker(3, 0))
            slow = asyncio.ensure_future(asyncio.sleep(10))
            await asyncio.sleep(0)
            slow.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await slow
            with self.assertRaises(TimeoutError):
                await asyncio.wait_for(asyncio.sleep(10), 0.01)
            return order, results

        self.assertEqual(space_asgi.run(main()), ([3, 2, 1], [1, 2, 3]))

    def test_a_deadlock_fails_instead_of_hanging(self):
        async def main():
            await asyncio.get_running_loop().create_future()

        with self.assertRaisesRegex(RuntimeError, "wait forever"):
            space_asgi.run(main())


async def echo(scope, receive, send):
    message = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    body = json.dumps({"path": scope["path"], "body": message["body"].decode()}).encode()
    await send({"type": "http.response.body", "body": body[:5], "more_body": True})
    await send({"type": "http.response.body", "body": body[5:]})
    assert (await receive())["type"] == "http.disconnect"


class ServeTest(unittest.TestCase):
    def test_a_round_trip_streamed(self):
        sink, err = run(echo, "POST", "/x", body=b"hello")
        self.assertEqual((sink.status, err), (200, ""))
        self.assertEqual(sink.headers, {"content-type": "application/json"})
        self.assertEqual(len(sink.chunks), 2)
        self.assertEqual(json.loads(sink.body), {"path": "/api/x", "body": "hello"})
        self.assertTrue(sink.finished)

    def test_an_exception_before_the_start_is_a_500(self):
        async def app(scope, receive, send):
            raise ValueError("broken view")

        sink, err = run(app)
        self.assertEqual((sink.status, sink.body), (500, b"Internal Server Error\n"))
        self.assertIn("ValueError: broken view", err)

    def test_an_exception_after_the_start_cuts_the_body(self):
        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": [(b"connection", b"close")]})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
            raise ValueError("late")

        sink, err = run(app)
        self.assertEqual((sink.status, sink.headers, sink.body), (200, {}, b"part"))
        self.assertTrue(sink.aborted)
        self.assertIn("ValueError: late", err)

    def test_an_exception_after_a_complete_response_keeps_it(self):
        async def app(scope, receive, send):  # what Starlette's ServerErrorMiddleware does
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"error page"})
            raise ValueError("re-raised for the server's log")

        sink, err = run(app)
        self.assertEqual((sink.status, sink.body, sink.finished), (500, b"error page", True))
        self.assertIn("ValueError: re-raised", err)

    def test_no_response_is_a_500(self):
        async def app(scope, receive, send):
            pass

        sink, err = run(app)
        self.assertEqual(sink.status, 500)
        self.assertIn("without starting a response", err)

    def test_export_needs_wasi_http(self):
        with self.assertRaises(RuntimeError):
            space_asgi.export(echo)


class SslStandInTest(unittest.TestCase):
    def test_a_stand_in_only_where_ssl_cannot_load(self):
        real = sys.modules.get("ssl")
        space_asgi._ssl_stand_in()
        self.assertIs(sys.modules.get("ssl"), real, "a working ssl is left alone")
        sys.modules["ssl"] = None  # `import ssl` now raises ImportError, as in a component
        try:
            space_asgi._ssl_stand_in()
            import ssl

            self.assertIn("stand-in", ssl.__doc__)
            self.assertTrue(issubclass(ssl.SSLEOFError, ssl.SSLError))
            self.assertTrue(issubclass(ssl.SSLError, OSError))
            self.assertEqual(ssl.Purpose.SERVER_AUTH.name, "SERVER_AUTH")
            with self.assertRaisesRegex(RuntimeError, "not available in a component"):
                ssl.SSLContext()
            with self.assertRaises(RuntimeError):
                ssl.create_default_context()
        finally:
            sys.modules["ssl"] = real


@unittest.skipUnless(starlette, "Starlette is not installed (pip install starlette to run this case)")
class StarletteTest(unittest.TestCase):
    def test_async_and_sync_endpoints_streaming_and_background_tasks(self):
        from starlette.applications import Starlette
        from starlette.background import BackgroundTask
        from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
        from starlette.routing import Route

        done = []

        async def index(request):
            await asyncio.sleep(0.001)
            return JSONResponse({"body": (await request.body()).decode(), "link": str(request.url_for("sync"))})

        def sync(request):  # a plain def: Starlette runs it through anyio.to_thread
            return PlainTextResponse("sync", background=BackgroundTask(lambda: done.append(1)))

        async def stream(request):
            async def parts():
                for i in range(3):
                    yield f"{i}\n"

            return StreamingResponse(parts())

        app = Starlette(routes=[Route("/", index, methods=["POST"]), Route("/sync", sync, name="sync"), Route("/s", stream)])
        space_asgi._inline_threads()
        sink, _ = run(app, "POST", "/", body=b"hi")
        self.assertEqual(json.loads(sink.body), {"body": "hi", "link": "http://h.example:4200/api/sync"})
        sink, _ = run(app, "GET", "/sync")
        self.assertEqual((sink.status, sink.body, done), (200, b"sync", [1]))
        sink, _ = run(app, "GET", "/s")
        self.assertEqual(sink.chunks, [b"0\n", b"1\n", b"2\n"])
        sink, _ = run(app, "GET", "/missing")
        self.assertEqual(sink.status, 404)


if __name__ == "__main__":
    unittest.main()
