"""A Starlette app for tests/conformance/asgi.rs: async and plain `def` endpoints, a
background task, a streamed response, a Deta Base call, the action hook, served through
`space_asgi` (sdk/python). Module-level code runs at build time."""

import asyncio

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

import space_asgi
from deta import Deta

STATE = {"requests": 0, "background": 0, "last_action": None}


async def index(request):
    async def twice(n):
        await asyncio.sleep(0.001)
        return n * 2

    doubled = await asyncio.gather(twice(1), twice(2), twice(3))
    await asyncio.wait_for(asyncio.sleep(0), 1)
    return JSONResponse(
        {
            "root_path": request.scope["root_path"],
            "path": request.url.path,
            "doubled": doubled,
            "link": request.url_for("sync").path,
        }
    )


def sync(request):  # a plain def: Starlette calls it through anyio.to_thread
    def later():
        STATE["background"] += 1

    return PlainTextResponse("sync", background=BackgroundTask(later))


async def stats(request):
    return JSONResponse(STATE)


async def stream(request):
    async def parts():
        for i in range(3):
            await asyncio.sleep(0.001)
            yield f"part {i}\n"

    return StreamingResponse(parts(), media_type="text/plain")


async def echo(request):
    return JSONResponse({"got": await request.json()})


async def item(request):
    key = request.path_params["key"]
    if request.method == "PUT":
        Deta().Base("asgi").put(await request.json(), key)
    found = Deta().Base("asgi").get(key)
    return JSONResponse(found) if found else JSONResponse({"error": "not found"}, 404)


async def action(request):
    STATE["last_action"] = (await request.json())["event"]
    return JSONResponse({"ok": True})


async def fail(request):
    raise RuntimeError("a broken endpoint")


app = Starlette(
    routes=[
        Route("/", index),
        Route("/sync", sync, name="sync"),
        Route("/stats", stats),
        Route("/stream", stream),
        Route("/echo", echo, methods=["POST"]),
        Route("/items/{key}", item, methods=["GET", "PUT"]),
        Route("/__space/v0/actions", action, methods=["POST"]),
        Route("/fail", fail),
    ]
)


class Counted:
    """Counts the requests this instance serves (shows warm reuse)."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        STATE["requests"] += 1
        await self.inner(scope, receive, send)


IncomingHandler = space_asgi.export(Counted(app))
