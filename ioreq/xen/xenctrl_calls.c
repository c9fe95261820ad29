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
