#include "cli/place_generate.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cloud/placement/instance_generators.hpp"

namespace nimbus::cli {

namespace {

struct GenerateOptions {
  std::string kind;
  std::size_t items = 120;
  uint64_t seed = 1;
  std::string output;
};

void write_bpp(std::ostream& out, const cloud::placement::Instance& instance) {
  std::string text = fmt::format("{}\n{}\n", instance.item_count(), instance.host_types[0].capacity[0]);
  for (const auto& v : instance.demands) text += fmt::format("{}\n", v[0]);
  out << text;
}

int run_generate(const GenerateOptions& o) {
  using namespace cloud::placement;
  if (o.kind == "triplet" && o.items % 3 != 0) {
    fmt::print(stderr, "nimbus place generate: --items {} is not a multiple of 3 (triplet instances)\n", o.items);
    return 2;
  }
  if (o.items > kMaxItems) {
    fmt::print(stderr, "nimbus place generate: --items {} exceeds the limit of {}\n", o.items, kMaxItems);
    return 2;
  }
  const Instance instance = o.kind == "uniform" ? falkenauer_uniform(o.items, o.seed) : falkenauer_triplet(o.items / 3, o.seed);
  if (o.output.empty()) {
    write_bpp(std::cout, instance);
    return 0;
  }
  std::ofstream file(o.output);
  if (!file) {
    fmt::print(stderr, "nimbus place generate: {}: cannot open for writing\n", o.output);
    return 2;
  }
  write_bpp(file, instance);
  return file ? 0 : 2;
}

} // namespace

void register_place_generate(CLI::App& place) {
  auto options = std::make_shared<GenerateOptions>();
  CLI::App* gen = place.add_subcommand("generate", "Write a Falkenauer uniform or triplet instance (bpp format)");
  gen->add_option("kind", options->kind, "uniform: capacity 150, weights in [20,100]; triplet: capacity 1000, "
                                         "items in (250,500) in exact triples, optimum = items/3")
      ->required()
      ->check(CLI::IsMember({"uniform", "triplet"}));
  gen->add_option("-n,--items", options->items, "Number of items (a multiple of 3 for triplet)")->capture_default_str();
  gen->add_option("-s,--seed", options->seed, "Random seed (same seed, same instance)")->capture_default_str();
  gen->add_option("-o,--output", options->output, "Write to this file instead of standard output");
  gen->callback([options] { set_exit_code(run_generate(*options)); });
}

} // namespace nimbus::cli
