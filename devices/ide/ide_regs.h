// Register layout of the PIIX3 IDE function: the ATA task file (ATA/ATAPI-6), the SFF-8038i
// bus-master block, and the ATA and ATAPI (MMC) command and sense codes the drives implement.
#pragma once

#include <cstdint>

namespace hvmd::devices::ide {

// PCI identity (82371SB function 1) and its registers.
constexpr uint16_t kVendorIntel = 0x8086;
constexpr uint16_t kDevicePiix3Ide = 0x7010;
constexpr uint32_t kClassIdeLegacyBusMaster = 0x010180;  // IDE, prog-if: bus master, compat mode
constexpr uint8_t kDevfn = 0x09;                         // 00:01.1
constexpr uint32_t kIdeTimingPrimary = 0x40;             // IDETIM, bit 15 = decode enable
constexpr uint32_t kIdeTimingSecondary = 0x42;
constexpr uint32_t kSlaveTiming = 0x44;
constexpr int kBusMasterBar = 4;
constexpr uint64_t kBusMasterBarSize = 16;

// Legacy (compatibility-mode) decode of the two channels.
struct ChannelPorts {
  uint16_t command_block;  // 8 ports: data .. status/command
  uint16_t control_block;  // alternate status / device control
  unsigned irq;
};
constexpr ChannelPorts kChannels[2] = {{0x1f0, 0x3f6, 14}, {0x170, 0x376, 15}};

// Command block offsets.
constexpr unsigned kRegData = 0;
constexpr unsigned kRegError = 1;    // read
constexpr unsigned kRegFeature = 1;  // write
constexpr unsigned kRegSectorCount = 2;
constexpr unsigned kRegLbaLow = 3;
constexpr unsigned kRegLbaMid = 4;
constexpr unsigned kRegLbaHigh = 5;
constexpr unsigned kRegDevice = 6;
constexpr unsigned kRegStatus = 7;   // read (clears the interrupt)
constexpr unsigned kRegCommand = 7;  // write

// Status register.
constexpr uint8_t kStatusErr = 0x01;
constexpr uint8_t kStatusDrq = 0x08;
constexpr uint8_t kStatusDsc = 0x10;  // seek complete (ATAPI: service)
constexpr uint8_t kStatusDf = 0x20;
constexpr uint8_t kStatusDrdy = 0x40;
constexpr uint8_t kStatusBsy = 0x80;

// Error register.
constexpr uint8_t kErrorAbort = 0x04;
constexpr uint8_t kErrorIdNotFound = 0x10;
constexpr uint8_t kErrorUncorrectable = 0x40;
constexpr uint8_t kErrorWriteProtect = 0x40;
constexpr uint8_t kErrorMediaChange = 0x20;

// Device register.
constexpr uint8_t kDeviceSlave = 0x10;
constexpr uint8_t kDeviceLba = 0x40;
constexpr uint8_t kDeviceObsolete = 0xa0;  // bits 7 and 5, set on read as old drives did

// Device control register.
constexpr uint8_t kControlNoInterrupt = 0x02;  // nIEN
constexpr uint8_t kControlSoftReset = 0x04;    // SRST
constexpr uint8_t kControlHob = 0x80;          // read the previous (high-order) LBA48 bytes

// ATAPI interrupt reason (the sector count register during PACKET).
constexpr uint8_t kReasonCommand = 0x01;  // C/D
constexpr uint8_t kReasonIo = 0x02;       // to the host

// Bus-master block (BAR4): per channel at 0 and 8.
constexpr unsigned kBmCommand = 0;
constexpr unsigned kBmStatus = 2;
constexpr unsigned kBmPrdTable = 4;
constexpr unsigned kBmChannelStride = 8;
constexpr uint8_t kBmCommandStart = 0x01;
constexpr uint8_t kBmCommandToMemory = 0x08;  // "read/write control": set = device to memory
constexpr uint8_t kBmStatusActive = 0x01;
constexpr uint8_t kBmStatusError = 0x02;
constexpr uint8_t kBmStatusInterrupt = 0x04;
constexpr uint8_t kBmStatusDmaCapable = 0x60;  // drive 0 and drive 1 DMA capable (R/W)
// PRD entry: 32-bit physical address, 16-bit byte count (0 = 64 KiB), bit 31 = end of table.
constexpr uint32_t kPrdEndOfTable = 0x80000000u;
constexpr uint32_t kPrdTableAlign = 4;
// A PRD table may not cross a 64 KiB boundary, so it has at most this many entries.
constexpr unsigned kMaxPrdEntries = 65536 / 8;

// DATA SET MANAGEMENT: the feature that asks for TRIM, and its LBA range entries (ACS-2 7.10):
// eight bytes each, bits 47:0 the first sector, 63:48 the number of sectors (0: unused entry).
constexpr uint8_t kDsmTrim = 0x01;
constexpr unsigned kDsmEntryBytes = 8;
constexpr unsigned kDsmLbaBits = 48;

constexpr unsigned kSectorSize = 512;
constexpr unsigned kCdSectorSize = 2048;
constexpr unsigned kMaxHeads = 16;            // the device register's four head bits
constexpr unsigned kMaxMultipleSectors = 16;  // READ/WRITE MULTIPLE block limit (IDENTIFY 47)

// ATA commands.
namespace cmd {
constexpr uint8_t kNop = 0x00;
constexpr uint8_t kDataSetManagement = 0x06;  // DMA; feature bit 0: TRIM
constexpr uint8_t kDeviceReset = 0x08;
constexpr uint8_t kRecalibrate = 0x10;  // 0x10-0x1f
constexpr uint8_t kReadSectors = 0x20;
constexpr uint8_t kReadSectorsNoRetry = 0x21;
constexpr uint8_t kReadSectorsExt = 0x24;
constexpr uint8_t kReadDmaExt = 0x25;
constexpr uint8_t kReadNativeMaxExt = 0x27;
constexpr uint8_t kReadMultipleExt = 0x29;
constexpr uint8_t kWriteSectors = 0x30;
constexpr uint8_t kWriteSectorsNoRetry = 0x31;
constexpr uint8_t kWriteSectorsExt = 0x34;
constexpr uint8_t kWriteDmaExt = 0x35;
constexpr uint8_t kWriteMultipleExt = 0x39;
constexpr uint8_t kReadVerify = 0x40;
constexpr uint8_t kReadVerifyNoRetry = 0x41;
constexpr uint8_t kReadVerifyExt = 0x42;
constexpr uint8_t kSeek = 0x70;
constexpr uint8_t kExecuteDiagnostic = 0x90;
constexpr uint8_t kInitializeParameters = 0x91;
constexpr uint8_t kPacket = 0xa0;
constexpr uint8_t kIdentifyPacket = 0xa1;
constexpr uint8_t kReadMultiple = 0xc4;
constexpr uint8_t kWriteMultiple = 0xc5;
constexpr uint8_t kSetMultipleMode = 0xc6;
constexpr uint8_t kReadDma = 0xc8;
constexpr uint8_t kReadDmaNoRetry = 0xc9;
constexpr uint8_t kWriteDma = 0xca;
constexpr uint8_t kWriteDmaNoRetry = 0xcb;
constexpr uint8_t kStandbyImmediate = 0xe0;
constexpr uint8_t kIdleImmediate = 0xe1;
constexpr uint8_t kStandby = 0xe2;
constexpr uint8_t kIdle = 0xe3;
constexpr uint8_t kCheckPowerMode = 0xe5;
constexpr uint8_t kSleep = 0xe6;
constexpr uint8_t kFlushCache = 0xe7;
constexpr uint8_t kFlushCacheExt = 0xea;
constexpr uint8_t kIdentify = 0xec;
constexpr uint8_t kSetFeatures = 0xef;
constexpr uint8_t kReadNativeMax = 0xf8;
}  // namespace cmd

// SET FEATURES subcommands (feature register).
constexpr uint8_t kFeatureEnableWriteCache = 0x02;
constexpr uint8_t kFeatureSetTransferMode = 0x03;
constexpr uint8_t kFeatureDisableReadLookAhead = 0x55;
constexpr uint8_t kFeatureDisableWriteCache = 0x82;
constexpr uint8_t kFeatureEnableReadLookAhead = 0xaa;
constexpr uint8_t kFeatureDisableReverting = 0x66;
constexpr uint8_t kFeatureEnableReverting = 0xcc;
constexpr uint8_t kFeatureEnableApm = 0x05;
constexpr uint8_t kFeatureDisableApm = 0x85;
// Transfer mode values (sector count of SET FEATURES 0x03): mode class in bits 7:3.
constexpr uint8_t kModeClassPioDefault = 0x00;
constexpr uint8_t kModeClassPio = 0x08;
constexpr uint8_t kModeClassSinglewordDma = 0x10;  // retired since ATA-3, still accepted
constexpr uint8_t kModeClassMultiwordDma = 0x20;
constexpr uint8_t kModeClassUltraDma = 0x40;
// The mode a drive comes up in (power-on and hardware reset): Ultra DMA mode 5, the fastest it
// supports, as drives and QEMU report in IDENTIFY word 88 before any SET FEATURES. The bus-master
// engine moves data the same way whatever mode is selected; the mode only names the timing.
constexpr uint8_t kDefaultTransferMode = kModeClassUltraDma | 5;
// Whether SET FEATURES 0x03 accepts a mode value: PIO default (0, 1), PIO 0-4, single-word
// DMA 0-2, multiword DMA 0-2 and Ultra DMA 0-5, the modes IDENTIFY words 62-64 and 88 list.
constexpr bool valid_transfer_mode(uint8_t mode) {
  unsigned number = mode & 0x07;
  switch (mode & 0xf8) {
    case kModeClassPioDefault:
      return number <= 1;
    case kModeClassPio:
      return number <= 4;
    case kModeClassSinglewordDma:
    case kModeClassMultiwordDma:
      return number <= 2;
    case kModeClassUltraDma:
      return number <= 5;
  }
  return false;
}

// CHECK POWER MODE result: active or idle.
constexpr uint8_t kPowerModeActive = 0xff;

// ATAPI (MMC-3) packet commands.
namespace scsi {
constexpr uint8_t kTestUnitReady = 0x00;
constexpr uint8_t kRequestSense = 0x03;
constexpr uint8_t kInquiry = 0x12;
constexpr uint8_t kModeSelect6 = 0x15;
constexpr uint8_t kModeSense6 = 0x1a;
constexpr uint8_t kStartStopUnit = 0x1b;
constexpr uint8_t kPreventAllowRemoval = 0x1e;
constexpr uint8_t kReadCapacity = 0x25;
constexpr uint8_t kRead10 = 0x28;
constexpr uint8_t kSeek10 = 0x2b;
constexpr uint8_t kReadSubchannel = 0x42;
constexpr uint8_t kReadToc = 0x43;
constexpr uint8_t kGetConfiguration = 0x46;
constexpr uint8_t kGetEventStatus = 0x4a;
constexpr uint8_t kReadDiscInformation = 0x51;
constexpr uint8_t kModeSelect10 = 0x55;
constexpr uint8_t kModeSense10 = 0x5a;
constexpr uint8_t kRead12 = 0xa8;
constexpr uint8_t kSetCdSpeed = 0xbb;
constexpr uint8_t kMechanismStatus = 0xbd;
constexpr uint8_t kReadCd = 0xbe;
}  // namespace scsi

// GET EVENT STATUS NOTIFICATION media event codes.
constexpr uint8_t kMediaEventNone = 0;
constexpr uint8_t kMediaEventEjectRequest = 1;
constexpr uint8_t kMediaEventNewMedia = 2;
constexpr uint8_t kMediaEventRemoval = 3;

// Sense keys and additional sense codes.
namespace sense {
constexpr uint8_t kNoSense = 0x00;
constexpr uint8_t kNotReady = 0x02;
constexpr uint8_t kMediumError = 0x03;
constexpr uint8_t kIllegalRequest = 0x05;
constexpr uint8_t kUnitAttention = 0x06;
constexpr uint8_t kAscInvalidOpcode = 0x20;
constexpr uint8_t kAscLbaOutOfRange = 0x21;
constexpr uint8_t kAscInvalidField = 0x24;
constexpr uint8_t kAscMediumMayHaveChanged = 0x28;
constexpr uint8_t kAscMediumNotPresent = 0x3a;
constexpr uint8_t kAscRemovalPrevented = 0x53;
constexpr uint8_t kAscReadError = 0x11;
constexpr uint8_t kAscSavingParametersNotSupported = 0x39;
}  // namespace sense

}  // namespace hvmd::devices::ide
