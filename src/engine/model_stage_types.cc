// The model-backed built-ins: the pre-rank and rank stages and the ANN
// recall channel (which encodes the query with the pre-rank query tower).
// Part of libfunnel (the model runtime), which registers them when it is
// loaded, over the stand-ins libfunnel_core starts with.
#include "core/registry.h"
#include "prerank/prerank_stage.h"
#include "rank/rank_stage.h"
#include "recall/ann_channel_factory.h"

namespace funnel::detail {

void register_model_stage_types() {
  register_stage_type("prerank", prerank::make_prerank_stage);
  register_stage_type("rank", rank::make_rank_stage);
  register_channel_type("ann", recall::make_ann_channel);
}

namespace {
// A shared library's initialisers run when it is loaded, so every program
// that links libfunnel has the model types before main().
const bool kRegistered = (register_model_stage_types(), true);
}  // namespace

}  // namespace funnel::detail
