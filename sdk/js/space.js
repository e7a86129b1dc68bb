// space.js: what a JavaScript Micro needs on micro-wasm, so an author writes handlers, not
// bindings. Import it from the SDK's directory or from a copy next to your code; build.mjs
// builds the Micro with componentize-js for world `micro` of wit/js.wit (see README.md).
//
//   import { createApp, json, env, sqlite, files } from "./space.js";
//
//   const app = createApp();
//   app.get("/hello/:name", (req, { name }) => json({ hello: name, me: env("DETA_SPACE_APP_MICRO_NAME") }));
//   app.action((event) => files.write("/tmp/ran", event.id));
//   export const incomingHandler = app.incomingHandler;   // the component's wasi:http export
//
// Handlers take and return the web's `Request` and `Response`, as in a fetch-event listener.
// The app is exported as `wasi:http/incoming-handler` rather than through
// `addEventListener("fetch", ...)` because StarlingMonkey (componentize-js 0.23.0) cannot
// answer a second fetch event in the same instance (bytecodealliance/StarlingMonkey#247: the
// request hangs), and micro-wasm reuses warm instances.
//
// Paths are the Micro's own (micro-wasm strips the Micro's prefix, such as /js). The module's
// top level runs once at build time (componentize-js snapshots it with Wizer), when there is
// no request, environment, /tmp or database yet: everything below that touches the host runs
// at the first call, never on import.

import { Connection } from "micro:space/sqlite@0.1.0";
import { getEnvironment } from "wasi:cli/environment@0.2.10";
import { getDirectories } from "wasi:filesystem/preopens@0.2.10";
import {
  Fields,
  IncomingBody,
  OutgoingBody,
  OutgoingResponse,
  ResponseOutparam,
} from "wasi:http/types@0.2.10";

const dispose = Symbol.dispose ?? Symbol.for("dispose"); // how the generated bindings free a handle

// ---- HTTP -----------------------------------------------------------------------------------

/** A JSON response: `json({ ok: true })`, `json({ error: "not found" }, 404)`. */
export function json(body, status = 200, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** Where micro-wasm delivers scheduled actions (`{"event": {"id", "trigger"}}`). */
export const ACTIONS_PATH = "/__space/v0/actions";

/**
 * The Micro's router. `app.get(pattern, handler)`, `app.post(...)` or `app.route(method, ...)`;
 * a pattern's `:name` segments become `params.name` (decoded strings). A handler gets
 * `(request, params, url)` and returns a `Response` (or a promise of one); any other value is
 * sent as JSON. Unmatched requests get 404 `{"error": "not found"}`; a thrown error is logged
 * to stderr and answered 500 `{"error": "internal", "message": ...}`. Export
 * `app.incomingHandler` as `incomingHandler` from the module you build.
 */
export function createApp() {
  const routes = [];
  let onAction = null;
  const app = {
    route(method, pattern, handler) {
      routes.push({ method: method.toUpperCase(), parts: split(pattern), handler });
      return app;
    },
    get: (pattern, handler) => app.route("GET", pattern, handler),
    post: (pattern, handler) => app.route("POST", pattern, handler),
    put: (pattern, handler) => app.route("PUT", pattern, handler),
    delete: (pattern, handler) => app.route("DELETE", pattern, handler),
    /** Handles `POST /__space/v0/actions`: `handler(event)` with `event.id`, `event.trigger`;
     *  answered 200 `{"ok": true}` unless it returns a `Response`. */
    action(handler) {
      onAction = handler;
      return app;
    },
    /** Answers one web `Request` (what `incomingHandler` calls; handy in tests). */
    async handle(request) {
      const url = new URL(request.url);
      try {
        if (onAction && request.method === "POST" && url.pathname === ACTIONS_PATH) {
          const event = (await request.json().catch(() => null))?.event;
          if (typeof event?.id !== "string") return json({ error: "bad action event" }, 400);
          return respond(await onAction(event, request), { ok: true });
        }
        const path = split(url.pathname);
        for (const { method, parts, handler } of routes) {
          const params = method === request.method && match(parts, path);
          if (params) return respond(await handler(request, params, url));
        }
        return json({ error: "not found" }, 404);
      } catch (err) {
        console.error(`${request.method} ${url.pathname}:`, err, err?.stack ?? "");
        return json({ error: "internal", message: String(err?.message ?? err) }, 500);
      }
    },
  };
  /** The `wasi:http/incoming-handler` export: `export const incomingHandler = app.incomingHandler`. */
  app.incomingHandler = { handle: (request, out) => serve(app.handle, request, out) };
  return app;
}

const split = (path) => path.split("/").filter(Boolean);

function match(parts, path) {
  if (parts.length !== path.length) return null;
  const params = {};
  for (let i = 0; i < parts.length; i++) {
    if (!parts[i].startsWith(":")) {
      if (parts[i] !== path[i]) return null;
    } else {
      try {
        params[parts[i].slice(1)] = decodeURIComponent(path[i]);
      } catch {
        return null; // a malformed %-escape matches nothing
      }
    }
  }
  return params;
}

const respond = (value, otherwise) =>
  value instanceof Response ? value : json(value === undefined ? otherwise ?? null : value);

// ---- wasi:http <-> Request/Response -----------------------------------------------------------

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Answers one `wasi:http` request with `handler(Request) -> Response`: a component's
 *  `incomingHandler.handle`. The body is read and written whole (`readAll`, `writeAll`). */
export async function serve(handler, incoming, outparam) {
  let response;
  try {
    response = await handler(toRequest(incoming));
  } catch (err) {
    console.error("bad request:", err);
    response = json({ error: "bad request" }, 400);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  const list = [...response.headers].map(([k, v]) => [k, encoder.encode(v)]);
  if (!response.headers.has("content-length")) {
    list.push(["content-length", encoder.encode(String(bytes.length))]);
  }
  const headers = Fields.fromList(list);
  const outgoing = new OutgoingResponse(headers);
  outgoing.setStatusCode(response.status);
  const body = outgoing.body();
  ResponseOutparam.set(outparam, { tag: "ok", val: outgoing });
  const stream = body.write();
  writeAll(stream, bytes);
  stream[dispose]();
  OutgoingBody.finish(body, undefined);
  incoming[dispose]();
}

function toRequest(incoming) {
  const method = incoming.method();
  const name = method.tag === "other" ? method.val : method.tag.toUpperCase();
  const scheme = incoming.scheme();
  const proto = scheme?.tag === "other" ? scheme.val : (scheme?.tag ?? "http").toLowerCase();
  const url = `${proto}://${incoming.authority() ?? "localhost"}${incoming.pathWithQuery() ?? "/"}`;
  const fields = incoming.headers();
  const headers = new Headers();
  for (const [k, v] of fields.entries()) headers.append(k, decoder.decode(v));
  fields[dispose]();
  const body = name === "GET" || name === "HEAD" ? undefined : readBody(incoming);
  return new Request(url, { method: name, headers, body });
}

function readBody(incoming) {
  const body = incoming.consume();
  const stream = body.stream();
  const bytes = readAll(stream);
  stream[dispose]();
  IncomingBody.finish(body)[dispose](); // no trailers wanted
  return bytes;
}

// ---- wasi:io streams --------------------------------------------------------------------------

/** The most bytes one read asks for: the host hands out at most what it has received, so a
 *  large ask costs nothing and takes a whole frame in one call. */
export const READ_MAX = 1 << 20;

/**
 * Writes `bytes` (a Uint8Array) to a `wasi:io` output stream in as few calls as it allows: each
 * `write` takes what `check-write` permits (micro-wasm permits 64 KiB at a time), waiting on the
 * stream's pollable when it permits nothing; then one `blocking-flush`. `blocking-write-and-flush`
 * would take at most 4096 bytes a call: a host call and a body frame for every 4 KiB. Nothing is
 * called for an empty body. Throws the bindings' error when the stream fails.
 */
export function writeAll(stream, bytes) {
  if (bytes.length === 0) return;
  for (let at = 0; at < bytes.length; ) {
    const allowed = Number(stream.checkWrite());
    if (allowed === 0) {
      const pollable = stream.subscribe();
      pollable.block();
      pollable[dispose]();
      continue;
    }
    const end = Math.min(bytes.length, at + allowed);
    stream.write(at === 0 && end === bytes.length ? bytes : bytes.subarray(at, end));
    at = end;
  }
  stream.blockingFlush();
}

/** Reads a `wasi:io` input stream to its end, up to `READ_MAX` bytes a call; a body that came
 *  in one piece is returned as it came. Throws the bindings' error for a failure other than
 *  the end of the stream. */
export function readAll(stream) {
  const chunks = [];
  try {
    for (;;) chunks.push(stream.blockingRead(BigInt(READ_MAX)));
  } catch (err) {
    if (err?.payload?.tag !== "closed") throw err;
  }
  return chunks.length === 1 ? chunks[0] : concat(chunks);
}

function concat(chunks) {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) out.set(c, (at += c.length) - c.length);
  return out;
}

// ---- Environment ----------------------------------------------------------------------------

let environment;

/** An environment variable (`DETA_SPACE_APP_MICRO_NAME`, your app.toml `env`, ...), or
 *  `undefined`. StarlingMonkey has no `process.env`: this reads `wasi:cli/environment`. */
export function env(name) {
  environment ??= new Map(getEnvironment());
  return environment.get(name);
}

// ---- SQLite (micro:space/sqlite) ------------------------------------------------------------

/** What every SQLite failure is; `kind` is the WIT error case (`"read-only"`, ...) and
 *  `message` the runtime's message. Catch a case with its subclass below. */
export class SqliteError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = this.constructor.name;
    this.kind = kind;
  }
}
/** No database file at that path inside /app, or the file is not a database. */
export class NotFoundError extends SqliteError {}
/** The path leads outside /app. */
export class AccessDeniedError extends SqliteError {}
/** The statement would write, attach a file or load an extension (databases are read-only). */
export class ReadOnlyError extends SqliteError {}
/** SQLite rejected the statement or its parameters. */
export class InvalidQueryError extends SqliteError {}
/** The result would exceed the Micro's memory limit (or too many databases are open). */
export class TooLargeError extends SqliteError {}
/** The query ran past the invocation's deadline. */
export class TimeoutError extends SqliteError {}

const errorClasses = {
  "not-found": NotFoundError,
  "access-denied": AccessDeniedError,
  "read-only": ReadOnlyError,
  "invalid-query": InvalidQueryError,
  "too-large": TooLargeError,
  timeout: TimeoutError,
};

// The bindings throw an error whose `payload` is the WIT `error` variant: `{ tag, val }`.
function host(call) {
  try {
    return call();
  } catch (err) {
    const Class = errorClasses[err?.payload?.tag];
    if (Class) throw new Class(err.payload.tag, err.payload.val);
    throw err;
  }
}

// JS -> WIT `value`: null/undefined, integral numbers, bigint and booleans (0/1) are
// `integer`, other numbers `real`, strings `text`, Uint8Array/ArrayBuffer `blob`.
function toValue(v) {
  if (v === null || v === undefined) return { tag: "null" };
  if (typeof v === "bigint") return { tag: "integer", val: v };
  if (typeof v === "boolean") return { tag: "integer", val: v ? 1n : 0n };
  if (typeof v === "number") {
    return Number.isSafeInteger(v) ? { tag: "integer", val: BigInt(v) } : { tag: "real", val: v };
  }
  if (typeof v === "string") return { tag: "text", val: v };
  if (v instanceof Uint8Array) return { tag: "blob", val: v };
  if (v instanceof ArrayBuffer) return { tag: "blob", val: new Uint8Array(v) };
  throw new TypeError(`cannot bind ${Object.prototype.toString.call(v)} as an SQLite value`);
}

// WIT `value` -> JS: `integer` is a number when it fits one exactly (so rows go straight into
// JSON.stringify), else a bigint; `blob` is a Uint8Array.
function fromValue({ tag, val }) {
  if (tag === "null") return null;
  if (tag === "integer") {
    return val >= BigInt(Number.MIN_SAFE_INTEGER) && val <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(val)
      : val;
  }
  return val; // real: number, text: string, blob: Uint8Array
}

/** An open, read-only database (see `sqlite.open`). */
class Database {
  #conn;
  constructor(conn) {
    this.#conn = conn;
  }
  /** Runs one statement with `?` parameters; returns `{ columns, rows }`, rows as arrays. */
  execute(sql, params = []) {
    const result = host(() => this.#conn.query(sql, params.map(toValue)));
    return { columns: result.columns, rows: result.rows.map((row) => row.map(fromValue)) };
  }
  /** Runs one statement; returns its rows as objects keyed by column name. */
  query(sql, params = []) {
    const { columns, rows } = this.execute(sql, params);
    return rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]])));
  }
  /** The first row as an object, or `null`. */
  get(sql, params = []) {
    return this.query(sql, params)[0] ?? null;
  }
}

const databases = new Map();

export const sqlite = {
  /** Opens a database deployed with the code: `"quotes.db"` or `"/app/quotes.db"`. Each
   *  path is opened once per instance and kept (an instance may hold at most 16). */
  open(path) {
    let db = databases.get(path);
    if (!db) {
      db = new Database(host(() => Connection.open(path)));
      databases.set(path, db);
    }
    return db;
  },
};

// ---- Files (/tmp is writable, /app read-only) -----------------------------------------------

let preopens;

// The preopened directory holding an absolute `path`, and the path relative to it.
function locate(path) {
  preopens ??= getDirectories();
  for (const [dir, root] of preopens) {
    if (root.startsWith("/") && path.startsWith(root.endsWith("/") ? root : `${root}/`)) {
      return [dir, path.slice(root.length).replace(/^\/+/, "")];
    }
  }
  throw new Error(`${path}: not under a mounted directory (/tmp, /app)`);
}

function withFile(path, openFlags, descriptorFlags, use) {
  const [dir, rel] = locate(path);
  let fd;
  try {
    fd = dir.openAt({}, rel, openFlags, descriptorFlags);
  } catch (err) {
    if (err?.payload === "no-entry") return null;
    throw new Error(`${path}: ${err?.payload ?? err}`);
  }
  try {
    return use(fd);
  } finally {
    fd[dispose]();
  }
}

/** Whole-file reads and writes through `wasi:filesystem` (StarlingMonkey has no `fs`). */
export const files = {
  /** The file's bytes, or `null` when it does not exist. */
  read(path) {
    return withFile(path, {}, { read: true }, (fd) => {
      const chunks = [];
      for (let offset = 0n; ; ) {
        const [chunk, eof] = fd.read(65536n, offset);
        chunks.push(chunk);
        offset += BigInt(chunk.length);
        if (eof || chunk.length === 0) break;
      }
      return concat(chunks);
    });
  },
  /** The file as UTF-8 text, or `null` when it does not exist. */
  readText(path) {
    const bytes = files.read(path);
    return bytes && new TextDecoder().decode(bytes);
  },
  /** Creates or replaces the file with `data` (a string is written as UTF-8). */
  write(path, data) {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    withFile(path, { create: true, truncate: true }, { write: true }, (fd) => {
      let written = 0;
      while (written < bytes.length) written += Number(fd.write(bytes.subarray(written), BigInt(written)));
    });
  },
};
