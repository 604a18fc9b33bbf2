/* PNG decode and encode through libpng; errors longjmp back to this file only. */
#include "vls_image_shim.h"
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* MARK: - Error plumbing */

typedef struct {
    jmp_buf jump;
    char *msg;
    size_t msgcap;
} png_error_context;

static void on_png_error(png_structp png, png_const_charp text) {
    png_error_context *ctx = (png_error_context *)png_get_error_ptr(png);
    snprintf(ctx->msg, ctx->msgcap, "invalid PNG: %s", text ? text : "libpng error");
    longjmp(ctx->jump, 1);
}

static void on_png_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

/* MARK: - Decode */

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t pos;
} png_reader;

static void read_from_memory(png_structp png, png_bytep out, png_size_t count) {
    png_reader *r = (png_reader *)png_get_io_ptr(png);
    if (count > r->size - r->pos) {
        png_error(png, "file is truncated");
    }
    memcpy(out, r->data + r->pos, count);
    r->pos += count;
}

/* Every chunk before the first IDAT must fit in what is left of the file. libpng 1.6
 * allocates an ancillary chunk's declared length before reading it (a 100-byte file
 * declaring a 2 GB tEXt, zTXt, iTXt or sPLT allocated 2.1 GB), and its own length check
 * is a benign error, a warning that lets the allocation happen. The file is in memory, so
 * a length past its end can only be a truncated or hostile file: refused here, first.
 * (Chunks after the first IDAT are never read: the decoder stops at the image data.) */
static int check_chunk_lengths(const unsigned char *data, size_t size, char *msg, size_t msgcap) {
    size_t pos = 8;
    while (size - pos >= 8) {
        const unsigned char *c = data + pos;
        size_t length = ((size_t)c[0] << 24) | ((size_t)c[1] << 16) | ((size_t)c[2] << 8) | (size_t)c[3];
        char kind[5];
        for (int i = 0; i < 4; i++) kind[i] = (c[4 + i] >= 0x20 && c[4 + i] < 0x7f) ? (char)c[4 + i] : '?';
        kind[4] = 0;
        if (memcmp(c + 4, "IDAT", 4) == 0) return VLS_OK;
        if (length > size - pos - 8 || size - pos - 8 - length < 4) {
            snprintf(msg, msgcap, "invalid PNG: chunk '%s' at byte %zu declares %zu bytes, more than the %zu left in the file",
                     kind, pos, length, size - pos - 8);
            return VLS_ERROR;
        }
        if (memcmp(c + 4, "IEND", 4) == 0) return VLS_OK;
        pos += 12 + length;
    }
    return VLS_OK; /* a short tail: libpng reports the truncation */
}

/* The bytes a decode of a w x h image allocates at its peak, output included: the RGB
 * rows (w * h * 3), the row pointers, libpng's two row buffers (sized for the widest
 * pixel a transform passes through: 16-bit RGBA, 8 bytes) and zlib's inflate state. */
static size_t png_peak_bytes(size_t w, size_t h) {
    return w * h * 3 + h * sizeof(png_bytep) + 2 * (w * 8 + 64) + 65536;
}

/* Writes the message for an image over the pixel limit. */
static void pixels_over_limit(char *msg, size_t msgcap, unsigned long w, unsigned long h) {
    snprintf(msg, msgcap, "invalid PNG: image dimensions %lux%lu out of range (1 to %ld pixels, Pillow's decompression-bomb limit)",
             w, h, (long)VLS_MAX_PIXELS);
}

/* The one reader of both calls: with `rgb` NULL it stops after the header (the probe),
 * otherwise it decodes into `rgb` for the size in *width x *height. */
static int read_png(const unsigned char *data, size_t size, unsigned char *rgb, int *width, int *height,
                    size_t *peak, char *msg, size_t msgcap) {
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        snprintf(msg, msgcap, "not a PNG file (bad signature)");
        return VLS_ERROR;
    }
    if (check_chunk_lengths(data, size, msg, msgcap) != VLS_OK) return VLS_ERROR;
    png_error_context ctx;
    ctx.msg = msg;
    ctx.msgcap = msgcap;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_png_error, on_png_warning);
    if (!png) {
        snprintf(msg, msgcap, "out of memory");
        return VLS_ERROR;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(msg, msgcap, "out of memory");
        return VLS_ERROR;
    }
    png_reader reader = {data, size, 0};
    png_bytep *volatile rows = NULL;
    if (setjmp(ctx.jump)) {
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return VLS_ERROR;
    }
    png_set_read_fn(png, &reader, read_from_memory);
    png_set_user_limits(png, VLS_MAX_SIDE, VLS_MAX_SIDE);
    /* A decompressed zTXt/iTXt/iCCP is bounded by the file's size (at least libpng's usual
     * 8 MB): past it libpng skips the chunk instead of inflating it. At most 1000
     * ancillary chunks are kept (a file of millions of tiny sPLT/tEXt chunks would
     * otherwise grow lists without bound). */
    png_set_chunk_malloc_max(png, size < 8000000 ? 8000000 : (png_alloc_size_t)size);
    png_set_chunk_cache_max(png, 1000);
    png_read_info(png, info);

    png_uint_32 w = 0, h = 0;
    int depth = 0, color = 0, interlace = 0;
    png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    if (w == 0 || h == 0 || w > VLS_MAX_SIDE || h > VLS_MAX_SIDE ||
        (long)w * (long)h > VLS_MAX_PIXELS) {
        pixels_over_limit(msg, msgcap, (unsigned long)w, (unsigned long)h);
        png_destroy_read_struct(&png, &info, NULL);
        return VLS_ERROR;
    }
    if (rgb == NULL) {
        /* Probing: the size and the peak, nothing decoded. */
        *width = (int)w;
        *height = (int)h;
        *peak = png_peak_bytes(w, h);
        png_destroy_read_struct(&png, &info, NULL);
        return VLS_OK;
    }
    if ((int)w != *width || (int)h != *height) {
        png_error(png, "the header changed between reads");
    }
    if (depth == 16) png_set_strip_16(png); /* high byte, as Pillow's ";16B" modes */
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);

    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)w * 3) {
        png_error(png, "unexpected row layout after conversion to RGB");
    }
    rows = malloc(sizeof(png_bytep) * h);
    if (!rows) {
        png_error(png, "out of memory");
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = rgb + (size_t)y * rowbytes;
    png_read_image(png, rows);

    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return VLS_OK;
}

int vls_png_probe(const unsigned char *data, size_t size, int *width, int *height, size_t *peak,
                  char *msg, size_t msgcap) {
    *width = 0;
    *height = 0;
    *peak = 0;
    return read_png(data, size, NULL, width, height, peak, msg, msgcap);
}

int vls_png_decode(const unsigned char *data, size_t size, unsigned char *rgb, int width, int height,
                   char *msg, size_t msgcap) {
    size_t peak = 0;
    if (!rgb) {
        snprintf(msg, msgcap, "no output buffer");
        return VLS_ERROR;
    }
    return read_png(data, size, rgb, &width, &height, &peak, msg, msgcap);
}

/* MARK: - Encode */

typedef struct {
    unsigned char *data;
    size_t size;
    size_t cap;
    int failed;
} png_writer;

static void write_to_memory(png_structp png, png_bytep in, png_size_t count) {
    png_writer *w = (png_writer *)png_get_io_ptr(png);
    if (w->size + count > w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 4096;
        while (ncap < w->size + count) ncap *= 2;
        unsigned char *n = realloc(w->data, ncap);
        if (!n) {
            png_error(png, "out of memory");
        }
        w->data = n;
        w->cap = ncap;
    }
    memcpy(w->data + w->size, in, count);
    w->size += count;
}

static void flush_memory(png_structp png) { (void)png; }

int vls_png_encode(const unsigned char *pixels, int width, int height, int channels,
                   unsigned char **out, size_t *outsize, char *msg, size_t msgcap) {
    *out = NULL;
    *outsize = 0;
    if (width <= 0 || height <= 0 || width > VLS_MAX_SIDE || height > VLS_MAX_SIDE ||
        (long)width * (long)height > VLS_MAX_PIXELS || (channels != 3 && channels != 4)) {
        snprintf(msg, msgcap, "cannot encode a %dx%d image with %d channels", width, height, channels);
        return VLS_ERROR;
    }
    png_error_context ctx;
    ctx.msg = msg;
    ctx.msgcap = msgcap;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_png_error, on_png_warning);
    if (!png) {
        snprintf(msg, msgcap, "out of memory");
        return VLS_ERROR;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(msg, msgcap, "out of memory");
        return VLS_ERROR;
    }
    png_writer writer = {NULL, 0, 0, 0};
    png_bytep *volatile rows = NULL;
    if (setjmp(ctx.jump)) {
        free(rows);
        free(writer.data);
        png_destroy_write_struct(&png, &info);
        return VLS_ERROR;
    }
    png_set_write_fn(png, &writer, write_to_memory, flush_memory);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (!rows) png_error(png, "out of memory");
    size_t stride = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++) rows[y] = (png_bytep)(pixels + (size_t)y * stride);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    *out = writer.data;
    *outsize = writer.size;
    return VLS_OK;
}
