// -netdev user: user-mode networking through libslirp. The guest gets a private network
// (10.0.2.0/24 by default) with a virtual gateway that answers DHCP (handing out bootfile=),
// serves TFTP from tftp=, forwards DNS and connects the guest's TCP/UDP flows through ordinary
// host sockets; hostfwd= forwards host ports in. This is what QEMU-style PXE tests boot from.
//   -netdev user,id=ID[,net=ADDR[/MASK]][,host=ADDR][,dhcpstart=ADDR][,dns=ADDR]
//           [,hostname=NAME][,domainname=NAME][,dnssearch=NAME...][,tftp=DIR]
//           [,tftp-server-name=NAME][,bootfile=NAME][,hostfwd=[tcp|udp]:[HADDR]:HPORT-[GADDR]:GPORT...]
//           [,restrict=on|off][,ipv4=on|off][,ipv6=on|off][,ipv6-net=ADDR/LEN][,ipv6-host=ADDR]
//           [,ipv6-dns=ADDR]
#pragma once

#include <memory>
#include <string>

#include "dm/backends/net.h"

namespace hvmd {

Result<std::unique_ptr<NetBackend>> open_slirp_backend(const std::string& id,
                                                       const SubOptions& options,
                                                       OptionReader& reader, EventLoop& loop);

}  // namespace hvmd
