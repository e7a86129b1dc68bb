// space.js's wasi:io stream helpers, `writeAll` and `readAll`, on Node.js, against streams that
// behave as `wasi:io/streams` says (a `check-write` budget, a pollable that refills it, reads of
// at most the size asked for, the end as an error whose payload is `{ tag: "closed" }`). Run from
// the repo's root: `node --test sdk/js/tests/`. What a real host permits and delivers is tested
// through the runtime (tests/conformance/polyglot.rs, large random bodies through the JS Micro).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import "./host.mjs";

const { READ_MAX, readAll, writeAll } = await import("../space.js");
const dispose = Symbol.dispose ?? Symbol.for("dispose");

/** An output stream permitting `budget` bytes a time, nothing after the writes numbered in
 *  `stalls` until its pollable is waited on. Records every call. */
function outputStream(budget, stalls = []) {
  const s = { calls: [], written: [], blocks: 0, permitted: BigInt(budget), writes: 0 };
  s.checkWrite = () => (s.calls.push("check-write"), s.permitted);
  s.write = (bytes) => {
    s.calls.push(["write", bytes.length]);
    assert.ok(bytes instanceof Uint8Array, "the bindings take a Uint8Array");
    assert.ok(BigInt(bytes.length) <= s.permitted, `wrote ${bytes.length} where ${s.permitted} was permitted`);
    s.written.push(Buffer.from(bytes));
    s.writes += 1;
    s.permitted = stalls.includes(s.writes) ? 0n : BigInt(budget);
  };
  s.blockingFlush = () => s.calls.push("blocking-flush");
  s.blockingWriteAndFlush = () => assert.fail("blocking-write-and-flush: 4096 bytes a call");
  s.subscribe = () => ({
    block() {
      s.blocks += 1;
      s.permitted = BigInt(budget);
    },
    [dispose]() {},
  });
  s.sizes = () => s.calls.filter((c) => Array.isArray(c)).map((c) => c[1]);
  return s;
}

/** Hands out `pieces` (at most the size asked for a call), then throws `{ payload: end }`. */
function inputStream(pieces, end = { tag: "closed" }) {
  const s = { asked: [], pieces: [...pieces] };
  s.blockingRead = (size) => {
    s.asked.push(size);
    if (!s.pieces.length) throw Object.assign(new Error("stream error"), { payload: end });
    const piece = s.pieces.shift();
    if (piece.length > Number(size)) {
      s.pieces.unshift(piece.subarray(Number(size)));
      return piece.subarray(0, Number(size));
    }
    return piece;
  };
  return s;
}

const oddBody = (n = (1 << 20) + 13) => new Uint8Array(randomBytes(n)); // not a multiple of 4096

test("writeAll writes as much as check-write permits, then flushes once", () => {
  const body = oddBody();
  const s = outputStream(65536);
  writeAll(s, body);
  assert.deepEqual(Buffer.concat(s.written), Buffer.from(body));
  assert.deepEqual(s.sizes(), [...Array(16).fill(65536), 13]);
  assert.equal(s.calls.filter((c) => c === "blocking-flush").length, 1);
  assert.equal(s.calls.at(-1), "blocking-flush");
  assert.equal(s.blocks, 0);
});

test("writeAll passes a body within the budget as it is, in one write", () => {
  const body = oddBody(5000);
  const s = outputStream(1 << 20);
  let seen;
  const write = s.write;
  s.write = (bytes) => ((seen = bytes), write(bytes));
  writeAll(s, body);
  assert.deepEqual(s.calls, ["check-write", ["write", 5000], "blocking-flush"]);
  assert.equal(seen, body, "no view made when the whole body fits");
});

test("writeAll waits on the pollable when nothing is permitted", () => {
  const body = oddBody(10 * 4096 + 7);
  const s = outputStream(3 * 4096, [1, 2]);
  writeAll(s, body);
  assert.deepEqual(Buffer.concat(s.written), Buffer.from(body));
  assert.equal(s.blocks, 2);
  assert.deepEqual(s.sizes(), [12288, 12288, 12288, 4096 + 7]);
});

test("writeAll calls nothing for an empty body", () => {
  const s = outputStream(65536);
  writeAll(s, new Uint8Array(0));
  assert.deepEqual(s.calls, []);
});

test("readAll reads to the end in reads of a mebibyte", () => {
  const body = oddBody((3 << 20) + 5);
  const s = inputStream([body.subarray(0, 100), body.subarray(100)]);
  assert.deepEqual(Buffer.from(readAll(s)), Buffer.from(body));
  assert.deepEqual(s.asked, Array(5).fill(BigInt(READ_MAX))); // 100 B, 1 MiB x3, the rest, the end
  assert.equal(READ_MAX, 1 << 20);
});

test("readAll returns a body that came in one piece as it came, and throws other failures", () => {
  const body = oddBody(70_000);
  assert.equal(readAll(inputStream([body])), body);
  assert.equal(readAll(inputStream([])).length, 0);
  assert.throws(
    () => readAll(inputStream([body], { tag: "last-operation-failed" })),
    (err) => err.payload.tag === "last-operation-failed",
  );
});
