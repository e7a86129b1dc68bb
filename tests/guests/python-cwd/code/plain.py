"""`GET /`: the working directory and the relative file hello.txt, on space.App."""

import os

import space

app = space.App()


@app.get("/")
def index(req):
    with open("hello.txt") as f:
        return space.text(os.getcwd() + "|" + f.read())


IncomingHandler = app.export()
