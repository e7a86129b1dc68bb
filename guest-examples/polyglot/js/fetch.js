// The classic Deta-style Micro: a `fetch` event listener, no SDK. componentize-js runs it on
// StarlingMonkey, which answers one fetch event per instance; micro-wasm sees that at load
// (no `incomingHandler` export) and gives every request a fresh instance, so it simply works.
addEventListener("fetch", (event) => {
  const { pathname } = new URL(event.request.url);
  event.respondWith(
    new Response(`hello from fetch ${pathname}`, { headers: { "content-type": "text/plain" } }),
  );
});
