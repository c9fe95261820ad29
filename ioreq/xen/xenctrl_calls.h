/* The libxenctrl calls hvmd makes, from C: xenctrl.h pulls in Xen's public headers, which need
 * GNU C (anonymous unions) and do not compile as standard C++. */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hvmd_xc;
struct hvmd_xc* hvmd_xc_open(void);
void hvmd_xc_close(struct hvmd_xc* xc);
/* Fresh pages for the domain at gfns first..first+count-1; 0, or -1 with errno. */
int hvmd_xc_populate(struct hvmd_xc* xc, uint32_t domid, uint64_t first_gfn, uint64_t count);

/* Passthrough (domctls and physdev ops), each 0 or -1 with errno. add/bind: 1 adds, 0 removes. */
int hvmd_xc_memory_mapping(struct hvmd_xc* xc, uint32_t domid, uint64_t first_gfn,
                           uint64_t first_mfn, uint64_t count, int add);
int hvmd_xc_ioport_mapping(struct hvmd_xc* xc, uint32_t domid, uint32_t first_guest_port,
                           uint32_t first_host_port, uint32_t count, int add);
/* A pirq Xen chooses, for a machine IRQ or for one MSI/MSI-X vector of host function bus:devfn
 * (entry: MSI-X table index; table_base: host-physical address of its table, 0 for MSI). */
int hvmd_xc_map_pirq(struct hvmd_xc* xc, uint32_t domid, int machine_irq, int* pirq);
int hvmd_xc_map_pirq_msi(struct hvmd_xc* xc, uint32_t domid, int bus, int devfn, int entry,
                         uint64_t table_base, int* pirq);
int hvmd_xc_unmap_pirq(struct hvmd_xc* xc, uint32_t domid, int pirq);
int hvmd_xc_bind_pt_intx(struct hvmd_xc* xc, uint32_t domid, uint8_t pirq, uint8_t bus,
                         uint8_t device, uint8_t intx, int bind);
int hvmd_xc_update_msi(struct hvmd_xc* xc, uint32_t domid, uint32_t gvec, uint32_t pirq,
                       uint32_t gflags, uint64_t gtable);
int hvmd_xc_unbind_msi(struct hvmd_xc* xc, uint32_t domid, uint32_t gvec, uint32_t pirq,
                       uint32_t gflags);

#ifdef __cplusplus
}
#endif
