// QMP's screendump: the display's current picture, in any mode, written to a file (a plain path
// or /dev/fdset/N) as PPM (the default, as in QEMU) or PNG.
#include <fcntl.h>
#include <unistd.h>

#include "dm/display_dump.h"
#include "dm/file_io.h"
#include "dm/qmp/machine_commands.h"

namespace hvmd::qmp {

void register_display_commands(Server& server, Machine& machine) {
  server.add_command("screendump", [&server, &machine](const Json& args) {
    if (auto r = check_arguments(args, {"filename", "device", "head", "format"}); !r.ok) return r;
    const Json* filename = argument(args, "filename", Json::value_t::string);
    if (!filename) return Reply::error("Parameter 'filename' is missing");
    ImageFormat format = ImageFormat::kPpm;
    if (const Json* f = argument(args, "format", Json::value_t::string)) {
      if (*f == "png")
        format = ImageFormat::kPng;
      else if (*f != "ppm")
        return Reply::error("Parameter 'format' does not accept value '" + f->get<std::string>() +
                            "'");
    }
    if (args.contains("head") && (!args["head"].is_number_integer() || args["head"] != 0))
      return Reply::error("Head " + args["head"].dump() + " does not exist");
    auto image = screendump(machine.display(), format);
    if (!image) return Reply::error(image.error().message);
    auto fd = server.open_file(*filename, O_WRONLY | O_CREAT | O_TRUNC);
    if (!fd) return Reply::error(fd.error().message);
    auto written = write_fd(*fd, *image);
    close(*fd);
    if (!written) return Reply::error("writing the screendump: " + written.error().message);
    return Reply::success();
  });
}

}  // namespace hvmd::qmp
