#include "cloud/placement/simulator/svg_line_chart.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace nimbus::cloud::placement::simulator {

namespace {

std::string escape_xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    default: out += c;
    }
  }
  return out;
}

std::string tick_label(double v) {
  if (v != 0 && (std::fabs(v) >= 1e6 || std::fabs(v) < 1e-3)) return fmt::format("{:.3g}", v);
  return fmt::format("{:.10g}", v);
}

} // namespace

std::vector<double> nice_ticks(double low, double high, int target) {
  std::vector<double> ticks;
  if (!std::isfinite(low) || !std::isfinite(high) || target < 1) return ticks;
  if (high <= low) high = low + 1;
  const double raw = (high - low) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  const double first = std::floor(low / step) * step;
  for (double t = first; t <= high + step * 1e-9; t += step) ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  if (!ticks.empty() && ticks.back() < high) ticks.push_back(ticks.back() + step);
  return ticks;
}

std::string render_svg(const LineChart& chart) {
  const double left = 80, right = 20, top = 50, bottom = 60;
  const double w = chart.width, h = chart.height;
  const double plot_w = w - left - right, plot_h = h - top - bottom;

  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min, y_max = 0;
  for (const auto& s : chart.series)
    for (const auto& [x, y] : s.points) {
      x_min = std::min(x_min, x);
      x_max = std::max(x_max, x);
      y_max = std::max(y_max, y);
    }
  if (!std::isfinite(x_min)) x_min = 0, x_max = 1;
  const std::vector<double> xt = nice_ticks(x_min, x_max, 8);
  const std::vector<double> yt = nice_ticks(0, y_max, 6);
  const double x_lo = xt.front(), x_hi = xt.back() > xt.front() ? xt.back() : xt.front() + 1;
  const double y_lo = 0, y_hi = yt.back() > 0 ? yt.back() : 1;
  const auto px = [&](double x) { return left + (x - x_lo) / (x_hi - x_lo) * plot_w; };
  const auto py = [&](double y) { return top + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h; };

  std::string svg;
  auto out = std::back_inserter(svg);
  fmt::format_to(out,
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
                 "font-family=\"sans-serif\" font-size=\"12\">\n",
                 chart.width, chart.height);
  fmt::format_to(out, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
  fmt::format_to(out, "<text x=\"{}\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">{}</text>\n", w / 2,
                 escape_xml(chart.title));
  for (double t : yt) {
    fmt::format_to(out, "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", left,
                   py(t), left + plot_w, py(t));
    fmt::format_to(out, "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 6, py(t) + 4,
                   tick_label(t));
  }
  for (double t : xt) {
    fmt::format_to(out, "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#eee\"/>\n", px(t),
                   top, px(t), top + plot_h);
    fmt::format_to(out, "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", px(t),
                   top + plot_h + 18, tick_label(t));
  }
  fmt::format_to(out, "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n", left,
                 top, plot_w, plot_h);
  fmt::format_to(out, "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", left + plot_w / 2,
                 h - 15, escape_xml(chart.x_label));
  fmt::format_to(out,
                 "<text x=\"18\" y=\"{:.1f}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {:.1f})\">{}</text>\n",
                 top + plot_h / 2, top + plot_h / 2, escape_xml(chart.y_label));
  // The legend goes on top of the curves, in a light box so lines under it stay readable.
  std::string legend;
  auto legend_out = std::back_inserter(legend);
  std::size_t longest = 0;
  for (const auto& s : chart.series) longest = std::max(longest, s.name.size());
  if (!chart.series.empty())
    fmt::format_to(legend_out,
                   "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"white\" "
                   "fill-opacity=\"0.85\" stroke=\"#999\"/>\n",
                   left + 6, top + 4, 48 + 7.0 * static_cast<double>(longest), 18.0 * static_cast<double>(chart.series.size()) + 6);
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& s = chart.series[i];
    if (!s.points.empty()) {
      fmt::format_to(out, "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"{} points=\"",
                     escape_xml(s.color), s.dashed ? " stroke-dasharray=\"6 4\"" : "");
      for (const auto& [x, y] : s.points) fmt::format_to(out, "{:.1f},{:.1f} ", px(x), py(y));
      svg += "\"/>\n";
    }
    const double ly = top + 16 + 18 * static_cast<double>(i);
    fmt::format_to(legend_out, "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"2\"{}/>\n",
                   left + 12, ly, left + 40, ly, escape_xml(s.color), s.dashed ? " stroke-dasharray=\"6 4\"" : "");
    fmt::format_to(legend_out, "<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", left + 46, ly + 4, escape_xml(s.name));
  }
  svg += legend;
  svg += "</svg>\n";
  return svg;
}

} // namespace nimbus::cloud::placement::simulator
