// JSON instances: named dimensions, several host types each with a cost, and VMs with counts.
#include <fmt/format.h>

#include <cmath>

#include "cloud/placement/input_error.hpp"
#include "cloud/placement/instance_formats.hpp"
#include "cloud/placement/located_json.hpp"

namespace nimbus::cloud::placement {

namespace {

using Kind = LocatedJson::Kind;

class JsonInstanceReader {
public:
  JsonInstanceReader(const std::string& file, std::size_t max_items) : file_(file), max_items_(max_items) {}

  Instance read(const LocatedJson& root) {
    require(root, Kind::Object, "the instance");
    check_members(root, {"dimensions", "host_types", "vms"}, "the instance");
    const LocatedJson* hosts = root.find("host_types");
    if (!hosts) fail(root.line, "missing \"host_types\" (an array of host types)");
    require(*hosts, Kind::Array, "\"host_types\"");
    if (hosts->elements.empty()) fail(hosts->line, "\"host_types\" is empty: at least one host type is needed");
    const LocatedJson* vms = root.find("vms");
    if (!vms) fail(root.line, "missing \"vms\" (an array of VMs)");
    require(*vms, Kind::Array, "\"vms\"");

    if (const LocatedJson* dims = root.find("dimensions")) {
      require(*dims, Kind::Array, "\"dimensions\"");
      if (dims->elements.empty() || dims->elements.size() > kMaxDimensions)
        fail(dims->line, fmt::format("\"dimensions\" must name 1 to {} resources", kMaxDimensions));
      for (const LocatedJson& d : dims->elements) {
        require(d, Kind::String, "a dimension name");
        instance_.dimension_names.push_back(d.text);
      }
      instance_.dimensions = dims->elements.size();
    } else {
      const LocatedJson* cap = hosts->elements[0].find("capacity");
      if (!cap || cap->kind != Kind::Array || cap->elements.empty() || cap->elements.size() > kMaxDimensions)
        fail(hosts->elements[0].line, fmt::format("without \"dimensions\", the first host type's \"capacity\" must be "
                                                  "an array of 1 to {} numbers",
                                                  kMaxDimensions));
      instance_.dimensions = cap->elements.size();
      instance_.dimension_names = default_dimension_names(instance_.dimensions);
    }

    for (std::size_t t = 0; t < hosts->elements.size(); ++t) read_host_type(hosts->elements[t], t);
    for (std::size_t v = 0; v < vms->elements.size(); ++v) read_vm(vms->elements[v], v);
    return std::move(instance_);
  }

private:
  const std::string& file_;
  Instance instance_;
  std::size_t max_items_;

  [[noreturn]] void fail(std::size_t line, const std::string& message) const { throw InputError(file_, line, message); }

  void require(const LocatedJson& v, Kind kind, const std::string& what) const {
    if (v.kind != kind)
      fail(v.line, fmt::format("{} must be {}, found {}", what, LocatedJson::kind_name(kind), LocatedJson::kind_name(v.kind)));
  }

  void check_members(const LocatedJson& object, std::initializer_list<std::string_view> allowed, const std::string& what) const {
    for (const auto& [key, value] : object.members) {
      bool known = false;
      for (std::string_view a : allowed) known = known || key == a;
      if (!known) fail(value.line, fmt::format("unknown member \"{}\" in {}", key, what));
    }
  }

  int64_t quantity(const LocatedJson& v, const std::string& what, int64_t min) const {
    if (v.kind != Kind::Number) fail(v.line, fmt::format("{} must be a number, found {}", what, LocatedJson::kind_name(v.kind)));
    if (!v.is_integer) fail(v.line, fmt::format("{} {} is not an integer", what, v.text));
    if (v.number < 0) fail(v.line, fmt::format("{} {} is negative", what, v.text));
    if (v.number > static_cast<double>(kMaxQuantity)) fail(v.line, fmt::format("{} {} is too large (at most {})", what, v.text, kMaxQuantity));
    const auto value = static_cast<int64_t>(v.number);
    if (value < min) fail(v.line, fmt::format("{} {} must be at least {}", what, value, min));
    return value;
  }

  // A vector is an array with one number per dimension, or an object keyed by dimension name
  // (missing names are zero).
  ResourceVector vector(const LocatedJson& v, const std::string& what, int64_t min) const {
    ResourceVector r;
    const std::size_t dims = instance_.dimensions;
    if (v.kind == Kind::Array) {
      if (v.elements.size() != dims)
        fail(v.line, fmt::format("{} has {} values, expected one per dimension ({})", what, v.elements.size(), dims));
      for (std::size_t d = 0; d < dims; ++d)
        r[d] = quantity(v.elements[d], fmt::format("{} \"{}\"", what, instance_.dimension_names[d]), min);
      return r;
    }
    if (v.kind == Kind::Object) {
      for (const auto& [key, value] : v.members) {
        std::size_t d = 0;
        while (d < dims && instance_.dimension_names[d] != key) ++d;
        if (d == dims) fail(value.line, fmt::format("{} names unknown dimension \"{}\"", what, key));
        r[d] = quantity(value, fmt::format("{} \"{}\"", what, key), min);
      }
      return r;
    }
    fail(v.line, fmt::format("{} must be an array or an object, found {}", what, LocatedJson::kind_name(v.kind)));
  }

  void read_host_type(const LocatedJson& h, std::size_t index) {
    const std::string what = fmt::format("host type {}", index);
    require(h, Kind::Object, what);
    check_members(h, {"name", "capacity", "cost"}, what);
    HostType type;
    type.name = fmt::format("type{}", index);
    if (const LocatedJson* name = h.find("name")) {
      require(*name, Kind::String, what + " \"name\"");
      type.name = name->text;
    }
    const LocatedJson* cap = h.find("capacity");
    if (!cap) fail(h.line, fmt::format("{} (\"{}\") has no \"capacity\"", what, type.name));
    type.capacity = vector(*cap, fmt::format("capacity of host type \"{}\"", type.name), 1);
    if (const LocatedJson* cost = h.find("cost")) {
      if (cost->kind != Kind::Number) fail(cost->line, fmt::format("cost of host type \"{}\" must be a number", type.name));
      if (cost->number < 0) fail(cost->line, fmt::format("cost of host type \"{}\" is negative", type.name));
      if (!std::isfinite(cost->number) || cost->number > 1e12)
        fail(cost->line, fmt::format("cost of host type \"{}\" is too large", type.name));
      type.cost = cost->number;
    }
    instance_.host_types.push_back(std::move(type));
  }

  void read_vm(const LocatedJson& v, std::size_t index) {
    const std::string what = fmt::format("VM {}", index);
    require(v, Kind::Object, what);
    check_members(v, {"name", "demand", "count"}, what);
    std::string name = fmt::format("vm{}", index);
    if (const LocatedJson* n = v.find("name")) {
      require(*n, Kind::String, what + " \"name\"");
      name = n->text;
    }
    const LocatedJson* demand_json = v.find("demand");
    if (!demand_json) fail(v.line, fmt::format("VM \"{}\" has no \"demand\"", name));
    const ResourceVector demand = vector(*demand_json, fmt::format("demand of VM \"{}\"", name), 0);
    bool any = false;
    for (std::size_t d = 0; d < instance_.dimensions; ++d) any = any || demand[d] > 0;
    if (!any) fail(demand_json->line, fmt::format("demand of VM \"{}\" is zero in every dimension", name));
    if (cheapest_fitting_host_type(instance_, demand) < 0)
      fail(demand_json->line, fmt::format("VM \"{}\" is larger than every host type", name));
    int64_t count = 1;
    if (const LocatedJson* c = v.find("count")) count = quantity(*c, fmt::format("count of VM \"{}\"", name), 0);
    if (instance_.demands.size() + static_cast<uint64_t>(count) > max_items_)
      fail(v.line, fmt::format("total VM count exceeds the limit of {}", max_items_));
    for (int64_t k = 0; k < count; ++k) {
      instance_.demands.push_back(demand);
      instance_.item_names.push_back(count == 1 ? name : fmt::format("{}#{}", name, k));
    }
  }
};

} // namespace

Instance read_json_instance(std::string_view text, const std::string& file_name, std::size_t max_items) {
  const LocatedJson root = parse_located_json(text, file_name);
  return JsonInstanceReader(file_name, max_items).read(root);
}

} // namespace nimbus::cloud::placement
