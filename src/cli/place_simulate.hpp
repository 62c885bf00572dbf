#pragma once
// `nimbus place simulate` is registered under `nimbus place` by place_command.cpp and
// implemented with the online engine in place_simulate.cpp.
namespace CLI {
class App;
}

namespace nimbus::cli {
void register_place_simulate(CLI::App& place);
}
