// Simulated live traffic on the synthetic world (funnel/world.h): users
// sampled by their activity send queries drawn from their interests; a
// ranking policy answers each request with a page; the world's own user
// model (the one that wrote the logs: the ground truth, never a trained
// model) returns the clicks, watch time, likes, shares and follows those
// users give, with the world's noise. Traffic is split into buckets (by user
// or by request) so that several policies can be compared side by side, as
// in an online A/B test. docs/fusion.md explains how `funnel tune` uses it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "funnel/world.h"

namespace funnel {

// The objectives the world's users produce, in this order.
const std::vector<std::string>& sim_objectives();  // click, watch, finish, like, share, follow

// Feedback summed over `requests` requests.
struct SimOutcome {
  std::size_t requests = 0;
  double click = 0, watch = 0, finish = 0, like = 0, share = 0, follow = 0;

  // The sum of one objective (a name of sim_objectives()); throws funnel::Error otherwise.
  double total(std::string_view objective) const;
  // total / requests (0 without requests).
  double per_request(std::string_view objective) const;
  SimOutcome& operator+=(const SimOutcome& o);
};

// How requests are assigned to buckets: by user (a user's requests all go
// to one bucket, as in a user-level A/B test) or request by request.
enum class BucketUnit { kUser, kRequest };
// "user" / "request"; throws funnel::Error naming `where` otherwise.
BucketUnit parse_bucket_unit(const std::string& s, const std::string& where);

struct TrafficOptions {
  std::string split = "dev";   // queries are drawn from this split's queries
  std::size_t requests = 10000;
  std::size_t buckets = 1;     // >= 1
  BucketUnit unit = BucketUnit::kUser;
  std::uint64_t seed = 1;      // the same seed gives the same traffic and noise
};

// One simulated request.
struct SimRequest {
  std::uint32_t user = 0;   // index into World::user_truth
  std::uint32_t query = 0;  // index into World::queries
  std::uint32_t bucket = 0;
  std::uint64_t noise = 0;  // seeds the user's feedback to this request
};

// A ranking policy: the corpus rows to show for a request, best first (the
// simulator shows at most the world's page size of them).
using SimPolicy = std::function<std::vector<std::uint32_t>(const SimRequest&)>;

class Simulator {
 public:
  // `world` must be the world the served index was built from (rows are its
  // corpus rows).
  explicit Simulator(std::shared_ptr<const World> world);

  // Draws the traffic: each request's user by activity; its query, with
  // probability 0.7, from the split's queries on one of the user's interest
  // topics (weighted by interest), else uniformly from the split. Throws
  // funnel::Error when the split has no queries or buckets == 0.
  std::vector<SimRequest> traffic(const TrafficOptions& options) const;

  // The user's feedback to `rows` shown in that order (at most the page
  // size are looked at), from the world's user model; deterministic in
  // request.noise. Rows out of range throw funnel::Error.
  SimOutcome feedback(const SimRequest& request, std::span<const std::uint32_t> rows) const;

  // Serves every request of `traffic` with `policy` and sums the feedback
  // per bucket (`buckets` entries; a request's bucket must be < buckets).
  std::vector<SimOutcome> serve(std::span<const SimRequest> traffic, std::size_t buckets,
                                const SimPolicy& policy) const;

  const World& world() const { return *world_; }
  std::size_t page_size() const { return world_->options.page_size; }
  // The relevance grade of `row` for query `query` (0 if not judged).
  int grade(std::uint32_t query, std::uint32_t row) const;

 private:
  std::shared_ptr<const World> world_;
  std::unordered_map<std::uint64_t, int> grades_;  // (query << 32 | row) -> grade
  std::vector<double> user_cdf_;
};

// Regenerates the world a data folder was written from (`funnel gen`),
// from the options in DIR/world.json, and checks that it matches the
// folder's corpus and queries. Throws funnel::Error naming the file when the
// folder is not a generated world or does not match.
std::shared_ptr<const World> load_world(const std::filesystem::path& data_dir);

// The reward of a policy's outcome: gain terms minus constraint penalties.
//   reward = gain - baseline_gain * sum_c penalty_c
//   gain = sum_g weight_g * per_request(g)
//   deficit_c = max(0, (baseline_c - per_request(c)) / baseline_c)
//   penalty_c = weight_c * deficit_c                                  if deficit_c <= threshold_c
//             = weight_c * threshold_c * exp((deficit_c - threshold_c) / threshold_c)  beyond
// (linear inside the threshold, exponential beyond it, continuous with a
// continuous slope). The baseline is the outcome under the hand weights;
// without one (baseline.requests == 0) there are no penalties.
struct RewardSpec {
  struct Term {
    std::string objective;
    double weight = 1;
    double threshold = 0.05;  // constraints only: the relative drop tolerated before the penalty turns exponential
  };
  std::vector<Term> gains = {{"watch", 1.0, 0}};
  // Follows and shares are rare (a few per hundred requests): their
  // tolerance is wider so that bucket noise alone rarely trips the penalty.
  std::vector<Term> constraints = {{"like", 1.0, 0.05}, {"follow", 1.0, 0.10}, {"share", 1.0, 0.15}};
  SimOutcome baseline;
  std::string baseline_split;  // the queries the baseline was measured on ("" unknown)
};
double reward_gain(const RewardSpec& spec, const SimOutcome& outcome);
double constraint_penalty(double deficit, double threshold, double weight);
double reward(const RewardSpec& spec, const SimOutcome& outcome);
// The relative drop of constraint `term` below the baseline (0 if none).
double constraint_deficit(const RewardSpec& spec, const RewardSpec::Term& term, const SimOutcome& outcome);

// JSON forms: {"requests", "click", ...} and {"gains": [{"objective",
// "weight"}], "constraints": [{"objective", "weight", "threshold"}],
// "baseline": outcome, "baseline_split"?}. The readers check every field and throw
// funnel::Error naming `where`.
nlohmann::json outcome_to_json(const SimOutcome& o);
SimOutcome outcome_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json reward_to_json(const RewardSpec& spec);
RewardSpec reward_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace funnel
