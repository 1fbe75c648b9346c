import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { example, expect, guardOffline, repo, startServer, test, waitForRun, type Server } from "./support";

const APPROVAL = `name: live_approval
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
// Fails its first attempt and has no retries left: the run fails at "charge"; a retry (attempt 2) succeeds.
const FAILS_ONCE = `name: fails_once
activities:
  - {key: prepare, activity_name: echo, parameters: {order: 7}}
  - key: charge
    activity_name: echo
    parameters: {fail_attempts: 1, order: "{{prepare.echo.order}}"}
    settings: {retry: {max_attempts: 1}}
    depends_on: [prepare]
  - {key: ship, activity_name: echo, parameters: {ok: true}, depends_on: [charge]}
`;
const VERSIONED = (extra: string) => `name: versioned
activities:
  - {key: fetch, activity_name: echo, parameters: {url: "https://example.invalid/a"}}
  - {key: store, activity_name: echo, parameters: {${extra}}, depends_on: [fetch]}
`;

// Screenshots go to docs/images when SPINDLE_UI_SCREENSHOTS=1 (to refresh the committed ones), else with the test output.
const shots = process.env.SPINDLE_UI_SCREENSHOTS === "1" ? join(repo, "docs", "images") : join(repo, "ui", "test-results", "screenshots");

let server: Server;
const submit = (definition_name: string, input: unknown = {}) =>
  server.api<{ workflow_id: string }>("POST", "/api/v1/workflows", { definition_name, input }).then((r) => r.workflow_id);

test.beforeAll(async () => {
  test.setTimeout(240_000); // a server start on a busy machine
  server = await startServer({ insecureDev: true });
  for (const yaml of [APPROVAL, FAILS_ONCE, VERSIONED("table: raw"), example("01-hello-chain.yaml"), example("03-if-else.yaml"), example("05-flaky-retry.yaml")]) {
    await server.api("POST", "/api/v1/workflow_definitions", yaml, "application/yaml");
  }
});

test.afterAll(async () => {
  await server?.stop();
});

test("node statuses change live over the run's event stream", async ({ page }) => {
  const foreign = await guardOffline(page);
  const id = await submit("live_approval", { amount: 3 });
  await page.goto(`${server.baseUrl}/ui/runs/${id}`);
  await expect(page.getByTestId("live-state")).toContainText("live");
  await expect(page.getByTestId("node-decide")).toHaveAttribute("data-status", "waiting");
  await expect(page.getByTestId("node-book")).toHaveAttribute("data-status", "not_scheduled");
  const events = await page.getByTestId("event-row").count();

  // The signal comes from outside the page: only the stream can tell it.
  await server.api("POST", `/api/v1/workflows/${id}/signal`, { activity_key: "decide", event_name: "approval", data: { approved: true } });
  await expect(page.getByTestId("node-decide")).toHaveAttribute("data-status", "completed");
  await expect(page.getByTestId("node-book")).toHaveAttribute("data-status", "completed");
  await expect(page.getByRole("heading", { name: /live_approval/ })).toContainText("completed");
  expect(await page.getByTestId("event-row").count()).toBeGreaterThan(events);
  await expect(page.getByTestId("event-row").filter({ hasText: "WorkflowCompleted" })).toHaveCount(1);
  await expect(page.getByTestId("live-state")).toHaveCount(0); // a finished run is no longer followed
  expect(foreign).toEqual([]);
});

test("retry from the failed step, after a confirmation", async ({ page }) => {
  const foreign = await guardOffline(page);
  const id = await submit("fails_once");
  await waitForRun(server, id, ["failed"]);
  await page.goto(`${server.baseUrl}/ui/runs/${id}`);
  await expect(page.getByTestId("node-prepare")).toHaveAttribute("data-status", "completed");
  await expect(page.getByTestId("node-charge")).toHaveAttribute("data-status", "failed");
  await page.getByTestId("node-charge").click();
  await expect(page.getByRole("complementary", { name: "Activity charge" })).toContainText("attempt 1");

  await page.getByRole("button", { name: "Retry failed steps" }).click();
  const dialog = page.getByRole("dialog", { name: "Retry this run?" });
  await dialog.getByRole("button", { name: "Retry" }).click();
  await expect(page.getByRole("heading", { name: /fails_once/ })).toContainText("completed");
  await expect(page.getByTestId("node-charge")).toHaveAttribute("data-status", "completed");
  await expect(page.getByTestId("node-charge")).toContainText("attempt 2");
  await expect(page.getByTestId("node-ship")).toHaveAttribute("data-status", "completed");
  // prepare kept its result: it ran once.
  await expect(page.getByTestId("timeline-row").filter({ hasText: "prepare" })).toHaveCount(1);
  expect(foreign).toEqual([]);
});

test("definitions: versions, a diff between two, and a start refused by the server shows its 422", async ({ page }) => {
  const foreign = await guardOffline(page);
  await server.api("POST", "/api/v1/workflow_definitions", VERSIONED("table: clean, mode: append"), "application/yaml");
  await page.goto(`${server.baseUrl}/ui/definitions`);
  const row = page.getByTestId("definition-row").filter({ hasText: "versioned" });
  await expect(row.getByRole("cell").nth(2)).toHaveText("2");
  await row.getByRole("link", { name: "2" }).click();

  const diff = page.getByTestId("definition-diff");
  await expect(diff).toBeVisible();
  await expect(diff.locator(".diff-del")).toContainText(["table: raw"]);
  await expect(diff.locator(".diff-add")).toContainText(["mode: append"]);
  await expect(diff.locator(".diff-add")).toContainText(["table: clean"]);
  expect(await diff.locator(".diff-add, .diff-del").filter({ hasText: "fetch" }).count()).toBe(0);

  // The older version's graph and YAML.
  const version = page.locator('select[name="version"]');
  expect(await version.locator("option").allTextContents()).toHaveLength(2);
  await version.selectOption({ index: 1 });
  await page.getByRole("tab", { name: "YAML" }).click();
  await expect(page.getByLabel("Definition YAML")).toContainText("table: raw");

  // Invalid JSON never leaves the page; the server's 422 is shown with its field.
  await page.getByLabel("Input (JSON object)").fill("{oops");
  await expect(page.getByRole("button", { name: "Start versioned" })).toBeDisabled();
  await page.getByLabel("Input (JSON object)").fill('{"n": 1}');
  await page.getByLabel(/Unique key/).fill("k".repeat(300));
  await page.getByRole("button", { name: "Start versioned" }).click();
  const error = page.getByRole("alert");
  await expect(error).toContainText("422");
  await expect(error).toContainText("unique_key");
  await page.getByLabel(/Unique key/).fill("");
  await page.getByRole("button", { name: "Start versioned" }).click();
  await expect(page).toHaveURL(/\/ui\/runs\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId("node-store")).toHaveAttribute("data-status", "completed");
  expect(foreign).toEqual([]);
});

test("screenshots of the runs list and a run page", async ({ page }) => {
  mkdirSync(shots, { recursive: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: "light" });
  const ids = [await submit("if_else", { amount: 250 }), await submit("hello_chain", { name: "Ada" }), await submit("flaky_retry"), await submit("if_else", { amount: 20 })];
  ids.push(await submit("fails_once"));
  const waiting = await submit("live_approval", { amount: 12 });
  for (const id of ids) await waitForRun(server, id, ["completed", "failed"]);
  await page.goto(`${server.baseUrl}/ui/runs`);
  await expect(page.getByTitle(waiting)).toBeVisible();
  await expect(page.getByTestId("live-state")).toHaveText("live");
  await page.screenshot({ path: join(shots, "runs-list.png") });

  await page.goto(`${server.baseUrl}/ui/runs/${ids[0]}`);
  await expect(page.getByTestId("node-notify")).toHaveAttribute("data-status", "completed");
  await page.getByTestId("node-manual_review").click();
  await expect(page.getByRole("complementary", { name: "Activity manual_review" })).toBeVisible();
  await page.screenshot({ path: join(shots, "run-page.png"), fullPage: false });
});
