"""space_static.files on plain python3: real files in a temp dir, served through space_wsgi.

    python3 -m unittest discover -s sdk/python/tests
"""

import os
import sys
import tempfile
import unittest
from wsgiref.validate import validator

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

import space_static  # noqa: E402
from test_wsgi import run  # noqa: E402


class StaticTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        root = self.tmp.name
        os.makedirs(os.path.join(root, "assets"))
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("<h1>home</h1>")
        with open(os.path.join(root, "assets", "app.js"), "w") as f:
            f.write("console.log(1)")
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.write(bytes(range(256)) * 1000)
        self.app = validator(space_static.files(root))
        os.environ.pop("SPACE_STATIC_FALLBACK", None)

    def tearDown(self):
        os.environ.pop("SPACE_STATIC_FALLBACK", None)
        self.tmp.cleanup()

    def test_files_and_index(self):
        sink, _ = run(self.app, "GET", "/")
        self.assertEqual((sink.status, sink.body), (200, b"<h1>home</h1>"))
        self.assertEqual(sink.headers["Content-Type"], "text/html; charset=utf-8")
        sink, _ = run(self.app, "GET", "/assets/app.js")
        self.assertEqual(sink.body, b"console.log(1)")
        self.assertIn(sink.headers["Content-Type"].split(";")[0], ("text/javascript", "application/javascript"))
        self.assertEqual(sink.headers["Content-Length"], "14")

    def test_a_large_file_is_streamed_whole(self):
        sink, _ = run(self.app, "GET", "/big.bin")
        self.assertEqual(sink.body, bytes(range(256)) * 1000)
        self.assertGreater(len(sink.chunks), 1)
        self.assertEqual(sink.headers["Content-Type"], "application/octet-stream")

    def test_head_sends_the_head_only(self):
        sink, _ = run(self.app, "HEAD", "/index.html")
        self.assertEqual((sink.status, sink.body, sink.headers["Content-Length"]), (200, b"", "13"))

    def test_missing_escaping_and_methods(self):
        for target in ["/nope.html", "/../etc/passwd", "/assets/%2e%2e/index.html", "/assets/"]:
            sink, _ = run(self.app, "GET", target)
            self.assertEqual(sink.status, 404, target)
        sink, _ = run(self.app, "POST", "/")
        self.assertEqual((sink.status, sink.headers["Allow"]), (405, "GET, HEAD"))

    def test_fallback_for_client_side_routes(self):
        os.environ["SPACE_STATIC_FALLBACK"] = "index.html"
        sink, _ = run(self.app, "GET", "/notes/42")
        self.assertEqual((sink.status, sink.body), (200, b"<h1>home</h1>"))

    def test_no_handler_outside_a_component(self):
        self.assertFalse(hasattr(space_static, "IncomingHandler"))


if __name__ == "__main__":
    unittest.main()
