"""The polyglot example's quotes API in Python (the contract is in ../README.md).

Built into quotes.wasm by componentize-py against `micro:space/micro` (see README.md).
"""

import json as _json
import re

import space
from deta import Deta
from space import json

app = space.App()
LAST_ACTION = "/tmp/last-action.json"
NOT_FOUND = {"error": "not found"}


@app.get("/")
def index(req):
    return json({"micro": space.env().micro_name, "language": "python"})


@app.get("/quotes")
def quotes(req):
    with space.sqlite.open("quotes.db") as db:
        return json(list(db.query("SELECT id, author, text FROM quotes ORDER BY id")))


@app.get("/quotes/<id>")
def quote(req, id):
    if not re.fullmatch(r"-?[0-9]+", id):
        return json({"error": "bad id"}, 400)
    n = int(id)
    if not -(2**63) <= n < 2**63:  # an integer, but no row can have it
        return json(NOT_FOUND, 404)
    with space.sqlite.open("quotes.db") as db:
        row = db.query("SELECT id, author, text FROM quotes WHERE id = ?", [n]).first()
    return json(row) if row else json(NOT_FOUND, 404)


@app.post("/quotes")
def add_quote(req):
    try:
        body = req.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    author, text = str(body.get("author", "anonymous")), str(body.get("text", ""))
    with space.sqlite.open("quotes.db") as db:
        try:
            db.query("INSERT INTO quotes (author, text) VALUES (?, ?)", [author, text])
        except space.sqlite.ReadOnly as e:  # always: the database is read-only
            return json({"error": "read-only", "message": e.message}, 403)
    return json({"ok": True}, 201)


@app.action
def on_action(event):
    with open(LAST_ACTION, "w", encoding="utf-8") as f:
        _json.dump(event.raw, f)


@app.get("/last-action")
def last_action(req):
    try:
        with open(LAST_ACTION, encoding="utf-8") as f:
            return json(_json.load(f))
    except FileNotFoundError:
        return json({"error": "no action yet"}, 404)


@app.post("/echo")
def echo(req):
    """The body back as it came, with its content type (what moving a body through the SDK
    costs)."""
    content_type = req.headers.get("content-type", "application/octet-stream")
    return space.Response(200, req.body, {"content-type": content_type})


# --- Deta Base and Drive (deta.py, deta-python's API), answered by micro-wasm itself ---------


@app.post("/items")
def put_item(req):
    try:
        item = req.json()
    except ValueError:
        item = None
    if not isinstance(item, dict):
        return json({"error": "the body must be a JSON object"}, 400)
    return json(Deta().Base("items").put(item), 201)


@app.get("/items")
def fetch_items(req):
    prefix = req.args().get("prefix", [""])[0]
    res = Deta().Base("items").fetch({"key?pfx": prefix}, limit=100)
    return json({"items": res.items, "count": res.count, "last": res.last})


@app.get("/items/<key>")
def get_item(req, key):
    item = Deta().Base("items").get(key)
    return json(item) if item else json(NOT_FOUND, 404)


@app.put("/files/<name>")
def put_file(req, name):
    content_type = req.headers.get("content-type", "application/octet-stream")
    Deta().Drive("files").put(name, req.body, content_type=content_type)
    return json({"name": name, "size": len(req.body)}, 201)


@app.get("/files/<name>")
def get_file(req, name):
    body = Deta().Drive("files").get(name)
    if body is None:
        return json(NOT_FOUND, 404)
    return space.Response(200, body.read(), {"content-type": "application/octet-stream"})


IncomingHandler = app.export()
