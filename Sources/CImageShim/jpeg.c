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
        /* libjpeg's arrays outgrew max_memory_to_use (what the cap leaves): say so, not
         * "Backing store not supported". */
        snprintf(ctx->msg, ctx->msgcap, "decoding this JPEG (progressive or multi-scan) needs more than the %ld bytes the memory limit leaves beside its pixels (set VLS_MAX_TENSOR_BYTES to change it)",
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

/* The bytes libjpeg needs beside the output while it decodes: for a progressive or
 * multi-scan file the whole image's DCT coefficients (each component's blocks, padded to
 * its sampling factors, 64 coefficients of 2 bytes each), and for every file its row
 * buffers (a few MCU rows of every component, upsampled and colour-converted) and tables. */
static size_t jpeg_work_bytes(j_decompress_ptr cinfo) {
    size_t work = 0;
    if (jpeg_has_multiple_scans(cinfo) || cinfo->buffered_image) {
        for (int ci = 0; ci < cinfo->num_components; ci++) {
            jpeg_component_info *c = &cinfo->comp_info[ci];
            size_t bw = c->width_in_blocks, bh = c->height_in_blocks;
            size_t hs = c->h_samp_factor > 0 ? (size_t)c->h_samp_factor : 1;
            size_t vs = c->v_samp_factor > 0 ? (size_t)c->v_samp_factor : 1;
            bw = (bw + hs - 1) / hs * hs;
            bh = (bh + vs - 1) / vs * vs;
            work += bw * bh * 64 * sizeof(JCOEF);
        }
    }
    size_t vmax = cinfo->max_v_samp_factor > 0 ? (size_t)cinfo->max_v_samp_factor : 1;
    size_t w = (size_t)cinfo->image_width + 64;
    work += w * (size_t)cinfo->num_components * vmax * 8 * 6   /* coefficient/sample rows, context rows */
          + w * 4 * 2                                          /* upsampled and converted rows */
          + 262144;                                            /* tables, Huffman state, headers */
    return work;
}

/* Reads the header into `cinfo` (created, with the error handler set) and checks the size.
 * Returns 0, or -1 with `msg` written (cinfo left for the caller to destroy). */
static int jpeg_read_size(j_decompress_ptr cinfo, char *msg, size_t msgcap) {
    jpeg_read_header(cinfo, TRUE);
    long w = cinfo->image_width, h = cinfo->image_height;
    if (w <= 0 || h <= 0 || w > VLS_MAX_SIDE || h > VLS_MAX_SIDE || w * h > VLS_MAX_PIXELS) {
        snprintf(msg, msgcap, "invalid JPEG: image dimensions %ldx%ld out of range (1 to %ld pixels, Pillow's decompression-bomb limit)",
                 w, h, (long)VLS_MAX_PIXELS);
        return -1;
    }
    return 0;
}

/* The output kind of a JPEG's colour space: 1 gray, 3 RGB, 4 CMYK (set on `cinfo`). */
static int jpeg_output_kind(j_decompress_ptr cinfo) {
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo->out_color_space = JCS_GRAYSCALE;
        return 1;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo->out_color_space = JCS_CMYK;
        return 4;
    default:
        cinfo->out_color_space = JCS_RGB;
        return 3;
    }
}

static void jpeg_setup(struct jpeg_decompress_struct *cinfo, jpeg_error_context *ctx, char *msg, size_t msgcap) {
    memset(cinfo, 0, sizeof *cinfo);
    cinfo->err = jpeg_std_error(&ctx->base);
    ctx->base.error_exit = on_jpeg_error;
    ctx->base.emit_message = on_jpeg_message;
    ctx->base.output_message = on_jpeg_output;
    ctx->msg = msg;
    ctx->msgcap = msgcap;
}

int vls_jpeg_probe(const unsigned char *data, size_t size, int *width, int *height, size_t *peak,
                   char *msg, size_t msgcap) {
    *width = 0;
    *height = 0;
    *peak = 0;
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) {
        snprintf(msg, msgcap, "not a JPEG file (bad signature)");
        return VLS_ERROR;
    }
    struct jpeg_decompress_struct cinfo;
    jpeg_error_context ctx;
    jpeg_setup(&cinfo, &ctx, msg, msgcap);
    if (setjmp(ctx.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return VLS_ERROR;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    if (jpeg_read_size(&cinfo, msg, msgcap) != 0) {
        jpeg_destroy_decompress(&cinfo);
        return VLS_ERROR;
    }
    int kind = jpeg_output_kind(&cinfo);
    size_t w = cinfo.image_width, h = cinfo.image_height;
    *width = (int)w;
    *height = (int)h;
    *peak = w * h * 3 + w * (size_t)kind + jpeg_work_bytes(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return VLS_OK;
}

int vls_jpeg_decode(const unsigned char *data, size_t size, unsigned char *rgb, int width, int height,
                    size_t workmax, char *msg, size_t msgcap) {
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) {
        snprintf(msg, msgcap, "not a JPEG file (bad signature)");
        return VLS_ERROR;
    }
    struct jpeg_decompress_struct cinfo;
    jpeg_error_context ctx;
    jpeg_setup(&cinfo, &ctx, msg, msgcap);
    unsigned char *volatile row = NULL;
    if (setjmp(ctx.jump)) {
        free(row);
        jpeg_destroy_decompress(&cinfo);
        return VLS_ERROR;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    if (jpeg_read_size(&cinfo, msg, msgcap) != 0) {
        jpeg_destroy_decompress(&cinfo);
        return VLS_ERROR;
    }
    long w = cinfo.image_width, h = cinfo.image_height;
    if (w != width || h != height) {
        snprintf(msg, msgcap, "invalid JPEG: the header changed between reads");
        jpeg_destroy_decompress(&cinfo);
        return VLS_ERROR;
    }
    /* libjpeg's own large arrays (a progressive file keeps every coefficient) are bounded
     * by what the cap leaves beside the output; past it libjpeg-turbo, which has no
     * backing store, stops with an error instead of allocating. */
    cinfo.mem->max_memory_to_use = (long)(workmax > (size_t)0x7fffffffffffffffL ? 0x7fffffffffffffffL : (workmax ? workmax : 1));
    int kind = jpeg_output_kind(&cinfo);
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != kind) {
        ERREXIT(&cinfo, JERR_BAD_J_COLORSPACE);
    }
    row = malloc((size_t)w * (size_t)kind);
    if (!row) {
        ERREXIT1(&cinfo, JERR_OUT_OF_MEMORY, 0);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW rows[1] = {row};
        if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) {
            ERREXIT(&cinfo, JERR_INPUT_EMPTY);
        }
        unsigned char *dst = rgb + y * (size_t)w * 3;
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
    return VLS_OK;
}
