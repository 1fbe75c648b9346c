import { example, expect, guardOffline, startServer, test, waitForRun, type Server } from "./support";

// The operator pages (workers & queues, schedules, costs, clients) against one real server that requires tokens,
// with real runs, a schedule, a worker polling over HTTP and costs it reports through the worker protocol.
let server: Server;

async function tokenFor(client_id: string, client_secret: string): Promise<string> {
  const response = await fetch(`${server.baseUrl}/api/v1/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ grant_type: "client_credentials", client_id, client_secret }),
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

async function adminToken(): Promise<string> {
  const { client_id, client_secret } = server.admin();
  return tokenFor(client_id, client_secret);
}

/** Plays a worker on a routing key: polls once and returns the claimed activities. */
async function poll(routingKey: string, workerId: string, max: number): Promise<{ activity_id: string }[]> {
  const answer = await server.api<{ activities: { activity_id: string }[] }>("POST", "/api/v1/workers/poll", { worker: routingKey, worker_id: workerId, max_activities: max });
  return answer.activities;
}

test.beforeAll(async () => {
  test.setTimeout(240_000); // a server start on a busy machine
  server = await startServer({ insecureDev: false });
  // support.ts fetches its admin token with the first call's content type: make that first call a JSON one.
  await server.api("GET", "/api/v1/info");
  await server.api("POST", "/api/v1/workflow_definitions", example("01-hello-chain.yaml"), "application/yaml");
});

test.afterAll(async () => {
  await server?.stop();
});

test("workers & queues shows depth, oldest wait and the workers per routing key, and a key no worker polls", async ({ page }) => {
  const foreign = await guardOffline(page);
  await server.api("POST", "/api/v1/workflow_definitions", [
    "name: ops_gpu",
    "activities:",
    "  - {key: a, activity_name: render, worker: ops-gpu}",
    "  - {key: b, activity_name: render, worker: ops-gpu}",
  ].join("\n"), "application/yaml");
  await server.api("POST", "/api/v1/workflow_definitions", "name: ops_orphan\nactivities:\n  - {key: a, activity_name: render, worker: ops-nobody}\n", "application/yaml");
  await server.api("POST", "/api/v1/workflows", { definition_name: "ops_gpu", input: {} });
  await server.api("POST", "/api/v1/workflows", { definition_name: "ops_orphan", input: {} });
  expect(await poll("ops-gpu", "gpu-worker-1", 1)).toHaveLength(1);

  await page.goto(`${server.baseUrl}/ui/queues#token=${await adminToken()}`);
  await expect(page.getByRole("heading", { name: "Workers & queues" })).toBeVisible();
  const gpu = page.locator('[data-testid="queue-row"][data-key="ops-gpu"]');
  await expect(gpu.getByTestId("queue-worker")).toContainText("gpu-worker-1");
  await expect(gpu.getByTestId("queue-worker")).toContainText("1 running");
  await expect(gpu.locator("td").nth(0)).toHaveText("1"); // ready
  await expect(gpu.locator("td").nth(2)).toHaveText("1"); // running
  await expect(gpu).toContainText("Waiting for a free slot");
  const orphan = page.locator('[data-testid="queue-row"][data-key="ops-nobody"]');
  await expect(orphan).toContainText("No worker polls this key");
  await expect(orphan.locator("td").nth(4)).toHaveText("none");
  // The server's own std worker polls too.
  await expect(page.locator('[data-testid="queue-row"][data-key="std"] [data-testid="queue-worker"]')).not.toHaveCount(0);
  expect(foreign).toEqual([]);
});

test("schedules lists next occurrences and recent runs; trigger, pause and resume ask first (keyboard too)", async ({ page }) => {
  const foreign = await guardOffline(page);
  await server.api("POST", "/api/v1/schedules", { name: "ops-nightly", definition_name: "hello_chain", input: { name: "Ada" }, cron: "0 3 * * *" });

  await page.goto(`${server.baseUrl}/ui/schedules#token=${await adminToken()}`);
  const row = page.locator('[data-testid="schedule-row"][data-name="ops-nightly"]');
  await expect(row).toContainText("cron 0 3 * * *");
  await expect(row).toContainText("active");
  await row.getByRole("button", { name: "ops-nightly" }).click();
  await expect(page.getByTestId("upcoming").locator("li")).toHaveCount(5);

  await row.getByRole("button", { name: "Trigger" }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText("Starts a run of hello_chain now");
  await dialog.getByRole("button", { name: "Run now" }).click();
  await expect(page.getByRole("status")).toContainText("ops-nightly: submitted");
  await expect(page.getByTestId("schedule-run")).toHaveCount(1);
  const runId = (await page.getByTestId("schedule-run").getByRole("link").getAttribute("title"))!;
  await waitForRun(server, runId, ["completed"]);

  // Pause with the keyboard only: focus the button, Enter, then Tab from "Keep it" to the confirming button.
  await row.getByRole("button", { name: "Pause" }).focus();
  await page.keyboard.press("Enter");
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole("button", { name: "Keep it" })).toBeFocused();
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await expect(row).toContainText("paused");
  const paused = await server.api<{ schedules: { name: string; enabled: boolean }[] }>("GET", "/api/v1/schedules");
  expect(paused.schedules.find((s) => s.name === "ops-nightly")?.enabled).toBe(false);

  // Escape keeps it as it is.
  await row.getByRole("button", { name: "Resume" }).click();
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  await expect(row).toContainText("paused");
  await row.getByRole("button", { name: "Resume" }).click();
  await dialog.getByRole("button", { name: "Resume" }).click();
  await expect(row).toContainText("active");
  expect(foreign).toEqual([]);
});

test("costs shows spend over time by definition and provider, the most expensive runs and budget events", async ({ page }) => {
  const foreign = await guardOffline(page);
  await server.api("POST", "/api/v1/workflow_definitions", "name: ops_costs\nactivities:\n  - {key: ask, activity_name: llm, worker: ops-llm}\n", "application/yaml");
  const runs: string[] = [];
  for (const [provider, cost] of [["acme", "0.5"], ["beta", "0.25"]]) {
    runs.push((await server.api<{ workflow_id: string }>("POST", "/api/v1/workflows", { definition_name: "ops_costs", input: {} })).workflow_id);
    const [claimed] = await poll("ops-llm", "llm-worker", 1);
    await server.api("POST", `/api/v1/activities/${claimed.activity_id}/complete`, {
      worker_id: "llm-worker",
      output: { text: "ok" },
      usage: [{ provider, model: "m1", input_tokens: 100, output_tokens: 10, cost_usd: cost }],
    });
  }
  // A budget below the estimate aborts before any request is made: a budget event, no network.
  await server.api("POST", "/api/v1/workflow_definitions", [
    "name: ops_budget",
    "activities:",
    "  - key: ask",
    "    activity_name: llm_prompt",
    '    parameters: {model: openai/gpt-4o, prompt: "never sent", max_tokens: 100}',
    '    settings: {budget: {limit: "0.0001"}}',
  ].join("\n"), "application/yaml");
  const aborted = (await server.api<{ workflow_id: string }>("POST", "/api/v1/workflows", { definition_name: "ops_budget", input: {} })).workflow_id;
  for (const id of runs) await waitForRun(server, id, ["completed"]);
  await waitForRun(server, aborted, ["failed"]);

  await page.goto(`${server.baseUrl}/ui/costs#token=${await adminToken()}`);
  await expect(page.getByRole("heading", { name: "Costs" })).toBeVisible();
  await expect(page.getByTestId("total-spend")).toHaveText("$0.7500");
  await expect(page.getByTestId("spend-bar")).toHaveCount(31);
  await expect(page.getByTestId("spend-series").filter({ hasText: "ops_costs" })).toContainText("$0.7500");
  await page.getByLabel("Split by").selectOption("provider");
  await expect(page.getByTestId("spend-series")).toHaveText([/acme\s*\$0\.5000/, /beta\s*\$0\.2500/]);
  await page.getByLabel("Range").selectOption("48h");
  await expect(page.getByTestId("spend-bar")).toHaveCount(49);
  await expect(page.getByRole("img", { name: /Spend per hour: \$0\.7500 in total/ })).toBeVisible();
  await expect(page.getByTestId("top-run")).toHaveCount(2);
  await expect(page.getByTestId("top-run").first()).toContainText("$0.5000");
  await expect(page.getByTestId("top-run").first().getByRole("link")).toHaveAttribute("title", runs[0]);
  await expect(page.getByTestId("budget-event")).toHaveCount(1);
  await expect(page.getByTestId("budget-event")).toContainText("abort");
  await expect(page.getByTestId("budget-event").getByRole("link")).toHaveAttribute("title", aborted);
  expect(foreign).toEqual([]);
});

test("clients: an admin creates a client (secret shown once) and revokes it", async ({ page }) => {
  const foreign = await guardOffline(page);
  await page.goto(`${server.baseUrl}/ui/clients#token=${await adminToken()}`);
  await expect(page.getByRole("heading", { name: "Clients" })).toBeVisible();
  await page.getByLabel("Name").fill("ops-watchers");
  await expect(page.getByRole("checkbox", { name: "workflows" })).toBeChecked();
  await page.getByRole("button", { name: "Create client" }).click();
  const secret = (await page.getByTestId("client-secret").textContent())!;
  expect(secret.length).toBeGreaterThan(20);
  const row = page.locator('[data-testid="client-row"][data-name="ops-watchers"]');
  await expect(row).toContainText("workflows");
  await expect(row).toContainText("active");
  // The secret works: it buys a token.
  const clientId = (await row.locator("td").first().textContent())!;
  expect(await tokenFor(clientId, secret)).toMatch(/^ey/);

  await row.getByRole("button", { name: "Revoke" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Revoke" }).click();
  await expect(row).toContainText("revoked");
  await expect(row.getByRole("button", { name: "Revoke" })).toHaveCount(0);
  const refused = await fetch(`${server.baseUrl}/api/v1/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ grant_type: "client_credentials", client_id: clientId, client_secret: secret }),
  });
  expect(refused.status).toBe(401);
  expect(foreign).toEqual([]);
});

test("a workflows-scoped sign-in sees the operator pages but not Clients, and cannot open it", async ({ page }) => {
  const foreign = await guardOffline(page);
  const { client_id, client_secret } = await server.api<{ client_id: string; client_secret: string }>("POST", "/api/v1/clients", { name: "ops-viewer", scopes: ["workflows"] });
  const token = await tokenFor(client_id, client_secret);

  await page.goto(`${server.baseUrl}/ui/queues#token=${token}`);
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "Workers & queues" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Schedules" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Costs" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Clients" })).toHaveCount(0);
  await expect(page.locator('[data-testid="queue-row"][data-key="std"]')).toBeVisible();

  await page.goto(`${server.baseUrl}/ui/clients`);
  await expect(page.getByRole("heading", { name: "Not found" })).toBeVisible();
  await expect(page.getByTestId("client-row")).toHaveCount(0);
  const direct = await fetch(`${server.baseUrl}/api/v1/clients`, { headers: { authorization: `Bearer ${token}` } });
  expect(direct.status).toBe(403);
  expect(foreign).toEqual([]);
});
