#include "cli/place_generate.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include "cli/commands.hpp"
#include "cloud/placement/instance_generators.hpp"

namespace nimbus::cli {

namespace {

struct GenerateOptions {
  std::string kind;
  std::size_t items = 120;
  uint64_t seed = 1;
  int cls = 1;
  std::size_t dims = 2;
  std::string output;
};

// bpp for one dimension; vbp (item types with counts) otherwise.
std::string instance_text(const cloud::placement::Instance& instance) {
  std::string text;
  if (instance.dimensions == 1) {
    text = fmt::format("{}\n{}\n", instance.item_count(), instance.host_types[0].capacity[0]);
    for (const auto& v : instance.demands) text += fmt::format("{}\n", v[0]);
    return text;
  }
  const std::size_t dims = instance.dimensions;
  auto row = [&](const cloud::placement::ResourceVector& v) {
    std::string s;
    for (std::size_t d = 0; d < dims; ++d) s += fmt::format("{}{}", d == 0 ? "" : " ", v[d]);
    return s;
  };
  std::map<std::array<int64_t, cloud::placement::kMaxDimensions>, int64_t> counts;
  std::vector<cloud::placement::ResourceVector> order;
  for (const auto& v : instance.demands)
    if (counts[v.v]++ == 0) order.push_back(v);
  text = fmt::format("{}\n{}\n{}\n", dims, row(instance.host_types[0].capacity), order.size());
  for (const auto& v : order) text += fmt::format("{} {}\n", row(v), counts[v.v]);
  return text;
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
  Instance instance;
  if (o.kind == "uniform") instance = falkenauer_uniform(o.items, o.seed);
  else if (o.kind == "triplet") instance = falkenauer_triplet(o.items / 3, o.seed);
  else if (o.kind == "caprara-toth") {
    if (o.cls < 1 || o.cls > 4) {
      fmt::print(stderr, "nimbus place generate: --class {} is not 1 to 4 (caprara-toth)\n", o.cls);
      return 2;
    }
    instance = caprara_toth(o.items, o.cls, o.seed);
  } else if (o.kind == "panigrahy") {
    if (o.cls < 1 || o.cls > 5 || o.dims < 2 || o.dims > kMaxDimensions) {
      fmt::print(stderr, "nimbus place generate: panigrahy needs --class 1 to 5 and --dims 2 to {}\n", kMaxDimensions);
      return 2;
    }
    instance = panigrahy(o.items, o.dims, o.cls, o.seed);
  } else if (o.seed == 0) {
    fmt::print(stderr, "nimbus place generate: --seed must be at least 1 for {}\n", o.kind);
    return 2;
  } else {
    generate_kind(o.kind, o.seed, instance);  // validated by CLI11
  }
  const std::string text = instance_text(instance);
  if (o.output.empty()) {
    std::cout << text;
    return 0;
  }
  std::ofstream file(o.output);
  if (!file) {
    fmt::print(stderr, "nimbus place generate: {}: cannot open for writing\n", o.output);
    return 2;
  }
  file << text;
  return file ? 0 : 2;
}

} // namespace

void register_place_generate(CLI::App& place) {
  auto options = std::make_shared<GenerateOptions>();
  CLI::App* gen = place.add_subcommand("generate", "Write a generated benchmark instance (bpp, or vbp for vectors)");
  std::vector<std::string> kinds{"uniform", "triplet", "caprara-toth", "panigrahy"};
  for (const std::string& k : cloud::placement::benchmark_kinds_1d()) kinds.push_back(k);
  for (const std::string& k : cloud::placement::benchmark_kinds_vector()) kinds.push_back(k);
  gen->add_option("kind", options->kind,
                  "uniform (capacity 150, weights in [20,100], --items), triplet (capacity 1000, exact triples, "
                  "optimum items/3, --items), caprara-toth (2-D, --class 1-4, --items), panigrahy (--dims 2-4, "
                  "--class 1-5, --items), or a benchmark kind (class and size from --seed): u120 u250 u500 u1000 "
                  "t60 t120 t249 t501 scholl1 scholl2 scholl3 sw wg cutgen hard planted ct1-ct4 pan1-pan5; see docs/placement.md")
      ->required()
      ->check(CLI::IsMember(kinds));
  gen->add_option("-n,--items", options->items, "Number of items (a multiple of 3 for triplet)")->capture_default_str();
  gen->add_option("-s,--seed", options->seed, "Random seed (same seed, same instance)")->capture_default_str();
  gen->add_option("--class", options->cls, "Class of caprara-toth (1-4) or panigrahy (1-5)")->capture_default_str();
  gen->add_option("--dims", options->dims, "Dimensions of panigrahy instances (2-4)")->capture_default_str();
  gen->add_option("-o,--output", options->output, "Write to this file instead of standard output");
  gen->callback([options] { set_exit_code(run_generate(*options)); });
}

} // namespace nimbus::cli
