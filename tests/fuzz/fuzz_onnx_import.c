/* libFuzzer harness for the ONNX reader (docs/import.md, "Fuzzing"): the bytes go through
 * tt_onnx_import_buffer, the same path tt_onnx_import takes after reading the file, with no
 * file I/O (no model directory, so external data is refused after its location is checked).
 * An imported graph is re-validated, which re-runs every node's shape inference. */
#include <stddef.h>
#include <stdint.h>
#include "export/onnx_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A cap far above any corpus file, far below memory: the size check itself is exercised. */
    tt_onnx_import_opts opts = {.max_bytes = (int64_t)1 << 20};
    tt_model *m = NULL;
    if (tt_onnx_import_buffer(data, size, NULL, "fuzz.onnx", &opts, &m) == TT_OK) {
        (void)tt_graph_validate(m->graph);
        tt_model_free(m);
    }
    return 0;
}
