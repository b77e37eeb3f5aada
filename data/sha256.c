/* SHA-256 of a memory buffer through libcrypto's EVP interface. */
#include <openssl/evp.h>
#include "autograd/internal.h"
#include "data/sha256.h"

void tt_sha256_encode(const unsigned char md[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

tt_status tt_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!data && len) return tt_fail(TT_ERR_INVALID_ARG, "tt_sha256_hex: NULL data");
    if (EVP_Digest(data ? data : "", len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
        return tt_fail(TT_ERR_UNSUPPORTED, "tt_sha256_hex: libcrypto failed to compute SHA-256");
    tt_sha256_encode(md, hex);
    return TT_OK;
}
