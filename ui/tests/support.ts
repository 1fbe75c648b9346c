import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test as base, type Page } from "@playwright/test";

export const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface Server {
  baseUrl: string;
  dataDir: string;
  /** The admin credential the server wrote into its data directory. */
  admin(): { client_id: string; client_secret: string };
  /** Calls the REST API (with the admin credential's token unless the server is insecure-dev). */
  api<T = unknown>(method: string, path: string, body?: unknown, contentType?: string): Promise<T>;
  stop(): Promise<void>;
}

/** Starts a real `spindle serve` (the repository's ./spindle launcher) on a free loopback port and a fresh data dir. */
export async function startServer(options: { insecureDev: boolean }): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), "spindle-ui-test-"));
  const args = ["serve", "--port", "0", "--data-dir", dataDir, "--worker-concurrency", "4", ...(options.insecureDev ? ["--insecure-dev"] : [])];
  const child: ChildProcess = spawn(join(repo, "spindle"), args, { cwd: repo, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SPINDLE_PORT: "", SPINDLE_DATA_DIR: "" } });
  let output = "";
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("spindle serve did not start in 180 s:\n" + output)), 180_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ""));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`spindle serve exited with ${code}:\n${output}`));
    });
  });
  let token: string | null = null;
  const admin = () => JSON.parse(readFileSync(join(dataDir, "admin-credentials.json"), "utf8")) as { client_id: string; client_secret: string };
  const server: Server = {
    baseUrl,
    dataDir,
    admin,
    async api<T>(method: string, path: string, body?: unknown, contentType = "application/json") {
      const headers: Record<string, string> = { "content-type": contentType };
      if (!options.insecureDev) {
        if (!token) {
          const { client_id, client_secret } = admin();
          // The token request is always JSON, whatever the first call's content type is.
          const r = await fetch(`${baseUrl}/api/v1/oauth/token`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ grant_type: "client_credentials", client_id, client_secret }) });
          token = ((await r.json()) as { access_token: string }).access_token;
        }
        headers.authorization = `Bearer ${token}`;
      }
      const response = await fetch(baseUrl + path, { method, headers, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
      return (text ? JSON.parse(text) : null) as T;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

export function example(name: string): string {
  return readFileSync(join(repo, "examples", name), "utf8");
}

/** Waits (through the API) until a run reaches one of the statuses. */
export async function waitForRun(server: Server, id: string, statuses: string[]): Promise<{ status: string }> {
  for (;;) {
    const run = await server.api<{ status: string }>("GET", `/api/v1/workflows/${id}?wait_seconds=5`);
    if (statuses.includes(run.status)) return run;
  }
}

/**
 * Fails the test on any request to a host other than the loopback server (the UI must work offline), and
 * records such attempts for the assertion.
 */
export async function guardOffline(page: Page): Promise<string[]> {
  const foreign: string[] = [];
  await page.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === "data:" || url.protocol === "blob:" || url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]") {
      return route.continue();
    }
    foreign.push(url.href);
    return route.abort();
  });
  return foreign;
}

export const test = base;
export { expect };
