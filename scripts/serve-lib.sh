# Shared by scripts/load-wrk.sh and scripts/hot-swap.sh (sourced, not run).
#
# start_server OUT ARGS...: starts `$FUNNEL serve ARGS... --port 0 --no-web`
# in the background with its output in OUT/serve.out and OUT/serve.err, and
# waits (at most 60 s) until it listens. Sets SERVER_PID and SERVER_URL;
# exits the script with the server's errors when it does not start.
start_server() {
  local out=$1
  shift
  "$FUNNEL" serve "$@" --port 0 --no-web > "$out/serve.out" 2> "$out/serve.err" &
  SERVER_PID=$!
  local port=""
  for _ in $(seq 1 600); do
    port=$(grep -o 'http://127.0.0.1:[0-9]*' "$out/serve.out" 2>/dev/null | head -1 | sed 's/.*://') || true
    [ -n "$port" ] && break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "$(basename "$0"): the server did not start:" >&2
    cat "$out/serve.err" >&2
    kill "$SERVER_PID" 2>/dev/null || true
    exit 1
  fi
  SERVER_URL="http://127.0.0.1:$port"
}

# demo_queries DEMO OUT: the first 200 query texts of DEMO/world, one per
# line, in OUT/queries.txt (read by scripts/wrk/search.lua).
demo_queries() {
  head -n 200 "$1/world/queries.jsonl" | sed -e 's/.*"text": *"\([^"]*\)".*/\1/' > "$2/queries.txt"
}

# require_demo NAME DEMO: wrk and a demo index must be there.
require_demo() {
  command -v wrk >/dev/null || { echo "$1: wrk is needed (scripts/install-deps.sh)" >&2; exit 1; }
  [ -d "$2/index-prerank" ] || { echo "$1: $2/index-prerank missing: run make demo first" >&2; exit 1; }
}
