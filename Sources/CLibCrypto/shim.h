#ifndef VLS_CLIBCRYPTO_SHIM_H
#define VLS_CLIBCRYPTO_SHIM_H
// OpenSSL's libcrypto (Debian libssl-dev): HMAC-SHA256 for Jupyter message signatures.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#endif
