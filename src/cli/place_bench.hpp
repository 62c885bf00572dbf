#pragma once
// `nimbus place bench`: solves generated instances of the classic kinds and reports, per kind,
// how many were proven optimal, the mean and largest time and the largest gap.
namespace CLI {
class App;
}

namespace nimbus::cli {
void register_place_bench(CLI::App& place);
}
