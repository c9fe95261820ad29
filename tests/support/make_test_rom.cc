// Writes a test image (tests/support/test_rom.h) to a file, for the Xen lab's guest and the boot
// benchmark:
//   hvmd-test-rom FILE TEXT               a genroms-style option ROM
//   hvmd-test-rom FILE TEXT pci-testdev   a PCI expansion ROM for pci-testdev (1b36:0005)
//   hvmd-test-rom FILE TEXT boot-sector   an MBR boot sector (FILE is written from its start)
//   hvmd-test-rom FILE TEXT unplug-boot-sector   the Xen lab's guest: unplugs, then reads its
//                                                disk every 64 timer ticks (test_rom.h)
#include <cstdio>
#include <string>

#include "tests/support/test_rom.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s FILE TEXT [pci-testdev|boot-sector|unplug-boot-sector]\n", argv[0]);
    return 1;
  }
  std::string text = std::string(argv[2]) + "\r\n";
  std::string kind = argc > 3 ? argv[3] : "";
  bool sector = kind == "boot-sector" || kind == "unplug-boot-sector";
  if (!kind.empty() && kind != "pci-testdev" && !sector) {
    fprintf(stderr, "%s: unknown kind '%s'\n", argv[0], kind.c_str());
    return 1;
  }
  auto image = kind == "pci-testdev" ? hvmd::test::printing_pci_rom(text, 0x1b36, 0x0005, 0x00ff00)
               : kind == "boot-sector"        ? hvmd::test::printing_boot_sector(text)
               : kind == "unplug-boot-sector" ? hvmd::test::unplugging_boot_sector(text)
                                              : hvmd::test::printing_option_rom(text);
  // A boot sector goes over the start of an existing disk image without truncating it.
  FILE* f = fopen(argv[1], sector ? "r+b" : "wb");
  if (!f && sector) f = fopen(argv[1], "wb");
  if (!f || fwrite(image.data(), 1, image.size(), f) != image.size()) {
    fprintf(stderr, "%s: cannot write\n", argv[1]);
    return 1;
  }
  fclose(f);
  return 0;
}
