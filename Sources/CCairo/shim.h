#ifndef VLS_CCAIRO_SHIM_H
#define VLS_CCAIRO_SHIM_H
// cairo (Debian libcairo2-dev): the one drawing code of every figure, rendered through its
// image surface (PNG) and its SVG surface, text in DejaVu Sans (fonts-dejavu-core).
#include <cairo/cairo.h>
#include <cairo/cairo-svg.h>
#endif
