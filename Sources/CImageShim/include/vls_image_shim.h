#ifndef VLS_IMAGE_SHIM_H
#define VLS_IMAGE_SHIM_H
/* A small C layer over libpng, libjpeg-turbo and zlib so that a corrupt image or
 * stream is an error value: every longjmp stays inside C. Every function returns
 * VLS_OK or VLS_ERROR, writes a NUL-terminated message into `msg` (capacity `msgcap`)
 * on error, and hands back buffers allocated with malloc that the caller releases
 * with vls_image_free. Decoders produce 8-bit RGB, interleaved, row-major. */
#include <stddef.h>

#define VLS_OK 0
#define VLS_ERROR 1
/* Largest accepted pixel count, checked before any pixel buffer exists: Pillow's
 * decompression-bomb limit (2 * Image.MAX_IMAGE_PIXELS), so a file Pillow opens opens here
 * (a 65535x1 PNG too: Pillow has no limit per side, and a side limit of 32768 refused it
 * as "Invalid IHDR data"), and a 128-byte header cannot ask for gigabytes. A side is
 * bounded only by the pixel count. */
#define VLS_MAX_PIXELS 178956970L
#define VLS_MAX_SIDE VLS_MAX_PIXELS

/* Shim version (bumped when the interface changes). */
int vls_image_shim_version(void);

/* Releases a buffer returned by any function below. */
void vls_image_free(void *p);

/* Decoding is two calls, so that the caller can check the memory a decode needs and own
 * the output buffer (no copy of the pixels after decoding):
 *
 * 1. `probe` reads the header only: the size (refused past VLS_MAX_PIXELS, the message
 *    stating the limit) and `peak`, the bytes the decode allocates at its peak, the
 *    w * h * 3 output included (for PNG the row pointers and libpng's row buffers; for a
 *    JPEG libjpeg's row buffers and, for a progressive or multi-scan file, its coefficient
 *    arrays). Nothing larger than the header is allocated.
 * 2. `decode` fills `rgb` (w * h * 3 bytes, interleaved, row-major) for the size the probe
 *    gave; a header that differs is an error.
 *
 * The PNG decoder also bounds every ancillary chunk (tEXt, zTXt, iTXt, sPLT, ...) by the
 * file's size: a 100-byte file declaring a 2 GB text chunk is an error, not a 2 GB
 * allocation. */

/* PNG (any colour type and depth) to 8-bit RGB: 16-bit samples keep their high byte,
 * palettes are expanded, gray is replicated, alpha is dropped. */
int vls_png_probe(const unsigned char *data, size_t size, int *width, int *height, size_t *peak,
                  char *msg, size_t msgcap);
int vls_png_decode(const unsigned char *data, size_t size, unsigned char *rgb, int width, int height,
                   char *msg, size_t msgcap);

/* Baseline or progressive 8-bit JPEG to RGB (gray replicated, CMYK/YCCK converted as
 * Pillow does, assuming Adobe-inverted CMYK). A file that ends early is an error.
 * `workmax` bounds libjpeg's own allocations (its max_memory_to_use): the cap less the
 * output, so that the whole decode stays under the cap even where the probe's estimate of
 * libjpeg's needs is short. */
int vls_jpeg_probe(const unsigned char *data, size_t size, int *width, int *height, size_t *peak,
                   char *msg, size_t msgcap);
int vls_jpeg_decode(const unsigned char *data, size_t size, unsigned char *rgb, int width, int height,
                    size_t workmax, char *msg, size_t msgcap);

/* Encodes 8-bit RGB (channels 3) or RGBA (channels 4) pixels as a PNG. */
int vls_png_encode(const unsigned char *pixels, int width, int height, int channels,
                   unsigned char **out, size_t *outsize, char *msg, size_t msgcap);

/* Inflates a gzip (or zlib) stream into memory; more than `maxout` bytes is an error. */
int vls_gunzip(const unsigned char *data, size_t size, size_t maxout,
               unsigned char **out, size_t *outsize, char *msg, size_t msgcap);

#endif
