/* JPEG decode through libjpeg-turbo with an error_exit that longjmps inside C. */
#include "vls_image_shim.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *msg;
    size_t msgcap;
} jpeg_error_context;

static void on_jpeg_error(j_common_ptr cinfo) {
    jpeg_error_context *ctx = (jpeg_error_context *)cinfo->err;
    if (cinfo->err->msg_code == JERR_NO_BACKING_STORE) {
        /* libjpeg's arrays outgrew max_memory_to_use (the memory cap): say so, not
         * "Backing store not supported". */
        snprintf(ctx->msg, ctx->msgcap, "decoding this JPEG (progressive or multi-scan) needs more memory than the limit of %ld bytes (set VLS_MAX_TENSOR_BYTES to change it)",
                 cinfo->mem ? cinfo->mem->max_memory_to_use : 0L);
        longjmp(ctx->jump, 1);
    }
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(ctx->msg, ctx->msgcap, "invalid JPEG: %s", text);
    longjmp(ctx->jump, 1);
}

/* Warnings are ignored, except missing image data: running out of file (Pillow raises
 * "image file is truncated" there too), or a marker where entropy-coded data should
 * continue ("premature end of data segment"). libjpeg would fill the rest of the image
 * with gray, a silently wrong picture, and for a forged header a long decode of nothing
 * (a 128-byte file declaring 28533x8516 pixels took 20 s: a fuzzer finding). */
static void on_jpeg_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;
    int code = cinfo->err->msg_code;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER) {
        jpeg_error_context *ctx = (jpeg_error_context *)cinfo->err;
        snprintf(ctx->msg, ctx->msgcap, code == JWRN_JPEG_EOF ? "invalid JPEG: file is truncated"
                                                              : "invalid JPEG: image data ends early (premature end of data segment)");
        longjmp(ctx->jump, 1);
    }
}

static void on_jpeg_output(j_common_ptr cinfo) { (void)cinfo; }

/* Pillow's CMYK -> RGB (Convert.c cmyk2rgb): r = nk - c * nk / 255, rounded. */
static unsigned char cmyk_channel(int c, int nk) {
    int tmp = c * nk + 128;
    int v = nk - (((tmp >> 8) + tmp) >> 8);
    return (unsigned char)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

int vls_jpeg_decode(const unsigned char *data, size_t size, int *width, int *height,
                    unsigned char **rgb, size_t maxbytes, char *msg, size_t msgcap) {
    *rgb = NULL;
    *width = 0;
    *height = 0;
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) {
        snprintf(msg, msgcap, "not a JPEG file (bad signature)");
        return VLS_ERROR;
    }
    struct jpeg_decompress_struct cinfo;
    jpeg_error_context ctx;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&ctx.base);
    ctx.base.error_exit = on_jpeg_error;
    ctx.base.emit_message = on_jpeg_message;
    ctx.base.output_message = on_jpeg_output;
    ctx.msg = msg;
    ctx.msgcap = msgcap;
    unsigned char *volatile pixels = NULL;
    unsigned char *volatile row = NULL;
    if (setjmp(ctx.jump)) {
        free(pixels);
        free(row);
        jpeg_destroy_decompress(&cinfo);
        return VLS_ERROR;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    long w = cinfo.image_width, h = cinfo.image_height;
    if (w <= 0 || h <= 0 || w > VLS_MAX_SIDE || h > VLS_MAX_SIDE || w * h > VLS_MAX_PIXELS) {
        snprintf(msg, msgcap, "invalid JPEG: image dimensions %ldx%ld out of range", w, h);
        jpeg_destroy_decompress(&cinfo);
        return VLS_ERROR;
    }
    if ((size_t)w * (size_t)h * 3 > maxbytes) {
        snprintf(msg, msgcap, "a %ldx%ld image needs %zu bytes of RGB, more than the limit of %zu bytes (set VLS_MAX_TENSOR_BYTES to change it)",
                 w, h, (size_t)w * (size_t)h * 3, maxbytes);
        jpeg_destroy_decompress(&cinfo);
        return VLS_ERROR;
    }
    /* libjpeg's own large arrays (a progressive file keeps every coefficient: about twice
     * the RGB size) are bounded by the same cap; past it libjpeg-turbo, which has no
     * backing store, stops with an error instead of allocating. */
    cinfo.mem->max_memory_to_use = (long)(maxbytes > (size_t)0x7fffffffffffffffL ? 0x7fffffffffffffffL : maxbytes);
    int kind; /* 1 gray, 3 rgb, 4 cmyk */
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        kind = 1;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo.out_color_space = JCS_CMYK;
        kind = 4;
        break;
    default:
        cinfo.out_color_space = JCS_RGB;
        kind = 3;
        break;
    }
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != kind) {
        ERREXIT(&cinfo, JERR_BAD_J_COLORSPACE);
    }
    pixels = malloc((size_t)w * (size_t)h * 3);
    row = malloc((size_t)w * (size_t)kind);
    if (!pixels || !row) {
        ERREXIT1(&cinfo, JERR_OUT_OF_MEMORY, 0);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW rows[1] = {row};
        if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) {
            ERREXIT(&cinfo, JERR_INPUT_EMPTY);
        }
        unsigned char *dst = pixels + y * (size_t)w * 3;
        for (long x = 0; x < w; x++) {
            if (kind == 3) {
                dst[3 * x] = row[3 * x];
                dst[3 * x + 1] = row[3 * x + 1];
                dst[3 * x + 2] = row[3 * x + 2];
            } else if (kind == 1) {
                dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
            } else {
                /* Pillow reads CMYK JPEGs as Adobe-inverted ("CMYK;I"). */
                int c = 255 - row[4 * x], m = 255 - row[4 * x + 1];
                int yy = 255 - row[4 * x + 2], k = 255 - row[4 * x + 3];
                int nk = 255 - k;
                dst[3 * x] = cmyk_channel(c, nk);
                dst[3 * x + 1] = cmyk_channel(m, nk);
                dst[3 * x + 2] = cmyk_channel(yy, nk);
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    *rgb = pixels;
    *width = (int)w;
    *height = (int)h;
    return VLS_OK;
}
