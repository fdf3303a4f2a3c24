// The model-backed built-ins: the pre-rank and rank stages and the ANN
// recall channel (which encodes the query with the pre-rank query tower).
#include "core/registry.h"
#include "prerank/prerank_stage.h"
#include "rank/rank_stage.h"
#include "recall/ann_channel_factory.h"

namespace funnel::detail {

void add_model_stage_types(std::map<std::string, StageFactory>& stages,
                           std::map<std::string, ChannelFactory>& channels) {
  stages["prerank"] = prerank::make_prerank_stage;
  stages["rank"] = rank::make_rank_stage;
  channels["ann"] = recall::make_ann_channel;
}

}  // namespace funnel::detail
