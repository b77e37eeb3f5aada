/* tt_backends_list: the CPU plus whatever devices the compiled-in backends find. A backend that
 * is not built still has a NULL table here, so callers and tests link in every configuration. */
#include <stdio.h>
#include <string.h>
#include "autograd/internal.h"
#include "kernels/shared/device.h"

#ifndef TT_HAVE_OPENCL
const tt_device_ops *tt_device_opencl(void)
{
    return NULL;
}
#endif
#ifndef TT_HAVE_CUDA
const tt_device_ops *tt_device_cuda(void)
{
    return NULL;
}
#endif

const char *tt_backend_kind_name(tt_backend_kind k)
{
    static const char *const names[TT_BACKEND_KIND_COUNT] = {"cpu", "opencl", "cuda"};
    return (unsigned)k < TT_BACKEND_KIND_COUNT ? names[k] : "?";
}

static void probe(tt_backend_list *l, tt_backend_kind kind, const tt_device_ops *ops,
                  const char *cmake_flag)
{
    tt_backend_status *s = &l->backends[kind];
    s->kind = kind;
    if (!ops) {
        snprintf(s->reason, sizeof s->reason, "not built (configure with -D%s=ON)", cmake_flag);
        return;
    }
    s->built = true;
    int n = 0;
    if (ops->count(&n) != TT_OK || n == 0) {
        snprintf(s->reason, sizeof s->reason, "%s", tt_last_error());
        tt_clear_error();
        return;
    }
    for (int i = 0; i < n && l->n_devices < TT_BACKENDS_MAX_DEVICES; i++) {
        if (ops->describe(i, &l->devices[l->n_devices]) != TT_OK) {
            snprintf(s->reason, sizeof s->reason, "device %d: %s", i, tt_last_error());
            tt_clear_error();
            continue;
        }
        l->n_devices++;
        s->n_devices++;
    }
}

tt_status tt_backends_list(tt_backend_list *out)
{
    TT_CHECK_NULL(out, "tt_backends_list");
    memset(out, 0, sizeof *out);
    out->backends[TT_BACKEND_CPU] = (tt_backend_status){TT_BACKEND_CPU, true, 1, ""};
    out->devices[0] = (tt_backend_device){.kind = TT_BACKEND_CPU, .index = 0, .name = "cpu"};
    out->n_devices = 1;
    probe(out, TT_BACKEND_OPENCL, tt_device_opencl(), "TT_OPENCL");
    probe(out, TT_BACKEND_CUDA, tt_device_cuda(), "TT_CUDA");
    return TT_OK;
}
