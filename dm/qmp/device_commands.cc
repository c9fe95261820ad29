// QMP's commands for drives and links: removable media as libxl changes a guest's CD (eject,
// then add-fd and blockdev-change-medium with /dev/fdset/N) and QEMU users type them (query-block,
// eject, blockdev-change-medium, the older change), and a NIC's link (set_link); and the
// DEVICE_DELETED event of device_del and of the guest's PCI hot-plug ejects.
#include <fcntl.h>

#include <cctype>

#include "dm/qmp/machine_commands.h"
#include "dm/removable_media.h"

namespace hvmd::qmp {
namespace {

// The drive a command names: "id" is the drive device's id, "device" the drive's own id.
Result<RemovableMedia*> find_media(Machine& machine, const Json& args) {
  const Json* id = argument(args, "id");
  const Json* device = argument(args, "device");
  if (!id && !device) return make_error("Parameter 'id' or 'device' is missing");
  for (Device* d : machine.devices()) {
    auto* media = dynamic_cast<RemovableMedia*>(d);
    if (!media) continue;
    if ((id && d->id() == id->get<std::string>()) ||
        (device && media->drive_id() == device->get<std::string>()))
      return media;
  }
  std::string name = id ? id->get<std::string>() : device->get<std::string>();
  return make_error("Device '%s' not found", name.c_str());
}

Reply change_medium(Server& server, Machine& machine, const Json& args, const char* file_key) {
  auto media = find_media(machine, args);
  if (!media) return Reply::error(media.error().message, "DeviceNotFound");
  const Json& filename = args[file_key];
  const Json* format = argument(args, "format");
  if (format && *format != "raw")
    return Reply::error("Format '" + format->get<std::string>() + "' is not supported (raw)");
  if (!machine.io_executor()) return Reply::error("This machine has no block I/O");
  auto fd = server.open_file(filename, O_RDONLY);
  if (!fd) return Reply::error(fd.error().message);
  auto medium = BlockBackend::from_fd(*fd, filename, /*read_only=*/true, CacheMode::kWriteback,
                                      *machine.io_executor());
  if (!medium) return Reply::error(medium.error().message);
  if (auto changed = (*media)->change_medium(std::move(*medium)); !changed)
    return Reply::error(changed.error().message);
  return Reply::success();
}

// blockdev-add's node: driver raw over a file (a nested {"driver":"file","filename"} or the
// node-name of a file node added before), or driver file itself. The node becomes a drive of the
// machine's list under its node-name, which device_add's drive= then claims as a -drive id.
Reply blockdev_add(Machine& machine, const Json& args) {
  std::string name = args["node-name"];
  if (name.empty() || !isalpha(static_cast<unsigned char>(name[0])))
    return Reply::error("Invalid node-name: '" + name + "'");
  if (machine.has_drive(name)) return Reply::error("Duplicate nodes with node-name='" + name + "'");
  DriveSpec spec;
  spec.id = name;
  spec.interface = "none";
  spec.text = "blockdev-add node-name=" + name;
  if (const Json* ro = argument(args, "read-only")) spec.read_only = ro->get<bool>();
  const Json* filename = argument(args, "filename");
  const Json* file = argument(args, "file");
  if (args["driver"] == "file") {
    if (!filename) return Reply::error("Parameter 'filename' is missing");
    if (file) return Reply::error("Parameter 'file' is unexpected");
    spec.file = *filename;
  } else {
    if (filename) return Reply::error("Parameter 'filename' is unexpected");
    if (!file) return Reply::error("Parameter 'file' is missing");
    if (file->is_string()) {
      // A file node by name: the raw node takes its image, and its place in the list.
      std::string child = *file;
      auto claimed = machine.claim_drive(child);
      if (!claimed) return Reply::error("Cannot find device='' nor node-name='" + child + "'");
      spec.file = claimed->file;
      spec.read_only = spec.read_only || claimed->read_only;
    } else if (file->is_object()) {
      static const Schema kFile = Schema::object(
          {required("driver", Schema::enumeration({"file"})),
           required("filename", Schema::string()), optional("node-name", Schema::string()),
           optional("aio", Schema::string()), optional("locking", Schema::string())});
      if (auto error = kFile.check(*file, "file")) return Reply::error(*error);
      spec.file = (*file)["filename"];
    } else {
      return Reply::error("Invalid parameter type for 'file', expected: BlockdevRef");
    }
  }
  machine.add_drive(std::move(spec));
  return Reply::success();
}

}  // namespace

void register_device_commands(Server& server, Machine& machine) {
  // DEVICE_DELETED for each device the machine lets go of: at once for most, or when the guest
  // ejects a PCI device's slot under ACPI hot-plug, which may be long after device_del returned.
  machine.set_device_deleted_handler([&server](const std::string& id, const std::string& path) {
    Json data = {{"path", path}};
    if (!id.empty()) data["device"] = id;
    server.emit_event("DEVICE_DELETED", data);
  });
  server.add_command("query-block", no_arguments(), [&machine](const Json&) {
    Json list = Json::array();
    for (Device* d : machine.devices()) {
      auto* media = dynamic_cast<RemovableMedia*>(d);
      if (!media) continue;
      Json info = {{"device", media->drive_id()},
                   {"qdev", d->id()},
                   {"type", "unknown"},
                   {"removable", media->removable()},
                   {"locked", media->locked()}};
      if (media->removable()) info["tray_open"] = media->tray_open();
      if (const BlockBackend* medium = media->medium()) {
        info["inserted"] = {
            {"file", medium->path()},
            {"ro", medium->read_only()},
            {"drv", "raw"},
            {"image",
             {{"filename", medium->path()}, {"format", "raw"}, {"virtual-size", medium->size()}}}};
      }
      list.push_back(info);
    }
    return Reply::success(list);
  });
  server.add_command(
      "eject",
      Schema::object({optional("id", Schema::string()), optional("device", Schema::string()),
                      optional("force", Schema::boolean())}),
      [&machine](const Json& args) {
        auto media = find_media(machine, args);
        if (!media) return Reply::error(media.error().message, "DeviceNotFound");
        const Json* force = argument(args, "force");
        if (auto ejected = (*media)->eject(force && force->get<bool>()); !ejected)
          return Reply::error(ejected.error().message);
        return Reply::success();
      });
  server.add_command(
      "blockdev-change-medium",
      Schema::object(
          {optional("id", Schema::string()), optional("device", Schema::string()),
           required("filename", Schema::string()), optional("format", Schema::string()),
           optional("read-only-mode", Schema::enumeration({"retain", "read-only", "read-write"})),
           optional("force", Schema::boolean())}),
      [&server, &machine](const Json& args) {
        return change_medium(server, machine, args, "filename");
      });
  // set_link {name, up}: name is a NIC's device id or its netdev's id.
  server.add_command(
      "set_link",
      Schema::object({required("name", Schema::string()), required("up", Schema::boolean())}),
      [&machine](const Json& args) {
        const Json* name = &args["name"];
        const Json* up = &args["up"];
        NetBackend* backend = nullptr;
        if (Device* device = machine.find_device(name->get<std::string>()))
          if (auto* client = dynamic_cast<NetClient*>(device)) backend = client->backend();
        if (!backend) {
          auto netdev = machine.netdev(name->get<std::string>());
          if (netdev) backend = *netdev;
        }
        if (!backend)
          return Reply::error("Device '" + name->get<std::string>() + "' not found",
                              "DeviceNotFound");
        backend->set_link_up(up->get<bool>());
        return Reply::success();
      });
  server.add_command(
      "blockdev-add",
      Schema::object({required("driver", Schema::enumeration({"raw", "file"})),
                      required("node-name", Schema::string()),
                      optional("read-only", Schema::boolean()),
                      optional("auto-read-only", Schema::boolean()),
                      optional("filename", Schema::string()), optional("file", Schema::any()),
                      optional("discard", Schema::enumeration({"ignore", "unmap", "off", "on"})),
                      optional("cache", Schema::any())}),
      [&machine](const Json& args) { return blockdev_add(machine, args); });
  server.add_command("blockdev-del", Schema::object({required("node-name", Schema::string())}),
                     [&machine](const Json& args) {
                       if (auto removed = machine.remove_drive(args["node-name"]); !removed)
                         return Reply::error(removed.error().message);
                       return Reply::success();
                     });
  // The pre-2.5 form older toolstacks send.
  server.add_command(
      "change",
      Schema::object({required("device", Schema::string()), required("target", Schema::string()),
                      optional("arg", Schema::string())}),
      [&server, &machine](const Json& args) {
        return change_medium(server, machine, args, "target");
      });
}

}  // namespace hvmd::qmp
