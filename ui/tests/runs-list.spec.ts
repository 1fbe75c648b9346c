import { example, expect, guardOffline, startServer, test, waitForRun, type Server } from "./support";

// Routed to a worker that never comes: its runs stay queued, so hundreds of them cost the machine nothing.
const PARKED = `name: parked
activities:
  - {key: wait_here, worker: nobody_polls_this, activity_name: echo}
`;
const PARKED_RUNS = 520;

let server: Server;
const submit = (definition_name: string, input: unknown = {}) =>
  server.api<{ workflow_id: string }>("POST", "/api/v1/workflows", { definition_name, input }).then((r) => r.workflow_id);

test.beforeAll(async () => {
  test.setTimeout(300_000); // a server start on a busy machine, then the runs
  server = await startServer({ insecureDev: true });
  await server.api("POST", "/api/v1/workflow_definitions", PARKED, "application/yaml");
  await server.api("POST", "/api/v1/workflow_definitions", example("01-hello-chain.yaml"), "application/yaml");
  for (let i = 0; i < PARKED_RUNS; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, PARKED_RUNS - i) }, () => submit("parked")));
  }
});

test.afterAll(async () => {
  await server?.stop();
});

async function rowIds(page: import("@playwright/test").Page): Promise<string[]> {
  return page.getByTestId("run-row").locator("a.mono").evaluateAll((links) => links.map((a) => a.getAttribute("title") ?? ""));
}

test("keyset paging: Older and Newer walk pages without repeats while runs are added, the cursor kept in the URL", async ({ page }) => {
  const foreign = await guardOffline(page);
  await page.goto(`${server.baseUrl}/ui/runs?definition=parked`);
  await expect(page.getByTestId("run-row")).toHaveCount(50);
  await expect(page.getByText(`50 shown of ${PARKED_RUNS} runs`)).toBeVisible();
  await expect(page.getByRole("button", { name: "Newer" })).toBeDisabled();
  const first = await rowIds(page);

  await page.getByRole("button", { name: "Older" }).click();
  await expect(page).toHaveURL(/cursor=/);
  await expect(page.getByTestId("run-row").first()).not.toHaveAttribute("aria-label", new RegExp(first[0]));
  const second = await rowIds(page);
  expect(second).toHaveLength(50);
  expect(second.filter((id) => first.includes(id))).toEqual([]);

  // A run added now goes on top: the pages around the cursor do not move.
  const added = await submit("parked");
  await page.getByRole("button", { name: "Older" }).click();
  await expect(page.getByTestId("run-row").first()).not.toHaveAttribute("aria-label", new RegExp(second[0]));
  const third = await rowIds(page);
  expect(third.filter((id) => first.includes(id) || second.includes(id))).toEqual([]);
  await page.getByRole("button", { name: "Newer" }).click();
  await expect(page.getByTestId("run-row").first()).toHaveAttribute("aria-label", new RegExp(second[0]));
  expect(await rowIds(page)).toEqual(second);
  // Back, by the browser's history: the page was a new history entry.
  await page.goBack();
  await expect(page.getByTestId("run-row").first()).toHaveAttribute("aria-label", new RegExp(third[0]));

  await page.getByRole("button", { name: "Newest" }).click();
  await expect(page.getByTitle(added)).toBeVisible();
  expect(new URL(page.url()).searchParams.get("cursor")).toBeNull();
  expect(foreign).toEqual([]);
});

test("search by the start of a run id and filter by schedule, both kept in the URL", async ({ page }) => {
  const foreign = await guardOffline(page);
  const target = await submit("hello_chain", { name: "Search" });
  await waitForRun(server, target, ["completed"]);
  const schedule = await server.api<{ id: string }>("POST", "/api/v1/schedules", { name: "ui_hourly", definition_name: "hello_chain", interval_seconds: 3600, input: { name: "Sched" } });
  const triggered = await server.api<{ workflow_id: string }>("POST", `/api/v1/schedules/${schedule.id}/trigger`, {});

  await page.goto(`${server.baseUrl}/ui/runs`);
  const prefix = target.slice(0, 23); // UUIDv7: the time part, then random digits
  await page.getByLabel("Run id").fill(prefix);
  await page.getByRole("button", { name: "Open" }).click();
  await expect(page).toHaveURL(new RegExp(`id=${prefix}`));
  await expect(page.getByTestId("run-row")).toHaveCount(1);
  await expect(page.getByTestId("run-row")).toContainText("hello_chain");
  await expect(page.getByTestId("run-row")).toContainText("completed");
  await page.getByRole("button", { name: "Clear filters" }).click();

  await page.getByLabel("Schedule id").fill(schedule.id);
  await page.getByLabel("Schedule id").press("Enter");
  await expect(page).toHaveURL(new RegExp(`schedule=${schedule.id}`));
  await expect(page.getByTestId("run-row")).toHaveCount(1);
  await expect(page.getByTitle(triggered.workflow_id)).toBeVisible();
  await expect(page.getByTestId("run-row").getByRole("button", { name: /…/ })).toBeVisible(); // the schedule column

  // A shared link opens the same view.
  await page.goto(`${server.baseUrl}/ui/runs?id=${prefix}&status=completed`);
  await expect(page.getByTestId("run-row")).toHaveCount(1);
  await expect(page.getByLabel("Status")).toHaveValue("completed");
  expect(foreign).toEqual([]);
});

test("the list follows the server's event stream: a new run appears and its status changes without a reload", async ({ page }) => {
  const foreign = await guardOffline(page);
  await page.goto(`${server.baseUrl}/ui/runs?definition=hello_chain`);
  await expect(page.getByTestId("live-state")).toHaveText("live");
  const id = await submit("hello_chain", { name: "Live" });
  const row = page.getByTestId("run-row").filter({ has: page.getByTitle(id) });
  await expect(row).toBeVisible();
  await expect(row).toHaveAttribute("data-status", "completed");
  expect(foreign).toEqual([]);
});

test("keyboard: Tab reaches the rows, Enter on a row opens its run", async ({ page }) => {
  await page.goto(`${server.baseUrl}/ui/runs?definition=hello_chain`);
  await expect(page.getByTestId("run-row").first()).toBeVisible();
  await page.getByLabel("Per page").focus();
  let onRow = false;
  for (let i = 0; i < 12 && !onRow; i++) {
    await page.keyboard.press("Tab");
    onRow = await page.evaluate(() => document.activeElement?.getAttribute("data-testid") === "run-row");
  }
  expect(onRow).toBe(true);
  const label = await page.evaluate(() => document.activeElement!.getAttribute("aria-label")!);
  const id = /run ([0-9a-f-]{36})/.exec(label)![1];
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(new RegExp(`/ui/runs/${id}$`));
  await expect(page.getByRole("heading", { name: /hello_chain/ })).toBeVisible();
});

test("a page of 500 runs renders in under 300 ms", async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  // The best of three loads: the machine is shared, and one descheduling should not decide the result.
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    await page.goto(`${server.baseUrl}/ui/runs?definition=parked&limit=500`);
    await expect(page.getByTestId("run-row")).toHaveCount(500);
    // From the answer's arrival to the committed DOM of the first render of the 500 rows.
    const render = await page.evaluate(() => performance.getEntriesByName("runs:render").map((e) => e.duration));
    expect(render.length).toBeGreaterThan(0);
    times.push(render[0]);
  }
  const ms = Math.min(...times);
  test.info().annotations.push({ type: "render-500-ms", description: times.map((t) => t.toFixed(1)).join(", ") });
  console.log(`runs list: 500 rows rendered in ${times.map((t) => t.toFixed(1)).join(", ")} ms (best ${ms.toFixed(1)})`);
  expect(ms).toBeLessThan(300);
});

for (const scheme of ["light", "dark"] as const) {
  test(`no horizontal overflow at 1280x800 and 390 px wide, ${scheme} scheme`, async ({ page }) => {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [width, height] of [[1280, 800], [390, 844]]) {
      await page.setViewportSize({ width, height });
      for (const path of ["/ui/runs?definition=hello_chain", "/ui/definitions/hello_chain"]) {
        await page.goto(server.baseUrl + path);
        await expect(page.locator("main h1")).toBeVisible();
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        expect(overflow, `${path} at ${width}px`).toBeLessThanOrEqual(0);
      }
    }
    const background = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    const foreground = await page.evaluate(() => getComputedStyle(document.documentElement).color);
    const lum = (rgb: string) => rgb.match(/\d+/g)!.slice(0, 3).map(Number).reduce((a, b) => a + b, 0) / 3;
    // Readable: dark text on light, light text on dark, far apart.
    if (scheme === "dark") expect(lum(background)).toBeLessThan(60);
    else expect(lum(background)).toBeGreaterThan(200);
    expect(Math.abs(lum(background) - lum(foreground))).toBeGreaterThan(150);
  });
}
