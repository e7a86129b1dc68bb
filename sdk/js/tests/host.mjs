// Lets Node.js import the SDK's modules, which import the component's WIT interfaces
// (`wasi:*`, `micro:*`) as componentize-js provides them inside a Micro. Node's module hooks
// resolve each of those specifiers to `interfaces.mjs`, which gives the environment from
// `process.env` and refuses the rest (SQLite, files, the HTTP export exist only in a Micro).
// Outgoing requests need nothing: deta.js uses `fetch()`, which Node has.
//
//   import "./host.mjs";                       // first, before importing deta.js
//   const { Deta } = await import("../deta.js");
import { register } from "node:module";

register(
  "data:text/javascript," +
    encodeURIComponent(`
      const target = ${JSON.stringify(new URL("./interfaces.mjs", import.meta.url).href)};
      export async function resolve(specifier, context, next) {
        return /^(wasi|micro):/.test(specifier)
          ? { url: target + "?" + encodeURIComponent(specifier), shortCircuit: true }
          : next(specifier, context);
      }`),
);
