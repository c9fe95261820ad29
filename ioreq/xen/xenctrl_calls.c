#include "ioreq/xen/xenctrl_calls.h"

#include <errno.h>
#include <stdlib.h>
#include <xenctrl.h>

struct hvmd_xc* hvmd_xc_open(void) {
  return (struct hvmd_xc*)xc_interface_open(NULL, NULL, 0);
}

void hvmd_xc_close(struct hvmd_xc* xc) {
  if (xc) xc_interface_close((xc_interface*)xc);
}

int hvmd_xc_populate(struct hvmd_xc* xc, uint32_t domid, uint64_t first_gfn, uint64_t count) {
  xen_pfn_t* frames = calloc(count, sizeof(*frames));
  if (!frames) {
    errno = ENOMEM;
    return -1;
  }
  for (uint64_t i = 0; i < count; ++i) frames[i] = first_gfn + i;
  int rc = xc_domain_populate_physmap_exact((xc_interface*)xc, domid, count, 0, 0, frames);
  int saved = errno;
  free(frames);
  errno = saved;
  return rc;
}

/* Xen picks the pirq when asked with -1 (and, for MSI, the index with -1 too). */
static const int kAutoPirq = -1;

int hvmd_xc_memory_mapping(struct hvmd_xc* xc, uint32_t domid, uint64_t first_gfn,
                           uint64_t first_mfn, uint64_t count, int add) {
  return xc_domain_memory_mapping((xc_interface*)xc, domid, first_gfn, first_mfn, count,
                                  add ? DPCI_ADD_MAPPING : DPCI_REMOVE_MAPPING);
}

int hvmd_xc_ioport_mapping(struct hvmd_xc* xc, uint32_t domid, uint32_t first_guest_port,
                           uint32_t first_host_port, uint32_t count, int add) {
  return xc_domain_ioport_mapping((xc_interface*)xc, domid, first_guest_port, first_host_port,
                                  count, add ? DPCI_ADD_MAPPING : DPCI_REMOVE_MAPPING);
}

int hvmd_xc_map_pirq(struct hvmd_xc* xc, uint32_t domid, int machine_irq, int* pirq) {
  *pirq = kAutoPirq;
  return xc_physdev_map_pirq((xc_interface*)xc, domid, machine_irq, pirq);
}

int hvmd_xc_map_pirq_msi(struct hvmd_xc* xc, uint32_t domid, int bus, int devfn, int entry,
                         uint64_t table_base, int* pirq) {
  *pirq = kAutoPirq;
  return xc_physdev_map_pirq_msi((xc_interface*)xc, domid, kAutoPirq, pirq, devfn, bus, entry,
                                 table_base);
}

int hvmd_xc_unmap_pirq(struct hvmd_xc* xc, uint32_t domid, int pirq) {
  return xc_physdev_unmap_pirq((xc_interface*)xc, domid, pirq);
}

int hvmd_xc_bind_pt_intx(struct hvmd_xc* xc, uint32_t domid, uint8_t pirq, uint8_t bus,
                         uint8_t device, uint8_t intx, int bind) {
  if (bind) return xc_domain_bind_pt_pci_irq((xc_interface*)xc, domid, pirq, bus, device, intx);
  return xc_domain_unbind_pt_irq((xc_interface*)xc, domid, pirq, PT_IRQ_TYPE_PCI, bus, device, intx,
                                 0);
}

int hvmd_xc_update_msi(struct hvmd_xc* xc, uint32_t domid, uint32_t gvec, uint32_t pirq,
                       uint32_t gflags, uint64_t gtable) {
  return xc_domain_update_msi_irq((xc_interface*)xc, domid, gvec, pirq, gflags, gtable);
}

int hvmd_xc_unbind_msi(struct hvmd_xc* xc, uint32_t domid, uint32_t gvec, uint32_t pirq,
                       uint32_t gflags) {
  return xc_domain_unbind_msi_irq((xc_interface*)xc, domid, gvec, pirq, gflags);
}
