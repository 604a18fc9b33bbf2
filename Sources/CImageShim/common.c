#include "vls_image_shim.h"
#include <stdlib.h>

int vls_image_shim_version(void) { return 3; }

void vls_image_free(void *p) { free(p); }
