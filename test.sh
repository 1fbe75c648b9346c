#!/usr/bin/env bash
# Runs every test of the repository (xunit, then pytest and the web UI's browser tests when present) and ends with one line "N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
unset SPINDLE_BUILD_SLOT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# Installs missing Debian packages (PostgreSQL, Python test packages, bubblewrap, Node.js, Chromium), listing each and why first.
./scripts/setup.sh || { echo "test: setup failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0; status=0
log="$(mktemp)"

# Build once up front (also the ./spindle launcher's CLI, which the process-level tests start).
if ! dotnet build Spindle.sln -nologo -v quiet -clp:ErrorsOnly; then
  echo "0 passed, 1 failed"; exit 1
fi
./spindle --version >/dev/null || { echo "0 passed, 1 failed"; exit 1; }

dotnet test Spindle.sln --no-build -nologo -v quiet --logger "console;verbosity=minimal" 2>&1 | tee "$log"
[[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
while read -r p f; do
  passed=$((passed + p)); failed=$((failed + f))
done < <(sed -nE 's/.*Failed: +([0-9]+), Passed: +([0-9]+),.*/\2 \1/p' "$log")

if [[ -d sdk/python/tests ]]; then
  (cd sdk/python && /usr/bin/python3 -m pytest -q -p no:cacheprovider tests) 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  [[ $rc -eq 0 || $rc -eq 5 ]] || status=1
  p=$(grep -oE '[0-9]+ passed' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
  f=$(grep -oE '[0-9]+ (failed|error)' "$log" | awk '{s+=$1} END {print s+0}')
  passed=$((passed + p)); failed=$((failed + f))
fi
# The web UI in a real headless Chromium (Debian's) against real `spindle serve` processes: ui/tests, Playwright.
if [[ -d ui/tests ]]; then
  (cd ui && { [[ -d node_modules ]] || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error; } \
    && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npx playwright test) 2>&1 | tee "$log"
  [[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
  p=$(grep -oE '^ +[0-9]+ passed' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
  f=$(grep -oE '^ +[0-9]+ (failed|flaky)' "$log" | awk '{s+=$1} END {print s+0}')
  passed=$((passed + p)); failed=$((failed + f))
fi
rm -f "$log"

# Formatting (.editorconfig: whitespace, usings, and the style rules set to warning): one check over the solution
# and the standalone benchmark driver (bench/ is not in Spindle.sln).
fmt_log="${TMPDIR:-/tmp}/spindle-format.log"
if dotnet format Spindle.sln --verify-no-changes -v q >"$fmt_log" 2>&1 \
  && dotnet format bench/Spindle.Bench/Spindle.Bench.csproj --verify-no-changes -v q >>"$fmt_log" 2>&1; then
  passed=$((passed + 1)); echo "format: passed"
else
  failed=$((failed + 1)); status=1
  grep -oE "$root/[^ (]+\.cs\(" "$fmt_log" | sed -e "s|^$root/||" -e "s/($//" | sort -u
  echo "format: FAILED (run: dotnet format Spindle.sln; dotnet format bench/Spindle.Bench/Spindle.Bench.csproj)"
fi

# Benchmark harness smoke run (a few seconds, Spindle on SQLite, tiny N): one check, so the harness cannot rot.
if bench/run.sh --smoke >"${TMPDIR:-/tmp}/spindle-bench-smoke.log" 2>&1; then
  passed=$((passed + 1)); echo "bench smoke: passed"
else
  failed=$((failed + 1)); status=1
  tail -40 "${TMPDIR:-/tmp}/spindle-bench-smoke.log"; echo "bench smoke: FAILED"
fi

if [[ $status -ne 0 && $failed -eq 0 ]]; then failed=1; fi
echo "$passed passed, $failed failed"
exit $status
