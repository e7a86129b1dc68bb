// A Hono app as a JavaScript Micro. Hono answers web `Request`s with web `Response`s
// (`app.fetch`), which is what StarlingMonkey (componentize-js) gives a module; space.js's
// `serve` turns that into the component's `wasi:http/incoming-handler` export, so micro-wasm
// reuses a warm instance request after request (a fetch-event listener would get a fresh one
// per request). esbuild bundles this file with Hono into micro/bundle.js (see app.toml).
import { Hono } from "hono";
import { serve } from "../../sdk/js/space.js";

const app = new Hono();
let served = 0; // per instance: shows whether instances are reused

app.get("/", (c) => c.text("hello from hono"));
app.get("/json", (c) => c.json({ framework: "hono", served: ++served }));
app.get("/hello/:name", (c) => c.json({ hello: c.req.param("name") }));
app.post("/echo", async (c) => c.json({ echo: await c.req.json() }));
app.notFound((c) => c.json({ error: "not found", path: c.req.path }, 404));

export const incomingHandler = { handle: (request, out) => serve(app.fetch, request, out) };
