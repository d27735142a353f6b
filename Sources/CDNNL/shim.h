#ifndef KENNEL_DNNL_SHIM_H
#define KENNEL_DNNL_SHIM_H
// oneDNN 2.6's C API (Debian libdnnl-dev, built on OpenMP; see COpenMP): status codes, no longjmp, so Swift
// calls it directly. The macro Swift cannot import is restated here.
#include <oneapi/dnnl/dnnl.h>

/// DNNL_MEMORY_NONE: a memory object without a buffer; one is set before each execution.
static inline void *kennel_dnnl_memory_none(void) { return DNNL_MEMORY_NONE; }

#endif
