#!/usr/bin/env bash
# The main job: generate the default synthetic world, index it, evaluate
# BM25 on the test split, train the cross ranker, train the pre-rank student
# (distilled from the ranker's stored scores), index its doc embeddings,
# evaluate BM25 + ANN -> pre-rank and BM25 + ANN -> pre-rank -> rank against
# BM25 at the same depth; then fusion and re-rank: learn the gbdt and ltr
# fusions from the logs, tune the fusion weights against simulated traffic
# (3 tuning runs), compare every fusion and re-rank setting, and evaluate
# the complete funnel (recall -> pre-rank -> rank -> fusion -> re-rank);
# write a markdown report and a TREC run file.
# Usage: scripts/demo.sh FUNNEL_BINARY OUT_DIR
# DEMO_RANK_ARGS and DEMO_FIT_ARGS override the ranker's and the student's
# training options.
set -euo pipefail
FUNNEL=${1:-build/funnel}
OUT=${2:-var/demo}
RANK_ARGS=${DEMO_RANK_ARGS:---preset tiny --epochs 2 --steps 1000}
# The student recipe the distillation ablation found best (docs/results/distill-ablation.md).
FIT_ARGS=${DEMO_FIT_ARGS:---preset tiny --matcher dot --epochs 3 --steps 1000 --no-image --ranker-scores $OUT/models.tmp}
mkdir -p "$OUT"

now() { date +%s.%N; }
t0=$(now)
"$FUNNEL" gen --out "$OUT/world" --force
t1=$(now)
"$FUNNEL" index --data "$OUT/world" --out "$OUT/index" --force
t2=$(now)
"$FUNNEL" eval --index "$OUT/index" --data "$OUT/world" --split test \
  --run "$OUT/run.test.trec" --report "$OUT/report.md.body" > "$OUT/eval.txt"
"$FUNNEL" eval --index "$OUT/index" --data "$OUT/world" --split test --json > "$OUT/eval.json" 2>/dev/null
t3=$(now)
# Pre-rank: train the two-tower student, encode the corpus, and compare the
# cascade with BM25 at the same depth (100).
rm -rf "$OUT/models.tmp"
echo "demo: training the cross ranker ($RANK_ARGS)"
# shellcheck disable=SC2086
"$FUNNEL" fit --stage rank --data "$OUT/world" --out "$OUT/models.tmp" $RANK_ARGS 2> "$OUT/fit-rank.log" | tee "$OUT/fit-rank.txt"
t3r=$(now)
echo "demo: training the pre-rank student ($FIT_ARGS)"
# shellcheck disable=SC2086
"$FUNNEL" fit --data "$OUT/world" --out "$OUT/models.tmp" $FIT_ARGS 2> "$OUT/fit.log" | tee "$OUT/fit.txt"
rm -rf "$OUT/models" && mv "$OUT/models.tmp" "$OUT/models"
sed -i 's|models\.tmp/|models/|' "$OUT/fit.txt" "$OUT/fit-rank.txt"
t4=$(now)
"$FUNNEL" index --data "$OUT/world" --out "$OUT/index-prerank" --models "$OUT/models" --force
t5=$(now)
"$FUNNEL" eval --index "$OUT/index" --data "$OUT/world" --config configs/bm25-100.json --k 100 \
  --json > "$OUT/eval-bm25-100.json" 2>/dev/null
"$FUNNEL" eval --index "$OUT/index-prerank" --data "$OUT/world" --config configs/demo-cascade.json --k 100 \
  --report "$OUT/prerank.md.body" > "$OUT/eval-prerank.txt"
"$FUNNEL" eval --index "$OUT/index-prerank" --data "$OUT/world" --config configs/demo-cascade.json --k 100 \
  --json > "$OUT/eval-prerank.json" 2>/dev/null
"$FUNNEL" eval --index "$OUT/index-prerank" --data "$OUT/world" --config configs/demo-full.json --k 100 \
  --report "$OUT/full.md.body" > "$OUT/eval-full.txt"
"$FUNNEL" eval --index "$OUT/index-prerank" --data "$OUT/world" --config configs/demo-full.json --k 100 \
  --json > "$OUT/eval-full.json" 2>/dev/null
t6=$(now)
# Fusion and re-rank (docs/fusion.md, docs/rerank.md).
IDX="$OUT/index-prerank"
for method in gbdt ltr; do
  "$FUNNEL" fit --stage fusion --method "$method" --data "$OUT/world" --index "$IDX" --config configs/demo-full.json \
    --out "$OUT/models" > "$OUT/fit-fusion-$method.txt" 2>> "$OUT/fit-fusion.log"
done
echo "demo: tuning the fusion weights against simulated traffic (3 runs)"
"$FUNNEL" tune --index "$IDX" --data "$OUT/world" --config configs/demo-fusion.json --add-input category=short \
  --repeats 3 --report "$OUT/tune-formula.md" --json > "$OUT/tune-formula.json" 2> "$OUT/tune-formula.log"
"$FUNNEL" tune --index "$IDX" --data "$OUT/world" --config configs/demo-ensemble.json --add-input category=short \
  --repeats 1 --report "$OUT/tune-ensemble.md" --json > "$OUT/tune-ensemble.json" 2> "$OUT/tune-ensemble.log"
"$FUNNEL" tune --index "$IDX" --data "$OUT/world" --config configs/demo-ltr.json \
  --repeats 1 --report "$OUT/tune-ltr.md" --json > "$OUT/tune-ltr.json" 2> "$OUT/tune-ltr.log"
"$FUNNEL" experiment fusion --index "$IDX" --data "$OUT/world" --config configs/demo-full.json --out "$OUT/fusion" \
  > /dev/null 2> "$OUT/fusion.log"
"$FUNNEL" eval --index "$IDX" --data "$OUT/world" --config configs/demo-rerank.json --k 100 --simulate 20000 \
  > "$OUT/eval-rerank.txt" 2>/dev/null
"$FUNNEL" eval --index "$IDX" --data "$OUT/world" --config configs/demo-rerank.json --k 100 --simulate 20000 \
  --json > "$OUT/eval-rerank.json" 2>/dev/null
echo "demo: the recommendation feed (user tower + feed ranker on the world's feed logs)"
"$FUNNEL" feed train --data "$OUT/world" --index "$IDX" --out "$IDX/feed" --force > "$OUT/feed-train.txt" 2> "$OUT/feed-train.log"
"$FUNNEL" feed eval --index "$IDX" --config configs/feed.json > "$OUT/feed-eval.txt" 2>/dev/null
feed_user=$(awk -F'\t' 'NR > 1 && $4 == 1 { print $1; exit }' "$OUT/world/feed/interactions.tsv")
t7=$(now)

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
gen_s=$(secs "$t0" "$t1")
index_s=$(secs "$t1" "$t2")
eval_s=$(secs "$t2" "$t3")
rank_s=$(secs "$t3" "$t3r")
fit_s=$(secs "$t3r" "$t4")
index_pr_s=$(secs "$t4" "$t5")
eval_pr_s=$(secs "$t5" "$t6")
fusion_s=$(secs "$t6" "$t7")
# Recall of the final 100 and nDCG@10, BM25 top 100 vs the cascade.
metric() { sed -n "s/.*\"$2\": \([0-9.eE+-]*\).*/\1/p" "$1" | head -1 | awk '{ printf "%.4f", $1 }'; }
bm25_r=$(metric "$OUT/eval-bm25-100.json" 'recall@100')
pr_r=$(metric "$OUT/eval-prerank.json" 'recall@100')
bm25_n=$(metric "$OUT/eval-bm25-100.json" 'ndcg@10')
pr_n=$(metric "$OUT/eval-prerank.json" 'ndcg@10')
full_r=$(metric "$OUT/eval-full.json" 'recall@100')
full_n=$(metric "$OUT/eval-full.json" 'ndcg@10')
consistency=$(metric "$OUT/eval-full.json" 'consistency_prerank_rank')
example=$(sed -n '3p' "$OUT/world/queries.jsonl" | sed 's/.*"text":"\([^"]*\)".*/\1/')

{
  echo "# funnel demo: the synthetic video-search world"
  echo
  echo "Generated by \`make demo\` on $(date -u +%Y-%m-%d). Timings on this machine ($(nproc) cores):"
  echo "world generation ${gen_s}s, indexing ${index_s}s, evaluation ${eval_s}s;"
  echo "ranker training ${rank_s}s, pre-rank training ${fit_s}s, embedding index ${index_pr_s}s, cascade evaluations ${eval_pr_s}s;"
  echo "fusion training, tuning and the fusion and re-rank comparison ${fusion_s}s."
  echo
  echo "World: see \`world/world.json\` for the options and statistics."
  echo
  tail -n +2 "$OUT/report.md.body"
  echo
  echo "## Example query: \`$example\`"
  echo
  echo '```'
  "$FUNNEL" search --index "$OUT/index" --k 5 "$example"
  echo '```'
  echo
  echo "TREC run file: \`run.test.trec\` (check with trec_eval against \`world/qrels/test.tsv\`)."
  echo
  echo "## Pre-rank: BM25 + ANN recall -> two-tower student keeps 100"
  echo
  echo "Student: \`funnel fit $FIT_ARGS\` (log: \`fit.log\`):"
  echo
  echo '```'
  cat "$OUT/fit.txt"
  echo '```'
  echo
  echo "| cascade (final 100) | Recall@100 | nDCG@10 |"
  echo "|---|---|---|"
  echo "| BM25 top 100 (\`configs/bm25-100.json\`) | $bm25_r | $bm25_n |"
  echo "| BM25 1000 + ANN 1000 -> pre-rank 100 (\`configs/demo-cascade.json\`) | $pr_r | $pr_n |"
  echo
  echo "Pre-rank stage on the test split (its own score, see docs/formats.md):"
  echo
  echo '```'
  grep 'AUC' "$OUT/eval-prerank.txt" || true
  echo '```'
  echo
  tail -n +2 "$OUT/prerank.md.body"
  echo
  echo "## Rank: the cross ranker orders pre-rank's 100"
  echo
  echo "Ranker: \`funnel fit --stage rank $RANK_ARGS\` (log: \`fit-rank.log\`):"
  echo
  echo '```'
  cat "$OUT/fit-rank.txt"
  echo '```'
  echo
  echo "| cascade (final 100) | Recall@100 | nDCG@10 |"
  echo "|---|---|---|"
  echo "| BM25 top 100 | $bm25_r | $bm25_n |"
  echo "| BM25 1000 + ANN 1000 -> pre-rank 100 | $pr_r | $pr_n |"
  echo "| BM25 1000 + ANN 1000 -> pre-rank 100 -> rank (\`configs/demo-full.json\`) | $full_r | $full_n |"
  echo
  echo "Order consistency of pre-rank with the ranker (per request, mean): $consistency."
  echo "Scoring stages on the test split:"
  echo
  echo '```'
  grep -E 'AUC|consistency' "$OUT/eval-full.txt" || true
  echo '```'
  echo
  echo "pXtr of the top 3 for \`$example\` (\`funnel search --json\`, \`items[].pxtr\`):"
  echo
  echo '```'
  "$FUNNEL" search --index "$OUT/index-prerank" --config configs/demo-full.json --k 3 --json "$example" 2>/dev/null |
    grep -E '^ *"(id|click|watch|like|relevance)"' | sed 's/^ *//' | paste -d' ' - - - - - || true
  echo '```'
  echo
  tail -n +2 "$OUT/full.md.body"
  echo
  echo "## Fusion and re-rank"
  echo
  echo "The ranker's pXtr fused into one order, the weights tuned against simulated live traffic (the world's own"
  echo "user model: docs/fusion.md), then diversity (DPP) and business rules (docs/rerank.md)."
  echo
  echo "Learned fusions (\`funnel fit --stage fusion\`, on the dev split's logged requests):"
  echo
  echo '```'
  cat "$OUT/fit-fusion-gbdt.txt" "$OUT/fit-fusion-ltr.txt"
  echo '```'
  echo
  echo "### Tuning the formula's weights: \`funnel tune --config configs/demo-fusion.json --add-input category=short --repeats 3\`"
  echo
  cat "$OUT/tune-formula.md"
  echo
  echo "Ensemble sort (\`configs/demo-ensemble.json\`, 1 run) and the learned ltr (\`configs/demo-ltr.json\`, 1 run):"
  echo
  cat "$OUT/tune-ensemble.md"
  echo
  cat "$OUT/tune-ltr.md"
  echo
  echo "### Every fusion and re-rank setting: \`funnel experiment fusion\` (\`fusion/fusion.md\`, plot \`fusion/theta.svg\`)"
  echo
  tail -n +4 "$OUT/fusion/fusion.md"
  echo
  echo "### The complete funnel: \`configs/demo-rerank.json\` (recall -> pre-rank -> rank -> fusion -> DPP -> rules)"
  echo
  echo '```'
  grep -E 'stage|recall|prerank|rank|fusion|dpp|rules|total|nDCG|diversity|simulated' "$OUT/eval-rerank.txt" | grep -v '^ ' || true
  echo '```'
  echo
  echo "\`funnel search --config configs/demo-rerank.json\` for \`$example\`:"
  echo
  echo '```'
  "$FUNNEL" search --index "$IDX" --config configs/demo-rerank.json --k 10 "$example" 2>/dev/null || true
  echo '```'
  echo
  echo "## The recommendation feed: \`configs/feed.json\` (item2item + user_ann + follow + trending + revisit -> feed ranker)"
  echo
  echo "\`funnel feed eval\` on the test days (users who engaged; docs/feeds.md):"
  echo
  echo '```'
  cat "$OUT/feed-eval.txt"
  echo '```'
  echo
  echo "A feed request, \`funnel search --config configs/feed.json --user $feed_user\` (no query):"
  echo
  echo '```'
  "$FUNNEL" search --index "$IDX" --config configs/feed.json --k 10 --user "$feed_user" 2>/dev/null || true
  echo '```'
  echo
  if [ -f docs/results/distill-ablation.md ]; then
    echo "## Distillation ablation"
    echo
    echo "Measured once (it trains 27 students, a teacher, a ranker and 3 MLM encoders, about 70 minutes here); reproduce with the command in it."
    echo
    tail -n +2 docs/results/distill-ablation.md
  fi
} > "$OUT/report.md"
rm -f "$OUT/report.md.body" "$OUT/prerank.md.body" "$OUT/full.md.body"

echo
cat "$OUT/eval.txt"
echo
cat "$OUT/eval-prerank.txt"
echo
cat "$OUT/eval-full.txt"
echo
echo "Recall@100: BM25 top 100 $bm25_r, BM25 + ANN -> pre-rank 100 $pr_r; nDCG@10 $bm25_n vs $pr_n"
echo "nDCG@10 with the ranker: $full_n (pre-rank alone $pr_n); order consistency pre-rank/rank $consistency"
cat "$OUT/eval-rerank.txt"
echo
cat "$OUT/tune-formula.md"
echo
cat "$OUT/feed-eval.txt"
echo "timings: gen ${gen_s}s, index ${index_s}s, eval ${eval_s}s, fit rank ${rank_s}s, fit prerank ${fit_s}s, index --models ${index_pr_s}s, eval ${eval_pr_s}s, fusion + tuning + re-rank ${fusion_s}s"
echo "report:  $OUT/report.md"
echo "run:     $OUT/run.test.trec"
