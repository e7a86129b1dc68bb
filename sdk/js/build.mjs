// Builds the JavaScript Micros of the current directory (the Micro's code dir, which holds
// their package.json) with componentize-js: each component that package.json's "micro-wasm"
// field lists, NAME.wasm from its `source` for its `world` in wit/js.wit (beside this file).
//
//   node <sdk>/build.mjs          # every component listed, <sdk> being this file's directory
//   node <sdk>/build.mjs hello    # only hello.wasm
//
//   "micro-wasm": {
//     "wit": "../wit",                          <- space.wit and deps/, relative to the Micro's dir
//     "components": { "app": { "source": "app.js", "world": "micro" }, ... }
//   }
//
// This file is part of the JS SDK (sdk/js in the micro-wasm repo): space.js, wit/js.wit and the
// toolchain pin, package.json + package-lock.json, are read from beside it. `micro-wasm new
// --lang js` copies all of them into the Micro's dir, so there both directories are the same.
//
// Toolchain: componentize-js and its tools take ~390 MB, more than a Micro's code dir may hold
// (250 MB, S16), and they are needed to build, never at run time. So they are not installed in
// the Micro's dir: the first build runs `npm ci` with the package.json and package-lock.json
// beside this file in a cache dir, $MICRO_WASM_JS_TOOLS or
// ~/.cache/micro-wasm/js-tools-<hash of the lock file>, and every later build reuses it.
//
// WIT: assembled in the Micro's wit-gen/ (to be gitignored) from files kept elsewhere, so
// nothing is written twice by hand (<wit> is the "wit" above):
//   wit-gen/js.wit            <- wit/js.wit beside this file (the SDK's worlds)
//   wit-gen/deps/space.wit    <- <wit>/space.wit (micro:space, as is)
//   wit-gen/deps/*-0.2.12.wit <- <wit>/deps/*.wit (what space.wit's own world needs)
//   wit-gen/deps/*-0.2.10.wit <- the same WASI files relabelled 0.2.10, the version
//                                componentize-js 0.23.0's engine implements; items marked
//                                @since a later 0.2.x are left out.
// Files whose text is unchanged are not rewritten (a watching `micro-wasm run` sees no change).
//
// Imports: componentize-js lets the module read the files under one directory while it
// snapshots it. That is the deepest directory holding both the Micro's dir and this SDK's, so
// a Micro may import space.js from the SDK where it is (`../../../sdk/js/space.js`) or from a
// copy beside it (`./space.js`).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ENGINE_WASI = "0.2.10";
const sdk = dirname(fileURLToPath(import.meta.url)); // wit/js.wit, package.json, package-lock.json
const micro = process.cwd(); // package.json with "micro-wasm"; gets wit-gen/ and NAME.wasm
const gen = join(micro, "wit-gen");

const config = JSON.parse(readFileSync(join(micro, "package.json"), "utf8"))["micro-wasm"];
if (!config?.wit || !config?.components) {
  throw new Error('package.json: no "micro-wasm": { "wit": ..., "components": {...} } (see build.mjs)');
}

function assembleWit(wit) {
  const files = new Map([
    ["js.wit", readFileSync(join(sdk, "wit", "js.wit"), "utf8")],
    ["deps/space.wit", readFileSync(join(wit, "space.wit"), "utf8")],
  ]);
  for (const file of readdirSync(join(wit, "deps")).filter((f) => f.endsWith(".wit"))) {
    const text = readFileSync(join(wit, "deps", file), "utf8");
    const [, from] = text.match(/^package wasi:[a-z-]+@(0\.2\.\d+);/m) ?? [];
    if (!from) throw new Error(`${file}: no 'package wasi:...@0.2.x;' line`);
    files.set(`deps/${file.replace(/\.wit$/, `-${from}.wit`)}`, text);
    files.set(`deps/${file.replace(/\.wit$/, `-${ENGINE_WASI}.wit`)}`, relabel(text, from));
  }
  mkdirSync(join(gen, "deps"), { recursive: true });
  for (const f of readdirSync(join(gen, "deps"))) {
    if (!files.has(`deps/${f}`)) rmSync(join(gen, "deps", f), { recursive: true }); // stale
  }
  for (const [rel, text] of files) {
    const path = join(gen, rel);
    if (!existsSync(path) || readFileSync(path, "utf8") !== text) writeFileSync(path, text);
  }
}

// `wasi:*@<from>` -> `wasi:*@0.2.10`, dropping each one-line item `@since` a later version.
function relabel(text, from) {
  const minor = (v) => Number(v.split(".")[2]);
  const lines = text.split("\n");
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const since = lines[i].match(/^\s*@since\(version = (0\.2\.\d+)\)/);
    if (since && minor(since[1]) > minor(ENGINE_WASI)) {
      if (!lines[i + 1].trim().endsWith(";")) throw new Error(`cannot drop: ${lines[i + 1]}`);
      i++; // skip the gated item too
      continue;
    }
    out.push(lines[i]);
  }
  return out.join("\n").replaceAll(`@${from}`, `@${ENGINE_WASI}`);
}

// componentize-js from the tools dir, installed there first if need be.
async function loadComponentize() {
  const lock = readFileSync(join(sdk, "package-lock.json"));
  const hash = createHash("sha256").update(lock).digest("hex").slice(0, 12);
  const tools = process.env.MICRO_WASM_JS_TOOLS || join(homedir(), ".cache", "micro-wasm", `js-tools-${hash}`);
  const entry = join(tools, "node_modules/@bytecodealliance/componentize-js/src/componentize.js");
  if (!existsSync(entry)) {
    console.log(`installing the JS toolchain (${join(sdk, "package-lock.json")}) in ${tools}`);
    const tmp = `${tools}.tmp-${process.pid}`; // renamed when complete: no half-installed tools
    mkdirSync(tmp, { recursive: true });
    copyFileSync(join(sdk, "package.json"), join(tmp, "package.json"));
    copyFileSync(join(sdk, "package-lock.json"), join(tmp, "package-lock.json"));
    const npm = spawnSync("npm", ["ci", "--no-audit", "--no-fund", "--prefix", tmp], { stdio: "inherit" });
    if (npm.status !== 0) throw new Error(`npm ci in ${tmp} failed`);
    if (existsSync(entry)) {
      rmSync(tmp, { recursive: true }); // another build got there first
    } else {
      rmSync(tools, { recursive: true, force: true });
      renameSync(tmp, tools);
    }
  }
  return (await import(pathToFileURL(entry).href)).componentize;
}

// The deepest directory holding both `a` and `b` (absolute paths).
function commonDir(a, b) {
  const x = a.split(sep);
  const y = b.split(sep);
  let n = 0;
  while (n < x.length && n < y.length && x[n] === y[n]) n++;
  return x.slice(0, n).join(sep) || sep;
}

if (existsSync(join(micro, "node_modules"))) {
  console.warn("warning: node_modules/ here counts toward the code dir's 250 MB (S16); " +
    "delete it, build.mjs installs the toolchain outside this directory");
}
const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!(name in config.components)) throw new Error(`${name}: not in package.json's "micro-wasm".components`);
}
const componentize = await loadComponentize();
assembleWit(resolve(micro, config.wit));
// componentize-js maps the working directory as the module's file system while it snapshots
// it (when the source is under it): the directory holding the Micro's and the SDK's files.
process.chdir(commonDir(micro, sdk));
for (const [name, { source, world }] of Object.entries(config.components)) {
  if (wanted.length && !wanted.includes(name)) continue;
  const started = Date.now();
  const { component } = await componentize({ sourcePath: resolve(micro, source), witPath: gen, worldName: world });
  writeFileSync(join(micro, `${name}.wasm`), component);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`${name}.wasm: ${(component.length / 1048576).toFixed(1)} MiB from ${source} in ${secs}s`);
}
