// The vector format: dimensions, host capacities, item types with demands and counts.
#include <fmt/format.h>

#include "cloud/placement/instance_formats.hpp"
#include "cloud/placement/text_lines.hpp"

namespace nimbus::cloud::placement {

Instance read_vbp_instance(std::string_view text, const std::string& file_name, std::size_t max_items) {
  TextLineReader reader(file_name, text);
  Instance instance;

  const TextLine dim_line = reader.next("the number of dimensions on the first line");
  reader.expect_tokens(dim_line, 1, "the number of dimensions");
  const int64_t dims = reader.integer(dim_line, 0, "number of dimensions", 1);
  if (dims > static_cast<int64_t>(kMaxDimensions))
    reader.fail(dim_line.number, fmt::format("{} dimensions given, at most {} are supported", dims, kMaxDimensions));
  const auto dimensions = static_cast<std::size_t>(dims);
  instance.dimensions = dimensions;
  instance.dimension_names = default_dimension_names(dimensions);

  const TextLine capacity_line = reader.next("the host capacities on the second line");
  reader.expect_tokens(capacity_line, dimensions, fmt::format("{} host capacities", dimensions));
  HostType host{"host", {}, 1.0};
  for (std::size_t d = 0; d < dimensions; ++d)
    host.capacity[d] = reader.integer(capacity_line, d, fmt::format("capacity in dimension {}", d + 1), 1);
  instance.host_types.push_back(host);

  const TextLine types_line = reader.next("the number of item types on the third line");
  reader.expect_tokens(types_line, 1, "the number of item types");
  const int64_t types = reader.integer(types_line, 0, "number of item types", 0);
  if (static_cast<uint64_t>(types) > max_items)
    reader.fail(types_line.number, fmt::format("{} item types exceed the limit of {}", types, max_items));

  for (int64_t t = 0; t < types; ++t) {
    const TextLine line = reader.next(fmt::format("{} item type lines, found {}", types, t));
    if (line.tokens.size() == dimensions)
      reader.fail(line.number, fmt::format("missing count: expected {} demands and a count, found {} fields",
                                           dimensions, line.tokens.size()));
    reader.expect_tokens(line, dimensions + 1, fmt::format("{} demands and a count", dimensions));
    ResourceVector demand;
    bool any = false;
    for (std::size_t d = 0; d < dimensions; ++d) {
      demand[d] = reader.integer(line, d, fmt::format("demand in dimension {}", d + 1), 0);
      any = any || demand[d] > 0;
    }
    if (!any) reader.fail(line.number, "item demands are all zero");
    if (!demand.fits_in(host.capacity))
      reader.fail(line.number, "item is larger than the host capacity in at least one dimension");
    const int64_t count = reader.integer(line, dimensions, "count", 0);
    if (instance.demands.size() + static_cast<uint64_t>(count) > max_items)
      reader.fail(line.number, fmt::format("total item count exceeds the limit of {}", max_items));
    instance.demands.insert(instance.demands.end(), static_cast<std::size_t>(count), demand);
  }
  if (!reader.at_end()) {
    const TextLine extra = reader.next("");
    reader.fail(extra.number, fmt::format("unexpected data after the {} item types: '{}'", types, extra.tokens[0]));
  }
  return instance;
}

} // namespace nimbus::cloud::placement
