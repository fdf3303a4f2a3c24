// The files of a trained model folder (MODELS/<stage>/): checking they are
// there, reading the config, and the model id that names one set of weights
// (stored with the embeddings and the ranker's scores, so that stale
// derived files are refused). Torch-free.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <string>

#include <nlohmann/json.hpp>

namespace funnel::nn {

// Throws funnel::Error naming the first of `files` missing from `dir`, with
// `hint` (how to make it) appended.
void require_files(const std::filesystem::path& dir, std::initializer_list<const char*> files, const std::string& hint);

// Parses a JSON file; throws funnel::Error naming it when unreadable or malformed.
nlohmann::json read_json_file(const std::filesystem::path& file);

// "PREFIX-" and 16 hex digits of a hash of the weights file and the config
// file's bytes. Throws funnel::Error if either cannot be read.
std::string model_id(const std::string& prefix, const std::filesystem::path& weights,
                     const std::filesystem::path& config);

}  // namespace funnel::nn
