"""Any request: the working directory and the relative file hello.txt, on space_asgi."""

import os

import space_asgi


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    with open("hello.txt") as f:
        body = (os.getcwd() + "|" + f.read()).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


IncomingHandler = space_asgi.export(app)
