/* tinytrain backends: the compute backends and devices this build can use on this machine. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "tinytrain/backends.h"

int tt_cmd_backends(int argc, char **argv);

static void backends_usage(FILE *f)
{
    fprintf(f, "usage: tinytrain backends [--json]\n\n"
               "Lists the compute backends: the CPU (always), OpenCL devices and CUDA devices\n"
               "with their names and memory, or why a backend has none (not built, no driver,\n"
               "no device). Exits 0 even when only the CPU is available (docs/backends.md).\n\n"
               "  --json      one JSON object instead of the table\n"
               "  -h, --help  this help\n");
}

static double gib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0 * 1024.0);
}

static void print_human(const tt_backend_list *l)
{
    for (int k = 0; k < TT_BACKEND_KIND_COUNT; k++) {
        const tt_backend_status *s = &l->backends[k];
        const char *name = tt_backend_kind_name((tt_backend_kind)k);
        if (s->n_devices == 0) {
            printf("%-7s unavailable: %s\n", name, s->reason);
            continue;
        }
        printf("%-7s %d device%s\n", name, s->n_devices, s->n_devices == 1 ? "" : "s");
        for (int i = 0; i < l->n_devices; i++) {
            const tt_backend_device *d = &l->devices[i];
            if ((int)d->kind != k || k == TT_BACKEND_CPU) continue;
            printf("  %s:%d  %s (%s), %.2f GiB\n", name, d->index, d->name, d->platform,
                   gib(d->global_mem));
        }
    }
}

static int print_json(const tt_backend_list *l)
{
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "backends");
    for (int k = 0; k < TT_BACKEND_KIND_COUNT; k++) {
        const tt_backend_status *s = &l->backends[k];
        cJSON *b = cJSON_CreateObject(), *devs;
        cJSON_AddItemToArray(arr, b);
        cJSON_AddStringToObject(b, "backend", tt_backend_kind_name((tt_backend_kind)k));
        cJSON_AddBoolToObject(b, "built", s->built);
        cJSON_AddBoolToObject(b, "available", s->n_devices > 0);
        if (s->n_devices == 0) cJSON_AddStringToObject(b, "reason", s->reason);
        devs = cJSON_AddArrayToObject(b, "devices");
        for (int i = 0; i < l->n_devices; i++) {
            const tt_backend_device *d = &l->devices[i];
            if ((int)d->kind != k) continue;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToArray(devs, o);
            cJSON_AddNumberToObject(o, "index", d->index);
            cJSON_AddStringToObject(o, "name", d->name);
            cJSON_AddStringToObject(o, "platform", d->platform);
            cJSON_AddNumberToObject(o, "global_mem_bytes", (double)d->global_mem);
        }
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        tt_cli_error("backends", "out of memory printing JSON", false);
        return TT_EXIT_FAIL;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return TT_EXIT_OK;
}

int tt_cmd_backends(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            backends_usage(stdout);
            return TT_EXIT_OK;
        }
        if (!strcmp(argv[i], "--json")) {
            json = true;
            continue;
        }
        fprintf(stderr, "tinytrain backends: unknown argument '%s'\n\n", argv[i]);
        backends_usage(stderr);
        return TT_EXIT_USAGE;
    }
    tt_backend_list l;
    if (tt_backends_list(&l) != TT_OK) {
        tt_cli_error("backends", "listing the backends failed", true);
        return TT_EXIT_FAIL;
    }
    if (json) return print_json(&l);
    print_human(&l);
    return TT_EXIT_OK;
}
