#!/usr/bin/env bash
# The hot-swap run: a server on a copy of the demo index answers a steady
# wrk load for DURATION seconds (default 60) while
#   1. a new embedding-store version (and its ANN index) is published with
#      `funnel index --refresh` and loaded with POST /v1/admin/reload,
#   2. a broken version is published (its file damaged after publishing) and
#      offered: the reload must be refused and the old version keep serving.
# Reports requests/s, p50/p99, the statuses and store versions that
# answered (only 200; versions 1 and 2 only), and the server's RSS at start,
# after the swap and at the end. Loopback only; everything is bounded in
# time and stops by itself; the server is drained with SIGTERM at the end.
#   scripts/hot-swap.sh [FUNNEL] [DEMO_DIR] [DURATION]
set -euo pipefail
FUNNEL=${1:-build/funnel}
DEMO=${2:-var/demo}
DURATION=${3:-60}
OUT="$DEMO/hot-swap"
source "$(dirname "$0")/serve-lib.sh"
require_demo hot-swap "$DEMO"
rm -rf "$OUT" && mkdir -p "$OUT"
cp -r "$DEMO/index-prerank" "$OUT/index"
demo_queries "$DEMO" "$OUT"

start_server "$OUT" --index "$OUT/index" --config configs/demo-rerank.json --threads 2
PID=$SERVER_PID
URL=$SERVER_URL
trap 'kill -TERM $PID 2>/dev/null || true' EXIT
rss() { awk '/VmRSS/ {print $2}' /proc/$PID/status; }
echo "hot-swap: server pid $PID on $URL; ${DURATION}s of load" >&2

( for _ in $(seq 1 $((DURATION * 2 + 40))); do echo "$(date +%s.%N) $(rss)"; sleep 0.5; done ) > "$OUT/rss.log" 2>/dev/null &
SAMPLER=$!
FUNNEL_QUERIES="$OUT/queries.txt" timeout $((DURATION + 30)) \
  wrk -t2 -c2 -d"${DURATION}s" --latency -s scripts/wrk/search.lua "$URL" > "$OUT/wrk.txt" 2>&1 &
WRK=$!
T0=$(date +%s.%N)
since() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f s", b - a}'; }
sleep 3
RSS_START=$(rss)

echo "hot-swap: publishing embeddings version 2 (funnel index --refresh) under load ..." >&2
"$FUNNEL" index --refresh --data "$DEMO/world" --out "$OUT/index" --models "$DEMO/models" > "$OUT/refresh.log" 2>&1
T_PUBLISHED=$(since)
# Asynchronous: loading runs off the worker pool, which keeps answering.
curl -s -X POST -d "" "$URL/v1/admin/reload?async=1" > /dev/null
for _ in $(seq 1 600); do
  curl -s "$URL/healthz" | grep -q '"generation":2' && break
  sleep 0.1
done
T_RELOADED=$(since)
curl -s "$URL/healthz" > "$OUT/reload-good.json"
curl -s "$URL/v1/info" > "$OUT/info-after-reload.json"
echo "hot-swap: version 2 published at $T_PUBLISHED, serving at $T_RELOADED: $(cat "$OUT/reload-good.json")" >&2
sleep 2
RSS_SWAPPED=$(rss)

echo "hot-swap: publishing version 3 and damaging it ..." >&2
"$FUNNEL" index --refresh --data "$DEMO/world" --out "$OUT/index" --models "$DEMO/models" >> "$OUT/refresh.log" 2>&1
printf '\x5a\xa5' | dd of="$OUT/index/embeddings/v000003.emb" bs=1 seek=4096 conv=notrunc status=none
BAD_STATUS=$(curl -s -o "$OUT/reload-bad.json" -w '%{http_code}' -X POST -d "" "$URL/v1/admin/reload")
echo "hot-swap: broken version: HTTP $BAD_STATUS $(head -c 200 "$OUT/reload-bad.json")" >&2
GEN=$(curl -s "$URL/healthz")

wait $WRK || true
RSS_END=$(rss)
kill $SAMPLER 2>/dev/null || true
kill -TERM $PID
set +e
wait $PID
EXIT=$?
set -e
trap - EXIT

RPS=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk.txt")
ERRS=$(grep -E "Non-2xx|Socket errors" "$OUT/wrk.txt" || true)
cat <<REPORT | tee "$OUT/report.txt"
hot-swap run: ${DURATION}s, wrk -t2 -c2, server --threads 2, cascade configs/demo-rerank.json
requests/s: $RPS   $(grep wrk-latency-ms "$OUT/wrk.txt" | sed 's/wrk-latency-ms: //')
statuses:   $(grep wrk-statuses "$OUT/wrk.txt" | sed 's/wrk-statuses: //')
versions:   $(grep wrk-versions "$OUT/wrk.txt" | sed 's/wrk-versions: //')   (store version that answered)
wrk errors: ${ERRS:-none}
good reload: published at $T_PUBLISHED, serving it at $T_RELOADED of the run: $(cat "$OUT/reload-good.json") (details: last_async_reload in $OUT/info-after-reload.json)
bad reload:  HTTP $BAD_STATUS; afterwards $GEN
RSS kB:     start $RSS_START, after the swap $RSS_SWAPPED, end $RSS_END (samples in $OUT/rss.log)
server exit status after SIGTERM: $EXIT
REPORT
# Only 200s, and only from versions 1 and 2.
grep -qE '^wrk-statuses: \{"200": [0-9]+\}$' "$OUT/wrk.txt" || { echo "hot-swap: not every request got 200" >&2; exit 1; }
grep -qE '^wrk-versions: \{"1": [0-9]+, "2": [0-9]+\}$' "$OUT/wrk.txt" || { echo "hot-swap: answers not from versions 1 and 2 only" >&2; exit 1; }
[ "$BAD_STATUS" = 500 ] && [ "$EXIT" = 0 ] && [ -z "$ERRS" ]
