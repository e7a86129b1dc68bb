// What a Micro's WIT imports give space.js and deta.js, on Node.js (see host.mjs): the
// environment is the process's; SQLite, preopened directories and the wasi:http export's types
// exist only inside a component, so using them here throws.
const missing = (name) =>
  function () {
    throw new Error(`${name}: only inside a component (componentize-js)`);
  };

export const getEnvironment = () => Object.entries(process.env);
export const getDirectories = missing("wasi:filesystem/preopens");
export const Connection = { open: missing("micro:space/sqlite") };
export const Fields = { fromList: missing("wasi:http/types") };
export const IncomingBody = { finish: missing("wasi:http/types") };
export const OutgoingBody = { finish: missing("wasi:http/types") };
export const OutgoingResponse = missing("wasi:http/types");
export const ResponseOutparam = { set: missing("wasi:http/types") };
