#ifndef KENNEL_PNG_SHIM_H
#define KENNEL_PNG_SHIM_H
// libpng reports errors with longjmp, which must never cross Swift frames. Encoding and header reads use the
// simplified png_image_* API (error codes, no longjmp). Decoding uses the classic API, because only it can
// reproduce TensorFlow's decode_png (16-bit to 8 by keeping the high byte, alpha dropped rather than composited);
// its setjmp and longjmp stay inside kennel_png_decode below, which returns an error code to Swift.
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/// PNG_IMAGE_ROW_STRIDE is a function-like macro, which Swift cannot import.
static inline size_t kennel_png_row_stride(const png_image *image) {
    return PNG_IMAGE_ROW_STRIDE(*image);
}

/// What kennel_png_decode returns.
enum { kennel_png_ok = 0, kennel_png_failed = 1, kennel_png_too_large = 2 };

struct kennel_png_source {
    const unsigned char *data;
    size_t size;
    size_t offset;
    char message[256];
    jmp_buf jump;
};

static void kennel_png_error(png_structp png, png_const_charp text) {
    struct kennel_png_source *source = (struct kennel_png_source *)png_get_error_ptr(png);
    snprintf(source->message, sizeof source->message, "%s", text);
    longjmp(source->jump, 1);
}

static void kennel_png_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void kennel_png_read(png_structp png, png_bytep out, size_t length) {
    struct kennel_png_source *source = (struct kennel_png_source *)png_get_io_ptr(png);
    if (length > source->size - source->offset) png_error(png, "unexpected end of data (the file is truncated)");
    memcpy(out, source->data + source->offset, length);
    source->offset += length;
}

/// Decodes a PNG to 8-bit samples as TensorFlow's tf.io.decode_png does: 16-bit samples keep their high byte,
/// palettes become RGB, bit depths below 8 are expanded, alpha (and tRNS) is dropped without compositing,
/// interlaced images are de-interlaced; no gamma is applied. Gray stays 1 channel, colour is 3. On success `*pixels` is a malloc'd
/// width × height × channels buffer the caller frees. Images of more than `max_pixels` are refused with
/// kennel_png_too_large before any pixel memory is taken; `*width` and `*height` are set then too.
static inline int kennel_png_decode(const unsigned char *data, size_t size, size_t max_pixels,
                                    unsigned char **pixels, uint32_t *width, uint32_t *height, int *channels,
                                    char *message, size_t message_size) {
    struct kennel_png_source source = { data, size, 0, "", {{0}} };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, kennel_png_error, kennel_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char *volatile buffer = NULL;
    png_bytep *volatile rows = NULL;
    volatile int result = kennel_png_failed;
    *pixels = NULL;
    if (!png || !info) {
        snprintf(message, message_size, "out of memory");
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        return kennel_png_failed;
    }
    if (setjmp(source.jump)) {
        snprintf(message, message_size, "%s", source.message);
        free(buffer);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return result;
    }
    png_set_read_fn(png, &source, kennel_png_read);
    png_read_info(png, info);
    *width = png_get_image_width(png, info);
    *height = png_get_image_height(png, info);
    if ((uint64_t)*width * *height > max_pixels) {
        result = kennel_png_too_large;
        png_error(png, "too many pixels");
    }
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (depth == 16) png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int stored = png_get_channels(png, info);
    size_t stride = png_get_rowbytes(png, info);
    if (stored < 1 || stored > 4 || stride != (size_t)stored * *width) png_error(png, "unexpected sample layout");
    buffer = (unsigned char *)malloc(stride * *height);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * *height);
    if (!buffer || !rows) png_error(png, "out of memory");
    for (uint32_t y = 0; y < *height; y++) rows[y] = buffer + y * stride;
    png_read_image(png, rows);
    free(rows);
    // Alpha (its own channel, or tRNS that a palette's expansion turned into one) is dropped, not composited.
    *channels = stored == 2 || stored == 4 ? stored - 1 : stored;
    if (*channels != stored) {
        size_t count = (size_t)*width * *height;
        for (size_t pixel = 0; pixel < count; pixel++) {
            for (int channel = 0; channel < *channels; channel++) {
                buffer[pixel * *channels + channel] = buffer[pixel * stored + channel];
            }
        }
    }
    png_destroy_read_struct(&png, &info, NULL);
    *pixels = buffer;
    return kennel_png_ok;
}
#endif
