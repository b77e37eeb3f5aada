/* OpenCL C definitions for kernels/shared/kernels.h (which follows this text in the program).
 * Contraction into FMA is off, and the program is built with
 * -cl-fp32-correctly-rounded-divide-sqrt, so each operation rounds once, as on the CPU. */
#pragma OPENCL FP_CONTRACT OFF
#define TT_KERNEL __kernel
#define TT_GLOBAL __global
#define TT_FN
#define TT_GID() ((tt_i64)get_global_id(0))
#define TT_AS_U32(f) as_uint(f)
#define TT_AS_F32(u) as_float(u)
#define TT_U32_AS_I32(u) as_int(u)
#define TT_FADD(a, b) ((a) + (b))
#define TT_FSUB(a, b) ((a) - (b))
#define TT_FMUL(a, b) ((a) * (b))
#define TT_FDIV(a, b) ((a) / (b))
typedef int tt_i32;
typedef uint tt_u32;
typedef long tt_i64;
typedef uchar tt_u8;
typedef char tt_i8;
#define TT_FFMA(a, b, c) fma((a), (b), (c)) /* fused, one rounding, as C's fmaf */
#define TT_FSQRT(a) sqrt(a)                 /* correctly rounded under the build option */
#define TT_EXPF(a) exp(a)                   /* not correctly rounded: tolerance tests only */
#define TT_LOGF(a) log(a)
#define TT_TANHF(a) tanh(a)
