// Writes the tiny test bzImage (tests/support/tiny_kernel.h) to a file, e.g. to try it on QEMU or
// in the Xen lab: hvmd-tiny-kernel FILE [BODY_BYTES]
#include <cstdio>
#include <cstdlib>

#include "tests/support/tiny_kernel.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s FILE [BODY_BYTES]\n", argv[0]);
    return 2;
  }
  size_t body = argc == 3 ? strtoull(argv[2], nullptr, 0) : 4096;
  if (body < 512) body = 512;
  auto image = hvmd::test::tiny_bzimage(body);
  FILE* f = fopen(argv[1], "wb");
  if (!f || fwrite(image.data(), 1, image.size(), f) != image.size() || fclose(f) != 0) {
    perror(argv[1]);
    return 1;
  }
  return 0;
}
