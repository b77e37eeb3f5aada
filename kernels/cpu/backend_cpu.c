/* The CPU backend: OpenBLAS for GEMM. It is the reference the other backends are tested against. */
#include <cblas.h>
#include "kernels/backend.h"

static void cpu_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc)
{
    if (m == 0 || n == 0) return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta,
                c, (blasint)ldc);
}

static const tt_backend cpu_backend = {
    .name = "cpu",
    .sgemm = cpu_sgemm,
};

const tt_backend *tt_backend_cpu(void)
{
    return &cpu_backend;
}
