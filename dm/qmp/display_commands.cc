// QMP's screendump: the display's current picture, in any mode, written to a file (a plain path
// or /dev/fdset/N) as PPM (the default, as in QEMU) or PNG.
#include <fcntl.h>
#include <unistd.h>

#include "dm/display_dump.h"
#include "dm/file_io.h"
#include "dm/qmp/machine_commands.h"

namespace hvmd::qmp {

void register_display_commands(Server& server, Machine& machine) {
  Schema arguments =
      Schema::object({required("filename", Schema::string()), optional("device", Schema::string()),
                      optional("head", Schema::integer()),
                      optional("format", Schema::enumeration({"ppm", "png"}))});
  server.add_command("screendump", arguments, [&server, &machine](const Json& args) {
    std::string filename = args["filename"];
    ImageFormat format =
        args.value("format", "ppm") == "png" ? ImageFormat::kPng : ImageFormat::kPpm;
    if (args.contains("head") && args["head"] != 0)
      return Reply::error("Head " + args["head"].dump() + " does not exist");
    auto image = screendump(machine.display(), format);
    if (!image) return Reply::error(image.error().message);
    auto fd = server.open_file(filename, O_WRONLY | O_CREAT | O_TRUNC);
    if (!fd) return Reply::error(fd.error().message);
    auto written = write_fd(*fd, *image);
    close(*fd);
    if (!written) return Reply::error("writing the screendump: " + written.error().message);
    return Reply::success();
  });
}

}  // namespace hvmd::qmp
