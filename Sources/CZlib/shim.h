#ifndef VLS_CZLIB_SHIM_H
#define VLS_CZLIB_SHIM_H
#include <zlib.h>
#endif
