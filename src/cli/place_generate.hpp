#pragma once
// `nimbus place generate`: writes generated benchmark instances (bpp, or vbp for vectors).
namespace CLI {
class App;
}

namespace nimbus::cli {
void register_place_generate(CLI::App& place);
}
