import { expect, guardOffline, startServer, test, waitForRun, type Server } from "./support";

// A map behind a gate (a signal), so the page is open before any item runs: "bad" fails its only attempt and
// continue_on_failure lets the map complete anyway.
const MAP = `name: ui_map
activities:
  - key: gate
    activity_name: echo
    parameters: {go: true}
    settings:
      wait_for_signal: {event_name: go}
  - key: shout
    activity_name: echo
    for_each: "{{INPUT.words}}"
    continue_on_failure: true
    parameters: {word: "{{ITEM}}", fail_attempts: "{{ 9 if ITEM == 'bad' else none }}"}
    settings: {retry: {max_attempts: 1}}
    depends_on: [gate]
  - key: report
    activity_name: echo
    parameters: {done: "{{shout.map.completed}} of {{shout.map.total}}"}
    depends_on: [shout]
`;

// A child that waits for a signal (so the parent is seen while its child runs), and a plain one for a map.
const CHILD_GATED = `name: ui_child_gated
activities:
  - key: hold
    activity_name: echo
    parameters: {who: "{{INPUT.who}}"}
    settings:
      wait_for_signal: {event_name: go}
`;
const CHILD = `name: ui_child
activities:
  - key: greet
    activity_name: echo
    parameters: {hello: "{{INPUT.who}}"}
`;
const PARENT = `name: ui_parent
activities:
  - key: one
    workflow: ui_child_gated
    input: {who: world}
  - key: many
    workflow: ui_child
    for_each: [ann, bob]
    input: {who: "{{ITEM}}"}
  - key: after
    activity_name: echo
    parameters: {x: "{{one.hold.echo.who}}", names: "{{many.greet}}"}
    depends_on: [one, many]
`;

let server: Server;

test.beforeAll(async () => {
  test.setTimeout(240_000); // a server start on a busy machine
  server = await startServer({ insecureDev: true });
  for (const yaml of [MAP, CHILD_GATED, CHILD, PARENT]) await server.api("POST", "/api/v1/workflow_definitions", yaml, "application/yaml");
});

test.afterAll(async () => {
  await server?.stop();
});

async function submit(definition_name: string, input: Record<string, unknown> = {}): Promise<string> {
  return (await server.api<{ workflow_id: string }>("POST", "/api/v1/workflows", { definition_name, input })).workflow_id;
}

async function signal(id: string, activity_key: string): Promise<void> {
  await server.api("POST", `/api/v1/workflows/${id}/signal`, { activity_key, event_name: "go", data: {} });
}

test("a map's node shows its progress live, and selecting it lists its items with the failed one marked", async ({ page }) => {
  const foreign = await guardOffline(page);
  const id = await submit("ui_map", { words: ["alpha", "beta", "bad", "delta"] });
  await page.goto(`${server.baseUrl}/ui/runs/${id}`);
  await expect(page.getByTestId("node-gate")).toHaveAttribute("data-status", "waiting");
  await expect(page.getByTestId("node-shout")).toContainText("echo · for each");
  await page.getByTestId("node-shout").click();
  const panel = page.getByRole("complementary", { name: "Activity shout" });
  await expect(panel.getByText("The map has no items (yet).")).toBeVisible();

  // The page follows the run: the items run and the node and the panel catch up without a reload.
  await signal(id, "gate");
  await expect(page.getByTestId("map-progress-shout")).toHaveText("4/4 done · 1 failed");
  await expect(page.getByRole("heading", { name: /ui_map/ })).toContainText("completed");
  await expect(panel.getByTestId("map-progress")).toContainText("4/4 done · 1 failed");
  const rows = panel.getByTestId("map-item");
  await expect(rows).toHaveCount(4);
  await expect(rows.nth(0)).toContainText("alpha");
  await expect(rows.nth(0)).toHaveAttribute("data-status", "completed");
  await expect(rows.nth(2)).toHaveAttribute("data-status", "failed");
  await expect(rows.nth(2)).toHaveClass(/item-failed/);
  await expect(panel.locator("tr.item-failed")).toHaveCount(1);

  // The failure is listed once the map finished; following it opens the item with its error.
  await panel.getByTestId("map-failures").getByRole("button", { name: "#2" }).click();
  await expect(panel.getByRole("button", { name: "Item 2, failed" })).toHaveAttribute("aria-expanded", "true");
  await expect(panel.getByRole("status").filter({ hasText: "ECHO_FLAKY" })).toBeVisible();
  // A completed item opens to its output, from the keyboard too.
  await panel.getByRole("button", { name: "Item 0", exact: true }).focus();
  await page.keyboard.press("Enter");
  await expect(panel.getByLabel("shout[0]-echo")).toContainText('"word": "alpha"');
  await expect(page.getByTestId("node-report")).toHaveAttribute("data-status", "completed");
  await expect(page.getByTestId("timeline-row").filter({ hasText: "shout[2]" })).toHaveCount(1); // a short map: a bar per item
  await expect(page.locator(".react-flow__edge")).toHaveCount(2); // the taller node keeps its edges
  // An item's event selects its map.
  await page.getByRole("button", { name: "Back to the activity list" }).click();
  await page.getByTestId("event-row").filter({ hasText: "ActivityFailed" }).getByRole("button", { name: "shout[2]" }).click();
  await expect(panel.getByTestId("map-item")).toHaveCount(4);
  expect(foreign).toEqual([]);
});

test("a map with more items than a page is paged", async ({ page }) => {
  const foreign = await guardOffline(page);
  const words = Array.from({ length: 60 }, (_, i) => `w${i}`);
  const id = await submit("ui_map", { words });
  await signal(id, "gate");
  await waitForRun(server, id, ["completed"]);
  await page.goto(`${server.baseUrl}/ui/runs/${id}`);
  await expect(page.getByTestId("map-progress-shout")).toHaveText("60/60 done");
  await page.getByRole("complementary", { name: "Activities" }).getByRole("button", { name: "shout" }).click();
  const panel = page.getByRole("complementary", { name: "Activity shout" });
  const rows = panel.getByTestId("map-item");
  await expect(rows).toHaveCount(50);
  await expect(panel.getByText("1–50 of 60")).toBeVisible();
  await expect(panel.getByRole("button", { name: "Previous" })).toBeDisabled();
  await panel.getByRole("button", { name: "Next" }).click();
  await expect(rows).toHaveCount(10);
  await expect(rows.nth(0)).toContainText("w50");
  await expect(panel.getByText("51–60 of 60")).toBeVisible();
  await expect(panel.getByRole("button", { name: "Next" })).toBeDisabled();
  // The timeline folds a long map's items into one bar instead of 60 (next to the map's own and the other two).
  await expect(page.getByTestId("timeline-row")).toHaveCount(4);
  await expect(page.getByTestId("timeline-row").filter({ hasText: "shout: 60 item attempts" })).toHaveCount(1);
  expect(foreign).toEqual([]);
});

test("a parent links its child runs (live), a child links back to its parent, and map items link their runs", async ({ page }) => {
  const foreign = await guardOffline(page);
  const id = await submit("ui_parent");
  await page.goto(`${server.baseUrl}/ui/runs/${id}`);
  const children = page.getByRole("table", { name: "Child runs" }).getByTestId("child-row");
  await expect(children).toHaveCount(3);
  await expect(children.filter({ hasText: "ui_child_gated" })).toContainText("running");
  await expect(page.getByTestId("node-one")).toContainText("→ ui_child_gated");
  await expect(page.getByTestId("map-progress-many")).toHaveText("2/2 done");

  // The node of a workflow: activity links to its child run; the child's page links back.
  await page.getByRole("link", { name: "Child run of one" }).click();
  await expect(page.getByRole("heading", { name: /ui_child_gated/ })).toBeVisible();
  const childId = new URL(page.url()).pathname.split("/").pop()!;
  expect(childId).not.toBe(id);
  await expect(page.getByTestId("node-hold")).toHaveAttribute("data-status", "waiting");
  await expect(page.getByTestId("parent-link")).toHaveText("ui_parent");
  await expect(page.getByText("activity one")).toBeVisible();
  await page.getByTestId("parent-link").click();
  await expect(page).toHaveURL(new RegExp(`/ui/runs/${id}$`));

  // The child finishes while the parent's page is open: its row, the node and the run follow.
  await signal(childId, "hold");
  await expect(children.filter({ hasText: "ui_child_gated" })).toContainText("completed");
  await expect(page.getByRole("heading", { name: /ui_parent/ })).toContainText("completed");
  await expect(page.getByTestId("node-one")).toHaveAttribute("data-status", "completed");

  // A map of sub-workflows links each item to its child run.
  await page.getByTestId("node-many").click();
  const panel = page.getByRole("complementary", { name: "Activity many" });
  await expect(panel.getByTestId("map-item")).toHaveCount(2);
  await panel.getByRole("link", { name: "Child run of item 1" }).click();
  await expect(page.getByRole("heading", { name: /ui_child/ })).toBeVisible();
  await expect(page.getByRole("complementary", { name: "Activities" })).toBeVisible(); // a new page, nothing selected
  await expect(page.getByTestId("parent-link")).toHaveText("ui_parent");
  await expect(page.getByText("activity many[1]")).toBeVisible();
  await page.getByTestId("node-greet").click();
  await expect(page.getByLabel("greet-echo")).toContainText('"hello": "bob"');
  expect(foreign).toEqual([]);
});

test("a map's run page with an item open fits 390 px wide, light and dark", async ({ page }) => {
  const id = await submit("ui_map", { words: ["alpha", "bad"] });
  await signal(id, "gate");
  await waitForRun(server, id, ["completed"]);
  await page.setViewportSize({ width: 390, height: 844 });
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.goto(`${server.baseUrl}/ui/runs/${id}`);
    await page.getByRole("complementary", { name: "Activities" }).getByRole("button", { name: "shout" }).click();
    await page.getByRole("button", { name: "Item 1, failed" }).click();
    await expect(page.getByRole("status").filter({ hasText: "ECHO_FLAKY" })).toBeVisible();
    await expect(page.getByTestId("event-row").first()).toBeVisible();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `${scheme} at 390 px`).toBeLessThanOrEqual(0);
  }
});
