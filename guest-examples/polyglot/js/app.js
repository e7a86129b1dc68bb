// The polyglot example's API (../README.md) in JavaScript, on the JS SDK's space.js (sdk/js).
import { createApp, env, files, json, sqlite, ReadOnlyError } from "../../../sdk/js/space.js";

const LAST_ACTION = "/tmp/last-action.json";
const quotes = () => sqlite.open("quotes.db");

const app = createApp();
export const incomingHandler = app.incomingHandler; // what the component exports (wasi:http)

app.get("/", () => json({ micro: env("DETA_SPACE_APP_MICRO_NAME"), language: "js" }));

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
