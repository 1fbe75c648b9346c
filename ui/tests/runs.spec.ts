import { example, expect, guardOffline, startServer, test, waitForRun, type Server } from "./support";

let server: Server;

test.beforeAll(async () => {
  test.setTimeout(240_000); // a server start on a busy machine
  server = await startServer({ insecureDev: true });
  await server.api("POST", "/api/v1/workflow_definitions", example("03-if-else.yaml"), "application/yaml");
  await server.api("POST", "/api/v1/workflow_definitions", example("01-hello-chain.yaml"), "application/yaml");
});

test.afterAll(async () => {
  await server?.stop();
});

test("root and /dashboard redirect to the UI, served with a CSP that names no other origin", async ({ request }) => {
  for (const path of ["/", "/dashboard"]) {
    const response = await request.get(server.baseUrl + path, { maxRedirects: 0 });
    expect(response.status()).toBe(302);
    expect(response.headers()["location"]).toBe("/ui/");
  }
  const page = await request.get(server.baseUrl + "/ui/runs/some-deep-link");
  expect(page.status()).toBe(200);
  const csp = page.headers()["content-security-policy"];
  expect(csp).toContain("default-src 'self'");
  expect(csp).not.toMatch(/https?:/);
  const missing = await request.get(server.baseUrl + "/ui/assets/nope.js");
  expect(missing.status()).toBe(404);
});

test("runs list shows runs with their status, filters by status and definition, and pages", async ({ page }) => {
  const foreign = await guardOffline(page);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    ids.push((await server.api<{ workflow_id: string }>("POST", "/api/v1/workflows", { definition_name: "if_else", input: { amount: 250 } })).workflow_id);
  }
  const chain = (await server.api<{ workflow_id: string }>("POST", "/api/v1/workflows", { definition_name: "hello_chain", input: { name: "Ada" } })).workflow_id;
  for (const id of [...ids, chain]) await waitForRun(server, id, ["completed"]);

  await page.goto(server.baseUrl + "/ui/runs");
  await expect(page.getByRole("heading", { name: "Runs" })).toBeVisible();
  await expect(page.getByTestId("run-row")).toHaveCount(4);
  await expect(page.getByTestId("run-row").first()).toContainText("completed");

  await page.getByLabel("Definition").selectOption("hello_chain");
  await expect(page.getByTestId("run-row")).toHaveCount(1);
  await expect(page.getByTestId("run-row")).toContainText("hello_chain");
  expect(new URL(page.url()).searchParams.get("definition")).toBe("hello_chain");

  await page.getByLabel("Status").selectOption("failed");
  await expect(page.getByText("No runs match.")).toBeVisible();
  await page.getByLabel("Status").selectOption("");
  await page.getByLabel("Definition").selectOption("");
  await expect(page.getByTestId("run-row")).toHaveCount(4);

  // A run started after the page loaded appears without a reload (the event stream, else polling).
  const late = (await server.api<{ workflow_id: string }>("POST", "/api/v1/workflows", { definition_name: "hello_chain", input: { name: "Bo" } })).workflow_id;
  await expect(page.getByTestId("run-row")).toHaveCount(5);
  await expect(page.getByTitle(late)).toBeVisible();

  // Search by id opens the run.
  await page.getByLabel("Run id").fill(chain);
  await page.getByRole("button", { name: "Open" }).click();
  await expect(page).toHaveURL(new RegExp(`/ui/runs/${chain}$`));
  expect(foreign).toEqual([]);
});

test("runs list pages through more runs than fit on a page", async ({ page }) => {
  const foreign = await guardOffline(page);
  const total = (await server.api<{ total: number }>("GET", "/api/v1/workflows?limit=1")).total;
  const needed = 51 - total;
  await Promise.all(Array.from({ length: Math.max(0, needed) }, () => server.api("POST", "/api/v1/workflows", { definition_name: "hello_chain", input: { name: "P" } })));
  await page.goto(server.baseUrl + "/ui/runs");
  await expect(page.getByTestId("run-row")).toHaveCount(50);
  await expect(page.getByText(/^50 shown of \d+ runs/)).toBeVisible();
  await page.getByRole("button", { name: "Older" }).click();
  await expect(page.getByText(/^[1-9]\d* shown of \d+ runs/)).toBeVisible();
  await expect(page).toHaveURL(/cursor=/);
  await expect(page.getByRole("button", { name: "Newer" })).toBeEnabled();
  expect(foreign).toEqual([]);
});
