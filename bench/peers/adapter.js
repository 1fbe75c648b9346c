// Thin HTTP adapter shared by the peer engines: exposes the two routes of Spindle's API that the benchmark
// driver uses (BENCHMARKS.md, Configurations), so every engine is measured by the same driver and protocol.
//   POST /api/v1/workflows {"definition_name": …, "input": {}}  → 201 {"workflow_id": …}
//   GET  /api/v1/workflows/{id}                                 → 200 {"status": created|running|completed|failed, created_at?, completed_at?}
//   GET  /api/v1/workflows/{id}?wait_seconds=N                  → the same, answered once the workflow has ended or N s
//                                                                  passed (N ≤ 30), through the engine's own wait (`wait`)
//   POST /api/v1/workflow_definitions                           → 200 (no-op: peers define workflows in code)
'use strict';
const http = require('node:http');

function serve(port, { submit, status, wait }) {
  const server = http.createServer(async (req, res) => {
    const send = (code, body) => {
      const text = JSON.stringify(body);
      res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    try {
      const [url, query] = req.url.split('?');
      if (req.method === 'POST' && url === '/api/v1/workflows') {
        const chunks = [];
        for await (const c of req) chunks.push(c);
        const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
        const id = await submit(body.definition_name, body.input ?? {});
        return send(201, { workflow_id: id, status: 'created' });
      }
      if (req.method === 'GET' && url.startsWith('/api/v1/workflows/')) {
        const id = decodeURIComponent(url.slice('/api/v1/workflows/'.length));
        const waitSeconds = Math.min(30, Number(new URLSearchParams(query ?? '').get('wait_seconds') || 0));
        const s = waitSeconds > 0 ? await wait(id, waitSeconds) : await status(id);
        return s ? send(200, { id, ...s }) : send(404, { error: { code: 'NOT_FOUND', message: id } });
      }
      if (req.method === 'POST' && url === '/api/v1/workflow_definitions') {
        for await (const _ of req) { /* drain */ }
        return send(200, { unchanged: true });
      }
      if (req.method === 'GET' && url === '/health') return send(200, { status: 'ok' });
      send(404, { error: { code: 'NOT_FOUND', message: url } });
    } catch (e) {
      send(500, { error: { code: 'INTERNAL_ERROR', message: String(e && e.stack || e) } });
    }
  });
  server.keepAliveTimeout = 120000;
  server.headersTimeout = 125000;
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

// Waits for `promise` at most `ms`: true if it settled (either way), false on time-out. The timer is cleared so a
// finished wait leaves nothing behind.
async function settledWithin(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(resolve, ms, false); });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

module.exports = { serve, settledWithin };
