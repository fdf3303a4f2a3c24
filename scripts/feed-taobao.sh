#!/usr/bin/env bash
# The feed funnel on the Taobao purchase + add-to-cart logs (no text, no
# time; ../shared/data/interactions/taobao): import, a BM25-only index of
# the text-less items, the feed model (learned item vectors; item2item over
# every engaged item, as the reference item-CF), the evaluation of the test
# purchase with training purchases excluded. docs/feeds.md quotes the table.
#   scripts/feed-taobao.sh BUILD/funnel TAOBAO_DIR OUT
set -euo pipefail
funnel=${1:?usage: feed-taobao.sh FUNNEL TAOBAO_DIR OUT}
src=${2:?}
out=${3:?}
here=$(cd "$(dirname "$0")/.." && pwd)
"$funnel" feed import --pairs purchase="$src/buy.txt" --pairs cart="$src/cart.txt" --dev "$src/valid.txt" \
  --test "$src/test.txt" --out "$out/data" --force
"$funnel" index --data "$out/data" --out "$out/index" --force
"$funnel" feed train --data "$out/data" --out "$out/index/feed" --force \
  --options '{"history": 1000, "neighbours": 2000, "cooccurrence_cap": 1000}'
"$funnel" feed eval --index "$out/index" --config "$here/configs/feed-taobao.json"
