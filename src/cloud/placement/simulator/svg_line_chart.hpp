#pragma once
// A small SVG writer for line charts: axes with round-number ticks, one polyline per series,
// a legend and a title. Enough for the simulator's curves; no dependencies.
#include <string>
#include <utility>
#include <vector>

namespace nimbus::cloud::placement::simulator {

struct ChartSeries {
  std::string name;
  std::string color;  // any SVG colour, e.g. "#1f77b4"
  std::vector<std::pair<double, double>> points;  // (x, y), x ascending
  bool dashed = false;
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<ChartSeries> series;
  int width = 960;
  int height = 540;
};

std::string render_svg(const LineChart& chart);

// Round tick positions covering [low, high] (about `target` of them, steps of 1, 2 or 5 x 10^k).
std::vector<double> nice_ticks(double low, double high, int target);

} // namespace nimbus::cloud::placement::simulator
