/* gzip / zlib inflate to memory with an output cap. */
#include "vls_image_shim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int vls_gunzip(const unsigned char *data, size_t size, size_t maxout,
               unsigned char **out, size_t *outsize, char *msg, size_t msgcap) {
    z_stream s;
    memset(&s, 0, sizeof s);
    *out = NULL;
    *outsize = 0;
    if (inflateInit2(&s, 15 + 32) != Z_OK) { /* 32: detect gzip or zlib header */
        snprintf(msg, msgcap, "zlib: cannot initialise inflate");
        return VLS_ERROR;
    }
    size_t cap = size * 4 + 1024;
    if (cap > maxout + 1) cap = maxout + 1;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        inflateEnd(&s);
        snprintf(msg, msgcap, "out of memory");
        return VLS_ERROR;
    }
    size_t consumed = 0, produced = 0;
    int rc = Z_OK;
    for (;;) {
        size_t inchunk = size - consumed;
        if (inchunk > 0x40000000u) inchunk = 0x40000000u;
        size_t outchunk = cap - produced;
        if (outchunk > 0x40000000u) outchunk = 0x40000000u;
        s.next_in = (unsigned char *)(data + consumed);
        s.avail_in = (uInt)inchunk;
        s.next_out = buf + produced;
        s.avail_out = (uInt)outchunk;
        rc = inflate(&s, Z_NO_FLUSH);
        consumed += inchunk - s.avail_in;
        produced += outchunk - s.avail_out;
        if (rc == Z_STREAM_END) break;
        if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_MEM_ERROR) {
            snprintf(msg, msgcap, "corrupt compressed data (%s)", s.msg ? s.msg : "zlib error");
            inflateEnd(&s);
            free(buf);
            return VLS_ERROR;
        }
        if (produced > maxout) {
            snprintf(msg, msgcap, "decompressed data exceeds the limit of %zu bytes", maxout);
            inflateEnd(&s);
            free(buf);
            return VLS_ERROR;
        }
        if (produced == cap) {
            size_t ncap = cap * 2;
            if (ncap > maxout + 1) ncap = maxout + 1;
            unsigned char *nbuf = realloc(buf, ncap);
            if (!nbuf) {
                inflateEnd(&s);
                free(buf);
                snprintf(msg, msgcap, "out of memory");
                return VLS_ERROR;
            }
            buf = nbuf;
            cap = ncap;
            continue;
        }
        if (consumed == size) { /* no more input, stream not finished */
            snprintf(msg, msgcap, "compressed data is truncated");
            inflateEnd(&s);
            free(buf);
            return VLS_ERROR;
        }
    }
    inflateEnd(&s);
    if (produced > maxout) {
        snprintf(msg, msgcap, "decompressed data exceeds the limit of %zu bytes", maxout);
        free(buf);
        return VLS_ERROR;
    }
    *out = buf;
    *outsize = produced;
    return VLS_OK;
}
