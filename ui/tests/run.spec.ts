import { example, expect, guardOffline, startServer, test, waitForRun, type Server } from "./support";

const WAITING = `name: ui_approval
activities:
  - key: request
    activity_name: echo
    parameters: {amount: "{{INPUT.amount}}"}
  - key: decide
    activity_name: echo
    parameters: {approved: "{{SIGNAL.approved if SIGNAL is not none else false}}"}
    settings:
      wait_for_signal: {event_name: approval}
    depends_on: [request]
  - key: book
    activity_name: echo
    parameters: {done: true}
    depends_on: [decide]
`;

let server: Server;

test.beforeAll(async () => {
  test.setTimeout(240_000); // a server start on a busy machine
  server = await startServer({ insecureDev: true });
  await server.api("POST", "/api/v1/workflow_definitions", example("03-if-else.yaml"), "application/yaml");
  await server.api("POST", "/api/v1/workflow_definitions", example("04-bounded-loop.yaml"), "application/yaml");
  await server.api("POST", "/api/v1/workflow_definitions", example("05-flaky-retry.yaml"), "application/yaml");
  await server.api("POST", "/api/v1/workflow_definitions", WAITING, "application/yaml");
});

test.afterAll(async () => {
  await server?.stop();
});

test("run page lays out the graph with each node coloured by its status, and shows events and outputs", async ({ page }) => {
  const foreign = await guardOffline(page);
  const { workflow_id: id } = await server.api<{ workflow_id: string }>("POST", "/api/v1/workflows", { definition_name: "if_else", input: { amount: 250 } });
  await waitForRun(server, id, ["completed"]);

  await page.goto(`${server.baseUrl}/ui/runs/${id}`);
  await expect(page.getByRole("heading", { name: /if_else/ })).toBeVisible();
  await expect(page.getByTestId("node-check")).toHaveAttribute("data-status", "completed");
  await expect(page.getByTestId("node-manual_review")).toHaveAttribute("data-status", "completed");
  await expect(page.getByTestId("node-auto_approve")).toHaveAttribute("data-status", "skipped");
  await expect(page.getByTestId("node-notify")).toHaveAttribute("data-status", "completed");

  // Laid out top to bottom: a node sits below what it depends on.
  const check = (await page.getByTestId("node-check").boundingBox())!;
  const review = (await page.getByTestId("node-manual_review").boundingBox())!;
  const notify = (await page.getByTestId("node-notify").boundingBox())!;
  expect(review.y).toBeGreaterThan(check.y + check.height / 2);
  expect(notify.y).toBeGreaterThan(review.y + review.height / 2);

  await expect(page.getByTestId("event-row").filter({ hasText: "WorkflowCompleted" })).toHaveCount(1);
  await expect(page.getByTestId("event-row").filter({ hasText: "ActivitySkipped" })).toHaveCount(1);

  // Selecting a node shows its parameters and output.
  await page.getByTestId("node-check").click();
  const panel = page.getByRole("complementary", { name: "Activity check" });
  await expect(panel.getByLabel("check-parameters")).toContainText("INPUT.amount");
  await expect(panel.getByLabel("check-echo")).toContainText('"needs_review": true');
  expect(foreign).toEqual([]);
});

test("run page shows the attempt count on the node and every attempt on the timeline", async ({ page }) => {
  const foreign = await guardOffline(page);
  const { workflow_id: id } = await server.api<{ workflow_id: string }>("POST", "/api/v1/workflows", { definition_name: "flaky_retry" });
  await waitForRun(server, id, ["completed"]);
  await page.goto(`${server.baseUrl}/ui/runs/${id}`);
  await expect(page.getByTestId("node-flaky_call")).toContainText("attempt 3");
  const rows = page.getByTestId("timeline-row");
  await expect(rows).toHaveCount(4); // flaky_call three times, then after
  await expect(rows.nth(0)).toContainText("flaky_call");
  await expect(rows.nth(2)).toContainText("flaky_call (attempt 3)");
  await expect(rows.nth(3)).toContainText("after");
  await expect(rows.nth(0).locator(".timeline-run")).toHaveClass(/status-failed/);
  await expect(rows.nth(2).locator(".timeline-run")).toHaveClass(/status-completed/);
  expect(foreign).toEqual([]);
});

test("run page draws a loop's back-edge and the iteration reached", async ({ page }) => {
  const foreign = await guardOffline(page);
  const { workflow_id: id } = await server.api<{ workflow_id: string }>("POST", "/api/v1/workflows", { definition_name: "bounded_loop", input: { pages: 3 } });
  await waitForRun(server, id, ["completed"]);
  await page.goto(`${server.baseUrl}/ui/runs/${id}`);
  await expect(page.getByTestId("node-report")).toHaveAttribute("data-status", "completed");
  await expect(page.locator(".edge-loop")).toHaveCount(1);
  await expect(page.getByTestId("node-fetch_page")).toContainText("iteration 2");
  expect(foreign).toEqual([]);
});

test("cancel asks for confirmation, then cancels the run and the page follows", async ({ page }) => {
  const foreign = await guardOffline(page);
  const { workflow_id: id } = await server.api<{ workflow_id: string }>("POST", "/api/v1/workflows", { definition_name: "ui_approval", input: { amount: 5 } });
  await page.goto(`${server.baseUrl}/ui/runs/${id}`);
  await expect(page.getByTestId("node-decide")).toHaveAttribute("data-status", "waiting");

  await page.getByRole("button", { name: "Cancel run" }).click();
  const dialog = page.getByRole("dialog", { name: "Cancel this run?" });
  await expect(dialog).toBeVisible();
  await dialog.getByRole("button", { name: "Keep it" }).click();
  await expect(dialog).toBeHidden();
  expect((await server.api<{ status: string }>("GET", `/api/v1/workflows/${id}`)).status).toBe("running");

  await page.getByRole("button", { name: "Cancel run" }).click();
  await dialog.getByRole("button", { name: "Cancel run" }).click();
  await expect(page.getByRole("heading", { name: /ui_approval/ })).toContainText("cancelled");
  await expect(page.getByTestId("node-decide")).toHaveAttribute("data-status", "cancelled");
  expect((await server.api<{ status: string }>("GET", `/api/v1/workflows/${id}`)).status).toBe("cancelled");
  await expect(page.getByRole("button", { name: "Cancel run" })).toHaveCount(0);
  expect(foreign).toEqual([]);
});

test("a waiting step gets a signal with its data from a form, after a confirmation", async ({ page }) => {
  const foreign = await guardOffline(page);
  const { workflow_id: id } = await server.api<{ workflow_id: string }>("POST", "/api/v1/workflows", { definition_name: "ui_approval", input: { amount: 7 } });
  await page.goto(`${server.baseUrl}/ui/runs/${id}`);
  await expect(page.getByTestId("node-decide")).toHaveAttribute("data-status", "waiting");
  await page.getByTestId("node-decide").click();
  const form = page.getByRole("form", { name: "Signal decide" });
  await expect(form.getByLabel("Event name")).toHaveValue("approval");
  await form.getByLabel("Data (JSON)").fill('{"approved": true}');
  await form.getByRole("button", { name: "Send signal…" }).click();
  await page.getByRole("dialog", { name: "Signal decide?" }).getByRole("button", { name: "Send signal" }).click();
  await expect(page.getByRole("heading", { name: /ui_approval/ })).toContainText("completed");
  await expect(page.getByTestId("node-book")).toHaveAttribute("data-status", "completed");
  await expect(page.getByLabel("decide-echo")).toContainText('"approved": true');
  expect(foreign).toEqual([]);
});

test("definitions list, a definition's graph and YAML, and starting a run from it", async ({ page }) => {
  const foreign = await guardOffline(page);
  await page.goto(`${server.baseUrl}/ui/definitions`);
  await expect(page.getByTestId("definition-row")).toHaveCount(4);
  await page.getByRole("link", { name: "if_else" }).click();
  await expect(page.getByTestId("node-notify")).toBeVisible();
  await page.getByRole("tab", { name: "YAML" }).click();
  await expect(page.getByLabel("Definition YAML")).toContainText("activity_key: check");

  await page.getByLabel("Input (JSON object)").fill("[1]");
  await expect(page.getByText("The input must be a JSON object")).toBeVisible();
  await page.getByLabel("Input (JSON object)").fill('{"amount": 20}');
  await page.getByRole("button", { name: "Start if_else" }).click();
  await expect(page).toHaveURL(/\/ui\/runs\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId("node-auto_approve")).toHaveAttribute("data-status", "completed");
  expect(foreign).toEqual([]);
});
