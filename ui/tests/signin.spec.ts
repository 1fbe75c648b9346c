import { execFileSync } from "node:child_process";
import { expect, guardOffline, repo, startServer, test, type Server } from "./support";

let server: Server;

test.beforeAll(async () => {
  test.setTimeout(240_000); // a server start on a busy machine
  server = await startServer({ insecureDev: false });
});

test.afterAll(async () => {
  await server?.stop();
});

test("sign-in takes a client id and secret, keeps the token in session storage only, and signs out", async ({ page, context }) => {
  const foreign = await guardOffline(page);
  await page.goto(`${server.baseUrl}/ui/runs`);
  await expect(page.getByRole("heading", { name: "Sign in to Spindle" })).toBeVisible();

  const { client_id, client_secret } = server.admin();
  await page.getByLabel("Client id").fill(client_id);
  await page.getByLabel("Client secret").fill("wrong-secret");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("401");

  await page.getByLabel("Client secret").fill(client_secret);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Runs" })).toBeVisible();
  await expect(page.getByText("No runs match.")).toBeVisible();
  // The event stream takes the token in its Authorization header (fetch), never in the URL.
  const streamed = page.waitForRequest((r) => r.url().includes("/api/v1/events/stream"));
  await page.reload();
  const stream = await streamed;
  expect((await stream.allHeaders())["authorization"]).toMatch(/^Bearer ey/);
  expect(stream.url()).not.toContain("token");
  await expect(page.getByTestId("live-state")).toHaveText("live");

  const stored = await page.evaluate(() => ({ session: sessionStorage.getItem("spindle.token"), local: localStorage.length }));
  expect(stored.session).toMatch(/^ey/);
  expect(stored.local).toBe(0);
  expect(await context.cookies()).toEqual([]);
  expect(page.url()).not.toContain(stored.session!);

  // A reload keeps the session (same tab); signing out forgets the token.
  await page.reload();
  await expect(page.getByRole("heading", { name: "Runs" })).toBeVisible();
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Sign in to Spindle" })).toBeVisible();
  expect(await page.evaluate(() => sessionStorage.getItem("spindle.token"))).toBeNull();
  expect(foreign).toEqual([]);
});

test("a sign-in link's token is taken from the fragment and removed from the address bar", async ({ page }) => {
  const foreign = await guardOffline(page);
  const { client_id, client_secret } = await server.api<{ client_id: string; client_secret: string }>("POST", "/api/v1/clients", { name: "ui-link", scopes: ["workflows"] });
  const response = await fetch(`${server.baseUrl}/api/v1/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ grant_type: "client_credentials", client_id, client_secret }),
  });
  const { access_token } = (await response.json()) as { access_token: string };
  await page.goto(`${server.baseUrl}/ui/definitions#token=${access_token}`);
  await expect(page.getByRole("heading", { name: "Definitions" })).toBeVisible();
  expect(page.url()).toBe(`${server.baseUrl}/ui/definitions`);
  await expect(page.getByTitle("Scopes of this session")).toHaveText("workflows");
  expect(foreign).toEqual([]);
});

test("`spindle ui` prints a one-time sign-in link that signs in once and is refused the second time", async ({ page, browser }) => {
  const foreign = await guardOffline(page);
  const output = execFileSync(`${repo}/spindle`, ["ui", "--no-browser", "--api-url", server.baseUrl, "--data-dir", server.dataDir], {
    encoding: "utf8",
    env: { ...process.env, SPINDLE_CLIENT_ID: "", SPINDLE_CLIENT_SECRET: "", DISPLAY: "", WAYLAND_DISPLAY: "" },
  });
  const url = /(http:\/\/\S+#code=\S+)/.exec(output)?.[1];
  expect(url, output).toBeTruthy();
  await page.goto(url!);
  await expect(page.getByRole("heading", { name: "Runs" })).toBeVisible();
  expect(page.url()).toBe(`${server.baseUrl}/ui/runs`);
  await expect(page.getByTitle("Scopes of this session")).toHaveText("admin");

  const other = await browser.newPage();
  await guardOffline(other);
  await other.goto(url!);
  await expect(other.getByRole("heading", { name: "Sign in to Spindle" })).toBeVisible();
  await expect(other.getByRole("alert")).toContainText("already used");
  await other.close();
  expect(foreign).toEqual([]);
});

test("an API route without a token is refused, while the UI shell itself is public", async ({ request }) => {
  expect((await request.get(`${server.baseUrl}/api/v1/workflows`)).status()).toBe(401);
  expect((await request.get(`${server.baseUrl}/ui/`)).status()).toBe(200);
});
