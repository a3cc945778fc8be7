/* SHA-256 of the source files named in the generated comment, so a user
 * can tell with sha256sum which model file a C file came from. */
#include "ck_export.h"
#include "ck_io.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

ck_status ck_exp_sha256_file(const char *path, char hex[65])
{
    FILE *f;
    size_t size;
    CK_TRY(ck_file_open_regular(path, &f, &size));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char chunk[65536], md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    for (size_t n; ok && (n = fread(chunk, 1, sizeof chunk, f)) > 0;)
        ok = EVP_DigestUpdate(ctx, chunk, n);
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, md, &md_len) && md_len == 32;
    EVP_MD_CTX_free(ctx);
    fclose(f);
    if (!ok)
        return ck_error(CK_ERR_IO, "cannot compute the SHA-256 of '%s'", path);
    for (unsigned i = 0; i < md_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return CK_OK;
}
