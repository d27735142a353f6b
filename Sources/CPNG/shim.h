#ifndef KENNEL_PNG_SHIM_H
#define KENNEL_PNG_SHIM_H
// libpng's classic API reports errors with longjmp, which Swift cannot survive: Kennel uses only the
// simplified png_image_* API, which returns error codes and a message in png_image.message.
#include <png.h>

/// PNG_IMAGE_ROW_STRIDE is a function-like macro, which Swift cannot import.
static inline size_t kennel_png_row_stride(const png_image *image) {
    return PNG_IMAGE_ROW_STRIDE(*image);
}
#endif
