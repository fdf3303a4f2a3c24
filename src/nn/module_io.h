// Loading and saving libtorch modules with the project's error and
// crash-safety conventions. libtorch header.
#pragma once

#include <filesystem>
#include <string>

#include <torch/torch.h>

#include "funnel/error.h"
#include "util/fs.h"

namespace funnel::nn {

// Loads weights saved by save_module into `module` (whose shape must
// match). Throws funnel::Error naming the file.
template <class Module>
void load_module(Module& module, const std::filesystem::path& file) {
  try {
    torch::load(module, file.string());
  } catch (const c10::Error& e) {
    throw Error(file.string() + ": cannot load weights: " + e.what_without_backtrace());
  }
}

// Writes `file` under a temporary name, fsyncs it and renames it into
// place, so a crash never leaves half a weights file. `save` writes the
// temporary path it is given.
template <class SaveFn>
void save_atomically(const std::filesystem::path& file, SaveFn&& save) {
  std::filesystem::path tmp = file;
  tmp += ".tmp";
  save(tmp.string());
  detail::fsync_path(tmp);
  std::filesystem::rename(tmp, file);
}

template <class Module>
void save_module(const Module& module, const std::filesystem::path& file) {
  save_atomically(file, [&](const std::string& p) { torch::save(module, p); });
}

}  // namespace funnel::nn
