"""The polyglot example's quotes API in Python (the contract is in ../README.md).

Built into quotes.wasm by componentize-py against `micro:space/micro` (see README.md).
"""

import json as _json
import re

import space
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


IncomingHandler = app.export()
