#!/usr/bin/env bash
# The feed evaluation on default worlds of several seeds: generate, index
# (BM25 only: the user tower learns its item vectors), train the feed model,
# evaluate on the test days. Prints one JSON report per seed.
#   scripts/feed-seeds.sh BUILD/funnel OUT "1 2 3" [USERS]
set -euo pipefail
funnel=${1:?usage: feed-seeds.sh FUNNEL OUT "SEEDS" [USERS]}
out=${2:?}
seeds=${3:-"1 2 3"}
users=${4:-0}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
for s in $seeds; do
  w="$out/world$s"
  [ -f "$w/feed/feed.json" ] || "$funnel" gen --seed "$s" --out "$w" --force >&2
  [ -f "$w/index/manifest.json" ] || "$funnel" index --data "$w" --out "$w/index" --force >&2
  "$funnel" feed train --data "$w" --out "$w/index/feed" --seed "$s" --force >&2
  "$funnel" feed eval --index "$w/index" --config "$here/configs/feed.json" --users "$users" --json > "$out/eval-seed$s.json"
  echo "seed $s: $out/eval-seed$s.json" >&2
done
