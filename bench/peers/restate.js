// Restate peer: the three echo workflows as Restate workflows, in two variants:
//   calls   — each step is a separate durable call to an `echo` service (request/response through the server)
//   journal — each step is a journal entry (ctx.run) inside the workflow's own invocation
// One Node process serves the SDK endpoint (registered with the server) and the driver's thin adapter.
// A waiting read (?wait_seconds=N) attaches to the workflow through the ingress (GET /restate/workflow/<wf>/<key>/attach),
// which answers when the workflow's run handler has returned.
// Usage: node restate.js ADAPTER_PORT ENDPOINT_PORT INGRESS_URL   (the endpoint is registered by run.sh)
'use strict';
const restate = require('@restatedev/restate-sdk');
const { serve, settledWithin } = require('./adapter');
const crypto = require('node:crypto');

const echo = restate.service({ name: 'echo', handlers: { echo: async (_ctx, input) => input ?? {} } });

function steps(kind) {
  return kind === 'journal'
    ? (ctx, key) => ctx.run(key, async () => ({}))
    : (ctx, _key) => ctx.serviceClient(echo).echo({});
}

function define(kind, suffix) {
  const step = steps(kind);
  const chain = (n) => async (ctx) => {
    for (let i = 0; i < n; i++) await step(ctx, `activity_${i}`);
    return {};
  };
  return [
    restate.workflow({ name: `sequential_bench_5${suffix}`, handlers: { run: chain(5) } }),
    restate.workflow({ name: `sequential_bench_3${suffix}`, handlers: { run: chain(3) } }),
    restate.workflow({
      name: `parallel_bench_10${suffix}`,
      handlers: {
        run: async (ctx) => {
          await step(ctx, 'start');
          await restate.RestatePromise.all(Array.from({ length: 10 }, (_, i) => step(ctx, `parallel_${i}`)));
          await step(ctx, 'end');
          return {};
        },
      },
    }),
  ];
}

async function main() {
  const [adapterPort, endpointPort, ingress] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
  const variant = process.env.RESTATE_BENCH_VARIANT === 'journal' ? 'journal' : 'calls';
  const suffix = variant === 'journal' ? '_journal' : '';
  await restate.serve({ services: [echo, ...define('calls', ''), ...define('journal', '_journal')], port: endpointPort });
  await serve(adapterPort, {
    async submit(name) {
      const key = crypto.randomUUID();
      const r = await fetch(`${ingress}/${name}${suffix}/${key}/run/send`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
      });
      const text = await r.text();
      if (r.status >= 300) throw new Error(`submit ${r.status}: ${text}`);
      return `${name}${suffix}/${key}`;
    },
    async wait(id, seconds) {
      const deadline = Date.now() + seconds * 1000;
      const controller = new AbortController();
      const attach = (async () => {
        // The send was acknowledged before the submit answered, so the workflow exists; a 404 is only retried in case.
        while (Date.now() < deadline) {
          const r = await fetch(`${ingress}/restate/workflow/${id}/attach`, { signal: controller.signal });
          await r.arrayBuffer();
          if (r.status !== 404) return r.status;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        return 0;
      })();
      const settled = await settledWithin(attach, seconds * 1000);
      if (!settled) {
        controller.abort();
        attach.catch(() => {});
        return { status: 'running' };
      }
      const code = await attach.catch(() => -1);
      if (code === 200) return { status: 'completed' };
      if (code === 0) return { status: 'running' };
      return { status: 'failed', error_message: `attach: HTTP ${code}` };
    },
    async status(id) {
      const r = await fetch(`${ingress}/restate/workflow/${id}/output`);
      await r.arrayBuffer();
      if (r.status === 200) return { status: 'completed' };
      if (r.status === 470) return { status: 'running' };
      if (r.status === 404) return { status: 'running' }; // not yet visible
      return { status: 'failed', error_message: `HTTP ${r.status}` };
    },
  });
  console.log(`restate ${variant} adapter on http://127.0.0.1:${adapterPort}, endpoint on ${endpointPort}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
