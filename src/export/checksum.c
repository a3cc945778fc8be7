/* SHA-256 of the source files named in the generated comment, so a user
 * can tell with sha256sum which model file a C file came from. libcrypto
 * is opened on the first checksum (ck_lazy_lib.h). */
#include "ck_export.h"
#include "ck_io.h"
#include "ck_lazy_lib.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static struct {
    __typeof__(EVP_MD_CTX_new) *ctx_new;
    __typeof__(EVP_MD_CTX_free) *ctx_free;
    __typeof__(EVP_sha256) *sha256;
    __typeof__(EVP_DigestInit_ex) *init;
    __typeof__(EVP_DigestUpdate) *update;
    __typeof__(EVP_DigestFinal_ex) *final;
} evp;

static const ck_lazy_symbol symbols[] = {
    {"EVP_MD_CTX_new", (void **)&evp.ctx_new},
    {"EVP_MD_CTX_free", (void **)&evp.ctx_free},
    {"EVP_sha256", (void **)&evp.sha256},
    {"EVP_DigestInit_ex", (void **)&evp.init},
    {"EVP_DigestUpdate", (void **)&evp.update},
    {"EVP_DigestFinal_ex", (void **)&evp.final},
    {0},
};

static ck_lazy_lib libcrypto = CK_LAZY_LIB(CK_LIBCRYPTO_SONAME, "libssl3",
                                           "the checksums of an exported model", symbols);

ck_status ck_exp_sha256_file(const char *path, char hex[65])
{
    CK_TRY(ck_lazy_lib_open(&libcrypto));
    FILE *f;
    size_t size;
    CK_TRY(ck_file_open_regular(path, &f, &size));
    EVP_MD_CTX *ctx = evp.ctx_new();
    bool ok = ctx && evp.init(ctx, evp.sha256(), NULL);
    unsigned char chunk[65536], md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    for (size_t n; ok && (n = fread(chunk, 1, sizeof chunk, f)) > 0;)
        ok = evp.update(ctx, chunk, n);
    ok = ok && !ferror(f) && evp.final(ctx, md, &md_len) && md_len == 32;
    evp.ctx_free(ctx);
    fclose(f);
    if (!ok)
        return ck_error(CK_ERR_IO, "cannot compute the SHA-256 of '%s'", path);
    for (unsigned i = 0; i < md_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return CK_OK;
}
