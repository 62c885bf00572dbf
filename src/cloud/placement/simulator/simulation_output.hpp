#pragma once
// The simulator's outputs: the curves as CSV and as an SVG chart, the summary as text and JSON.
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cloud/placement/simulator/simulation.hpp"

namespace nimbus::cloud::placement::simulator {

void write_samples_csv(const SimulationReport& report, std::ostream& out);
std::string render_report_svg(const SimulationReport& report);
nlohmann::json report_json(const SimulationReport& report);
void write_summary_text(const SimulationReport& report, std::ostream& out);

} // namespace nimbus::cloud::placement::simulator
