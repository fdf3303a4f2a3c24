#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>

#include "commands.h"
#include "funnel/error.h"
#include "funnel/index.h"
#include "progress.h"
#include "util/fs.h"

namespace funnel::cli {

void add_index(CLI::App& app) {
  auto* cmd = app.add_subcommand("index", "Build an index folder (BM25 recall) from a corpus");
  struct Args {
    std::string data, out, config, models, precision = "fp32";
    IndexOptions o;
    bool force = false, refresh = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--data", a->data, "Data folder holding corpus.jsonl (BEIR layout)")->required();
  cmd->add_option("--out", a->out, "Index folder to write (created atomically)")->required();
  cmd->add_option("--bm25-config", a->config,
                  "JSON file with BM25 options (k1, b, stemmer, title_weight, ...), see docs/formats.md");
  cmd->add_option("--k1", a->o.bm25.k1, "BM25 k1")->capture_default_str();
  cmd->add_option("--b", a->o.bm25.b, "BM25 b")->capture_default_str();
  cmd->add_option("--stemmer", a->o.bm25.stemmer, "Snowball stemmer language, or none")->capture_default_str();
  cmd->add_option("--title-weight", a->o.bm25.title_weight, "Title weight (integer)")->capture_default_str();
  cmd->add_option("--text-weight", a->o.bm25.text_weight, "Text weight (integer)")->capture_default_str();
  cmd->add_option("--tags-weight", a->o.bm25.tags_weight, "Tags weight (integer)")->capture_default_str();
  cmd->add_flag("--force", a->force, "Replace the output folder if it exists");
  cmd->add_option("--models", a->models, "Models folder from `funnel fit`: also store the pre-rank doc embeddings");
  cmd->add_option("--precision", a->precision, "Embedding precision")
      ->capture_default_str()->check(CLI::IsMember({"fp32", "fp16", "int8"}));
  cmd->add_flag("--refresh", a->refresh,
                "Re-encode the docs of the existing index --out with --models into embeddings version N+1");
  cmd->callback([cmd, a] {
    IndexOptions o = a->o;
    o.overwrite = a->force;
    detail::check_output_not_input(a->out, a->data);
    if (!a->config.empty()) {
      for (const char* flag : {"--k1", "--b", "--stemmer", "--title-weight", "--text-weight", "--tags-weight"})
        if (cmd->count(flag) > 0)
          throw Error(std::string(flag) + ": give BM25 options either in --bm25-config or as flags, not both");
      if (!std::filesystem::is_regular_file(a->config)) throw Error(a->config + ": BM25 config not found (or not a file)");
      std::ifstream in(a->config);
      if (!in) throw Error(a->config + ": cannot open");
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(in);
      } catch (const nlohmann::json::parse_error& e) {
        throw Error(a->config + ": malformed JSON (" + e.what() + ")");
      }
      o.bm25 = bm25_options_from_json(j, a->config);
    } else {
      // Validate the flag values the same way a config file is validated.
      o.bm25 = bm25_options_from_json(bm25_options_to_json(o.bm25), "command line");
    }
    std::unique_ptr<DocEncoder> encoder;
    if (!a->models.empty()) encoder = load_doc_encoder(a->models);
    o.encoder = encoder.get();
    o.precision = parse_precision(a->precision, "--precision");
    if (a->refresh) {
      if (!encoder) throw Error("--refresh: needs --models");
      Corpus corpus = read_corpus(std::filesystem::path(a->data) / "corpus.jsonl");
      Progress progress("encode");
      auto v = refresh_embeddings(a->out, corpus, *encoder, o.precision, std::ref(progress));
      std::printf("published embeddings version %llu of %s\n", static_cast<unsigned long long>(v), a->out.c_str());
      return;
    }
    auto t0 = std::chrono::steady_clock::now();
    std::filesystem::path corpus_path = std::filesystem::path(a->data) / "corpus.jsonl";
    std::fprintf(stderr, "index: reading %s\n", corpus_path.c_str());
    Corpus corpus = read_corpus(corpus_path);
    Progress progress("index");
    build_index(corpus, a->out, o, std::ref(progress));
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("indexed %zu docs into %s in %.1f s\n", corpus.docs.size(), a->out.c_str(), secs);
  });
}

}  // namespace funnel::cli
