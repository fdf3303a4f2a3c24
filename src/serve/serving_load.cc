// load_serving_state(): opening the index and building every cascade with
// its models (libfunnel's model stages), then the probe check.
#include <algorithm>
#include <chrono>
#include <ctime>

#include "funnel/engine.h"
#include "funnel/error.h"
#include "rank/ranker_model.h"
#include "train/common/torch_threads.h"
#include "serve/serving_state.h"

namespace funnel::serve {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string utc_now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// The models a version serves with, by stage: the ids that name their weights.
json model_ids(const Index& index) {
  json m = json::object();
  if (index.embeddings()) m["prerank"] = index.embeddings()->spec().model_id;
  if (!index.models_dir().empty()) {
    m["dir"] = index.models_dir();
    if (fs::exists(fs::path(index.models_dir()) / "rank" / "model.pt"))
      m["rank"] = rank::RankerModel::model_id_of(index.models_dir());
  }
  return m;
}

// The first doc's title (or id) as a query every cascade must answer.
void probe(const ServingState::Cascade& c, const Index& index) {
  Request r;
  r.query = index.size() ? index.title(0) : "probe";
  if (r.query.find_first_not_of(" \t\r\n") == std::string::npos) r.query = index.size() ? index.doc_id(0) : "probe";
  r.k = 1;
  try {
    c.pipeline->run(r);
  } catch (const std::exception& e) {
    throw Error("cascade '" + c.name + "': the probe request failed: " + e.what());
  }
}

}  // namespace

std::shared_ptr<const ServingState> load_serving_state(const ServerOptions& o, std::uint64_t generation,
                                                       std::shared_ptr<const std::unordered_set<std::string>> users) {
  train::init_torch_threads(std::max(1, o.model_threads));
  auto s = std::make_shared<ServingState>();
  s->generation = generation;
  s->users = std::move(users);
  s->index = Index::open(o.index);
  if (o.configs.empty()) {
    s->cascades.push_back({"default", Engine(s->index, default_cascade(), "default cascade").pipeline_ptr()});
  } else {
    for (const auto& file : o.configs) {
      const std::string name = file.stem().string();
      if (s->find(name)) throw Error(file.string() + ": a cascade named '" + name + "' is already loaded");
      s->cascades.push_back({name, Engine(s->index, read_cascade_config(file), file.string()).pipeline_ptr()});
    }
  }
  for (const auto& c : s->cascades) probe(c, *s->index);
  s->version = {{"generation", generation},
                {"store_version", s->index->embeddings() ? s->index->embeddings()->version() : 0},
                {"ann_store_version", s->index->ann_store_version()},
                {"models", model_ids(*s->index)},
                {"loaded_at", utc_now()}};
  return s;
}

}  // namespace funnel::serve
