// `nimbus image list|create`: boot images (kernel, initrd, command line, disk template, mode).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <memory>

#include "cli/cloud_client.hpp"
#include "cli/commands.hpp"

namespace nimbus::cli {
namespace {

using nlohmann::json;

struct ImageOptions {
  CloudTarget target;
  std::string name, kernel, initrd, append = "console=ttyS0", mode = "emulate", disk_template, bios;
};

int image_list(const ImageOptions& o) {
  CloudClient c(o.target, "image list");
  if (!c.ok()) return 2;
  auto r = c.request("GET", "/v1/images");
  if (r.status != 200) return c.fail(r);
  if (o.target.json) {
    fmt::print("{}\n", r.body.dump(2));
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& im : r.body)
    rows.push_back({json_text(im["name"]), json_text(im["mode"]), json_text(im["kernel"]), json_text(im["initrd"]),
                    json_text(im["append"]), json_text(im["disk_template"])});
  print_table({"IMAGE", "MODE", "KERNEL", "INITRD", "APPEND", "DISK_TEMPLATE"}, rows);
  return 0;
}

std::string absolute(const std::string& p) { return p.empty() ? p : std::filesystem::absolute(p).string(); }

int image_create(const ImageOptions& o) {
  CloudClient c(o.target, "image create");
  if (!c.ok()) return 2;
  json body{{"name", o.name},     {"kernel", absolute(o.kernel)},
            {"initrd", absolute(o.initrd)}, {"append", o.append},
            {"mode", o.mode},     {"disk_template", absolute(o.disk_template)},
            {"bios", o.bios}};
  auto r = c.request("POST", "/v1/images", body.dump());
  if (r.status != 201) return c.fail(r);
  if (o.target.json) fmt::print("{}\n", r.body.dump(2));
  else fmt::print("image {} created ({} mode)\n", o.name, o.mode);
  return 0;
}

void register_image(CLI::App& app) {
  auto* i = app.add_subcommand("image", "Boot images: list, create (admin)");
  i->require_subcommand(1);
  {
    auto o = std::make_shared<ImageOptions>();
    auto* cmd = i->add_subcommand("list", "List images");
    add_cloud_target_options(*cmd, o->target);
    cmd->callback([o] { set_exit_code(image_list(*o)); });
  }
  {
    auto o = std::make_shared<ImageOptions>();
    auto* cmd = i->add_subcommand("create", "Register an image (paths must be readable by every host)");
    cmd->add_option("name", o->name, "image name")->required();
    cmd->add_option("--kernel", o->kernel, "kernel Image")->required();
    cmd->add_option("--initrd", o->initrd, "initramfs");
    cmd->add_option("--append", o->append, "kernel command line")->capture_default_str();
    cmd->add_option("--mode", o->mode, "emulate, trap or hw")->capture_default_str();
    cmd->add_option("--disk-template", o->disk_template, "disk image copied for each VM");
    cmd->add_option("--bios", o->bios, "firmware (default: the VMM is the firmware)");
    add_cloud_target_options(*cmd, o->target);
    cmd->callback([o] { set_exit_code(image_create(*o)); });
  }
}

NIMBUS_REGISTER_COMMAND(register_image);

} // namespace
} // namespace nimbus::cli
