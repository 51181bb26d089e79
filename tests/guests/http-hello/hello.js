// A wasi:http proxy written in JavaScript and made a component by npm's
// componentize-js (tests/guest-http.sh builds it): what a user of the
// JavaScript toolchain deploys, 13 MB with its engine.
//   GET /                 hello from wasm
//   GET /out?to=URL       fetches URL (wasi:http's outgoing handler) and says
//                         whether it got through: the tests ask it to reach
//                         past its network namespace.
addEventListener("fetch", (event) => event.respondWith(handle(event.request)));

async function handle(request) {
  const url = new URL(request.url);
  if (url.pathname === "/out") {
    const to = url.searchParams.get("to");
    try {
      const answer = await fetch(to);
      return text(`reached ${to}: ${answer.status}\n`);
    } catch (e) {
      return text(`blocked ${to}: ${e}\n`);
    }
  }
  return text("hello from wasm\n");
}

function text(body) {
  return new Response(body, { headers: { "content-type": "text/plain" } });
}
