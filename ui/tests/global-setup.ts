import { execFileSync } from "node:child_process";
import { repo } from "./support";

/** Builds the CLI once (the ./spindle launcher builds it when sources changed), so each server then starts quickly. */
export default function globalSetup(): void {
  execFileSync(`${repo}/spindle`, ["--version"], { stdio: "inherit", timeout: 1_200_000 });
}
