#!/usr/bin/env bash
# The relevance experiment (docs/relevance.md) on the shared real collections:
# MED and CISI with every judged query, qbqtc with a fixed sample of 2,000
# (--max-queries, as `funnel experiment cv` takes it), split seeds 1-3, 5 folds.
# Writes OUT/<collection>/relevance.{md,json} and prints the tables.
#   scripts/relevance.sh BUILD/funnel OUT [SHARED_DATA]
set -euo pipefail
funnel=${1:?usage: relevance.sh FUNNEL OUT [SHARED_DATA]}
out=${2:?}
here=$(cd "$(dirname "$0")/.." && pwd)
data=${3:-$here/../shared/data/beir}
for c in med cisi qbqtc; do
  extra=""
  [ "$c" = qbqtc ] && extra="--max-queries 2000"
  # shellcheck disable=SC2086
  "$funnel" experiment relevance --data "$data/$c" --out "$out/$c" --seeds 1,2,3 --folds 5 --force $extra
done
