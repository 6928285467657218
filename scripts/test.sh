#!/usr/bin/env bash
# The README's test command and what .ci/run runs: install what the tests need (Debian's
# prometheus for the observability tests, Debian's chromium for the report tests, the Python
# environment), then pytest. Ray's session logs go to a folder of this run's own, so that when
# pytest dies without a summary (a Ray driver exits at once when its raylet or GCS dies) the
# cause is printed here instead of being lost with the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_prometheus.sh
bash scripts/install_chromium.sh
python3 -m venv .venv
# pip repeats one warning per package for a mirror folder that this machine lacks: noise
# that would push the test output out of a CI log's tail
.venv/bin/pip install -q -e '.[test]' 2> >(grep -v "^WARNING: Location '" >&2)
export RAY_TMPDIR="${RAY_TMPDIR:-$(mktemp -d /tmp/seig-tests-ray.XXXXXX)}"
rc=0
.venv/bin/python -m pytest -q "$@" || rc=$?
if [ "$rc" -ne 0 ]; then
    bash scripts/diagnose_test_run.sh "$RAY_TMPDIR" || true
fi
exit "$rc"
