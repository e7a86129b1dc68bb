"""The minimal Python Micro: any request -> 200 text/plain `Hello from <micro name>!`.

Targets plain `wasi:http/proxy@0.2.12` (no micro:space import) so it also runs under
`wasmtime serve -S cli`; the benchmark guest. Uses the generated bindings directly, not
space.py, to stay as small as possible.
"""

import os

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports.types import Fields, OutgoingBody, OutgoingResponse, ResponseOutparam


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request, response_out):
        name = os.environ.get("DETA_SPACE_APP_MICRO_NAME", "")
        body = f"Hello from {name}!".encode()
        response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
        out = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        with out.write() as stream:
            stream.blocking_write_and_flush(body)
        OutgoingBody.finish(out, None)
