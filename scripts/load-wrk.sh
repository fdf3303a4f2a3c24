#!/usr/bin/env bash
# wrk against `funnel serve` on the demo index, for 1 and 2 server threads:
# requests/s and p50/p99 per cascade. Loopback only; each run is bounded
# (DURATION seconds, default 20) and the server is drained after it.
#   scripts/load-wrk.sh [FUNNEL] [DEMO_DIR] [DURATION]
set -euo pipefail
FUNNEL=${1:-build/funnel}
DEMO=${2:-var/demo}
DURATION=${3:-20}
OUT="$DEMO/load"
source "$(dirname "$0")/serve-lib.sh"
require_demo load-wrk "$DEMO"
mkdir -p "$OUT"
demo_queries "$DEMO" "$OUT"
printf "%-14s %7s %6s %10s %8s %8s  %s\n" cascade threads conns "req/s" "p50 ms" "p99 ms" errors | tee "$OUT/wrk.txt"
for config in configs/prerank-100.json configs/demo-rerank.json; do
  for threads in 1 2; do
    start_server "$OUT" --index "$DEMO/index-prerank" --config "$config" --threads "$threads"
    # As many connections as server threads: a worker serves one connection at a time.
    FUNNEL_QUERIES="$OUT/queries.txt" timeout $((DURATION + 30)) wrk -t"$threads" -c"$threads" -d"${DURATION}s" \
      --latency -s scripts/wrk/search.lua "$SERVER_URL" > "$OUT/wrk-$(basename "$config" .json)-$threads.txt" 2>&1
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    f="$OUT/wrk-$(basename "$config" .json)-$threads.txt"
    rps=$(awk '/Requests\/sec/ {print $2}' "$f")
    read -r p50 p99 < <(sed -n 's/wrk-latency-ms: p50 \([0-9.]*\) p99 \([0-9.]*\)/\1 \2/p' "$f")
    errs=$(grep -E "Non-2xx|Socket errors" "$f" | tr '\n' ' ' || true)
    printf "%-14s %7s %6s %10s %8s %8s  %s\n" "$(basename "$config" .json)" "$threads" "$threads" "$rps" "$p50" "$p99" \
      "${errs:-none}" | tee -a "$OUT/wrk.txt"
  done
done
