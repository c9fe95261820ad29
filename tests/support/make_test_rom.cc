// Writes a test option ROM (tests/support/test_rom.h) to a file, for the Xen lab's guest:
//   hvmd-test-rom FILE TEXT            a genroms-style ROM
//   hvmd-test-rom FILE TEXT pci-testdev  a PCI expansion ROM for pci-testdev (1b36:0005)
#include <cstdio>
#include <string>

#include "tests/support/test_rom.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s FILE TEXT [pci-testdev]\n", argv[0]);
    return 1;
  }
  std::string text = std::string(argv[2]) + "\r\n";
  bool pci = argc > 3 && std::string(argv[3]) == "pci-testdev";
  auto rom = pci ? hvmd::test::printing_pci_rom(text, 0x1b36, 0x0005, 0x00ff00)
                 : hvmd::test::printing_option_rom(text);
  FILE* f = fopen(argv[1], "wb");
  if (!f || fwrite(rom.data(), 1, rom.size(), f) != rom.size()) {
    fprintf(stderr, "%s: cannot write\n", argv[1]);
    return 1;
  }
  fclose(f);
  return 0;
}
