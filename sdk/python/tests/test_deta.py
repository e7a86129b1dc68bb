"""Request building and response handling of deta.py, on plain python3 (no wasi:http):

    python3 -m unittest discover -s sdk/python/tests
"""

import io
import json
import os
import sys
import unittest
import urllib.error

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import deta  # noqa: E402

ROOT_B = "https://database.deta.sh/v1/proj/users"
ROOT_D = "https://drive.deta.sh/v1/proj/photos"


class Fake:
    """Records (method, url, headers, body); answers from a queue of (status, body)."""

    def __init__(self):
        self.calls, self.answers = [], []

    def answer(self, status, body, content_type="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.answers.append((status, [("content-type", content_type)], body))

    def __call__(self, method, url, headers, body):
        self.calls.append((method, url, dict(headers), body))
        return self.answers.pop(0)

    def json(self, i):
        return json.loads(self.calls[i][3])


def service(kind, name):
    os.environ.pop("DETA_BASE_HOST", None)
    os.environ.pop("DETA_DRIVE_HOST", None)
    d = deta.Deta("proj_s3cr3t")
    s = d.Base(name) if kind == "base" else d.Drive(name)
    s._send = fake = Fake()
    return s, fake


class KeyTest(unittest.TestCase):
    def test_project_id(self):
        self.assertEqual(deta.Deta("ab_cd_ef").project_id, "ab")
        with self.assertRaises(AssertionError):
            deta.Deta("nokey")
        os.environ["DETA_PROJECT_KEY"] = "env_key"
        try:
            self.assertEqual(deta.Base("x").base_path, "/v1/env/x")
        finally:
            del os.environ["DETA_PROJECT_KEY"]

    def test_hosts(self):
        os.environ["DETA_BASE_HOST"] = "http://127.0.0.1:9000"
        try:
            self.assertEqual(deta.Deta("p_k").Base("b").root, "http://127.0.0.1:9000/v1/p/b")
        finally:
            del os.environ["DETA_BASE_HOST"]
        self.assertEqual(deta.Deta("p_k").Drive("d", host="h.example").root, "https://h.example/v1/p/d")


class BaseTest(unittest.TestCase):
    def test_put(self):
        db, fake = service("base", "users")
        fake.answer(207, {"processed": {"items": [{"key": "k", "value": 1}]}, "failed": {"items": []}})
        self.assertEqual(db.put(1, "k"), {"key": "k", "value": 1})
        method, url, headers, _ = fake.calls[0]
        self.assertEqual((method, url), ("PUT", ROOT_B + "/items"))
        self.assertEqual(headers["X-API-Key"], "proj_s3cr3t")
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(fake.json(0), {"items": [{"value": 1, "key": "k"}]})

    def test_put_expiry(self):
        db, fake = service("base", "users")
        fake.answer(207, {"processed": {"items": [{"key": "a"}]}})
        db.put({"key": "a"}, expire_at=1700000000)
        self.assertEqual(fake.json(0), {"items": [{"key": "a", "__expires": 1700000000}]})
        with self.assertRaises(ValueError):
            db.put({"key": "a"}, expire_in=1, expire_at=2)

    def test_put_many(self):
        db, fake = service("base", "users")
        fake.answer(207, {"processed": {"items": [{"key": "a"}, {"key": "b", "value": "x"}]}})
        res = db.put_many([{"key": "a"}, "x"])
        self.assertEqual(len(res["processed"]["items"]), 2)
        self.assertEqual(fake.json(0), {"items": [{"key": "a"}, {"value": "x"}]})
        with self.assertRaises(AssertionError):
            db.put_many([{}] * 26)

    def test_get_encodes_and_404_is_none(self):
        db, fake = service("base", "users")
        fake.answer(404, {"key": "a/b c"})
        self.assertIsNone(db.get("a/b c"))
        self.assertEqual(fake.calls[0][:2], ("GET", ROOT_B + "/items/a%2Fb%20c"))
        fake.answer(200, {"key": "x", "n": 1})
        self.assertEqual(db.get("x"), {"key": "x", "n": 1})

    def test_insert_409(self):
        db, fake = service("base", "users")
        fake.answer(201, {"key": "a"})
        self.assertEqual(db.insert({"n": 1}, "a"), {"key": "a"})
        self.assertEqual(fake.calls[0][:2], ("POST", ROOT_B + "/items"))
        self.assertEqual(fake.json(0), {"item": {"n": 1, "key": "a"}})
        fake.answer(409, {"errors": ["Key already exists"]})
        with self.assertRaisesRegex(Exception, "Item with key 'a' already exists"):
            db.insert({"key": "a"})

    def test_update_sends_all_five_fields(self):
        db, fake = service("base", "users")
        fake.answer(200, {"key": "a b"})
        db.update(
            {
                "profile.age": 3,
                "n": db.util.increment(2),
                "tags": db.util.append("x"),
                "log": db.util.prepend(["a"]),
                "old": db.util.trim(),
            },
            "a b",
            expire_at=99,
        )
        method, url, _, body = fake.calls[0]
        self.assertEqual((method, url), ("PATCH", ROOT_B + "/items/a%20b"))
        self.assertEqual(list(json.loads(body)), ["set", "increment", "append", "prepend", "delete"])
        self.assertEqual(
            fake.json(0),
            {
                "set": {"profile.age": 3, "__expires": 99},
                "increment": {"n": 2},
                "append": {"tags": ["x"]},
                "prepend": {"log": ["a"]},
                "delete": ["old"],
            },
        )
        fake.answer(404, {"errors": ["Key not found"]})
        with self.assertRaisesRegex(Exception, "Key 'nope' not found"):
            db.update({"a": 1}, "nope")

    def test_fetch(self):
        db, fake = service("base", "users")
        fake.answer(200, {"paging": {"size": 1, "last": "a"}, "items": [{"key": "a"}]})
        res = db.fetch({"age?gt": 1}, limit=1)
        self.assertEqual((res.count, res.last, res.items), (1, "a", [{"key": "a"}]))
        self.assertEqual(fake.calls[0][:2], ("POST", ROOT_B + "/query"))
        self.assertEqual(fake.json(0), {"limit": 1, "last": None, "sort": "", "query": [{"age?gt": 1}]})
        fake.answer(200, {"paging": {"size": 0}, "items": []})
        res = db.fetch(last="a", desc=True)
        self.assertEqual(fake.json(1), {"limit": 1000, "last": "a", "sort": "desc"})
        self.assertIsNone(res.last)
        self.assertEqual(res, deta.FetchResponse(0, None, []))

    def test_errors_raise_http_error(self):
        db, fake = service("base", "users")
        fake.answer(400, {"errors": ["Bad query"]})
        with self.assertRaises(urllib.error.HTTPError) as caught:
            db.fetch({"a?zz": 1})
        self.assertEqual(caught.exception.code, 400)
        self.assertEqual(caught.exception.reason, "Bad query")

    def test_delete(self):
        db, fake = service("base", "users")
        fake.answer(200, {"key": "a#1"})
        self.assertIsNone(db.delete("a#1"))
        self.assertEqual(fake.calls[0][:2], ("DELETE", ROOT_B + "/items/a%231"))


class DriveTest(unittest.TestCase):
    def test_put_is_chunked(self):
        drive, fake = service("drive", "photos")
        fake.answer(202, {"name": "a b.bin", "upload_id": "u1"})
        for _ in range(4):
            fake.answer(200, {"part": 1})
        data = bytes(range(256)) * (1024 * 100)  # 25 MiB
        self.assertEqual(drive.put("a b.bin", data, content_type="x/y"), "a b.bin")
        self.assertEqual(
            [c[:2] for c in fake.calls],
            [
                ("POST", ROOT_D + "/uploads?name=a+b.bin"),
                ("POST", ROOT_D + "/uploads/u1/parts?name=a+b.bin&part=1"),
                ("POST", ROOT_D + "/uploads/u1/parts?name=a+b.bin&part=2"),
                ("POST", ROOT_D + "/uploads/u1/parts?name=a+b.bin&part=3"),
                ("PATCH", ROOT_D + "/uploads/u1?name=a+b.bin"),
            ],
        )
        self.assertEqual([len(c[3]) for c in fake.calls], [0, 10 << 20, 10 << 20, 5 << 20, 0])
        self.assertEqual(fake.calls[1][2]["Content-Type"], "x/y")

    def test_empty_file_and_abort(self):
        drive, fake = service("drive", "photos")
        fake.answer(202, {"upload_id": "u"})
        fake.answer(200, {})
        drive.put("empty", b"")
        self.assertEqual([c[0] for c in fake.calls], ["POST", "PATCH"])

        drive, fake = service("drive", "photos")
        fake.answer(202, {"upload_id": "u"})
        fake.answer(400, {"errors": ["nope"]})
        fake.answer(200, {})
        with self.assertRaises(urllib.error.HTTPError):
            drive.put("f", "text")
        self.assertEqual(fake.calls[2][:2], ("DELETE", ROOT_D + "/uploads/u?name=f"))

    def test_get(self):
        drive, fake = service("drive", "photos")
        fake.answer(200, b"bytes", "application/octet-stream")
        body = drive.get("dir/a.txt")
        self.assertEqual(fake.calls[0][:2], ("GET", ROOT_D + "/files/download?name=dir%2Fa.txt"))
        self.assertEqual(list(body.iter_chunks(2)), [b"by", b"te", b"s"])
        fake.answer(404, {"errors": ["Not found"]})
        self.assertIsNone(drive.get("x"))

    def test_list_and_delete(self):
        drive, fake = service("drive", "photos")
        fake.answer(200, {"paging": {"size": 1}, "names": ["a/b"]})
        self.assertEqual(drive.list(prefix="a/", last="a/a")["names"], ["a/b"])
        self.assertEqual(fake.calls[0][1], ROOT_D + "/files?limit=1000&prefix=a%2F&last=a%2Fa")
        fake.answer(200, {"deleted": ["a"], "failed": {}})
        self.assertEqual(drive.delete("a"), "a")
        self.assertEqual(fake.calls[1][:2], ("DELETE", ROOT_D + "/files"))
        self.assertEqual(fake.json(1), {"names": ["a"]})
        fake.answer(200, {"deleted": [], "failed": {"b": "locked"}})
        with self.assertRaisesRegex(Exception, "Failed to delete 'b':locked"):
            drive.delete("b")


if __name__ == "__main__":
    unittest.main()
