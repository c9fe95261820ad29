// The Linux x86 boot protocol's setup header, at fixed offsets in a bzImage's first sectors
// (Linux's Documentation/arch/x86/boot.rst). Offsets are from the start of the file.
#pragma once

#include <cstdint>

namespace hvmd::firmware::boot_header {

inline constexpr unsigned kSetupSects = 0x1f1;     // u8: setup sectors after the boot sector
inline constexpr unsigned kBootFlag = 0x1fe;       // u16: 0xaa55
inline constexpr unsigned kMagic = 0x202;          // u32: "HdrS"
inline constexpr unsigned kVersion = 0x206;        // u16: protocol version, major.minor
inline constexpr unsigned kTypeOfLoader = 0x210;   // u8: written by the loader
inline constexpr unsigned kLoadFlags = 0x211;      // u8
inline constexpr unsigned kCode32Start = 0x214;    // u32: where the body runs
inline constexpr unsigned kRamdiskImage = 0x218;   // u32: initrd address (written)
inline constexpr unsigned kRamdiskSize = 0x21c;    // u32: initrd size (written)
inline constexpr unsigned kHeapEndPtr = 0x224;     // u16: end of setup heap, from setup + 0x200
inline constexpr unsigned kCmdLinePtr = 0x228;     // u32: command line address (written, 2.02+)
inline constexpr unsigned kInitrdAddrMax = 0x22c;  // u32: highest initrd byte (2.03+)
inline constexpr unsigned kCmdlineSize = 0x238;    // u32: longest command line (2.06+)
inline constexpr unsigned kHeaderEnd = 0x23c;      // what hvmd reads of it

inline constexpr uint32_t kMagicValue = 0x53726448;  // "HdrS" little-endian
inline constexpr uint32_t kMinVersion = 0x202;       // cmd_line_ptr and loading high
inline constexpr uint8_t kDefaultSetupSects = 4;     // what setup_sects 0 means
inline constexpr uint8_t kLoadedHigh = 1u << 0;      // body at 1 MiB (a bzImage)
inline constexpr uint8_t kCanUseHeap = 1u << 7;      // heap_end_ptr is valid
inline constexpr uint8_t kLoaderUndefined = 0xff;    // type_of_loader for an unassigned loader
inline constexpr uint32_t kOldCmdlineMax = 255;      // before 2.06
inline constexpr uint32_t kOldInitrdAddrMax = 0x37ffffff;  // before 2.03
// The command line sits at kCmdlineAddress, below the EBDA: never longer than this.
inline constexpr uint32_t kCmdlineAreaMax = 0x10000 - 1;

}  // namespace hvmd::firmware::boot_header
