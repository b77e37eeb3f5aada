/* The device op registry: each group answers for its own ops. */
#include "autograd/internal.h"
#include "kernels/shared/dev_op.h"

const tt_dop_def *tt_dop_get(tt_op_type op)
{
    const tt_dop_def *(*const groups[])(tt_op_type) = {tt_dops_core, tt_dops_conv, tt_dops_train,
                                                       tt_dops_int8, tt_dops_qat};
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        const tt_dop_def *d = groups[i](op);
        if (d) return d;
    }
    return NULL;
}

int64_t tt_dop_numel(const tt_tensor *t)
{
    return tt_shape_numel(&t->shape);
}

tt_status tt_dop_fill(tt_dev *d, tt_dbuf *dst, float value, int64_t n)
{
    TT_CHECK(tt_dev_check_range("fill", dst, 0, (size_t)n * sizeof(float)));
    return TT_DEV_LAUNCH(d, "tt_fill_f32", n, TT_KBUF(dst), TT_KF32(value), TT_KI64(n));
}

tt_status tt_dop_accumulate(tt_dev *d, tt_dbuf *dst, const tt_dbuf *src, int64_t n)
{
    TT_CHECK(tt_dev_check_range("accumulate", dst, 0, (size_t)n * sizeof(float)));
    TT_CHECK(tt_dev_check_range("accumulate", src, 0, (size_t)n * sizeof(float)));
    return TT_DEV_LAUNCH(d, "tt_accumulate", n, TT_KBUF(src), TT_KBUF(dst), TT_KI64(n));
}
