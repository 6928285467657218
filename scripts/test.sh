#!/usr/bin/env bash
# The README's test command and what .ci/run runs: install what the tests need (Debian's
# prometheus for the observability tests, Debian's chromium for the report tests, setpriv for
# the jail's run without capabilities, the Python environment), then pytest. Ray's session
# logs go to a folder of this run's own, so that when pytest dies without a summary (a Ray
# driver exits at once when its raylet or GCS dies) the cause is printed here instead of
# being lost with the machine; the run then resumes with the tests that had not ended
# (tests/progress.py).
# The suite runs in two pytest-xdist workers, a whole test file to each (--dist loadfile: a
# file's module fixtures, e.g. its Ray or Prometheus, are built once): most tests wait on
# processes, servers and Ray rather than compute, so two workers on two cores take about 60 %
# of the serial time. SEIG_TEST_WORKERS=0 runs it in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_prometheus.sh
bash scripts/install_chromium.sh
bash scripts/install_setpriv.sh
python3 -m venv .venv
# pip repeats one warning per package for a mirror folder that this machine lacks: noise
# that would push the test output out of a CI log's tail
.venv/bin/pip install -q -e '.[test]' 2> >(grep -v "^WARNING: Location '" >&2)
own_ray_tmp=""
if [ -z "${RAY_TMPDIR:-}" ]; then
    own_ray_tmp="$(mktemp -d /tmp/seig-tests-ray.XXXXXX)"
    export RAY_TMPDIR="$own_ray_tmp"
fi
progress="$(mktemp /tmp/seig-tests-progress.XXXXXX)"
rc=0
workers="${SEIG_TEST_WORKERS:-2}"
xdist=()
[ "$workers" != "0" ] && xdist=(-n "$workers" --dist loadfile)
SEIG_TEST_PROGRESS="$progress" .venv/bin/python -m pytest -q "${xdist[@]}" "$@" || rc=$?
if [ "$rc" -ne 0 ]; then
    bash scripts/diagnose_test_run.sh "$RAY_TMPDIR" || true
fi
if [ "$rc" -ne 0 ] && grep -qx finished "$progress" && ! grep -q "^failed" "$progress" \
        && grep -q "^crashed" "$progress"; then
    # every failure was a worker that died (see tests/progress.py): those tests once more, alone
    mapfile -t crashed < <(grep "^crashed" "$progress" | cut -f2 | sort -u)
    printf 'a test worker died while running:\n%s\nrunning these once more\n' "${crashed[@]}"
    rc=0
    .venv/bin/python -m pytest -q "${crashed[@]}" || rc=$?
fi
if [ "$rc" -ne 0 ] && ! grep -qx finished "$progress"; then
    # pytest died without its summary (see tests/progress.py): name what had failed, then run
    # once more every test that had not ended, starting with the one that was running
    ended=$(grep -c "^ended" "$progress" || true)
    failed=$(grep "^failed" "$progress" | cut -f2 | sort -u || true)
    echo "pytest died (exit $rc) after $ended tests had ended; resuming with the rest"
    [ -n "$failed" ] && printf 'failed before it died:\n%s\n' "$failed"
    rc=0
    SEIG_TEST_RESUME_FROM="$progress" .venv/bin/python -m pytest -q "${xdist[@]}" "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then
        bash scripts/diagnose_test_run.sh "$RAY_TMPDIR" || true
    fi
    [ -n "$failed" ] && [ "$rc" -eq 0 ] && rc=1
fi
rm -f "$progress"
# a passing run leaves nothing behind; a failing one keeps Ray's logs for a closer look
if [ "$rc" -eq 0 ] && [ -n "$own_ray_tmp" ]; then
    rm -rf "$own_ray_tmp"
else
    echo "Ray's logs: $RAY_TMPDIR"
fi
exit "$rc"
