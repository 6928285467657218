#!/usr/bin/env bash
# After a failed test run: a short account of why, from Ray's logs and the kernel. Kept under
# a few kB so that it stays in the tail of a CI log. Usage: diagnose_test_run.sh RAY_TMPDIR
ray_tmp="${1:?usage: diagnose_test_run.sh RAY_TMPDIR}"
echo "=== diagnosis of the failed test run (Ray logs under $ray_tmp) ==="
free -m 2>/dev/null | head -3
df -h /tmp 2>/dev/null | tail -1
for session in "$ray_tmp"/ray/session_2*; do
    logs="$session/logs"
    [ -d "$logs" ] || continue
    found="$(
        # fatal lines and deaths seen by the raylet and the GCS
        grep -hE " [CF] |Check failed|SIGSEGV received|SIGABRT received|is marked (as )?dead|[Ff]ailed to connect to GCS" \
            "$logs"/raylet.out "$logs"/gcs_server.out 2>/dev/null | cut -c1-300 | tail -8
        for err in "$logs"/raylet.err "$logs"/gcs_server.err; do
            [ -s "$err" ] && { echo "[$(basename "$err")]"; tail -5 "$err" | cut -c1-300; }
        done
        # the driver's own last words (why a driver exits without a Python traceback)
        for drv in "$logs"/python-core-driver-*.log; do
            [ -f "$drv" ] && grep -hE " [ECF] |Terminate the process|[Ll]ost connection to (the )?(raylet|GCS)" "$drv" | cut -c1-300 | tail -6
        done
    )"
    [ -n "$found" ] && printf -- '--- %s\n%s\n' "$(basename "$session")" "$found"
done
dmesg 2>/dev/null | grep -iE "oom|killed process" | tail -5
echo "=== end of diagnosis ==="
