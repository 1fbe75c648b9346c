#!/usr/bin/env bash
# Installs what Spindle's tests and examples need beyond the .NET SDK: PostgreSQL (for postgres_* activities and
# the PostgreSQL backend), Debian's Python packages (Python SDK, template test generator), bubblewrap (py-std's
# script sandbox), Node.js/npm (the web UI's build) and Chromium (the web UI's browser tests). Before installing,
# it prints each missing package and why it is needed; when nothing is missing it prints nothing.
set -euo pipefail
need=()
why=()
# missing PACKAGE REASON: records a Debian package to install and the reason shown before installing it.
missing() { need+=("$1"); why+=("$2"); }
has_module() { /usr/bin/python3 -c "import $1" >/dev/null 2>&1; }

command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 \
  || missing postgresql "PostgreSQL server for the storage, cluster and postgres_* activity tests"
has_module jinja2 || missing python3-jinja2 "Jinja2 for the template test generator"
has_module pytest || missing python3-pytest "pytest to run the Python SDK tests (sdk/python)"
has_module hypothesis || missing python3-hypothesis "Hypothesis for the API fuzz test (sdk/python/tests/test_fuzz_api.py)"
# Python SDK (sdk/python) and its py-std worker's script packages; PyPI is not needed on Debian.
has_module httpx || missing python3-httpx "httpx, the Python SDK's HTTP client"
has_module yaml || missing python3-yaml "PyYAML, the Python SDK's workflow definition reader"
has_module numpy || missing python3-numpy "NumPy for py-std worker scripts"
has_module pandas || missing python3-pandas "pandas for py-std worker scripts"
has_module sklearn || missing python3-sklearn "scikit-learn for py-std worker scripts"
command -v bwrap >/dev/null 2>&1 || missing bubblewrap "bubblewrap, the py-std worker's script sandbox (its tests check the isolation)"
# The web UI (ui/) is built with npm from its lock file during `dotnet build`, and tested in a real headless Chromium.
command -v node >/dev/null 2>&1 || missing nodejs "Node.js to build the web UI (ui/, embedded in the server by dotnet build)"
command -v npm >/dev/null 2>&1 || missing npm "npm to install the web UI's locked packages (ui/package-lock.json)"
[[ -x /usr/bin/chromium ]] || missing chromium "Chromium, the headless browser the web UI tests (ui/tests, Playwright) drive"

if (( ${#need[@]} )); then
  echo "setup: these Debian packages are missing and will be installed with apt-get:" >&2
  for i in "${!need[@]}"; do
    echo "  ${need[$i]}: ${why[$i]}" >&2
  done
  if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
