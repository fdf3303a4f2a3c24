#include "experiments/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "util/fs.h"

namespace funnel::experiments {

std::pair<double, double> mean_sd(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return {m, v.size() > 1 ? std::sqrt(s / static_cast<double>(v.size() - 1)) : 0.0};
}

std::string pm(const std::vector<double>& v) {
  auto [m, s] = mean_sd(v);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4f ± %.4f", m, s);
  return buf;
}

// Grouped bars: one group per variant, bars = Recall@keep (fused, alone)
// and nDCG@10 (fused), with 1 sd whiskers; BM25's values as dashed lines.
std::string svg_chart(const std::vector<std::string>& labels, const std::vector<std::vector<std::vector<double>>>& vals,
                      const std::vector<std::string>& series, const std::vector<double>& bm25, const std::string& title,
                      const std::string& baseline_note) {
  const double W = 900, H = 420, left = 60, right = 20, top = 50, bottom = 90;
  const double plot_w = W - left - right, plot_h = H - top - bottom;
  double ymax = 0;
  for (const auto& g : vals)
    for (const auto& s : g) {
      auto [m, sd] = mean_sd(s);
      ymax = std::max(ymax, m + sd);
    }
  for (double b : bm25) ymax = std::max(ymax, b);
  ymax = std::ceil(ymax * 10 + 0.5) / 10;
  const char* colors[] = {"#4c72b0", "#dd8452", "#55a868", "#c44e52"};
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << W / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" << title << "</text>\n";
  auto y = [&](double v) { return top + plot_h * (1 - v / ymax); };
  for (int t = 0; t <= 5; ++t) {
    double v = ymax * t / 5;
    o << "<line x1=\"" << left << "\" x2=\"" << W - right << "\" y1=\"" << y(v) << "\" y2=\"" << y(v)
      << "\" stroke=\"#ddd\"/><text x=\"" << left - 6 << "\" y=\"" << y(v) + 4 << "\" text-anchor=\"end\">" << v
      << "</text>\n";
  }
  const double gw = plot_w / static_cast<double>(labels.size()), bw = gw * 0.8 / static_cast<double>(series.size());
  for (std::size_t g = 0; g < labels.size(); ++g) {
    const double gx = left + gw * static_cast<double>(g) + gw * 0.1;
    for (std::size_t s = 0; s < series.size(); ++s) {
      auto [m, sd] = mean_sd(vals[g][s]);
      const double x = gx + bw * static_cast<double>(s);
      o << "<rect x=\"" << x << "\" y=\"" << y(m) << "\" width=\"" << bw * 0.9 << "\" height=\"" << y(0) - y(m)
        << "\" fill=\"" << colors[s % 4] << "\"/>\n";
      const double cx = x + bw * 0.45;
      o << "<line x1=\"" << cx << "\" x2=\"" << cx << "\" y1=\"" << y(m - sd) << "\" y2=\"" << y(m + sd)
        << "\" stroke=\"black\"/>\n";
    }
    o << "<text x=\"" << gx + gw * 0.4 << "\" y=\"" << y(0) + 18 << "\" text-anchor=\"middle\">" << labels[g]
      << "</text>\n";
  }
  for (std::size_t s = 0; s < bm25.size() && s < series.size(); ++s) {
    if (std::isnan(bm25[s])) continue;
    o << "<line x1=\"" << left << "\" x2=\"" << W - right << "\" y1=\"" << y(bm25[s]) << "\" y2=\"" << y(bm25[s])
      << "\" stroke=\"" << colors[s % 4] << "\" stroke-dasharray=\"6 4\"/>\n";
  }
  for (std::size_t s = 0; s < series.size(); ++s) {
    const double lx = left + 10 + plot_w / static_cast<double>(series.size()) * static_cast<double>(s), ly = H - 30;
    o << "<rect x=\"" << lx << "\" y=\"" << ly - 10 << "\" width=\"12\" height=\"12\" fill=\"" << colors[s % 4]
      << "\"/><text x=\"" << lx + 18 << "\" y=\"" << ly << "\">" << series[s] << "</text>\n";
  }
  o << "<text x=\"" << left << "\" y=\"" << H - 8 << "\" fill=\"#555\">" << baseline_note
    << "; whiskers: 1 sd over seeds</text>\n</svg>\n";
  return o.str();
}

void write_text_file(const std::filesystem::path& path, const std::string& text) {
  detail::AtomicFile f(path);
  f.stream() << text;
  f.commit();
}

nlohmann::json make_cascade(const CascadeSpec& c) {
  namespace fs = std::filesystem;
  using nlohmann::json;
  json prerank = {{"name", "prerank"}, {"type", "prerank"}, {"keep", c.keep}, {"models", fs::absolute(c.prerank_models).string()}};
  if (c.recall_weight) prerank["recall_weight"] = *c.recall_weight;
  json stages = {{{"name", "recall"}, {"type", "recall"}, {"channels", {{{"type", "bm25"}, {"quota", c.depth}}}}}, prerank};
  if (!c.rank_models.empty()) {
    json rank = {{"name", "rank"}, {"type", "rank"}, {"keep", c.keep}, {"models", fs::absolute(c.rank_models).string()}};
    if (!c.corpus.empty()) rank["corpus"] = fs::absolute(c.corpus).string();
    stages.push_back(rank);
  }
  if (c.truncate) stages.push_back({{"name", "truncate"}, {"type", "truncate"}, {"keep", c.keep}});
  return {{"stages", stages}};
}

std::string svg_curve(const std::vector<double>& x, const std::vector<double>& y, const std::vector<std::string>& labels,
                      const std::string& x_title, const std::string& y_title, const std::string& title) {
  const double W = 640, H = 440, left = 70, right = 30, top = 50, bottom = 60;
  const double pw = W - left - right, ph = H - top - bottom;
  auto range = [](const std::vector<double>& v) {
    double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
    const double pad = std::max(1e-3, (hi - lo) * 0.08);
    return std::pair{lo - pad, hi + pad};
  };
  const auto [x0, x1] = range(x);
  const auto [y0, y1] = range(y);
  auto px = [&](double v) { return left + pw * (v - x0) / (x1 - x0); };
  auto py = [&](double v) { return top + ph * (1 - (v - y0) / (y1 - y0)); };
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << W / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" << title << "</text>\n";
  char buf[64];
  for (int t = 0; t <= 4; ++t) {
    const double vx = x0 + (x1 - x0) * t / 4, vy = y0 + (y1 - y0) * t / 4;
    std::snprintf(buf, sizeof buf, "%.3f", vx);
    o << "<line x1=\"" << px(vx) << "\" x2=\"" << px(vx) << "\" y1=\"" << top << "\" y2=\"" << top + ph
      << "\" stroke=\"#eee\"/><text x=\"" << px(vx) << "\" y=\"" << top + ph + 16 << "\" text-anchor=\"middle\">" << buf
      << "</text>\n";
    std::snprintf(buf, sizeof buf, "%.3f", vy);
    o << "<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << py(vy) << "\" y2=\"" << py(vy)
      << "\" stroke=\"#eee\"/><text x=\"" << left - 6 << "\" y=\"" << py(vy) + 4 << "\" text-anchor=\"end\">" << buf
      << "</text>\n";
  }
  o << "<text x=\"" << left + pw / 2 << "\" y=\"" << H - 18 << "\" text-anchor=\"middle\">" << x_title << "</text>\n"
    << "<text transform=\"translate(18," << top + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << y_title
    << "</text>\n<polyline fill=\"none\" stroke=\"#4c72b0\" stroke-width=\"2\" points=\"";
  for (std::size_t i = 0; i < x.size(); ++i) o << px(x[i]) << "," << py(y[i]) << " ";
  o << "\"/>\n";
  for (std::size_t i = 0; i < x.size(); ++i)
    o << "<circle cx=\"" << px(x[i]) << "\" cy=\"" << py(y[i]) << "\" r=\"4\" fill=\"#4c72b0\"/><text x=\"" << px(x[i]) + 6
      << "\" y=\"" << py(y[i]) - 6 << "\">" << labels[i] << "</text>\n";
  o << "</svg>\n";
  return o.str();
}

}  // namespace funnel::experiments
