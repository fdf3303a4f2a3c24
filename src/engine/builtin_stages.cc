// The built-in stage and channel types of libfunnel_core. The model-backed
// ones (prerank, rank, ann) start as stand-ins that libfunnel replaces.
#include "core/registry.h"
#include "core/truncate_stage.h"
#include "feed/feed_stages.h"
#include "fusion/fusion_stage.h"
#include "fusion/learned_stages.h"
#include "recall/recall_stage.h"
#include "rerank/rerank_stages.h"

namespace funnel::detail {

void add_builtin_stage_types(std::map<std::string, StageFactory>& stages,
                             std::map<std::string, ChannelFactory>& channels) {
  stages["recall"] = recall::make_recall_stage;
  stages["truncate"] = make_truncate_stage;
  stages["formula"] = fusion::make_formula_stage;
  stages["ensemble_sort"] = fusion::make_ensemble_sort_stage;
  stages["gbdt"] = fusion::make_gbdt_stage;
  stages["ltr"] = fusion::make_ltr_stage;
  stages["rules"] = rerank::make_rules_stage;
  stages["dpp"] = rerank::make_dpp_stage;
  feed::add_feed_types(stages, channels);
  add_model_stage_stubs(stages, channels);
}

}  // namespace funnel::detail
