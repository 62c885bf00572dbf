// The classic one-dimensional format: item count, capacity, then one weight per line.
#include <fmt/format.h>

#include "cloud/placement/instance_formats.hpp"
#include "cloud/placement/text_lines.hpp"

namespace nimbus::cloud::placement {

Instance read_bpp_instance(std::string_view text, const std::string& file_name, std::size_t max_items) {
  TextLineReader reader(file_name, text);
  Instance instance;
  instance.dimensions = 1;
  instance.dimension_names = default_dimension_names(1);

  const TextLine count_line = reader.next("the item count on the first line");
  reader.expect_tokens(count_line, 1, "the item count");
  const int64_t count = reader.integer(count_line, 0, "item count", 0);
  if (static_cast<uint64_t>(count) > max_items)
    reader.fail(count_line.number, fmt::format("item count {} exceeds the limit of {}", count, max_items));

  const TextLine capacity_line = reader.next("the bin capacity on the second line");
  reader.expect_tokens(capacity_line, 1, "the bin capacity");
  HostType host{"bin", {}, 1.0};
  host.capacity[0] = reader.integer(capacity_line, 0, "capacity", 1);
  instance.host_types.push_back(host);

  instance.demands.reserve(static_cast<std::size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const TextLine line = reader.next(fmt::format("{} item weights, found {}", count, i));
    reader.expect_tokens(line, 1, "one item weight");
    ResourceVector demand;
    demand[0] = reader.integer(line, 0, "item weight", 1);
    if (demand[0] > host.capacity[0])
      reader.fail(line.number, fmt::format("item weight {} is larger than the capacity {}", demand[0], host.capacity[0]));
    instance.demands.push_back(demand);
  }
  if (!reader.at_end()) {
    const TextLine extra = reader.next("");
    reader.fail(extra.number, fmt::format("unexpected data after the {} item weights: '{}'", count, extra.tokens[0]));
  }
  return instance;
}

} // namespace nimbus::cloud::placement
