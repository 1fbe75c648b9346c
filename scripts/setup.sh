#!/usr/bin/env bash
# Installs what Spindle's tests and examples need beyond the .NET SDK: PostgreSQL (for postgres_* activities and
# the PostgreSQL backend), Debian's Python packages (Python SDK, template test generator) and bubblewrap (py-std's
# script sandbox).
set -euo pipefail
need=()
command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
/usr/bin/python3 -c 'import jinja2' >/dev/null 2>&1 || need+=(python3-jinja2)
/usr/bin/python3 -c 'import pytest' >/dev/null 2>&1 || need+=(python3-pytest)
# The API fuzz test (sdk/python/tests/test_fuzz_api.py) generates its requests with Hypothesis.
/usr/bin/python3 -c 'import hypothesis' >/dev/null 2>&1 || need+=(python3-hypothesis)
# Python SDK (sdk/python) and its py-std worker's script packages; PyPI is not needed on Debian.
/usr/bin/python3 -c 'import httpx' >/dev/null 2>&1 || need+=(python3-httpx)
/usr/bin/python3 -c 'import yaml' >/dev/null 2>&1 || need+=(python3-yaml)
/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1 || need+=(python3-numpy)
/usr/bin/python3 -c 'import pandas' >/dev/null 2>&1 || need+=(python3-pandas)
/usr/bin/python3 -c 'import sklearn' >/dev/null 2>&1 || need+=(python3-sklearn)
# The py-std worker runs each script interpreter in a bubblewrap sandbox (its tests check the isolation).
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
if (( ${#need[@]} )); then
  echo "setup: installing ${need[*]} with apt-get" >&2
  if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
