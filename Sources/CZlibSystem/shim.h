#ifndef KENNEL_ZLIB_SHIM_H
#define KENNEL_ZLIB_SHIM_H
// zlib: gzip reading for IDX files and CRC-32 for shard checksums. Nothing here is variadic or a macro
// Swift cannot see, so the header is used as it is.
#include <zlib.h>
#endif
