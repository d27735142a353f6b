#ifndef KENNEL_PNG_SHIM_H
#define KENNEL_PNG_SHIM_H
// libpng reports errors with longjmp, which must never cross Swift frames. Encoding and header reads use the
// simplified png_image_* API (error codes, no longjmp). Decoding uses the classic API, because only it can
// reproduce TensorFlow's decode_png (16-bit to 8 by keeping the high byte, alpha dropped rather than composited)
// and hand out one row at a time; its setjmp and longjmp stay inside each kennel_png_* function below, which
// returns an error code to Swift.
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/// What kennel_png_open and kennel_png_read_row return.
enum { kennel_png_ok = 0, kennel_png_failed = 1, kennel_png_too_large = 2 };

/// A PNG read one row at a time, so a caller holds a row (plus libpng's own two) instead of the whole picture.
/// Interlaced images are the exception: their rows arrive spread over seven passes, so the first row read
/// decodes the whole image into `image`.
struct kennel_png_reader {
    const unsigned char *data;
    size_t size;
    size_t offset;
    char message[256];
    jmp_buf jump;
    png_structp png;
    png_infop info;
    uint32_t width;
    uint32_t height;
    int stored;   /* samples per pixel as libpng delivers them, alpha included */
    int channels; /* samples per pixel handed out: alpha dropped */
    int interlaced;
    size_t stride; /* bytes of one delivered row */
    unsigned char *row;
    unsigned char *image;
    png_bytep *rows; /* row pointers into `image` while an interlaced image is decoded */
    uint32_t next;
};

static void kennel_png_error(png_structp png, png_const_charp text) {
    struct kennel_png_reader *reader = (struct kennel_png_reader *)png_get_error_ptr(png);
    snprintf(reader->message, sizeof reader->message, "%s", text);
    longjmp(reader->jump, 1);
}

static void kennel_png_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void kennel_png_read(png_structp png, png_bytep out, size_t length) {
    struct kennel_png_reader *reader = (struct kennel_png_reader *)png_get_io_ptr(png);
    if (length > reader->size - reader->offset) png_error(png, "unexpected end of data (the file is truncated)");
    memcpy(out, reader->data + reader->offset, length);
    reader->offset += length;
}

/// Frees a reader and everything it holds; NULL is allowed.
static inline void kennel_png_close(struct kennel_png_reader *reader) {
    if (!reader) return;
    png_destroy_read_struct(reader->png ? &reader->png : NULL, reader->info ? &reader->info : NULL, NULL);
    free(reader->row);
    free(reader->image);
    free(reader->rows);
    free(reader);
}

static inline void kennel_png_copy_message(const struct kennel_png_reader *reader, char *message, size_t size) {
    snprintf(message, size, "%s", reader->message);
}

/// Reads the header of the PNG in `data` (which must outlive the reader) and sets up decoding as TensorFlow's
/// tf.io.decode_png does it: 16-bit samples keep their high byte, palettes become RGB, bit depths below 8 are
/// expanded, alpha (and tRNS) is dropped without compositing, no gamma is applied; gray stays 1 channel, colour
/// is 3. Images of more than `max_pixels` are refused with kennel_png_too_large (`*width`, `*height` set) before
/// any pixel memory is taken. On kennel_png_ok, `*out` is a reader for kennel_png_read_row and kennel_png_close.
static inline int kennel_png_open(const unsigned char *data, size_t size, size_t max_pixels,
                                  struct kennel_png_reader **out, uint32_t *width, uint32_t *height,
                                  int *channels, int *interlaced, char *message, size_t message_size) {
    *out = NULL;
    struct kennel_png_reader *reader = (struct kennel_png_reader *)calloc(1, sizeof *reader);
    if (!reader) {
        snprintf(message, message_size, "out of memory");
        return kennel_png_failed;
    }
    reader->data = data;
    reader->size = size;
    reader->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, reader, kennel_png_error, kennel_png_warning);
    reader->info = reader->png ? png_create_info_struct(reader->png) : NULL;
    if (!reader->png || !reader->info) {
        snprintf(message, message_size, "out of memory");
        kennel_png_close(reader);
        return kennel_png_failed;
    }
    volatile int result = kennel_png_failed;
    if (setjmp(reader->jump)) {
        kennel_png_copy_message(reader, message, message_size);
        kennel_png_close(reader);
        return result;
    }
    png_structp png = reader->png;
    png_infop info = reader->info;
    png_set_read_fn(png, reader, kennel_png_read);
    png_read_info(png, info);
    *width = reader->width = png_get_image_width(png, info);
    *height = reader->height = png_get_image_height(png, info);
    if ((uint64_t)reader->width * reader->height > max_pixels) {
        result = kennel_png_too_large;
        png_error(png, "too many pixels");
    }
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (depth == 16) png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    reader->interlaced = png_set_interlace_handling(png) > 1;
    png_read_update_info(png, info);
    reader->stored = png_get_channels(png, info);
    reader->stride = png_get_rowbytes(png, info);
    if (reader->stored < 1 || reader->stored > 4 || reader->stride != (size_t)reader->stored * reader->width) {
        png_error(png, "unexpected sample layout");
    }
    reader->channels = reader->stored == 2 || reader->stored == 4 ? reader->stored - 1 : reader->stored;
    *channels = reader->channels;
    *interlaced = reader->interlaced;
    *out = reader;
    return kennel_png_ok;
}

/// Writes the next row's width × channels samples to `row`. On failure the reader's `message` says why, and the
/// reader can only be closed.
static inline int kennel_png_read_row(struct kennel_png_reader *reader, unsigned char *row) {
    if (setjmp(reader->jump)) return kennel_png_failed;
    if (reader->next >= reader->height) png_error(reader->png, "read past the last row");
    const unsigned char *delivered;
    if (reader->interlaced) {
        if (!reader->image) {
            reader->rows = (png_bytep *)malloc(sizeof(png_bytep) * reader->height);
            reader->image = (unsigned char *)malloc(reader->stride * reader->height);
            if (!reader->rows || !reader->image) png_error(reader->png, "out of memory");
            for (uint32_t y = 0; y < reader->height; y++) reader->rows[y] = reader->image + y * reader->stride;
            png_read_image(reader->png, reader->rows);
            free(reader->rows);
            reader->rows = NULL;
        }
        delivered = reader->image + (size_t)reader->next * reader->stride;
    } else {
        if (!reader->row) {
            reader->row = (unsigned char *)malloc(reader->stride);
            if (!reader->row) png_error(reader->png, "out of memory");
        }
        png_read_row(reader->png, reader->row, NULL);
        delivered = reader->row;
    }
    reader->next++;
    if (reader->channels == reader->stored) {
        memcpy(row, delivered, reader->stride);
    } else {
        for (uint32_t x = 0; x < reader->width; x++) {
            for (int channel = 0; channel < reader->channels; channel++) {
                row[x * reader->channels + channel] = delivered[x * reader->stored + channel];
            }
        }
    }
    return kennel_png_ok;
}
#endif
