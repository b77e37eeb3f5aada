/* SHA-256 digests (OpenSSL libcrypto) as lowercase hex, for run provenance and the registry. */
#ifndef TT_SHA256_H
#define TT_SHA256_H

#include <stddef.h>
#include "tinytrain/status.h"

tt_status tt_sha256_hex(const void *data, size_t len, char hex[65]);
/* Lowercase hex of a 32-byte digest. */
void tt_sha256_encode(const unsigned char md[32], char hex[65]);

#endif
