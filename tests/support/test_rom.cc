#include "tests/support/test_rom.h"

#include <algorithm>
#include <iterator>
#include <span>

namespace hvmd::test {
namespace {

constexpr size_t kRomSize = 512;
constexpr size_t kCode = 0x20;  // after the header (and its PCIR pointer at 0x18)
constexpr size_t kPcir = 0x60;
constexpr size_t kMessage = 0x80;

// At 0x03, the entry the BIOS far-calls: jmp 0x20. At 0x20:
//   push ax; push dx; push si; push ds; push cs; pop ds; mov si, 0x80; mov dx, 0x3f8
//   next: lodsb; test al, al; jz done; out dx, al; jmp next
//   done: pop ds; pop si; pop dx; pop ax; retf
constexpr uint8_t kEntry[] = {0xeb, 0x1b};
constexpr uint8_t kPrint[] = {0x50, 0x52, 0x56, 0x1e, 0x0e, 0x1f, 0xbe, 0x80, 0x00,
                              0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee,
                              0xeb, 0xf8, 0x1f, 0x5e, 0x5a, 0x58, 0xcb};

std::vector<uint8_t> build(const std::string& text, bool pci, uint16_t vendor, uint16_t device,
                           uint32_t class_code) {
  std::vector<uint8_t> rom(kRomSize, 0);
  rom[0] = 0x55;
  rom[1] = 0xaa;
  rom[2] = kRomSize / 512;
  std::copy(std::begin(kEntry), std::end(kEntry), rom.begin() + 3);
  std::copy(std::begin(kPrint), std::end(kPrint), rom.begin() + kCode);
  size_t length = std::min(text.size(), kRomSize - kMessage - 2);
  std::copy(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(length),
            rom.begin() + kMessage);
  if (pci) {
    rom[0x18] = kPcir;  // pointer to the PCI data structure
    const uint8_t pcir[] = {'P',
                            'C',
                            'I',
                            'R',
                            static_cast<uint8_t>(vendor),
                            static_cast<uint8_t>(vendor >> 8),
                            static_cast<uint8_t>(device),
                            static_cast<uint8_t>(device >> 8),
                            0,
                            0,  // vital product data
                            0x18,
                            0,  // structure length
                            0,  // revision
                            static_cast<uint8_t>(class_code),
                            static_cast<uint8_t>(class_code >> 8),
                            static_cast<uint8_t>(class_code >> 16),
                            kRomSize / 512,
                            0,  // image length in 512-byte units
                            0,
                            0,     // code revision
                            0,     // code type: x86
                            0x80,  // last image
                            0,
                            0};
    std::copy(std::begin(pcir), std::end(pcir), rom.begin() + kPcir);
  }
  uint8_t sum = 0;
  for (uint8_t b : rom) sum = static_cast<uint8_t>(sum + b);
  rom[kRomSize - 1] = static_cast<uint8_t>(-sum);  // the image sums to zero
  return rom;
}

// At 0000:7C00: cli; xor ax, ax; mov ds, ax; mov si, 0x7c40; mov dx, 0x3f8
//   next: lodsb; test al, al; jz done; out dx, al; jmp next
//   done: sti; hlt; jmp done
// It idles with interrupts on: Xen powers off a guest whose only vCPU halts with them off.
constexpr size_t kBootMessage = 0x40;
constexpr uint8_t kBootCode[] = {0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0xbe, 0x40, 0x7c,
                                 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74, 0x03,
                                 0xee, 0xeb, 0xf8, 0xfb, 0xf4, 0xeb, 0xfc};

}  // namespace

namespace {
// An MBR: code at the start, a NUL-terminated message at message_offset, the 55 AA signature.
std::vector<uint8_t> boot_sector(std::span<const uint8_t> code, size_t message_offset,
                                 const std::string& text) {
  std::vector<uint8_t> sector(512, 0);
  std::copy(code.begin(), code.end(), sector.begin());
  size_t length = std::min(text.size(), size_t{510} - message_offset - 1);
  std::copy(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(length),
            sector.begin() + static_cast<std::ptrdiff_t>(message_offset));
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}
}  // namespace

std::vector<uint8_t> printing_boot_sector(const std::string& text) {
  return boot_sector(kBootCode, kBootMessage, text);
}

// Assembled from (GNU as, .code16; the message at 0x7d00):
//   cli; xor ax,ax; mov ds,ax; mov es,ax; mov ss,ax; mov sp,0x7c00
//   mov dx,0x10; in ax,dx; cmp ax,0x49d2; jne print            ; the platform device's magic
//   mov dx,0x12; mov ax,3; out dx,ax                            ; product: Linux
//   mov dx,0x10; mov eax,1; out dx,eax                          ; build number
//   mov ax,6; out dx,ax                                         ; unplug NICs and aux disks
//   print: mov si,0x7d00; mov dx,0x3f8
//   next: lodsb; test al,al; jz idle; out dx,al; jmp next
//   idle: xor bp,bp
//   wait: sti; hlt; inc bp; test bp,63; jnz wait
//   mov ax,0x0201; mov cx,1; mov dx,0x80; mov bx,0x8000; mov word [0x81fe],0; int 0x13
//   mov al,'E'; jc report; cmp word [0x81fe],0xaa55; jne report; mov al,'D'
//   report: mov dx,0x3f8; out dx,al; jmp wait
constexpr size_t kUnplugMessage = 0x100;
constexpr uint8_t kUnplugCode[] = {
    0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0xbc, 0x00, 0x7c, 0xba, 0x10, 0x00, 0xed,
    0x3d, 0xd2, 0x49, 0x75, 0x16, 0xba, 0x12, 0x00, 0xb8, 0x03, 0x00, 0xef, 0xba, 0x10, 0x00, 0x66,
    0xb8, 0x01, 0x00, 0x00, 0x00, 0x66, 0xef, 0xb8, 0x06, 0x00, 0xef, 0xbe, 0x00, 0x7d, 0xba, 0xf8,
    0x03, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0x31, 0xed, 0xfb, 0xf4, 0x45, 0xf7, 0xc5,
    0x3f, 0x00, 0x75, 0xf7, 0xb8, 0x01, 0x02, 0xb9, 0x01, 0x00, 0xba, 0x80, 0x00, 0xbb, 0x00, 0x80,
    0xc7, 0x06, 0xfe, 0x81, 0x00, 0x00, 0xcd, 0x13, 0xb0, 0x45, 0x72, 0x0a, 0x81, 0x3e, 0xfe, 0x81,
    0x55, 0xaa, 0x75, 0x02, 0xb0, 0x44, 0xba, 0xf8, 0x03, 0xee, 0xeb, 0xcf};
static_assert(sizeof(kUnplugCode) <= kUnplugMessage);

std::vector<uint8_t> unplugging_boot_sector(const std::string& text) {
  return boot_sector(kUnplugCode, kUnplugMessage, text);
}

std::vector<uint8_t> printing_option_rom(const std::string& text) {
  return build(text, false, 0, 0, 0);
}

std::vector<uint8_t> printing_pci_rom(const std::string& text, uint16_t vendor, uint16_t device,
                                      uint32_t class_code) {
  return build(text, true, vendor, device, class_code);
}

std::vector<uint8_t> printing_boot_cd(const std::string& text) {
  constexpr size_t kSector = 2048;
  constexpr size_t kPrimaryDescriptor = 16, kBootRecord = 17, kTerminator = 18, kCatalog = 19,
                   kBootImage = 20;
  std::vector<uint8_t> cd(21 * kSector, 0);
  auto descriptor = [&](size_t sector, uint8_t type) {
    uint8_t* d = &cd[sector * kSector];
    d[0] = type;
    std::copy_n("CD001", 5, d + 1);
    d[6] = 1;
    return d;
  };
  descriptor(kPrimaryDescriptor, 1);
  uint8_t* boot = descriptor(kBootRecord, 0);
  std::copy_n("EL TORITO SPECIFICATION", 23, boot + 7);
  boot[0x47] = static_cast<uint8_t>(kCatalog);  // catalog LBA, little-endian
  descriptor(kTerminator, 0xff);
  // Validation entry: header 1, platform x86, a checksum making its words sum to zero, 55 AA.
  uint8_t* catalog = &cd[kCatalog * kSector];
  catalog[0] = 1;
  catalog[30] = 0x55;
  catalog[31] = 0xaa;
  uint16_t sum = 0;
  for (size_t i = 0; i < 32; i += 2)
    sum = static_cast<uint16_t>(sum + (catalog[i] | catalog[i + 1] << 8));
  uint16_t check = static_cast<uint16_t>(-sum);
  catalog[28] = static_cast<uint8_t>(check);
  catalog[29] = static_cast<uint8_t>(check >> 8);
  // Default entry: bootable, no emulation, default segment 07C0, one 512-byte sector, the image.
  uint8_t* entry = catalog + 32;
  entry[0] = 0x88;
  entry[6] = 1;
  entry[8] = static_cast<uint8_t>(kBootImage);
  auto sector = printing_boot_sector(text);
  std::copy(sector.begin(), sector.end(), cd.begin() + kBootImage * kSector);
  return cd;
}

}  // namespace hvmd::test
