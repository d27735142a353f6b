#ifndef KENNEL_MALLOC_SHIM_H
#define KENNEL_MALLOC_SHIM_H
// glibc's allocator tuning. <malloc.h> is not part of Swift's Glibc module, so mallopt is reached here.
#include <malloc.h>

/// Serves every allocation from the heap and never trims it: training frees and reallocates the same
/// activation-sized buffers (tens of MB) every step, and mmap-ed blocks would page-fault every page back in
/// each time. Returns 1 when glibc accepted both settings.
static inline int kennel_keep_freed_memory(void) {
    return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
}
/// Returns the heap's free pages to the system (after a rare, large allocation such as a decoded photo, so
/// the process does not keep its peak for the tuning above). Returns 1 when some memory was released.
static inline int kennel_release_free_memory(void) {
    return malloc_trim(0);
}
#endif
