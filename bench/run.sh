#!/usr/bin/env bash
# Redirect benchmark: GET /r/<code> vs a bare 302 on one gunicorn server. See bench/README.md.
# All options go to bench/redirect.py (--help for the list).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
    echo "wrk is missing: apt-get update && apt-get install -y wrk" >&2
    exit 2
fi
exec .venv/bin/python bench/redirect.py "$@"
