// The public API of funnel, in one include. Callers must not rely on any
// header outside include/funnel/: the rest of the tree is the
// implementation and changes without notice.
//
//   engine.h      open an index with its models and answer requests
//   pipeline.h    requests, responses, the cascade and its config
//   stage.h       the stage interface and the registries of stage and channel types
//   candidate.h   a candidate and what each stage did to it
//   fusion.h      how a scoring stage folds a recall score into its own
//   recall.h      recall channels and BM25; ann.h vector recall
//   index.h       building and opening an index folder
//   embedding_store.h, prerank_scorer.h   the pre-rank serving path
//   data.h        the data formats and their strict readers
//   eval.h, metrics.h   offline evaluation
//   train.h       training the models
//   world.h       the synthetic world
//   error.h       the one exception type
#pragma once

#include "funnel/ann.h"
#include "funnel/candidate.h"
#include "funnel/data.h"
#include "funnel/embedding_store.h"
#include "funnel/engine.h"
#include "funnel/error.h"
#include "funnel/eval.h"
#include "funnel/fusion.h"
#include "funnel/index.h"
#include "funnel/metrics.h"
#include "funnel/pipeline.h"
#include "funnel/prerank_scorer.h"
#include "funnel/recall.h"
#include "funnel/stage.h"
#include "funnel/train.h"
#include "funnel/world.h"
