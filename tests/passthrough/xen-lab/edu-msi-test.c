// In the Xen passthrough lab's guest, after edu-sysfs-test: the passed-through edu's MSI. The
// guest programs the edu's MSI capability itself through sysfs (address 0xfee00000: APIC 0,
// fixed delivery; data: vector kVector, which no guest driver uses) and enables it; the device
// model must then route it (Xen: map_pirq_msi + update_msi_irq). Each interrupt the edu raises
// then arrives in the guest as that vector, which Linux reports as "N.<vector> No irq handler for
// vector" in its log: three raised, three such lines wanted. MSI is disabled again at the end
// (left enabled after a failure, so that dom0 can look at the host's registers and Xen's state).
// build: gcc -static -O2 -o edu-msi-test edu-msi-test.c
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum { kVector = 0xdf, kCapMsi = 0x05, kMsiEnable = 1, kMsi64 = 0x80 };
enum { kIrqStatus = 0x24, kIrqRaise = 0x60, kIrqAck = 0x64 };

static unsigned long attr(const char* dir, const char* name) {
  char path[512], text[64] = "0";
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE* f = fopen(path, "r");
  if (f) {
    if (!fgets(text, sizeof text, f)) text[0] = 0;
    fclose(f);
  }
  return strtoul(text, NULL, 0);
}

// How many "No irq handler" lines for kVector the kernel log holds.
static int vector_lines(void) {
  static char log[1 << 20];
  int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, sizeof log - 1);
  if (n < 0) return -1;
  log[n] = 0;
  char needle[64];
  snprintf(needle, sizeof needle, ".%d No irq handler for vector", kVector);
  int count = 0;
  for (char* at = log; (at = strstr(at, needle)); at += strlen(needle)) ++count;
  return count;
}

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

int main(void) {
  char dir[600] = "";
  DIR* d = opendir("/sys/bus/pci/devices");
  for (struct dirent* e; d && (e = readdir(d));) {
    char path[600];
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s", e->d_name);
    if (attr(path, "vendor") == 0x1234 && attr(path, "device") == 0x11e8)
      snprintf(dir, sizeof dir, "%s", path);
  }
  if (d) closedir(d);
  if (!dir[0]) {
    printf("FAIL edu-msi: no edu in the guest\n");
    return 1;
  }
  char path[600];
  snprintf(path, sizeof path, "%s/config", dir);
  int cfd = open(path, O_RDWR);
  snprintf(path, sizeof path, "%s/resource0", dir);
  int bfd = open(path, O_RDWR | O_SYNC);
  volatile uint32_t* bar =
      bfd < 0 ? MAP_FAILED : mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, bfd, 0);
  if (cfd < 0 || bar == MAP_FAILED) {
    printf("FAIL edu-msi: cannot open config/resource0\n");
    return 1;
  }
  // Find the MSI capability (bounded walk of the list).
  uint8_t at = 0, id = 0, cap = 0;
  pread(cfd, &at, 1, 0x34);
  for (int i = 0; i < 48 && at >= 0x40; ++i) {
    pread(cfd, &id, 1, at);
    if (id == kCapMsi) {
      cap = at;
      break;
    }
    pread(cfd, &at, 1, at + 1);
  }
  if (!cap) {
    printf("FAIL edu-msi: no MSI capability in the guest's view\n");
    return 1;
  }
  uint16_t control = 0;
  pread(cfd, &control, 2, cap + 2);
  uint32_t address = 0xfee00000, high = 0, data = kVector;
  pwrite(cfd, &address, 4, cap + 4);
  if (control & kMsi64) pwrite(cfd, &high, 4, cap + 8);
  pwrite(cfd, &data, 2, cap + ((control & kMsi64) ? 12 : 8));
  uint16_t enable = (uint16_t)((control & ~0x70) | kMsiEnable);  // one vector
  pwrite(cfd, &enable, 2, cap + 2);
  uint16_t now = 0;
  pread(cfd, &now, 2, cap + 2);
  printf("info edu-msi: capability at %#x, control %#06x -> %#06x, vector %#x\n", cap, control, now,
         kVector);
  int before = vector_lines(), got = 0;
  for (int round = 0; round < 3; ++round) {
    int lines = vector_lines();
    bar[kIrqRaise / 4] = 0x1000u << round;
    for (int wait = 0; wait < 40 && vector_lines() == lines; ++wait) sleep_ms(50);
    int arrived = vector_lines() > lines;
    printf("info edu-msi round %d: %s, edu irq_status %#x\n", round,
           arrived ? "vector arrived" : "NOT arrived in 2 s", bar[kIrqStatus / 4]);
    got += arrived;
    bar[kIrqAck / 4] = bar[kIrqStatus / 4];
  }
  // MSI off again; left on after a failure, for dom0's check to look at the host's registers.
  if (got == 3) pwrite(cfd, &control, 2, cap + 2);
  printf("%s edu-msi: %d of 3 raised MSIs arrived as vector %d (kernel log lines %d -> %d)\n",
         got == 3 ? "PASS" : "FAIL", got, kVector, before, vector_lines());
  return got == 3 ? 0 : 1;
}
