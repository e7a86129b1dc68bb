"""space.py's `wasi:io` stream helpers, `write_all` and `read_all`, on plain python3, against
streams that behave as `wasi:io/streams` says (a `check-write` budget, a pollable that
refills it, reads of at most the size asked for, the end as an `Err(closed)`):

    python3 -m unittest discover -s sdk/python/tests

What a real host permits and delivers is tested through the runtime itself
(tests/conformance/polyglot.rs, large random bodies through the Python Micro).
"""

import gc
import os
import random
import sys
import types
import unittest
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import space  # noqa: E402
import space_wsgi  # noqa: E402


class OutputStream:
    """An output stream whose `check-write` permits `budget` bytes, then nothing until its
    pollable is waited on (`blocks` counts the waits). Records every call in `calls`."""

    def __init__(self, budget, stalls=()):
        self.budget, self.stalls = budget, list(stalls)  # stalls: writes after which 0 is permitted
        self.permitted, self.written, self.calls, self.blocks = budget, bytearray(), [], 0
        self.flushed_at = None

    def check_write(self):
        self.calls.append("check-write")
        return self.permitted

    def write(self, data):
        self.calls.append(("write", len(data)))
        if not isinstance(data, bytes):
            raise TypeError("the bindings take bytes")
        if len(data) > self.permitted:
            raise AssertionError(f"wrote {len(data)} bytes where check-write permitted {self.permitted}")
        self.written += data
        writes = sum(1 for c in self.calls if c[0] == "write")
        self.permitted = 0 if writes in self.stalls else self.budget

    def blocking_flush(self):
        self.calls.append("blocking-flush")
        self.flushed_at = len(self.written)

    def blocking_write_and_flush(self, data):
        raise AssertionError("blocking-write-and-flush: 4096 bytes a call")

    def subscribe(self):
        stream = self

        class Pollable:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                pass

            def block(self):
                stream.blocks += 1
                stream.permitted = stream.budget

        return Pollable()

    def writes(self):
        return [c[1] for c in self.calls if c[0] == "write"]


class Err(Exception):
    """What the bindings raise for a failed stream call: `value` is the stream-error."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


class Closed:
    pass


class Failed:
    pass


class InputStream:
    """Hands out `pieces` (at most the size asked for each call), then `Err(Closed())`."""

    def __init__(self, pieces, end=Closed):
        self.pieces, self.asked, self.end = list(pieces), [], end

    def blocking_read(self, size):
        self.asked.append(size)
        if not self.pieces:
            result = Err(self.end())
            raise result  # from a frame that holds it: the traceback makes a cycle
        piece = self.pieces.pop(0)
        if len(piece) > size:
            self.pieces.insert(0, piece[size:])
            piece = piece[:size]
        return piece


def odd_body(n=(1 << 20) + 13):
    return random.Random(n).randbytes(n)  # random, and not a multiple of 4096


class WriteAll(unittest.TestCase):
    def test_writes_as_much_as_check_write_permits_then_flushes_once(self):
        body = odd_body()
        stream = OutputStream(65536)
        space.write_all(stream, body)
        self.assertEqual(bytes(stream.written), body)
        self.assertEqual(stream.writes(), [65536] * 16 + [13])
        self.assertEqual(stream.calls.count("blocking-flush"), 1)
        self.assertEqual(stream.calls[-1], "blocking-flush")
        self.assertEqual(stream.flushed_at, len(body))
        self.assertEqual(stream.blocks, 0)

    def test_a_body_within_the_budget_is_one_write_of_the_same_object(self):
        body = odd_body(5000)
        stream = OutputStream(1 << 20)
        seen = []
        real_write = stream.write
        stream.write = lambda data: (seen.append(data), real_write(data))
        space.write_all(stream, body)
        self.assertEqual(stream.calls, ["check-write", ("write", 5000), "blocking-flush"])
        self.assertIs(seen[0], body, "no copy when the whole body fits")

    def test_waits_on_the_pollable_when_nothing_is_permitted(self):
        body = odd_body(10 * 4096 + 7)
        stream = OutputStream(4096 * 3, stalls=(1, 2))
        space.write_all(stream, body)
        self.assertEqual(bytes(stream.written), body)
        self.assertEqual(stream.blocks, 2)
        self.assertEqual(stream.writes(), [12288, 12288, 12288, 4096 + 7])

    def test_an_empty_body_calls_nothing_and_other_bytes_like_are_sent_as_bytes(self):
        stream = OutputStream(65536)
        space.write_all(stream, b"")
        self.assertEqual(stream.calls, [])
        space.write_all(stream, bytearray(b"abc"))
        space.write_all(stream, memoryview(b"def"))
        self.assertEqual(bytes(stream.written), b"abcdef")

    def test_the_wsgi_sink_writes_through_it(self):
        body = odd_body(200_001)
        sink = space_wsgi._WasiSink(None)
        sink.stream = OutputStream(65536)
        sink.write(body)
        self.assertEqual(bytes(sink.stream.written), body)
        self.assertEqual(sink.stream.writes(), [65536] * 3 + [200_001 - 3 * 65536])


@mock.patch.object(space, "_streams", types.SimpleNamespace(StreamError_Closed=Closed))
@mock.patch.object(space, "Err", Err)
class ReadAll(unittest.TestCase):
    def test_reads_to_the_end_in_reads_of_a_mebibyte(self):
        body = odd_body((3 << 20) + 5)
        stream = InputStream([body[:100], body[100:]])
        self.assertEqual(space.read_all(stream), body)
        self.assertEqual(stream.asked, [1 << 20] * 5)  # 100 B, 1 MiB x3, the rest, the end

    def test_a_body_in_one_piece_is_returned_as_it_came(self):
        body = odd_body(70_000)
        self.assertIs(space.read_all(InputStream([body])), body)
        self.assertEqual(space.read_all(InputStream([])), b"")

    def test_the_body_is_not_kept_alive_by_a_reference_cycle(self):
        body = odd_body(300_000)
        enabled = gc.isenabled()
        gc.disable()
        try:
            gc.collect()
            self.assertEqual(space.read_all(InputStream([body[:1000], body[1000:]])), body)
            gc.set_debug(gc.DEBUG_SAVEALL)
            found = gc.collect()
            kept = [type(o).__name__ for o in gc.garbage]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            if enabled:
                gc.enable()
        self.assertEqual(found, 0, f"read_all left a cycle for the collector: {kept}")

    def test_a_failure_other_than_the_end_is_raised(self):
        with self.assertRaises(Err) as caught:
            space.read_all(InputStream([b"abc"], end=Failed))
        self.assertIsInstance(caught.exception.value, Failed)


if __name__ == "__main__":
    unittest.main()
