// Option ROMs for tests: 512 bytes of real-mode code, hand-assembled, that print a line on COM1
// when the BIOS calls them, so a test sees on our serial port that firmware ran the ROM.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hvmd::test {

// A ROM with no PCI data structure, as fw_cfg genroms/ carries.
std::vector<uint8_t> printing_option_rom(const std::string& text);
// A PCI expansion ROM for the given function (PCIR structure with its IDs and class).
std::vector<uint8_t> printing_pci_rom(const std::string& text, uint16_t vendor, uint16_t device,
                                      uint32_t class_code);

// A 512-byte MBR boot sector (55 AA) that prints text on COM1 and idles: the BIOS loads it at
// 0000:7C00 from the boot disk, so the text on the serial port proves the disk booted.
std::vector<uint8_t> printing_boot_sector(const std::string& text);
// The Xen lab's guest: a boot sector that first unplugs the emulated NICs and auxiliary IDE disks
// through the Xen platform device as PV drivers do (magic check, product and build numbers, then
// the mask), prints text on COM1, and then, every 64 timer ticks, reads its own sector through the
// BIOS and prints 'D' (read, signature intact) or 'E' on COM1: a guest whose disk and serial
// port can be watched across save, restore and migration.
std::vector<uint8_t> unplugging_boot_sector(const std::string& text);

// A CD image (2048-byte sectors) that El Torito firmware boots without emulation: a boot record
// volume descriptor at sector 17, a boot catalog, and printing_boot_sector(text) as the image.
std::vector<uint8_t> printing_boot_cd(const std::string& text);

}  // namespace hvmd::test
