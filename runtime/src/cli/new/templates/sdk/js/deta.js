// deta.js: Deta Base and Deta Drive for JavaScript Micros, with the names, arguments and results
// of the deta JavaScript SDK (`deta` on npm), so data code written for Deta Space keeps working.
//
//   import { Deta } from "./deta.js";
//
//   const deta = Deta();                              // the key from DETA_PROJECT_KEY
//   const db = deta.Base("users");
//   await db.put({ name: "alice", age: 30 }, "alice"); // the stored item
//   await db.get("alice");                            // { key: "alice", name: "alice", age: 30 }, or null
//   await db.insert({ name: "bob" }, "bob");          // throws a DetaError (status 409) if "bob" exists
//   await db.update({ age: db.util.increment(1), tags: db.util.append("x") }, "alice");
//   const { items, count, last } = await db.fetch({ "age?gte": 18 }, { limit: 100 });
//   await db.fetch({ "age?gte": 18 }, { limit: 100, last }); // the next page
//   await db.delete("alice");
//
//   const drive = deta.Drive("photos");
//   await drive.put("a.txt", { data: "hello", contentType: "text/plain" });  // or { path: "/tmp/a.txt" }
//   await (await drive.get("a.txt")).text();          // "hello"; get gives null if absent
//   await drive.list({ prefix: "a", limit: 10 });     // { names: ["a.txt"], paging: { size, last? } }
//   await drive.delete("a.txt");
//
// micro-wasm answers requests to database.deta.sh and drive.deta.sh itself, in process (README,
// "Data"); this module sends them with the platform's `fetch()`:
// https://database.deta.sh/v1/<project>/<base>/... and https://drive.deta.sh/v1/<project>/<drive>/...
// with `X-API-Key: <project key>`, the project being the key's part before its first `_`.
// `DETA_BASE_HOST` / `DETA_DRIVE_HOST` (or a Base's or Drive's `host` argument, which may name
// its scheme: `http://127.0.0.1:4200`) send them elsewhere.
//
// Errors: a failed call throws a `DetaError` with the HTTP `status`, Deta's `errors` messages and
// the `url`; `get` of a missing item or file gives `null` instead. Drive puts always go as a
// chunked upload (start, 10 MiB parts, finish), as the deta SDKs do, aborted if a part fails.
//
// Differences from the npm SDK: no auth-token form of `Deta(key, token)`; keys and names are sent
// as given (not trimmed); `Drive.get` gives a Blob-like `DriveFile` (arrayBuffer, text, bytes,
// size, type), read whole; `Drive.put` also takes an ArrayBuffer, a typed array or a Blob, and a
// `path` is read through space.js's `files` (/tmp or /app). It imports space.js for the
// environment and files, so it sits beside it (sdk/js, or the copies `micro-wasm new` writes).
// Host-side tests: `node --test sdk/js/tests/`.

import { env, files } from "./space.js";

/** Where an item's expiry (Unix seconds) is stored. */
export const TTL_ATTRIBUTE = "__expires";
/** Bytes per uploaded part, as the deta SDKs. */
export const UPLOAD_CHUNK_SIZE = 10 * 1024 * 1024;
const JSON_TYPE = "application/json";

/** A failed call: `status` (HTTP), `errors` (Deta's messages), `url`. */
export class DetaError extends Error {
  constructor(status, errors, url) {
    super(`${errors.join("; ") || `HTTP ${status}`} (${status} from ${url})`);
    this.name = "DetaError";
    this.status = status;
    this.errors = errors;
    this.url = url;
  }
}

// ---- Deta(), the project key ----------------------------------------------------------------

/** `Deta(projectKey?)`: a client for the key given, or `DETA_PROJECT_KEY` from the environment. */
export function Deta(projectKey) {
  const key = projectKey?.trim() || env("DETA_PROJECT_KEY")?.trim();
  if (!key) throw new Error("Project key is not defined (give one, or set DETA_PROJECT_KEY)");
  const projectId = key.split("_")[0];
  if (projectId === key) throw new Error("Bad project key: no '_' between project id and secret");
  return new DetaClient(key, projectId);
}

/** `Base(name, host?)`: `Deta().Base(name, host)`. */
export const Base = (name, host) => Deta().Base(name, host);
/** `Drive(name, host?)`: `Deta().Drive(name, host)`. */
export const Drive = (name, host) => Deta().Drive(name, host);
export default Deta;

class DetaClient {
  #key;
  constructor(key, projectId) {
    this.#key = key;
    this.projectId = projectId;
  }
  Base(name, host) {
    const host_ = host?.trim() || env("DETA_BASE_HOST")?.trim() || "database.deta.sh";
    return new BaseClass(new Service(this.#key, this.projectId, checkName(name, "Base"), host_));
  }
  Drive(name, host) {
    const host_ = host?.trim() || env("DETA_DRIVE_HOST")?.trim() || "drive.deta.sh";
    return new DriveClass(new Service(this.#key, this.projectId, checkName(name, "Drive"), host_));
  }
}

function checkName(name, what) {
  if (typeof name !== "string" || !name.trim()) throw new Error(`${what} name is not defined`);
  return name.trim();
}

// ---- requests -------------------------------------------------------------------------------

/** `https://host`, or the host as given when it names its scheme. */
const origin = (host) => {
  const h = host.replace(/\/+$/, "");
  return /^https?:\/\//.test(h) ? h : `https://${h}`;
};

/** Sends one collection's requests: `root` is `<origin>/v1/<project>/<name>`. */
class Service {
  #key;
  constructor(key, projectId, name, host) {
    this.#key = key;
    this.root = `${origin(host)}/v1/${encodeURIComponent(projectId)}/${encodeURIComponent(name)}`;
  }

  /** `method` `path` (under root) with a JSON body (`json`) or bytes (`bytes`, `contentType`).
   *  Resolves to the `Response` when it is 2xx or 404 (callers decide what 404 means);
   *  throws a `DetaError` for any other status. */
  async send(method, path, { json, bytes, contentType } = {}) {
    const headers = { "X-API-Key": this.#key };
    let body;
    if (json !== undefined) {
      body = JSON.stringify(json);
      headers["Content-Type"] = JSON_TYPE;
    } else if (bytes !== undefined) {
      body = bytes;
      headers["Content-Type"] = contentType;
    } else if (contentType) {
      headers["Content-Type"] = contentType;
    }
    const url = this.root + path;
    const response = await fetch(url, { method, headers, body });
    if (response.ok || response.status === 404) return response;
    throw new DetaError(response.status, await errorsOf(response), `${method} ${url}`);
  }

  /** `send`, then the JSON answer (`null` for a 404). */
  async json(method, path, options) {
    const response = await this.send(method, path, options);
    return response.status === 404 ? null : response.json();
  }
}

// Deta's `{"errors": [...]}`, else the start of the body.
async function errorsOf(response) {
  const text = await response.text().catch(() => "");
  try {
    const errors = JSON.parse(text).errors;
    if (Array.isArray(errors)) return errors.map(String);
  } catch {}
  return text ? [text.slice(0, 200)] : [];
}

// ---- Base -----------------------------------------------------------------------------------

/** An update operation made by `base.util`; anything else in an update is a `set`. */
export class Action {
  constructor(operation, value) {
    this.operation = operation; // "trim" | "increment" | "append" | "prepend"
    this.value = value;
  }
}

class BaseUtils {
  trim = () => new Action("trim");
  increment = (value = 1) => new Action("increment", value);
  append = (value) => new Action("append", Array.isArray(value) ? value : [value]);
  prepend = (value) => new Action("prepend", Array.isArray(value) ? value : [value]);
}

/** `__expires` from `{ expireIn }` (seconds from now) or `{ expireAt }` (a Date or Unix seconds). */
export function ttl({ expireIn, expireAt } = {}) {
  if (expireIn == null && expireAt == null) return undefined;
  if (expireIn != null && expireAt != null) {
    throw new Error("can't set both expireIn and expireAt options");
  }
  if (expireIn != null) {
    if (typeof expireIn !== "number") {
      throw new TypeError("option expireIn should have a value of type number");
    }
    return Math.floor(Date.now() / 1000) + expireIn;
  }
  if (expireAt instanceof Date) return Math.floor(expireAt.getTime() / 1000);
  if (typeof expireAt !== "number") {
    throw new TypeError("option expireAt should have a value of type number or Date");
  }
  return expireAt;
}

// An item as sent: objects as they are, other values as `{ value }`; the key and expiry added.
function itemOf(data, key, options) {
  const isObject = data !== null && typeof data === "object" && !Array.isArray(data);
  const item = isObject ? { ...data } : { value: data };
  if (key) item.key = key;
  const expires = ttl(options);
  if (expires !== undefined) item[TTL_ATTRIBUTE] = expires;
  return item;
}

function keyPath(key) {
  if (typeof key !== "string" || key === "") throw new Error("Key is empty");
  return `/items/${encodeURIComponent(key)}`;
}

class BaseClass {
  #service;
  util = new BaseUtils();
  constructor(service) {
    this.#service = service;
  }

  /** Stores `data` (replacing any item with its key); the stored item, key generated if none. */
  async put(data, key, options) {
    const items = [itemOf(data, key, options)];
    const res = await this.#service.json("PUT", "/items", { json: { items } });
    return res?.processed?.items?.[0] ?? null;
  }

  /** Up to 25 items at once: `{ processed: { items }, failed?: { items } }`. */
  async putMany(items, options) {
    if (!Array.isArray(items)) throw new Error("Items must be an array");
    if (!items.length) throw new Error("Items can't be empty");
    if (items.length > 25) throw new Error("We can't put more than 25 items at a time");
    const sent = items.map((item) => itemOf(item, undefined, options));
    return this.#service.json("PUT", "/items", { json: { items: sent } });
  }

  /** The item, or `null`. */
  async get(key) {
    return this.#service.json("GET", keyPath(key));
  }

  /** Deletes the item (nothing happens if there is none); `null`. */
  async delete(key) {
    await this.#service.send("DELETE", keyPath(key));
    return null;
  }

  /** Stores `data` only if its key is new: the item, or a `DetaError` with status 409. */
  async insert(data, key, options) {
    const item = itemOf(data, key, options);
    try {
      return await this.#service.json("POST", "/items", { json: { item } });
    } catch (err) {
      if (err.status !== 409) throw err;
      throw new DetaError(409, [`Item with key ${item.key} already exists`], err.url);
    }
  }

  /** Changes the item: values are set, `util.*` actions increment, append, prepend or delete
   *  (trim); dotted names reach nested fields. `null`; a missing key throws (status 404). */
  async update(updates, key, options) {
    const path = keyPath(key);
    const payload = { set: {}, increment: {}, append: {}, prepend: {}, delete: [] };
    for (const [name, value] of Object.entries(updates ?? {})) {
      const action = value instanceof Action ? value : new Action("set", value);
      if (action.operation === "trim") payload.delete.push(name);
      else payload[action.operation][name] = action.value;
    }
    const expires = ttl(options);
    if (expires !== undefined) payload.set[TTL_ATTRIBUTE] = expires;
    const response = await this.#service.send("PATCH", path, { json: payload });
    if (response.status === 404) {
      throw new DetaError(404, [`Key '${key}' not found`], `PATCH ${this.#service.root}${path}`);
    }
    return null;
  }

  /** One page of the items matching `query` (an object, or an array of objects ORed):
   *  `{ items, count, last }`; pass `last` back for the next page (undefined on the last). */
  async fetch(query = [], { limit = 1000, last, desc = false } = {}) {
    const queries = Array.isArray(query) ? query : [query];
    const payload = { limit, sort: desc ? "desc" : "" };
    if (queries.length) payload.query = queries;
    if (last) payload.last = last;
    const { items, paging } = await this.#service.json("POST", "/query", { json: payload });
    return { items, count: paging?.size ?? items.length, last: paging?.last };
  }
}

// ---- Drive ----------------------------------------------------------------------------------

/** A downloaded file, read whole, with a Blob's reading methods. */
export class DriveFile {
  #bytes;
  constructor(bytes, type) {
    this.#bytes = bytes;
    this.type = type;
  }
  get size() {
    return this.#bytes.length;
  }
  async bytes() {
    return this.#bytes.slice();
  }
  async arrayBuffer() {
    return this.#bytes.slice().buffer;
  }
  async text() {
    return new TextDecoder().decode(this.#bytes);
  }
}

const nameQuery = (name) => `name=${encodeURIComponent(name)}`;

function checkFileName(name) {
  if (typeof name !== "string" || name === "") throw new Error("Name is empty");
  return name;
}

// What `put` uploads, as bytes.
async function bytesOf({ data, path }) {
  if (data !== undefined && path !== undefined) {
    throw new Error("Please only provide data or a path. Not both");
  }
  if (path !== undefined) {
    const bytes = files.read(path);
    if (bytes === null) throw new Error(`${path}: no such file`);
    return bytes;
  }
  if (typeof data === "string") return new TextEncoder().encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data?.arrayBuffer === "function") return new Uint8Array(await data.arrayBuffer());
  if (data === undefined) throw new Error("Please provide data or a path. Both are empty");
  throw new TypeError("Unsupported data format: expected a string, Uint8Array, ArrayBuffer or Blob");
}

class DriveClass {
  #service;
  constructor(service) {
    this.#service = service;
  }

  /** The file as a `DriveFile`, or `null`. */
  async get(name) {
    const response = await this.#service.send("GET", `/files/download?${nameQuery(checkFileName(name))}`);
    if (response.status === 404) return null;
    const type = response.headers.get("content-type") ?? "";
    return new DriveFile(new Uint8Array(await response.arrayBuffer()), type);
  }

  /** Uploads `{ data }` (string, bytes or Blob) or `{ path }` as `name`, in 10 MiB parts;
   *  `contentType` is kept for downloads (else guessed from the name). The name. */
  async put(name, { data, path, contentType = "binary/octet-stream" } = {}) {
    const query = nameQuery(checkFileName(name));
    const bytes = await bytesOf({ data, path });
    const start = await this.#service.json("POST", `/uploads?${query}`, { contentType });
    if (!start?.upload_id) throw new Error(`no upload id from ${this.#service.root}/uploads?${query}`);
    const id = encodeURIComponent(start.upload_id);
    try {
      for (let at = 0, part = 1; at < bytes.length; at += UPLOAD_CHUNK_SIZE, part++) {
        const chunk = bytes.subarray(at, at + UPLOAD_CHUNK_SIZE);
        const path = `/uploads/${id}/parts?${query}&part=${part}`;
        await this.#upload("POST", path, { bytes: chunk, contentType });
      }
      await this.#upload("PATCH", `/uploads/${id}?${query}`);
    } catch (err) {
      await this.#service.send("DELETE", `/uploads/${id}?${query}`).catch(() => {});
      throw err;
    }
    return name;
  }

  // An upload step: a 404 (the upload is gone) is a failure here.
  async #upload(method, path, options) {
    const response = await this.#service.send(method, path, options);
    if (response.status === 404) {
      throw new DetaError(404, await errorsOf(response), `${method} ${this.#service.root}${path}`);
    }
  }

  /** Deletes the file (a missing one too); the name. */
  async delete(name) {
    const res = await this.deleteMany([checkFileName(name)]);
    if (res?.failed?.[name]) throw new Error(`Failed to delete '${name}': ${res.failed[name]}`);
    return name;
  }

  /** Deletes up to 1000 files: `{ deleted: [...], failed?: { name: reason } }`. */
  async deleteMany(names) {
    if (!Array.isArray(names) || !names.length) throw new Error("Names can't be empty");
    if (names.length > 1000) throw new Error("We can't delete more than 1000 items at a time");
    return this.#service.json("DELETE", "/files", { json: { names } });
  }

  /** One page of names in order: `{ names, paging: { size, last? } }`; pass `last` back for the
   *  next page. */
  async list({ prefix, limit = 1000, last } = {}) {
    let path = `/files?limit=${encodeURIComponent(limit)}`;
    if (prefix) path += `&prefix=${encodeURIComponent(prefix)}`;
    if (last) path += `&last=${encodeURIComponent(last)}`;
    return this.#service.json("GET", path);
  }
}
