#include "vls_image_shim.h"
int vls_image_shim_version(void) { return 1; }
