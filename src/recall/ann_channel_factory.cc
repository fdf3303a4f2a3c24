#include "recall/ann_channel_factory.h"

#include <filesystem>

#include "core/config_util.h"
#include "funnel/ann.h"
#include "funnel/error.h"
#include "prerank/encoders.h"

namespace funnel::recall {
namespace fs = std::filesystem;

std::unique_ptr<RecallChannel> make_ann_channel(const Index& index, const nlohmann::json& cfg, const std::string& where) {
  detail::check_keys(cfg, {"type", "quota", "ef_search", "nprobe"}, where);
  const fs::path file = index.ann_file();
  if (!index.embeddings() || file.empty() || !fs::exists(file))
    throw Error(where + ": the index has no ANN index (build it with `funnel index --models MODELS`)");
  auto model = prerank::load_matching_model(index.models_dir(), index.embeddings()->spec().model_id, where);
  const std::uint64_t built_from = index.ann_store_version(), store = index.embeddings()->version();
  if (built_from != 0 && built_from != store)
    throw Error(where + ": " + file.string() + " was built from embeddings version " + std::to_string(built_from) +
                " but the index opened version " + std::to_string(store) +
                " (a refresh is half-way through: open the index again when `funnel index --refresh` has finished)");
  AnnOptions o;
  o.ef_search = static_cast<int>(detail::get_size(cfg, "ef_search", where, static_cast<std::size_t>(o.ef_search)));
  o.ivf_nprobe = static_cast<int>(detail::get_size(cfg, "nprobe", where, static_cast<std::size_t>(o.ivf_nprobe)));
  return open_ann_channel(file, prerank::make_query_encoder(std::move(model)),
                          index.embeddings()->spec().heads, o);
}

}  // namespace funnel::recall
