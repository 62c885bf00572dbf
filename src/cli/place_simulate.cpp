// `nimbus place simulate`: replay or generate a placement trace through the online engine.
#include "cli/place_simulate.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <unistd.h>

#include "cli/commands.hpp"
#include "cloud/placement/simulator/simulate_command.hpp"

namespace nimbus::cli {

void register_place_simulate(CLI::App& place) {
  auto options = std::make_shared<cloud::placement::simulator::SimulateOptions>();
  CLI::App* sim = place.add_subcommand(
      "simulate",
      "Run the online placement engine over a trace and compare active hosts with the lower bound.\n"
      "Trace CSV lines: time,arrive,VM,D1..Dn[,aff:GROUP][,anti:GROUP] | time,depart,VM |\n"
      "time,host_add,HOST,C1..Cn | time,host_drain,HOST | time,host_remove,HOST ('#' comments).\n"
      "Exit codes: 0 done, 2 bad input (file:line: message), 1 an output file cannot be written.");
  sim->footer(
      "Outputs: a summary on stdout; --csv/--svg curves of active hosts, the lower bound (at each sample\n"
      "the continuous bound over the live VMs' demands, max over dimensions) and rejections.\n"
      "Example: nimbus place simulate --generate --hosts 10000 --events 1000000 --svg fleet.svg");
  auto* source = sim->add_option_group("trace source", "exactly one of --trace and --generate");
  source->add_option("--trace", options->trace_path, "Trace CSV file to replay")->check(CLI::ExistingFile);
  source->add_flag("--generate", options->generate,
                   "Generate a trace: Poisson arrivals, log-normal lifetimes, public-cloud VM sizes (vCPU, GiB)");
  source->require_option(1);
  sim->add_option("--policy", options->policy, "best-fit | worst-fit | dot-product | hybrid")
      ->capture_default_str();
  sim->add_option("--hosts", options->hosts, "Hosts in the fleet at time 0 (the trace may add more)")
      ->capture_default_str();
  sim->add_option("--host-capacity", options->host_capacity,
                  "Capacity of each initial host, comma-separated per dimension (e.g. vCPU,GiB)")
      ->capture_default_str();
  sim->add_option("--reserve", options->reserve, "Capacity reserved on every host per dimension (e.g. 2,8)");
  sim->add_option("--overcommit", options->overcommit, "Overcommit ratio per dimension (e.g. 2.0,1.0)");
  sim->add_option("--events", options->generator.events, "Generated trace: number of events")->capture_default_str();
  sim->add_option("--seed", options->generator.seed, "Generated trace: random seed")->capture_default_str();
  sim->add_option("--arrival-rate", options->generator.arrival_rate,
                  "Generated trace: VM arrivals per second (0 = derive from --load)");
  sim->add_option("--load", options->load,
                  "Generated trace: offered vCPU load as a fraction of the fleet (when no --arrival-rate)")
      ->capture_default_str();
  sim->add_option("--mean-lifetime", options->generator.mean_lifetime, "Generated trace: mean VM lifetime (s)")
      ->capture_default_str();
  sim->add_option("--lifetime-sigma", options->generator.lifetime_sigma,
                  "Generated trace: log-normal sigma of lifetimes (tail weight)")
      ->capture_default_str();
  sim->add_option("--samples", options->samples, "Points on the curves")->capture_default_str();
  sim->add_option("--consolidate-every", options->consolidate_every,
                  "Run the consolidation planner every this many trace seconds (0 = never)")
      ->capture_default_str();
  sim->add_option("--migration-budget", options->migration_budget, "VMs moved per consolidation round")
      ->capture_default_str();
  sim->add_option("--csv", options->csv_path, "Write the curves (active hosts, bound, rejections) as CSV");
  sim->add_option("--svg", options->svg_path, "Write the curves as an SVG chart");
  sim->add_option("--json", options->json_path, "Write the summary as JSON");
  sim->add_option("--write-trace", options->write_trace_path, "Save the trace that was run as CSV");
  sim->add_flag("--progress,!--no-progress", options->progress, "Progress lines on stderr (default: on a terminal)");
  options->progress = isatty(STDERR_FILENO) != 0;
  sim->callback([options] {
    set_exit_code(cloud::placement::simulator::run_simulate_command(*options, std::cout, std::cerr));
  });
}

} // namespace nimbus::cli
