// What the GBDT sources (gbdt.cc, gbdt_train.cc) share about XGBoost's C
// API: the error check, owning handles and the model's booster. Internal to
// src/fusion: nothing outside includes <xgboost/c_api.h>.
#pragma once

#include <xgboost/c_api.h>

#include <cstddef>
#include <memory>
#include <shared_mutex>
#include <string>

#include "fusion/gbdt.h"

namespace funnel::fusion::detail {

// Throws funnel::Error("<what>: XGBoost: <message>") when rc != 0, with
// XGBGetLastError()'s message cut before its stack trace.
void xgb_check(int rc, const std::string& what);

struct BoosterFree {
  void operator()(void* handle) const noexcept { XGBoosterFree(handle); }
};
struct DMatrixFree {
  void operator()(void* handle) const noexcept { XGDMatrixFree(handle); }
};
using BoosterPtr = std::unique_ptr<void, BoosterFree>;
using DMatrixPtr = std::unique_ptr<void, DMatrixFree>;

// Makes a trained or loaded booster ready to be shared between threads:
// prediction on the calling thread (nthread 1), and one prediction so that
// XGBoost's lazy configuration happens now, on this thread, instead of
// inside the first of several concurrent predictions. Checks that the
// booster takes `cols` features. Throws funnel::Error naming `where`.
void prepare_for_serving(void* handle, std::size_t cols, const std::string& where);

}  // namespace funnel::fusion::detail

namespace funnel::fusion {

struct GbdtModel::Booster {
  detail::BoosterPtr handle;
  // Shared by predict(), exclusive for save() and importance() (gbdt.h).
  mutable std::shared_mutex lock;
};

}  // namespace funnel::fusion
