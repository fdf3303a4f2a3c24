// Helpers shared by the experiments (cross-validation, ablations): summary
// statistics, the reports' files, a bar chart in SVG, and the cascades they
// evaluate.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace funnel::experiments {

// Mean and sample standard deviation (0 for one value).
std::pair<double, double> mean_sd(const std::vector<double>& v);
// "mean ± sd" with 4 decimals.
std::string pm(const std::vector<double>& v);
// Grouped bars: one group per label, one bar per series (vals[group][series]
// = the values over seeds), 1 sd whiskers; `baseline` values (NaN: none) as
// dashed lines in the series' colours, explained by `baseline_note`.
std::string svg_chart(const std::vector<std::string>& labels, const std::vector<std::vector<std::vector<double>>>& vals,
                      const std::vector<std::string>& series, const std::vector<double>& baseline, const std::string& title,
                      const std::string& baseline_note);
// A line through points (x[i], y[i]), each labelled labels[i], with axis
// titles: a trade-off curve (relevance against diversity as a knob moves).
std::string svg_curve(const std::vector<double>& x, const std::vector<double>& y, const std::vector<std::string>& labels,
                      const std::string& x_title, const std::string& y_title, const std::string& title);
// Writes `text` to `path` atomically (funnel::Error on failure).
void write_text_file(const std::filesystem::path& path, const std::string& text);

// The cascades the experiments evaluate: BM25 top `depth` -> pre-rank
// (the student in `prerank_models`) keeps `keep` [-> rank (the ranker in
// `rank_models`, reading `corpus` when given) keeps `keep`] [-> truncate
// to `keep`]. `recall_weight` overrides the pre-rank stage's fitted BM25
// weight.
struct CascadeSpec {
  std::size_t depth = 1000, keep = 100;
  std::filesystem::path prerank_models;
  std::optional<double> recall_weight;
  std::filesystem::path rank_models;  // "" : no rank stage
  std::filesystem::path corpus;       // "" : the ranker's own data
  bool truncate = false;
};
nlohmann::json make_cascade(const CascadeSpec& spec);

}  // namespace funnel::experiments
