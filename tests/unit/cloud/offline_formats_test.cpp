#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "cloud/placement/input_error.hpp"
#include "cloud/placement/instance_formats.hpp"

namespace nimbus::cloud::placement {
namespace {

// Expects reading `text` in `format` to fail at `line` with a message containing `fragment`.
void expect_error(InstanceFormat format, const std::string& text, std::size_t line, const std::string& fragment) {
  try {
    read_instance_text(text, "in.txt", format);
    FAIL() << "no error for:\n" << text;
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), "in.txt");
    EXPECT_EQ(e.line(), line) << e.what();
    EXPECT_NE(e.message().find(fragment), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()), "in.txt:" + std::to_string(line) + ": " + e.message());
  }
}

TEST(OfflineFormats, ReadsClassicOneDimensional) {
  const Instance in = read_instance_text("3\n10\n4\n7\n  5  \n", "a.bpp", InstanceFormat::Bpp);
  ASSERT_EQ(in.item_count(), 3u);
  EXPECT_EQ(in.dimensions, 1u);
  ASSERT_EQ(in.host_types.size(), 1u);
  EXPECT_EQ(in.host_types[0].capacity[0], 10);
  EXPECT_EQ(in.demands[1][0], 7);
  EXPECT_EQ(in.demands[2][0], 5);
}

TEST(OfflineFormats, ClassicErrorsNameTheLine) {
  expect_error(InstanceFormat::Bpp, "3\n10\n4\nseven\n5\n", 4, "'seven' is not an integer");
  expect_error(InstanceFormat::Bpp, "3\n10\n4\n-7\n5\n", 4, "negative");
  expect_error(InstanceFormat::Bpp, "3\n10\n4\n11\n5\n", 4, "larger than the capacity 10");
  expect_error(InstanceFormat::Bpp, "3\n10\n4\n7\n", 5, "truncated file: expected 3 item weights, found 2");
  expect_error(InstanceFormat::Bpp, "3\n10\n4\n7\n5\n6\n", 6, "unexpected data");
  expect_error(InstanceFormat::Bpp, "3\n10 20\n", 2, "unexpected '20'");
  expect_error(InstanceFormat::Bpp, "", 1, "truncated file");
  expect_error(InstanceFormat::Bpp, "1\n99999999999999999999\n", 2, "too large");
  expect_error(InstanceFormat::Bpp, "2\n10\n4.5\n", 3, "not an integer");
}

TEST(OfflineFormats, ReadsVectorFormatWithCounts) {
  const Instance in = read_instance_text("2\n100 50\n2\n10 20 3\n# comment\n30 5 1\n", "v.vbp", InstanceFormat::Vbp);
  EXPECT_EQ(in.dimensions, 2u);
  ASSERT_EQ(in.item_count(), 4u);
  EXPECT_EQ(in.demands[0], (ResourceVector{{10, 20, 0, 0}}));
  EXPECT_EQ(in.demands[2], (ResourceVector{{10, 20, 0, 0}}));
  EXPECT_EQ(in.demands[3], (ResourceVector{{30, 5, 0, 0}}));
  EXPECT_EQ(in.host_types[0].capacity, (ResourceVector{{100, 50, 0, 0}}));
}

TEST(OfflineFormats, VectorErrorsNameTheLine) {
  expect_error(InstanceFormat::Vbp, "2\n100 50\n2\n10 20\n30 5 1\n", 4, "missing count");
  expect_error(InstanceFormat::Vbp, "2\n100 50\n2\n10 x 3\n30 5 1\n", 4, "'x' is not an integer");
  expect_error(InstanceFormat::Vbp, "2\n100 50\n2\n10 20 3\n30 60 1\n", 5, "larger than the host capacity");
  expect_error(InstanceFormat::Vbp, "2\n100 50\n2\n10 20 3\n", 5, "truncated file");
  expect_error(InstanceFormat::Vbp, "2\n100\n", 2, "expected 2 host capacities");
  expect_error(InstanceFormat::Vbp, "5\n", 1, "at most 4");
  expect_error(InstanceFormat::Vbp, "2\n100 50\n1\n10 20 -3\n", 4, "negative");
  expect_error(InstanceFormat::Vbp, "2\n100 50\n1\n0 0 3\n", 4, "all zero");
}

TEST(OfflineFormats, ReadsJsonWithHostTypesAndNamedDemands) {
  const std::string text = R"({
  "dimensions": ["vcpu", "mem"],
  "host_types": [
    {"name": "small", "capacity": [4, 16], "cost": 1.5},
    {"name": "large", "capacity": {"vcpu": 16, "mem": 64}, "cost": 5}
  ],
  "vms": [
    {"name": "web", "demand": [2, 4], "count": 2},
    {"name": "db", "demand": {"mem": 32, "vcpu": 8}}
  ]
})";
  const Instance in = read_instance_text(text, "c.json", InstanceFormat::Json);
  ASSERT_EQ(in.host_types.size(), 2u);
  EXPECT_EQ(in.host_types[1].capacity, (ResourceVector{{16, 64, 0, 0}}));
  EXPECT_DOUBLE_EQ(in.host_types[0].cost, 1.5);
  ASSERT_EQ(in.item_count(), 3u);
  EXPECT_EQ(in.item_names[0], "web#0");
  EXPECT_EQ(in.item_names[2], "db");
  EXPECT_EQ(in.demands[2], (ResourceVector{{8, 32, 0, 0}}));
}

TEST(OfflineFormats, JsonErrorsNameTheLine) {
  const std::string head = "{\n\"host_types\": [{\"capacity\": [4, 16]}],\n\"vms\": [\n";
  expect_error(InstanceFormat::Json, head + "{\"demand\": [1, -2]}\n]}", 4, "negative");
  expect_error(InstanceFormat::Json, head + "{\"demand\": [1, \"x\"]}\n]}", 4, "must be a number");
  expect_error(InstanceFormat::Json, head + "{\"demand\": [5, 2]}\n]}", 4, "larger than every host type");
  expect_error(InstanceFormat::Json, head + "{\"demand\": [1, 2], \"count\": }\n]}", 4, "expected a JSON value");
  expect_error(InstanceFormat::Json, head + "{\"demand\": [1, 2]},\n", 5, "truncated file");
  expect_error(InstanceFormat::Json, head + "{\"demand\": [1, 2], \"cnt\": 2}\n]}", 4, "unknown member \"cnt\"");
  expect_error(InstanceFormat::Json, head + "{\"demand\": [1]}\n]}", 4, "has 1 values");
  expect_error(InstanceFormat::Json, "{\"vms\": []}", 1, "missing \"host_types\"");
  expect_error(InstanceFormat::Json, "[1, 2]", 1, "must be an object");
}

TEST(OfflineFormats, DetectsFormatFromNameAndContent) {
  EXPECT_EQ(detect_instance_format("", "x.json"), InstanceFormat::Json);
  EXPECT_EQ(detect_instance_format("", "x.vbp"), InstanceFormat::Vbp);
  EXPECT_EQ(detect_instance_format("", "x.bpp"), InstanceFormat::Bpp);
  EXPECT_EQ(detect_instance_format("  {\"vms\": []}", "x"), InstanceFormat::Json);
  EXPECT_EQ(detect_instance_format("3\n10\n4\n7\n5\n", "x"), InstanceFormat::Bpp);
  EXPECT_EQ(detect_instance_format("1\n10\n2\n4 1\n7 2\n", "x"), InstanceFormat::Vbp);
  EXPECT_EQ(detect_instance_format("2\n10 10\n1\n4 1 1\n", "x"), InstanceFormat::Vbp);
}

TEST(OfflineFormats, MissingFileIsAnInputError) {
  try {
    read_instance_file("/nonexistent/placement/file.bpp", InstanceFormat::Auto);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.line(), 0u);
    EXPECT_NE(e.message().find("cannot open"), std::string::npos);
  }
}

} // namespace
} // namespace nimbus::cloud::placement
