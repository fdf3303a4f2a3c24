#!/usr/bin/env bash
# Installs, with apt-get, every Debian package funnel needs to build, test and run.
# Idempotent: when everything is present it prints nothing and exits 0.
# Why each package is here: docs/dependencies.md.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libxapian-dev        # BM25 recall (inverted index, BM25 weighting, Snowball stemmers)
  libicu-dev           # text analysis: NFKC + case folding, Unicode scripts (CJK runs)
  nlohmann-json3-dev   # JSON / JSONL readers and writers, cascade config
  libcli11-dev         # CLI parsing with --help on every subcommand
  libgtest-dev         # unit tests
  libbenchmark-dev     # micro-benchmarks
  libxxhash-dev        # checksums of the embedding store (XXH3, ~10 GB/s)
  libtorch-dev         # model training and query encoding (src/nn, src/*/torch, src/train only)
  libsentencepiece-dev # subword tokenizer trained on the corpus
  libfaiss-dev         # ANN recall over the doc embeddings (HNSW, IVF)
  libopenblas-dev      # SGEMM for the esim matcher at serving time
  libxgboost-dev       # gradient-boosted trees of the learned fusion (C API)
  libcpp-httplib-dev   # the HTTP server of `funnel serve` and the tests' HTTP clients
  clang libclang-rt-14-dev  # libFuzzer for the request fuzz target (tests/serve/request_fuzzer.cc)
  chromium chromium-driver  # the demo page's end-to-end test in headless Chromium (WebDriver)
  wrk curl             # load and hot-swap scripts (scripts/load-wrk.sh, scripts/hot-swap.sh)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet; refresh once, quietly.
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
