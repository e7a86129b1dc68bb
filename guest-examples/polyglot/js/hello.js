// The smallest Micro, for benchmarks against `wasmtime serve -S cli` (which cannot provide
// micro:space/sqlite): world `hello` of the JS SDK's wit/js.wit (sdk/js), `wasi:http/proxy`
// only, so no space.js.
// It answers `Hello from <DETA_SPACE_APP_MICRO_NAME>!` as text/plain.
//
// It implements `wasi:http/incoming-handler` directly instead of `addEventListener("fetch")`:
// StarlingMonkey cannot answer a second fetch event in the same instance
// (bytecodealliance/StarlingMonkey#247), and micro-wasm reuses warm instances.
import { getEnvironment } from "wasi:cli/environment@0.2.10";
import { Fields, OutgoingBody, OutgoingResponse, ResponseOutparam } from "wasi:http/types@0.2.10";

const dispose = Symbol.dispose ?? Symbol.for("dispose");
const utf8 = (text) => new TextEncoder().encode(text);
let greeting; // made at the first request: the top level runs at build time (Wizer)

export const incomingHandler = {
  handle(request, outparam) {
    greeting ??= utf8(`Hello from ${new Map(getEnvironment()).get("DETA_SPACE_APP_MICRO_NAME")}!`);
    request[dispose]();
    const response = new OutgoingResponse(Fields.fromList([
      ["content-type", utf8("text/plain")],
      ["content-length", utf8(String(greeting.length))],
    ]));
    const body = response.body();
    ResponseOutparam.set(outparam, { tag: "ok", val: response });
    const stream = body.write();
    stream.blockingWriteAndFlush(greeting); // one call takes up to 4096 bytes
    stream[dispose]();
    OutgoingBody.finish(body, undefined);
  },
};
