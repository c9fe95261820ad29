// hvmd-pci: explains whether a PCI device can be passed through and binds it for VFIO or Xen.
#include <iostream>
#include <string>
#include <vector>

#include "passthrough/cli/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return hvmd::pcicli::run_cli(args, std::cout, std::cerr);
}
