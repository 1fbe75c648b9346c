import { defineConfig } from "@playwright/test";

// Debian's chromium, not a downloaded browser (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 at install time).
const executablePath = process.env.SPINDLE_CHROMIUM ?? "/usr/bin/chromium";

export default defineConfig({
  testDir: "tests",
  globalSetup: "./tests/global-setup.ts",
  // Each file starts its own real `spindle serve`; one worker keeps the shared machine calm.
  workers: 1,
  fullyParallel: false,
  timeout: 90_000,
  expect: { timeout: 20_000 },
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    browserName: "chromium",
    headless: true,
    launchOptions: { executablePath, args: ["--no-sandbox"] },
    trace: "off",
    screenshot: "only-on-failure",
  },
});
