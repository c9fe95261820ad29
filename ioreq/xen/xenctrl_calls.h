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

#ifdef __cplusplus
}
#endif
