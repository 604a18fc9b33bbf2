#ifndef VLS_IMAGE_SHIM_H
#define VLS_IMAGE_SHIM_H
int vls_image_shim_version(void);
#endif
