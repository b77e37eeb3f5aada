/* Provenance: which files a data set came from (path, size and SHA-256 by OpenSSL's libcrypto),
 * so a run's report can say exactly what it was trained on, and the run_provenance keys every
 * report shares (data/provenance.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <openssl/evp.h>
#include "data/dataset_internal.h"
#include "data/provenance.h"
#include "data/sha256.h"
#include "tinytrain/tinytrain.h"

#ifndef TT_GIT_REVISION
#define TT_GIT_REVISION "unknown"
#endif

#define HASH_BUF (1 << 20)

tt_status tt_sha256_file(const char *path, char hex[65], int64_t *bytes)
{
    FILE *f = fopen(path, "rb");
    if (!f) return tt_fail(TT_ERR_IO, "%s: cannot open to hash it (%s)", path, strerror(errno));
    unsigned char *buf = malloc(HASH_BUF);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    tt_status s = TT_OK;
    if (!buf || !ctx) {
        s = tt_fail(TT_ERR_NOMEM, "%s: out of memory while hashing", path);
        goto done;
    }
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        s = tt_fail(TT_ERR_UNSUPPORTED, "%s: libcrypto has no SHA-256", path);
        goto done;
    }
    int64_t total = 0;
    size_t got;
    while ((got = fread(buf, 1, HASH_BUF, f)) > 0) {
        EVP_DigestUpdate(ctx, buf, got);
        total += (int64_t)got;
    }
    if (ferror(f)) {
        s = tt_fail(TT_ERR_IO, "%s: read failed while hashing (%s)", path, strerror(errno));
        goto done;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_DigestFinal_ex(ctx, md, &md_len);
    tt_sha256_encode(md, hex);
    if (bytes) *bytes = total;
done:
    EVP_MD_CTX_free(ctx);
    free(buf);
    fclose(f);
    return s;
}

tt_status tt_ds_add_source(tt_dataset *ds, const char *path)
{
    if (ds->n_sources >= TT_DATASET_MAX_SOURCES)
        return tt_fail(TT_ERR_STATE, "%s: a data set records at most %d source files", path,
                       TT_DATASET_MAX_SOURCES);
    tt_data_source *src = &ds->sources[ds->n_sources];
    size_t len = strlen(path);
    if (len >= sizeof src->path)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: path longer than %zu bytes", path,
                       sizeof src->path - 1);
    memcpy(src->path, path, len + 1);
    TT_CHECK(tt_sha256_file(path, src->sha256, &src->bytes));
    ds->n_sources++;
    return TT_OK;
}

const char *tt_git_revision(void)
{
    return TT_GIT_REVISION;
}

cJSON *tt_provenance_open(const char *command, int argc, char *const *argv)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "tool", "tinytrain");
    if (command) cJSON_AddStringToObject(p, "command", command);
    cJSON_AddStringToObject(p, "version", tt_version());
    cJSON_AddStringToObject(p, "git_revision", TT_GIT_REVISION);
    cJSON *arr = cJSON_AddArrayToObject(p, "argv");
    for (int i = 0; i < argc; i++) cJSON_AddItemToArray(arr, cJSON_CreateString(argv[i]));
    return p;
}

void tt_provenance_add_host(cJSON *p)
{
    struct utsname u;
    if (uname(&u) == 0) {
        char host[512];
        snprintf(host, sizeof host, "%s %s %s %s", u.nodename, u.sysname, u.release, u.machine);
        cJSON_AddStringToObject(p, "host", host);
    }
    cJSON_AddNumberToObject(p, "threads", tt_get_num_threads());
}

void tt_provenance_add_time(cJSON *p, const char *key, time_t when, double wall_s)
{
    char text[32];
    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", gmtime(&when));
    cJSON_AddStringToObject(p, key, text);
    /* A non-finite one comes out as null from cJSON_Print and tt_json_print_sorted alike. */
    cJSON_AddNumberToObject(p, "wall_time_s", wall_s);
}
