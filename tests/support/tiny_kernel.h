// A tiny Linux-style bzImage for direct kernel boot tests: a real setup header (boot protocol
// 2.06, loaded high), a real-mode setup that prints "SETUP cmdline=<its command line>" on COM1
// and enters 32-bit protected mode as the boot protocol's 32-bit entry expects (ESI = boot_params),
// and a protected-mode body at 1 MiB that prints byte sums of itself and of the initrd the loader
// placed at ramdisk_image/ramdisk_size:
//   "KERNEL xxxxxxxx INITRD yyyyyyyy\nTINY KERNEL DONE\n"   (sums as 8 hex digits, upper case)
// then halts. A test compares the sums with the files' bytes: the firmware's loader delivered
// every byte to where the header says.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hvmd::test {

// body_bytes: the protected-mode body's size (its code, then a byte pattern): large enough to be
// copied in several DMA chunks if wanted. At least 512.
std::vector<uint8_t> tiny_bzimage(size_t body_bytes = 4096);
inline constexpr size_t kTinySetupBytes = 1024;  // setup_sects = 1

// The sum of bytes as the tiny kernel prints it: 8 upper-case hex digits.
std::string tiny_kernel_sum(const std::vector<uint8_t>& bytes, size_t from = 0,
                            size_t to = SIZE_MAX);

}  // namespace hvmd::test
