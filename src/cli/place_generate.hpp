#pragma once
// `nimbus place generate`: writes Falkenauer uniform or triplet instances in the bpp format.
namespace CLI {
class App;
}

namespace nimbus::cli {
void register_place_generate(CLI::App& place);
}
