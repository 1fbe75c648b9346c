// DBOS Transact peer: the three echo workflows as DBOS workflows whose steps are checkpointed in PostgreSQL
// (DBOS.runStep records each step's output in the system database before the workflow goes on).
// A waiting read (?wait_seconds=N) awaits the workflow handle's getResult(), then reads the status once.
// Usage: DBOS_SYSTEM_DATABASE_URL=postgres://… node dbos.js PORT
'use strict';
const { DBOS } = require('@dbos-inc/dbos-sdk');
const { serve, settledWithin } = require('./adapter');
const crypto = require('node:crypto');

const echo = async () => ({});
const step = (name) => DBOS.runStep(echo, { name });

async function chain(n) {
  for (let i = 0; i < n; i++) await step(`activity_${i}`);
  return {};
}
const sequential5 = DBOS.registerWorkflow(async () => chain(5), { name: 'sequential_bench_5' });
const sequential3 = DBOS.registerWorkflow(async () => chain(3), { name: 'sequential_bench_3' });
const parallel10 = DBOS.registerWorkflow(async () => {
  await step('start');
  // Steps started in a fixed order get deterministic step ids, so they may run concurrently.
  await Promise.all(Array.from({ length: 10 }, (_, i) => step(`parallel_${i}`)));
  await step('end');
  return {};
}, { name: 'parallel_bench_10' });
const workflows = { sequential_bench_5: sequential5, sequential_bench_3: sequential3, parallel_bench_10: parallel10 };

const STATUS = { PENDING: 'running', ENQUEUED: 'created', SUCCESS: 'completed', ERROR: 'failed', CANCELLED: 'failed',
  MAX_RECOVERY_ATTEMPTS_EXCEEDED: 'failed', RETRIES_EXCEEDED: 'failed' };

// Handles of the workflows this process started and that are still running: a waiting read awaits the handle's
// getResult() (the workflow's own promise, no polling); a finished workflow leaves the map and is read from the database.
const running = new Map();

async function main() {
  const port = Number(process.argv[2] || 18081);
  DBOS.setConfig({
    name: 'spindle-bench',
    systemDatabaseUrl: process.env.DBOS_SYSTEM_DATABASE_URL,
    systemDatabasePoolSize: Number(process.env.DBOS_POOL_SIZE || 20),
    logLevel: 'warn',
  });
  await DBOS.launch();
  const api = {
    async submit(name, input) {
      const wf = workflows[name];
      if (!wf) throw new Error(`unknown workflow ${name}`);
      const id = crypto.randomUUID();
      const handle = await DBOS.startWorkflow(wf, { workflowID: id })(input);
      running.set(id, handle);
      handle.getResult().catch(() => {}).finally(() => running.delete(id));
      return id;
    },
    async wait(id, seconds) {
      const handle = running.get(id) ?? DBOS.retrieveWorkflow(id);
      await settledWithin(handle.getResult(), seconds * 1000);
      return api.status(id);
    },
    async status(id) {
      const s = await DBOS.getWorkflowStatus(id);
      if (!s) return null;
      return {
        status: STATUS[s.status] || 'running',
        created_at: s.createdAt,
        completed_at: s.completedAt ?? (STATUS[s.status] === 'completed' ? s.updatedAt : undefined),
      };
    },
  };
  await serve(port, api);
  console.log(`dbos adapter listening on http://127.0.0.1:${port}`);
  const stop = async () => { await DBOS.shutdown(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
main().catch((e) => { console.error(e); process.exit(1); });
