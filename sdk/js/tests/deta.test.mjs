// deta.js on the host: the requests it builds and how it reads the answers, against a real
// HTTP server on 127.0.0.1 that records each request and answers as Deta does. Run from the
// repo's root: `node --test sdk/js/tests/` (Node.js 20.6+).
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, beforeEach, test } from "node:test";
import "./host.mjs";

const requests = []; // { method, path, headers, body (Buffer) }
let answer = () => ({ status: 200, json: {} }); // (request) -> { status, json } or { status, bytes, type }

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const request = { method: req.method, path: req.url, headers: req.headers, body: Buffer.concat(chunks) };
    requests.push(request);
    const { status, json, bytes, type } = answer(request);
    const body = json !== undefined ? JSON.stringify(json) : bytes ?? "";
    const contentType = json !== undefined ? "application/json" : type ?? "application/octet-stream";
    res.writeHead(status, { "content-type": contentType });
    res.end(body);
  });
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
after(() => server.close());
const HOST = `http://127.0.0.1:${server.address().port}`;

// Read once by space.js's env(), at the first call: set before anything runs.
process.env.DETA_PROJECT_KEY = "proj1234_s3cret";
process.env.DETA_DRIVE_HOST = HOST;
const { Deta, DetaError, DriveFile, UPLOAD_CHUNK_SIZE, ttl } = await import("../deta.js");

const base = () => Deta().Base("items", HOST);
const drive = () => Deta().Drive("files"); // DETA_DRIVE_HOST
const bodyJson = (r) => JSON.parse(r.body.toString());

beforeEach(() => {
  requests.length = 0;
  answer = () => ({ status: 200, json: {} });
});

test("Deta() takes the key from DETA_PROJECT_KEY, or the one given; the project is before '_'", () => {
  assert.equal(Deta().projectId, "proj1234");
  assert.equal(Deta("other_key").projectId, "other");
  assert.throws(() => Deta("nounderscore"), /Bad project key/);
  assert.throws(() => Deta().Base(" "), /Base name is not defined/);
});

test("put sends one item with its key and expiry, with X-API-Key, and gives the stored item", async () => {
  answer = (r) => ({ status: 207, json: { processed: { items: bodyJson(r).items } } });
  const item = await base().put({ n: 1 }, "a/b", { expireAt: new Date(2_000_000_000_000) });
  assert.deepEqual(item, { n: 1, key: "a/b", __expires: 2_000_000_000 });
  const [r] = requests;
  assert.equal(`${r.method} ${r.path}`, "PUT /v1/proj1234/items/items");
  assert.equal(r.headers["x-api-key"], "proj1234_s3cret");
  assert.equal(r.headers["content-type"], "application/json");
  assert.deepEqual(bodyJson(r), { items: [{ n: 1, key: "a/b", __expires: 2_000_000_000 }] });
  await base().put("plain");
  assert.deepEqual(bodyJson(requests[1]), { items: [{ value: "plain" }] });
});

test("get escapes the key and gives null on 404; other failures throw Deta's messages", async () => {
  answer = () => ({ status: 404, json: { key: "a b/c" } });
  assert.equal(await base().get("a b/c"), null);
  assert.equal(requests[0].path, "/v1/proj1234/items/items/a%20b%2Fc");
  answer = () => ({ status: 400, json: { errors: ["Bad item", "Too deep"] } });
  const err = await base().get("k").catch((e) => e);
  assert.ok(err instanceof DetaError);
  assert.equal(err.status, 400);
  assert.deepEqual(err.errors, ["Bad item", "Too deep"]);
  assert.equal(err.message, `Bad item; Too deep (400 from GET ${HOST}/v1/proj1234/items/items/k)`);
  await assert.rejects(base().get(""), /Key is empty/);
});

test("insert posts one item; a 409 becomes 'already exists' with status 409", async () => {
  answer = (r) => ({ status: 201, json: bodyJson(r).item });
  assert.deepEqual(await base().insert({ n: 2 }, "k"), { n: 2, key: "k" });
  assert.equal(`${requests[0].method} ${requests[0].path}`, "POST /v1/proj1234/items/items");
  answer = () => ({ status: 409, json: { errors: ["Key already exists"] } });
  const err = await base().insert({ key: "k" }).catch((e) => e);
  assert.equal(err.status, 409);
  assert.match(err.message, /Item with key k already exists/);
});

test("update sorts values into set, increment, append, prepend and delete", async () => {
  const db = base();
  const changes = { a: 1, "p.q": "x", n: db.util.increment(), m: db.util.increment(-2) };
  Object.assign(changes, { t: db.util.append("z"), u: db.util.prepend([1, 2]), gone: db.util.trim() });
  assert.equal(await db.update(changes, "k", { expireIn: 60 }), null);
  const [r] = requests;
  assert.equal(`${r.method} ${r.path}`, "PATCH /v1/proj1234/items/items/k");
  const sent = bodyJson(r);
  const expires = sent.set.__expires;
  assert.ok(Math.abs(expires - (Date.now() / 1000 + 60)) < 5, `${expires}`);
  assert.deepEqual(sent, {
    set: { a: 1, "p.q": "x", __expires: expires },
    increment: { n: 1, m: -2 },
    append: { t: ["z"] },
    prepend: { u: [1, 2] },
    delete: ["gone"],
  });
  answer = () => ({ status: 404, json: { errors: ["Key not found"] } });
  const missing = await db.update({ a: 1 }, "nope").catch((e) => e);
  assert.equal(missing.status, 404);
  assert.match(missing.message, /'nope' not found/);
});

test("fetch sends the query (ORed list), limit, last and sort, and gives items, count and last", async () => {
  answer = () => ({ status: 200, json: { paging: { size: 1, last: "k1" }, items: [{ key: "k1" }] } });
  const page = await base().fetch({ "n?gte": 1 }, { limit: 1 });
  assert.deepEqual(page, { items: [{ key: "k1" }], count: 1, last: "k1" });
  assert.equal(`${requests[0].method} ${requests[0].path}`, "POST /v1/proj1234/items/query");
  assert.deepEqual(bodyJson(requests[0]), { query: [{ "n?gte": 1 }], limit: 1, sort: "" });
  answer = () => ({ status: 200, json: { paging: { size: 0 }, items: [] } });
  const empty = await base().fetch([{ a: 1 }, { b: 2 }], { last: "k1", desc: true });
  assert.deepEqual(empty, { items: [], count: 0, last: undefined });
  assert.deepEqual(bodyJson(requests[1]), { query: [{ a: 1 }, { b: 2 }], limit: 1000, last: "k1", sort: "desc" });
  await base().fetch();
  assert.deepEqual(bodyJson(requests[2]), { limit: 1000, sort: "" }, "no query: every item");
});

test("putMany and ttl check their arguments as the npm SDK does", async () => {
  await assert.rejects(base().putMany(new Array(26).fill({})), /more than 25/);
  await assert.rejects(base().putMany([]), /can't be empty/);
  answer = () => ({ status: 207, json: { processed: { items: [] } } });
  await base().putMany([{ key: "a" }, 5], { expireAt: 7 });
  assert.deepEqual(bodyJson(requests[0]), { items: [{ key: "a", __expires: 7 }, { value: 5, __expires: 7 }] });
  assert.throws(() => ttl({ expireIn: 1, expireAt: 2 }), /both/);
  assert.throws(() => ttl({ expireAt: "soon" }), /number or Date/);
  assert.equal(ttl({}), undefined);
});

test("Drive.put uploads in 10 MiB parts (start, parts, finish) with the content type", async () => {
  answer = (r) =>
    r.path.startsWith("/v1/proj1234/files/uploads?")
      ? { status: 202, json: { upload_id: "u1" } }
      : { status: 200, json: {} };
  const data = new Uint8Array(UPLOAD_CHUNK_SIZE + 5).map((_, i) => i % 251);
  assert.equal(await drive().put("dir/a b.bin", { data, contentType: "image/png" }), "dir/a b.bin");
  const q = "name=dir%2Fa%20b.bin";
  assert.deepEqual(requests.map((r) => `${r.method} ${r.path}`), [
    `POST /v1/proj1234/files/uploads?${q}`,
    `POST /v1/proj1234/files/uploads/u1/parts?${q}&part=1`,
    `POST /v1/proj1234/files/uploads/u1/parts?${q}&part=2`,
    `PATCH /v1/proj1234/files/uploads/u1?${q}`,
  ]);
  assert.ok(requests.slice(0, 3).every((r) => r.headers["content-type"] === "image/png"));
  const sent = Buffer.concat([requests[1].body, requests[2].body]);
  assert.ok(sent.equals(Buffer.from(data)), "the parts are the file");
  requests.length = 0;
  await drive().put("empty", { data: "" });
  assert.deepEqual(requests.map((r) => r.method), ["POST", "PATCH"], "an empty file: no part");
  assert.equal(requests[0].headers["content-type"], "binary/octet-stream");
  await assert.rejects(drive().put("x", {}), /Both are empty/);
  await assert.rejects(drive().put("x", { data: 5 }), /Unsupported data format/);
});

test("Drive.put aborts the upload when a part fails, and throws", async () => {
  answer = (r) =>
    r.path.includes("/parts") ? { status: 413, json: { errors: ["the Drive cap (10 bytes) is reached"] } }
    : r.method === "POST" ? { status: 202, json: { upload_id: "u2" } } : { status: 200, json: {} };
  const err = await drive().put("big", { data: "more than ten bytes" }).catch((e) => e);
  assert.equal(err.status, 413);
  assert.match(err.message, /cap \(10 bytes\)/);
  assert.deepEqual(requests.map((r) => r.method), ["POST", "POST", "DELETE"]);
  assert.equal(requests[2].path, "/v1/proj1234/files/uploads/u2?name=big");
});

test("Drive.get gives a Blob-like file or null; list and delete build Deta's requests", async () => {
  answer = () => ({ status: 200, bytes: "hé", type: "text/plain; charset=utf-8" });
  const file = await drive().get("a/é.txt");
  assert.ok(file instanceof DriveFile);
  assert.equal(requests[0].path, "/v1/proj1234/files/files/download?name=a%2F%C3%A9.txt");
  assert.equal(await file.text(), "hé");
  assert.equal(file.size, 3);
  assert.equal(file.type, "text/plain; charset=utf-8");
  assert.deepEqual([...new Uint8Array(await file.arrayBuffer())], [104, 195, 169]);
  answer = () => ({ status: 404, json: { errors: ["File not found"] } });
  assert.equal(await drive().get("nope"), null);

  answer = () => ({ status: 200, json: { paging: { size: 1, last: "a" }, names: ["a"] } });
  const list = await drive().list({ prefix: "a/", limit: 1, last: "a&b" });
  assert.deepEqual(list, { paging: { size: 1, last: "a" }, names: ["a"] });
  assert.equal(requests[2].path, "/v1/proj1234/files/files?limit=1&prefix=a%2F&last=a%26b");

  answer = (r) => ({ status: 200, json: { deleted: bodyJson(r).names } });
  assert.equal(await drive().delete("a"), "a");
  assert.equal(`${requests[3].method} ${requests[3].path}`, "DELETE /v1/proj1234/files/files");
  assert.deepEqual(bodyJson(requests[3]), { names: ["a"] });
  answer = () => ({ status: 200, json: { deleted: [], failed: { a: "locked" } } });
  await assert.rejects(drive().delete("a"), /Failed to delete 'a': locked/);
  await assert.rejects(drive().deleteMany([]), /can't be empty/);
});
