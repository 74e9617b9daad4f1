// Restate peer of benches/compare.sh: one handler, chain(n), that runs n sequential durable
// no-op steps. Each ctx.run() result is journaled by restate-server (and acknowledged) before
// the next step starts, which is what a durable step costs there.
//
//   node service.mjs PORT     (serves HTTP/2 cleartext on 127.0.0.1:PORT)
import http2 from "node:http2";

// The SDK calls Promise.withResolvers (Node >= 22); this machine has Node 20.
Promise.withResolvers ??= function () {
    let resolve, reject;
    const promise = new this((res, rej) => ((resolve = res), (reject = rej)));
    return { promise, resolve, reject };
};
const restate = await import("@restatedev/restate-sdk");

const bench = restate.service({
    name: "Bench",
    handlers: {
        chain: async (ctx, n) => {
            for (let i = 0; i < n; i++) {
                await ctx.run("s" + i, () => 1);
            }
            return n;
        },
    },
});

const port = Number(process.argv[2] ?? 9080);
http2
    .createServer(restate.createEndpointHandler({ services: [bench] }))
    .listen(port, "127.0.0.1", () => console.error(`restate peer service on 127.0.0.1:${port}`));
