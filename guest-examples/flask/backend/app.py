"""The Flask example's backend: HTML pages from Jinja templates, a JSON API, and a scheduled
action, with the notes in a Deta Base (sdk/python/deta.py). Served through the Python SDK's
WSGI adapter (sdk/python/space_wsgi.py); the whole contract is in ../README.md.

Module-level code runs once, when componentize-py builds the component (the imports and the
app object are in its snapshot); handlers run per request on a warm instance.
"""

import os
import time

from flask import Flask, jsonify, redirect, render_template, request, url_for

import space_wsgi
from deta import Deta

# At run time the Micro's code dir (this directory) is /app: templates are read from there.
app = Flask(__name__, root_path="/app")
SERVED = {"requests": 0}  # per instance: shows that one warm instance serves request after request


@app.before_request
def count():
    SERVED["requests"] += 1


def notes():
    return Deta().Base("notes")  # the Data Key is read from DETA_PROJECT_KEY per call


def all_notes():
    res = notes().fetch(limit=1000)
    return sorted(res.items, key=lambda n: n.get("created", 0))


# --- pages ---------------------------------------------------------------------------------


@app.get("/")
def index():
    return render_template("index.html", notes=all_notes(), last_tidy=Deta().Base("meta").get("last-tidy"))


@app.post("/")
def add_from_form():
    text = request.form.get("text", "").strip()
    if text:
        notes().insert({"text": text, "done": False, "created": time.time()})
    return redirect(url_for("index"), 303)


@app.post("/notes/<key>/toggle")
def toggle_from_form(key):
    note = notes().get(key)
    if note:
        notes().update({"done": not note.get("done")}, key)
    return redirect(url_for("index"), 303)


@app.get("/hello")
def hello():
    return "Hello from Flask!"


# --- JSON API -------------------------------------------------------------------------------


@app.get("/notes")
def list_notes():
    items = all_notes()
    return jsonify(notes=items, count=len(items))


@app.post("/notes")
def add_note():
    body = request.get_json(silent=True)
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        return jsonify(error='the body must be {"text": "<a non-empty string>"}'), 400
    note = notes().insert({"text": text.strip(), "done": False, "created": time.time()})
    return jsonify(note), 201, {"Location": url_for("get_note", key=note["key"])}


@app.get("/notes/<key>")
def get_note(key):
    note = notes().get(key)
    return jsonify(note) if note else (jsonify(error="not found"), 404)


@app.patch("/notes/<key>")
def patch_note(key):
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("done"), bool):
        return jsonify(error='the body must be {"done": true|false}'), 400
    if not notes().get(key):
        return jsonify(error="not found"), 404
    notes().update({"done": body["done"]}, key)
    return jsonify(notes().get(key))


@app.delete("/notes/<key>")
def delete_note(key):
    notes().delete(key)
    return "", 204


@app.get("/stats")
def stats():
    items = all_notes()
    return jsonify(
        notes=len(items),
        done=sum(1 for n in items if n.get("done")),
        last_tidy=Deta().Base("meta").get("last-tidy"),
        micro=os.environ.get("DETA_SPACE_APP_MICRO_NAME", ""),
        instance_requests=SERVED["requests"],
    )


# --- the scheduled action ---------------------------------------------------------------------


@app.post(space_wsgi.ACTIONS_PATH)  # POST /__space/v0/actions: the runtime's, never a client's
def action():
    event = (request.get_json(silent=True) or {}).get("event") or {}
    if event.get("id") != "tidy":
        return jsonify(error=f"unknown action {event.get('id')!r}"), 400
    done = notes().fetch({"done": True}, limit=1000).items
    for note in done:
        notes().delete(note["key"])
    record = {"removed": len(done), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    Deta().Base("meta").put(record, "last-tidy")
    print(f"tidy: removed {len(done)} done notes")
    return jsonify(ok=True, removed=len(done))


IncomingHandler = space_wsgi.export(app)
