// The polyglot example's API (../README.md) in JavaScript, on the JS SDK's space.js (sdk/js),
// and Deta Base and Drive through the SDK's deta.js (routes under /items and /files).
import { Deta, DetaError } from "../../../sdk/js/deta.js";
import { createApp, env, files, json, sqlite, ReadOnlyError } from "../../../sdk/js/space.js";

const LAST_ACTION = "/tmp/last-action.json";
const quotes = () => sqlite.open("quotes.db");

const app = createApp();
export const incomingHandler = app.incomingHandler; // what the component exports (wasi:http)

app.get("/", () => json({ micro: env("DETA_SPACE_APP_MICRO_NAME"), language: "js" }));

// The body back as it came, with its content type (what moving a body through the SDK costs).
app.post("/echo", async (req) => {
  const type = req.headers.get("content-type") ?? "application/octet-stream";
  return new Response(await req.arrayBuffer(), { headers: { "content-type": type } });
});

app.get("/quotes", () => json(quotes().query("SELECT id, author, text FROM quotes ORDER BY id")));

app.get("/quotes/:id", (req, { id }) => {
  const n = /^[+-]?\d+$/.test(id) ? BigInt(id) : null; // bound as an integer, never as text
  if (n === null || BigInt.asIntN(64, n) !== n) return json({ error: "bad id" }, 400);
  const quote = quotes().get("SELECT id, author, text FROM quotes WHERE id = ?", [n]);
  return quote ? json(quote) : json({ error: "not found" }, 404);
});

app.post("/quotes", () => {
  try {
    quotes().query("INSERT INTO quotes (author, text) VALUES (?, ?)", ["Anonymous", "Hello"]);
    return json({ error: "the runtime accepted a write" }, 500);
  } catch (err) {
    if (err instanceof ReadOnlyError) {
      return json({ error: "read-only", message: err.message }, 403);
    }
    throw err;
  }
});

app.action((event) => {
  files.write(LAST_ACTION, JSON.stringify({ id: event.id, trigger: event.trigger }));
});

app.get("/last-action", () => {
  const saved = files.readText(LAST_ACTION);
  return saved === null
    ? json({ error: "no action yet" }, 404)
    : new Response(saved, { headers: { "content-type": "application/json" } });
});

// ---- Deta Base and Drive (deta.js, the deta npm SDK's API), answered by micro-wasm itself ----

const items = () => Deta().Base("js-items"); // the key: DETA_PROJECT_KEY
const drive = () => Deta().Drive("js-files");

// A DetaError from the data service answered as JSON with its status (404, 409, 400...).
async function data(call) {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof DetaError)) throw err;
    return json({ error: err.errors.join("; "), status: err.status, message: err.message }, err.status);
  }
}

const positive = (text, otherwise) => (/^\d+$/.test(text ?? "") ? Number(text) : otherwise);

app.post("/items", (req) => data(async () => json(await items().put(await req.json()), 201)));

app.post("/items/insert", (req) => data(async () => json(await items().insert(await req.json()), 201)));

// Body `{ query, limit, last }`: one page of `base.fetch(query, { limit, last })`.
app.post("/items/fetch", (req) =>
  data(async () => {
    const { query, limit, last } = await req.json();
    return json(await items().fetch(query, { limit, last }));
  }),
);

app.get("/items/:key", (req, { key }) =>
  data(async () => {
    const item = await items().get(key);
    return item ? json(item) : json({ error: "not found" }, 404);
  }),
);

// `?by=N&tag=T`: n += N (default 1), T appended to tags, `gone` removed; the item after.
app.route("PATCH", "/items/:key", (req, { key }, url) =>
  data(async () => {
    const db = items();
    const by = Number(url.searchParams.get("by") ?? 1);
    const tag = url.searchParams.get("tag") ?? "x";
    await db.update({ n: db.util.increment(by), tags: db.util.append(tag), gone: db.util.trim() }, key);
    return json(await db.get(key));
  }),
);

app.delete("/items/:key", (req, { key }) =>
  data(async () => json({ deleted: key, result: await items().delete(key) })),
);

// The body as the file; `?via=path` writes it to /tmp first and uploads that path.
app.put("/files/:name", (req, { name }, url) =>
  data(async () => {
    const bytes = new Uint8Array(await req.arrayBuffer());
    const contentType = req.headers.get("content-type") ?? undefined;
    if (url.searchParams.get("via") === "path") {
      files.write("/tmp/upload", bytes);
      await drive().put(name, { path: "/tmp/upload", contentType });
    } else {
      await drive().put(name, { data: bytes, contentType });
    }
    return json({ name, size: bytes.length }, 201);
  }),
);

// A file of `?bytes=N` bytes (byte i is i % 251) made here: larger than a request may carry.
app.post("/files/:name/generate", (req, { name }, url) =>
  data(async () => {
    const bytes = new Uint8Array(positive(url.searchParams.get("bytes"), 0)).map((_, i) => i % 251);
    await drive().put(name, { data: bytes });
    return json({ name, size: bytes.length }, 201);
  }),
);

app.get("/files/:name", (req, { name }) =>
  data(async () => {
    const file = await drive().get(name);
    if (!file) return json({ error: "not found" }, 404);
    return new Response(await file.arrayBuffer(), { headers: { "content-type": file.type } });
  }),
);

app.get("/files", (req, params, url) =>
  data(async () => {
    const q = url.searchParams;
    const [prefix, last] = [q.get("prefix") ?? undefined, q.get("last") ?? undefined];
    return json(await drive().list({ prefix, limit: positive(q.get("limit"), 1000), last }));
  }),
);

app.delete("/files/:name", (req, { name }) =>
  data(async () => json({ deleted: await drive().delete(name) })),
);
