// Intel 82540EM (8254x family) register layout, from the PCI/PCI-X Family of Gigabit Ethernet
// Controllers Software Developer's Manual: register offsets in BAR0, their bits, the descriptor
// formats, the EEPROM words and the PHY (Marvell 88E1011) registers drivers read.
#pragma once

#include <cstdint>

namespace hvmd::devices::e1000 {

constexpr uint16_t kVendorIntel = 0x8086;
constexpr uint16_t kDevice82540EM = 0x100e;
constexpr uint32_t kClassEthernet = 0x020000;
constexpr uint64_t kMmioSize = 128 * 1024;
constexpr uint64_t kIoSize = 64;
constexpr unsigned kIoAddr = 0;  // BAR1: IOADDR selects a register, IODATA reads/writes it
constexpr unsigned kIoData = 4;

// Registers (byte offsets in BAR0).
namespace reg {
constexpr uint32_t kCtrl = 0x0000;
constexpr uint32_t kStatus = 0x0008;
constexpr uint32_t kEecd = 0x0010;
constexpr uint32_t kEerd = 0x0014;
constexpr uint32_t kCtrlExt = 0x0018;
constexpr uint32_t kMdic = 0x0020;
constexpr uint32_t kVet = 0x0038;
constexpr uint32_t kIcr = 0x00c0;
constexpr uint32_t kItr = 0x00c4;
constexpr uint32_t kIcs = 0x00c8;
constexpr uint32_t kIms = 0x00d0;
constexpr uint32_t kImc = 0x00d8;
constexpr uint32_t kRctl = 0x0100;
constexpr uint32_t kTctl = 0x0400;
constexpr uint32_t kPba = 0x1000;
constexpr uint32_t kRdbal = 0x2800;
constexpr uint32_t kRdbah = 0x2804;
constexpr uint32_t kRdlen = 0x2808;
constexpr uint32_t kRdh = 0x2810;
constexpr uint32_t kRdt = 0x2818;
constexpr uint32_t kRdtr = 0x2820;
constexpr uint32_t kRadv = 0x282c;
constexpr uint32_t kTdbal = 0x3800;
constexpr uint32_t kTdbah = 0x3804;
constexpr uint32_t kTdlen = 0x3808;
constexpr uint32_t kTdh = 0x3810;
constexpr uint32_t kTdt = 0x3818;
constexpr uint32_t kTidv = 0x3820;
constexpr uint32_t kTadv = 0x382c;
constexpr uint32_t kStatsFirst = 0x4000;  // statistics: clear on read
constexpr uint32_t kStatsLast = 0x40fc;
constexpr uint32_t kRxcsum = 0x5000;
constexpr uint32_t kMta = 0x5200;                // 128 multicast table words
constexpr uint32_t kRa = 0x5400;                 // 16 receive addresses: RAL, RAH pairs
constexpr uint32_t kVfta = 0x5600;               // 128 VLAN filter words
constexpr uint32_t kRegisterCount = 0x8000 / 4;  // the register file hvmd keeps (32 KiB)
}  // namespace reg

// Statistics counters hvmd maintains (offsets from reg::kStatsFirst are the SDM's).
namespace stat {
constexpr uint32_t kMpc = 0x4010;   // missed packets (no descriptors)
constexpr uint32_t kGprc = 0x4074;  // good packets received
constexpr uint32_t kBprc = 0x4078;
constexpr uint32_t kMprc = 0x407c;
constexpr uint32_t kGptc = 0x4080;   // good packets transmitted
constexpr uint32_t kGorcl = 0x4088;  // good octets received, low/high
constexpr uint32_t kGotcl = 0x4090;  // good octets transmitted
constexpr uint32_t kRnbc = 0x40a0;   // receive no buffers
constexpr uint32_t kRoc = 0x40ac;    // receive oversize
constexpr uint32_t kTorl = 0x40c0;   // total octets received
constexpr uint32_t kTotl = 0x40c8;   // total octets transmitted
constexpr uint32_t kTpr = 0x40d0;    // total packets received
constexpr uint32_t kTpt = 0x40d4;    // total packets transmitted
constexpr uint32_t kMptc = 0x40f0;
constexpr uint32_t kBptc = 0x40f4;
constexpr uint32_t kTsctc = 0x40f8;  // TCP segmentation contexts transmitted
}  // namespace stat

// CTRL.
constexpr uint32_t kCtrlSlu = 1u << 6;
constexpr uint32_t kCtrlRst = 1u << 26;
constexpr uint32_t kCtrlVme = 1u << 30;
constexpr uint32_t kCtrlPhyRst = 1u << 31;
// STATUS: full duplex, link up, 1000 Mb/s.
constexpr uint32_t kStatusFd = 1u << 0;
constexpr uint32_t kStatusLu = 1u << 1;
constexpr uint32_t kStatusSpeed1000 = 2u << 6;
constexpr uint32_t kStatusAsdv1000 = 2u << 8;
// EECD: Microwire pins, request/grant, EEPROM present.
constexpr uint32_t kEecdSk = 1u << 0;
constexpr uint32_t kEecdCs = 1u << 1;
constexpr uint32_t kEecdDi = 1u << 2;
constexpr uint32_t kEecdDo = 1u << 3;
constexpr uint32_t kEecdReq = 1u << 6;
constexpr uint32_t kEecdGnt = 1u << 7;
constexpr uint32_t kEecdPres = 1u << 8;
constexpr uint32_t kEecdHostBits = kEecdSk | kEecdCs | kEecdDi | (3u << 4) | kEecdReq;
// EERD.
constexpr uint32_t kEerdStart = 1u << 0;
constexpr uint32_t kEerdDone = 1u << 4;
constexpr unsigned kEerdAddrShift = 8;
constexpr unsigned kEerdDataShift = 16;
// MDIC.
constexpr uint32_t kMdicDataMask = 0xffff;
constexpr unsigned kMdicRegShift = 16;
constexpr unsigned kMdicPhyShift = 21;
constexpr uint32_t kMdicOpWrite = 1u << 26;
constexpr uint32_t kMdicOpRead = 2u << 26;
constexpr uint32_t kMdicReady = 1u << 28;
constexpr uint32_t kMdicInterrupt = 1u << 29;
constexpr uint32_t kMdicError = 1u << 30;
constexpr unsigned kPhyAddress = 1;
// Interrupt causes (ICR, ICS, IMS, IMC).
constexpr uint32_t kIcrTxdw = 1u << 0;
constexpr uint32_t kIcrTxqe = 1u << 1;
constexpr uint32_t kIcrLsc = 1u << 2;
constexpr uint32_t kIcrRxdmt0 = 1u << 4;
constexpr uint32_t kIcrRxo = 1u << 6;
constexpr uint32_t kIcrRxt0 = 1u << 7;
constexpr uint32_t kIcrMdac = 1u << 9;
constexpr uint32_t kIcrTxdLow = 1u << 15;
constexpr uint32_t kIcrAll = 0x0001f6df;
// RCTL.
constexpr uint32_t kRctlEn = 1u << 1;
constexpr uint32_t kRctlSbp = 1u << 2;
constexpr uint32_t kRctlUpe = 1u << 3;
constexpr uint32_t kRctlMpe = 1u << 4;
constexpr uint32_t kRctlLpe = 1u << 5;
constexpr unsigned kRctlRdmtsShift = 8;
constexpr unsigned kRctlMoShift = 12;
constexpr uint32_t kRctlBam = 1u << 15;
constexpr unsigned kRctlBsizeShift = 16;
constexpr uint32_t kRctlVfe = 1u << 18;
constexpr uint32_t kRctlBsex = 1u << 25;
constexpr uint32_t kRctlSecrc = 1u << 26;
// TCTL.
constexpr uint32_t kTctlEn = 1u << 1;
// RDTR, RADV, TIDV and TADV count units of 1.024 us.
constexpr int64_t kDelayUnitNs = 1024;
// RXCSUM.
constexpr uint32_t kRxcsumIpofl = 1u << 8;
constexpr uint32_t kRxcsumTuofl = 1u << 9;
// RAH.
constexpr uint32_t kRahAv = 1u << 31;

// Transmit descriptors (16 bytes). Legacy: address, length, CSO, CMD, STA, CSS, special.
namespace tx {
constexpr uint8_t kCmdEop = 0x01;
constexpr uint8_t kCmdIfcs = 0x02;
constexpr uint8_t kCmdIc = 0x04;   // legacy: insert checksum
constexpr uint8_t kCmdTse = 0x04;  // extended: TCP segmentation
constexpr uint8_t kCmdRs = 0x08;
constexpr uint8_t kCmdDext = 0x20;
constexpr uint8_t kCmdVle = 0x40;
constexpr uint8_t kCmdIde = 0x80;
constexpr uint8_t kStaDd = 0x01;
constexpr uint8_t kDtypContext = 0x0;
constexpr uint8_t kDtypData = 0x1;
// Context descriptor TUCMD.
constexpr uint8_t kTucmdTcp = 0x01;
constexpr uint8_t kTucmdIp = 0x02;  // IPv4
constexpr uint8_t kTucmdTse = 0x04;
// Data descriptor POPTS.
constexpr uint8_t kPoptsIxsm = 0x01;
constexpr uint8_t kPoptsTxsm = 0x02;
}  // namespace tx

// Receive descriptor (16 bytes): address, length, checksum, status, errors, special.
namespace rx {
constexpr uint8_t kStaDd = 0x01;
constexpr uint8_t kStaEop = 0x02;
constexpr uint8_t kStaIxsm = 0x04;  // checksum indication ignored
constexpr uint8_t kStaVp = 0x08;
constexpr uint8_t kStaTcpcs = 0x20;
constexpr uint8_t kStaIpcs = 0x40;
constexpr uint8_t kErrTcpe = 0x20;
constexpr uint8_t kErrIpe = 0x40;
}  // namespace rx

// EEPROM (64 16-bit words, Microwire): words the drivers read.
namespace eeprom {
constexpr unsigned kWords = 64;
constexpr unsigned kAddressBits = 6;
constexpr uint8_t kOpcodeRead = 0x2;  // after the start bit: 10
constexpr unsigned kMac = 0x00;       // words 0-2
constexpr unsigned kInitControl1 = 0x0a;
constexpr unsigned kSubsystem = 0x0b;
constexpr unsigned kSubsystemVendor = 0x0c;
constexpr unsigned kDeviceId = 0x0d;
constexpr unsigned kVendorId = 0x0e;
constexpr unsigned kInitControl2 = 0x0f;
constexpr unsigned kChecksum = 0x3f;
constexpr uint16_t kChecksumSum = 0xbaba;  // words 0..0x3f add up to this
}  // namespace eeprom

// PHY registers (MII and Marvell-specific) and their power-on values.
namespace phy {
constexpr unsigned kControl = 0x00;
constexpr unsigned kStatus = 0x01;
constexpr unsigned kId1 = 0x02;
constexpr unsigned kId2 = 0x03;
constexpr unsigned kAutonegAdvertise = 0x04;
constexpr unsigned kLinkPartnerAbility = 0x05;
constexpr unsigned kAutonegExpansion = 0x06;
constexpr unsigned k1000tControl = 0x09;
constexpr unsigned k1000tStatus = 0x0a;
constexpr unsigned kExtendedStatus = 0x0f;
constexpr unsigned kSpecificControl = 0x10;
constexpr unsigned kSpecificStatus = 0x11;
constexpr unsigned kRegisterCount = 0x20;
constexpr uint16_t kControlReset = 0x8000;
constexpr uint16_t kControlAutonegRestart = 0x0200;
constexpr uint16_t kStatusLinkUp = 0x0004;
constexpr uint16_t kStatusAutonegComplete = 0x0020;
constexpr uint16_t kSpecificStatusLink = 0x0400;
}  // namespace phy

}  // namespace hvmd::devices::e1000
