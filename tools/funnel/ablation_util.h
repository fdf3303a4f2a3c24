// Helpers shared by the ablations (`funnel eval --ablation ...`).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace funnel::cli {

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

}  // namespace funnel::cli
