// hvmd-packet-watch IFACE SECONDS: prints one line per DHCP request (IPv4 UDP to port 67) seen on
// IFACE for SECONDS, "dhcp request from MAC". For the Xen lab's dom0, where nothing like tcpdump is
// installed: it watches the bridge libxl attaches the guest's emulated NIC to.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s IFACE SECONDS\n", argv[0]);
    return 1;
  }
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = static_cast<int>(if_nametoindex(argv[1]));
  if (fd < 0 || address.sll_ifindex == 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    perror(argv[1]);
    return 1;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(atoi(argv[2]));
  unsigned char frame[2048];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 500) != 1) continue;
    ssize_t n = recv(fd, frame, sizeof(frame), 0);
    if (n < 42 || frame[12] != 0x08 || frame[13] != 0x00 || frame[23] != 17) continue;
    size_t udp = 14 + size_t{frame[14] & 0x0fu} * 4;
    if (udp + 4 > size_t(n) || frame[udp + 2] != 0 || frame[udp + 3] != 67) continue;
    printf("dhcp request from %02x:%02x:%02x:%02x:%02x:%02x\n", frame[6], frame[7], frame[8],
           frame[9], frame[10], frame[11]);
    fflush(stdout);
  }
  return 0;
}
