// QEMU's firmware configuration interface (fw_cfg), as SeaBIOS and OVMF use it on x86: a 16-bit
// selector port, a byte-wide data port, and a DMA interface (QEMU's docs/specs/fw_cfg.rst).
#pragma once

#include <cstdint>

namespace hvmd::firmware::fw_cfg {

inline constexpr uint16_t kSelectorPort = 0x510;  // 16-bit write: selects an item
inline constexpr uint16_t kDataPort = 0x511;      // byte reads walk the selected item
inline constexpr uint16_t kDmaPort = 0x514;       // DMA descriptor address, big-endian

// Well-known items.
inline constexpr uint16_t kSignature = 0x0000;  // "QEMU"
inline constexpr uint16_t kId = 0x0001;         // feature bits
inline constexpr uint16_t kUuid = 0x0002;
inline constexpr uint16_t kRamSize = 0x0003;    // u64
inline constexpr uint16_t kNographic = 0x0004;  // u16
inline constexpr uint16_t kNbCpus = 0x0005;     // u16
inline constexpr uint16_t kBootMenu = 0x000e;   // u16
inline constexpr uint16_t kMaxCpus = 0x000f;    // u16
// Direct kernel boot (what the linuxboot option ROM reads): load addresses and sizes are u32, the
// data items the bytes to place there. SETUP is the kernel's real-mode part with its header
// patched, KERNEL the protected-mode body, CMDLINE the command line with its NUL.
inline constexpr uint16_t kKernelAddr = 0x0007;
inline constexpr uint16_t kKernelSize = 0x0008;
inline constexpr uint16_t kInitrdAddr = 0x000a;
inline constexpr uint16_t kInitrdSize = 0x000b;
inline constexpr uint16_t kKernelData = 0x0011;
inline constexpr uint16_t kInitrdData = 0x0012;
inline constexpr uint16_t kCmdlineAddr = 0x0013;
inline constexpr uint16_t kCmdlineSize = 0x0014;
inline constexpr uint16_t kCmdlineData = 0x0015;
inline constexpr uint16_t kSetupAddr = 0x0016;
inline constexpr uint16_t kSetupSize = 0x0017;
inline constexpr uint16_t kSetupData = 0x0018;
inline constexpr uint16_t kFileDir = 0x0019;  // the directory of named files
inline constexpr uint16_t kFirstFile = 0x0020;
inline constexpr uint16_t kMaxFiles = 0x1000;
inline constexpr uint16_t kWriteBit = 0x4000;  // a selector for writing (not supported)
inline constexpr uint16_t kArchBit = 0x8000;   // architecture-specific items
inline constexpr uint16_t kKeyMask = 0x3fff;

// Named files SeaBIOS reads for its boot menu and failed boots.
inline constexpr const char* kBootFailWaitFile = "etc/boot-fail-wait";  // u32 LE ms, ~0: never
inline constexpr const char* kBootMenuWaitFile = "etc/boot-menu-wait";  // u16 LE ms

inline constexpr uint32_t kIdTraditional = 1u << 0;
inline constexpr uint32_t kIdDma = 1u << 1;

// File directory: a big-endian count, then entries of size, select, reserved, name[56].
inline constexpr unsigned kFileNameSize = 56;
inline constexpr unsigned kFileEntrySize = 4 + 2 + 2 + kFileNameSize;

// DMA descriptor {be32 control; be32 length; be64 address} and its control bits.
inline constexpr unsigned kDmaDescriptorSize = 16;
inline constexpr uint32_t kDmaError = 1u << 0;
inline constexpr uint32_t kDmaRead = 1u << 1;
inline constexpr uint32_t kDmaSkip = 1u << 2;
inline constexpr uint32_t kDmaSelect = 1u << 3;
inline constexpr uint32_t kDmaWrite = 1u << 4;
inline constexpr uint64_t kDmaSignature = 0x51454d5520434647ull;  // "QEMU CFG"

// Standard file names.
inline constexpr const char* kE820File = "etc/e820";  // {le64 address, le64 length, le32 type}
inline constexpr uint32_t kE820Ram = 1;
inline constexpr uint32_t kE820Reserved = 2;

}  // namespace hvmd::firmware::fw_cfg
