/* .npy reader/writer: round trips for every dtype and rank, hand-built files in each format
 * version (CI has no Python, so valid and corrupt files are assembled byte by byte here), every
 * documented rejection with its status and message, and a mutation fuzz that must never crash
 * (run it under ASan/UBSan). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testutil.h"
#include "tinytrain/npy.h"

/* A fresh empty file under /tmp; the caller unlinks it. */
static void temp_path(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/tt_npy_XXXXXX");
    int fd = mkstemp(buf);
    assert_true(fd >= 0);
    close(fd);
}

/* Assemble preamble + header + data. version 1 uses a 2-byte header length, 2 and 3 four. */
static size_t build_npy(unsigned char *buf, size_t cap, int major, const char *hdr, size_t hlen,
                        const void *data, size_t dlen)
{
    size_t pre = major == 1 ? 10 : 12;
    assert_true(pre + hlen + dlen <= cap);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)((hlen >> 8) & 0xff);
    if (major != 1) {
        buf[10] = (unsigned char)((hlen >> 16) & 0xff);
        buf[11] = (unsigned char)((hlen >> 24) & 0xff);
    }
    memcpy(buf + pre, hdr, hlen);
    if (dlen) memcpy(buf + pre + hlen, data, dlen);
    return pre + hlen + dlen;
}

/* Write a file from a header string and data, load it, and return the status; the tensor is
 * returned through out (may be NULL to free it here). path receives the file name. */
static tt_status load_built(int major, const char *hdr, const void *data, size_t dlen, char *path,
                            size_t plen, tt_tensor **out)
{
    unsigned char buf[4096];
    size_t n = build_npy(buf, sizeof buf, major, hdr, strlen(hdr), data, dlen);
    temp_path(path, plen);
    tt_test_write_file(path, buf, n);
    tt_tensor *t = NULL;
    tt_status s = tt_npy_load(path, &t);
    if (s != TT_OK) assert_null(t);
    if (out)
        *out = t;
    else
        tt_tensor_free(t);
    return s;
}

/* Expect status `want` and a message naming the file and containing `needle`. */
static void expect_fail(int major, const char *hdr, const void *data, size_t dlen, tt_status want,
                        const char *needle)
{
    char path[64];
    tt_status s = load_built(major, hdr, data, dlen, path, sizeof path, NULL);
    if (s != want || !strstr(tt_last_error(), path) || !strstr(tt_last_error(), needle))
        print_error("header %s: got %s '%s', want %s containing '%s'\n", hdr, tt_status_str(s),
                    tt_last_error(), tt_status_str(want), needle);
    assert_int_equal(s, want);
    assert_non_null(strstr(tt_last_error(), path));
    assert_non_null(strstr(tt_last_error(), needle));
    unlink(path);
}

static void fill_pattern(tt_tensor *t)
{
    int64_t n = tt_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case TT_F32:
            ((float *)t->data)[i] = (float)i * 0.37f - 5.5f;
            break;
        case TT_I32:
            ((int32_t *)t->data)[i] = (int32_t)(i * 2654435761u) - 1000;
            break;
        case TT_I64:
            ((int64_t *)t->data)[i] = (int64_t)i * 1099511628211LL - (1LL << 40);
            break;
        case TT_U8:
            ((uint8_t *)t->data)[i] = (uint8_t)(i * 37);
            break;
        case TT_I8:
            ((int8_t *)t->data)[i] = (int8_t)(i * 37 - 128);
            break;
        }
    }
}

static void round_trip_all_dtypes_and_ranks(void **state)
{
    (void)state;
    const tt_dtype dts[] = {TT_F32, TT_I32, TT_I64, TT_U8, TT_I8};
    const int64_t dims[4] = {3, 2, 5, 7};
    char path[64];
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
        for (int rank = 1; rank <= 4; rank++) {
            tt_tensor *t, *u;
            TT_ASSERT_OK(tt_tensor_alloc(&t, dts[d], rank, dims));
            fill_pattern(t);
            temp_path(path, sizeof path);
            TT_ASSERT_OK(tt_npy_save(path, t));
            TT_ASSERT_OK(tt_npy_load(path, &u));
            assert_int_equal(u->dtype, t->dtype);
            assert_true(tt_shape_equal(&u->shape, &t->shape));
            assert_memory_equal(u->data, t->data,
                                (size_t)tt_tensor_numel(t) * tt_dtype_size(t->dtype));
            /* The layout numpy writes: magic, version 1.0, data 64-byte aligned, '\n' last. */
            FILE *f = fopen(path, "rb");
            unsigned char pre[10];
            assert_int_equal(fread(pre, 1, 10, f), 10);
            fclose(f);
            assert_memory_equal(pre, "\x93NUMPY\x01\x00", 8);
            size_t hlen = pre[8] | (size_t)pre[9] << 8;
            assert_int_equal((10 + hlen) % 64, 0);
            /* No temporary is left behind. */
            char tmp[80];
            snprintf(tmp, sizeof tmp, "%s.tmp", path);
            assert_int_not_equal(access(tmp, F_OK), 0);
            unlink(path);
            tt_tensor_free(t);
            tt_tensor_free(u);
        }
    }
}

static void round_trip_empty_and_scalar(void **state)
{
    (void)state;
    char path[64];
    tt_tensor *t, *u;
    int64_t dims[2] = {0, 3};
    TT_ASSERT_OK(tt_tensor_alloc(&t, TT_F32, 2, dims));
    temp_path(path, sizeof path);
    TT_ASSERT_OK(tt_npy_save(path, t));
    TT_ASSERT_OK(tt_npy_load(path, &u));
    assert_true(tt_shape_equal(&u->shape, &t->shape));
    unlink(path);
    tt_tensor_free(t);
    tt_tensor_free(u);
    /* A rank-0 tensor is written as shape () and reads back as [1]. */
    TT_ASSERT_OK(tt_tensor_alloc(&t, TT_F32, 0, NULL));
    tt_tensor_f32(t)[0] = 4.25f;
    temp_path(path, sizeof path);
    TT_ASSERT_OK(tt_npy_save(path, t));
    TT_ASSERT_OK(tt_npy_load(path, &u));
    assert_int_equal(u->shape.ndim, 1);
    assert_int_equal(u->shape.dims[0], 1);
    assert_true(tt_tensor_f32(u)[0] == 4.25f);
    unlink(path);
    tt_tensor_free(t);
    tt_tensor_free(u);
}

/* Files as numpy (and older numpys, and hand-edits) write them. */
static void load_hand_built_valid(void **state)
{
    (void)state;
    char path[64];
    tt_tensor *t;
    const float f6[6] = {1, 2, 3, 4, 5, -6.5f};
    const char *hdrs[] = {
        /* numpy 1.x exactly, padded, '\n' terminated */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }          \n",
        /* double quotes, other key order, no trailing comma, no newline */
        "{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<f4\"}",
        /* Python 2's long suffix */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }\n",
    };
    for (int v = 1; v <= 3; v++) {
        for (size_t h = 0; h < sizeof hdrs / sizeof hdrs[0]; h++) {
            TT_ASSERT_OK(load_built(v, hdrs[h], f6, sizeof f6, path, sizeof path, &t));
            assert_int_equal(t->dtype, TT_F32);
            assert_int_equal(t->shape.ndim, 2);
            assert_int_equal(t->shape.dims[0], 2);
            assert_int_equal(t->shape.dims[1], 3);
            assert_memory_equal(t->data, f6, sizeof f6);
            tt_tensor_free(t);
            unlink(path);
        }
    }
    /* Rank 0 -> [1]. */
    TT_ASSERT_OK(load_built(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (), }\n",
                            (int32_t[]){-7}, 4, path, sizeof path, &t));
    assert_int_equal(t->dtype, TT_I32);
    assert_int_equal(t->shape.ndim, 1);
    assert_int_equal(t->shape.dims[0], 1);
    assert_int_equal(((int32_t *)t->data)[0], -7);
    tt_tensor_free(t);
    unlink(path);
    /* Single-byte dtypes with any byte-order mark. */
    const char *u1[] = {"{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }",
                        "{'descr': '<u1', 'fortran_order': False, 'shape': (3,), }"};
    for (int i = 0; i < 2; i++) {
        TT_ASSERT_OK(load_built(1, u1[i], "\x01\xff\x80", 3, path, sizeof path, &t));
        assert_int_equal(t->dtype, TT_U8);
        assert_int_equal(((uint8_t *)t->data)[1], 255);
        tt_tensor_free(t);
        unlink(path);
    }
    TT_ASSERT_OK(load_built(1, "{'descr': '|i1', 'fortran_order': False, 'shape': (3,), }",
                            "\x01\xff\x80", 3, path, sizeof path, &t));
    assert_int_equal(t->dtype, TT_I8);
    assert_int_equal(((int8_t *)t->data)[1], -1);
    assert_int_equal(((int8_t *)t->data)[2], -128);
    tt_tensor_free(t);
    unlink(path);
    /* '<i8' keeps all 64 bits. */
    const int64_t big[2] = {INT64_MAX, -(1LL << 62) - 3};
    TT_ASSERT_OK(load_built(2, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", big,
                            sizeof big, path, sizeof path, &t));
    assert_int_equal(t->dtype, TT_I64);
    assert_memory_equal(t->data, big, sizeof big);
    tt_tensor_free(t);
    unlink(path);
}

/* '<f8' is narrowed to float32 with round-to-nearest; out-of-range values become +-inf. */
static void load_f64_converts(void **state)
{
    (void)state;
    char path[64];
    tt_tensor *t;
    /* 0x1.ffffffp127 is FLT_MAX plus half an ulp: the first double that rounds to inf. */
    const double d[7] = {0.1, -2.25, 1e300, -1e300, 0x1.fffffefffffffp127, 1e-50, 0x1.ffffffp127};
    TT_ASSERT_OK(load_built(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (7,), }", d,
                            sizeof d, path, sizeof path, &t));
    assert_int_equal(t->dtype, TT_F32);
    const float *f = tt_tensor_f32(t);
    assert_true(f[0] == 0.1f);
    assert_true(f[1] == -2.25f);
    assert_true(isinf(f[2]) && f[2] > 0);
    assert_true(isinf(f[3]) && f[3] < 0);
    assert_true(f[4] == FLT_MAX); /* just below the rounding edge */
    assert_true(f[5] == 0.0f);
    assert_true(isinf(f[6]) && f[6] > 0);
    tt_tensor_free(t);
    unlink(path);
}

static void reject_bad_preamble(void **state)
{
    (void)state;
    char path[64];
    /* Bad magic. */
    temp_path(path, sizeof path);
    tt_test_write_file(path, "\x93NUMPX\x01\x00\x10\x00{}", 12);
    assert_int_equal(tt_npy_load(path, &(tt_tensor *){NULL}), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), path));
    assert_non_null(strstr(tt_last_error(), "magic"));
    /* A text file. */
    tt_test_write_file(path, "hello, world\n", 13);
    assert_int_equal(tt_npy_load(path, &(tt_tensor *){NULL}), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "magic"));
    /* Empty file, and magic with nothing after it. */
    tt_test_write_file(path, "", 0);
    assert_int_equal(tt_npy_load(path, &(tt_tensor *){NULL}), TT_ERR_FORMAT);
    tt_test_write_file(path, "\x93NUMPY\x01", 7);
    assert_int_equal(tt_npy_load(path, &(tt_tensor *){NULL}), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "truncated"));
    tt_test_write_file(path, "\x93NUMPY\x02\x00\x10\x00", 10);
    assert_int_equal(tt_npy_load(path, &(tt_tensor *){NULL}), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "truncated"));
    /* Version 4.0 and 1.1 do not exist (yet). */
    tt_test_write_file(path, "\x93NUMPY\x04\x00\x02\x00{}", 12);
    assert_int_equal(tt_npy_load(path, &(tt_tensor *){NULL}), TT_ERR_UNSUPPORTED);
    assert_non_null(strstr(tt_last_error(), "version 4.0"));
    assert_non_null(strstr(tt_last_error(), path));
    tt_test_write_file(path, "\x93NUMPY\x01\x01\x02\x00{}", 12);
    assert_int_equal(tt_npy_load(path, &(tt_tensor *){NULL}), TT_ERR_UNSUPPORTED);
    /* Header length past the end of the file (v1 and a 4 GB v2 length). */
    tt_test_write_file(path, "\x93NUMPY\x01\x00\x00\x01{'descr'", 17);
    assert_int_equal(tt_npy_load(path, &(tt_tensor *){NULL}), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "past the end"));
    assert_non_null(strstr(tt_last_error(), path));
    tt_test_write_file(path, "\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14);
    assert_int_equal(tt_npy_load(path, &(tt_tensor *){NULL}), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "past the end"));
    unlink(path);
}

static void reject_missing_file_and_directory(void **state)
{
    (void)state;
    tt_tensor *t = (tt_tensor *)&t; /* must be reset to NULL */
    assert_int_equal(tt_npy_load("/tmp/tt_npy_no_such_dir/x.npy", &t), TT_ERR_IO);
    assert_null(t);
    assert_non_null(strstr(tt_last_error(), "/tmp/tt_npy_no_such_dir/x.npy"));
    assert_int_equal(tt_npy_load("/tmp", &t), TT_ERR_IO);
    assert_non_null(strstr(tt_last_error(), "'/tmp'"));
    assert_int_equal(tt_npy_load(NULL, &t), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_npy_load("/tmp/x.npy", NULL), TT_ERR_INVALID_ARG);
}

static void reject_unsupported_layouts(void **state)
{
    (void)state;
    const float f6[6] = {0};
    expect_fail(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f6, sizeof f6,
                TT_ERR_UNSUPPORTED, "fortran_order");
    expect_fail(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", f6, sizeof f6,
                TT_ERR_UNSUPPORTED, "big-endian");
    expect_fail(1, "{'descr': '>i8', 'fortran_order': False, 'shape': (3,), }", f6, 24,
                TT_ERR_UNSUPPORTED, "big-endian");
    expect_fail(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", f6, 24,
                TT_ERR_UNSUPPORTED, "'<c8'");
    expect_fail(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", f6, 6,
                TT_ERR_UNSUPPORTED, "'<f2'");
    expect_fail(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", f6, 3,
                TT_ERR_UNSUPPORTED, "'|b1'");
    expect_fail(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", f6, 4,
                TT_ERR_UNSUPPORTED, "structured");
    expect_fail(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1), }", f6, 4,
                TT_ERR_UNSUPPORTED, "rank 5");
}

static void reject_bad_sizes(void **state)
{
    (void)state;
    const float f6[6] = {1, 2, 3, 4, 5, 6};
    /* Truncated data: 6 floats promised, 5 present. */
    expect_fail(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f6, 20,
                TT_ERR_FORMAT, "truncated");
    expect_fail(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", f6, 20,
                TT_ERR_FORMAT, "truncated");
    /* Header but no data at all. */
    expect_fail(3, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", NULL, 0,
                TT_ERR_FORMAT, "truncated");
    /* Trailing garbage is rejected: the header does not describe the file. */
    expect_fail(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", f6, sizeof f6,
                TT_ERR_FORMAT, "trailing");
    /* Huge shapes fail on the size cap before any allocation (the file is tiny). */
    expect_fail(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }", f6,
                sizeof f6, TT_ERR_NOMEM, "cap");
    expect_fail(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (100000, 100000, 10), }", f6,
                sizeof f6, TT_ERR_NOMEM, "cap");
    /* Dimensions whose product overflows int64. */
    expect_fail(2,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, "
                "4294967296, 4294967296), }",
                f6, sizeof f6, TT_ERR_NOMEM, "cap");
    /* A dimension that does not fit in 64 bits at all. */
    expect_fail(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
                f6, sizeof f6, TT_ERR_NOMEM, "cap");
    /* A zero dimension anywhere makes the product 0 even after a huge one. */
    char path[64];
    tt_tensor *t;
    TT_ASSERT_OK(load_built(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4000000), }",
                            NULL, 0, path, sizeof path, &t));
    assert_int_equal(tt_tensor_numel(t), 0);
    tt_tensor_free(t);
    unlink(path);
    expect_fail(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", f6, 4,
                TT_ERR_FORMAT, "negative");
    expect_fail(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, -2), }", f6, sizeof f6,
                TT_ERR_FORMAT, "negative");
}

static void reject_garbage_headers(void **state)
{
    (void)state;
    const float f2[2] = {1, 2};
    const char *bad[] = {
        "",
        "   \n",
        "{",
        "garbage",
        "[1, 2, 3]",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'shape': (2,)}",
        "{'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}}",
        "{'descr: '<f4', 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,)}",
        "{descr: '<f4', fortran_order: False, shape: (2,)}",
        "{'descr': <f4, 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,)}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_fail(1, bad[i], f2, sizeof f2, TT_ERR_FORMAT, "header");
    /* An embedded NUL (strlen would stop at it, so build this one by length). */
    static const char nul_hdr[] = "{'descr': '<f4',\0'fortran_order': False, 'shape': (2,)}";
    unsigned char buf[256];
    size_t n = build_npy(buf, sizeof buf, 1, nul_hdr, sizeof nul_hdr - 1, f2, sizeof f2);
    char path[64];
    temp_path(path, sizeof path);
    tt_test_write_file(path, buf, n);
    assert_int_equal(tt_npy_load(path, &(tt_tensor *){NULL}), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "NUL"));
    assert_non_null(strstr(tt_last_error(), path));
    unlink(path);
}

static void save_errors(void **state)
{
    (void)state;
    tt_tensor *t;
    int64_t d[1] = {4};
    TT_ASSERT_OK(tt_tensor_alloc(&t, TT_F32, 1, d));
    assert_int_equal(tt_npy_save("/tmp/x.npy", NULL), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_npy_save(NULL, t), TT_ERR_INVALID_ARG);
    /* Unwritable location: the error names the temporary, and nothing is left behind. */
    assert_int_equal(tt_npy_save("/tmp/tt_npy_no_such_dir/x.npy", t), TT_ERR_IO);
    assert_non_null(strstr(tt_last_error(), "/tmp/tt_npy_no_such_dir/x.npy.tmp"));
    /* Rename over a directory fails after the temporary was written: the target is untouched
     * and the temporary is removed. */
    char dir[64];
    assert_non_null(tt_test_tmpdir_make("tt_npy_dir", dir, sizeof dir));
    char sub[96], tmp[112];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(tmp, sizeof tmp, "%s.tmp", sub);
    assert_int_equal(tt_npy_save(sub, t), TT_ERR_IO);
    assert_non_null(strstr(tt_last_error(), "rename"));
    assert_int_not_equal(access(tmp, F_OK), 0);
    tt_test_tmpdir_remove(dir);
    /* A symbolic (negative) dimension cannot be saved. */
    t->shape.dims[0] = TT_DIM_BATCH;
    assert_int_equal(tt_npy_save("/tmp/tt_npy_sym.npy", t), TT_ERR_SHAPE);
    assert_int_not_equal(access("/tmp/tt_npy_sym.npy", F_OK), 0);
    tt_tensor_free(t);
}

/* Flip, truncate and splice bytes of valid files at random: every outcome must be a status,
 * never a crash or an out-of-bounds access (the ASan build checks the latter). */
static void fuzz_never_crashes(void **state)
{
    (void)state;
    const float f6[6] = {1, 2, 3, 4, 5, 6};
    unsigned char base[2][256], buf[300];
    size_t blen[2];
    blen[0] = build_npy(base[0], sizeof base[0], 1,
                        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 61, f6,
                        sizeof f6);
    blen[1] =
        build_npy(base[1], sizeof base[1], 2,
                  "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }\n", 58, f6, sizeof f6);
    tt_rng rng;
    tt_rng_seed(&rng, 42, 7);
    char path[64];
    temp_path(path, sizeof path);
    int ok = 0, failed = 0;
    for (int it = 0; it < 3000; it++) {
        int b = (int)tt_rng_below(&rng, 2);
        size_t n = blen[b];
        memcpy(buf, base[b], n);
        int flips = 1 + (int)tt_rng_below(&rng, 4);
        for (int k = 0; k < flips; k++) {
            size_t at = tt_rng_below(&rng, (uint32_t)n);
            /* Mostly syntax-relevant characters, sometimes any byte. */
            static const char pick[] = "{}()[]',:-0123456789 \n\0TFL<>|";
            buf[at] = tt_rng_below(&rng, 3)
                          ? (unsigned char)pick[tt_rng_below(&rng, (uint32_t)sizeof pick)]
                          : (unsigned char)tt_rng_u32(&rng);
        }
        if (tt_rng_below(&rng, 4) == 0) n = tt_rng_below(&rng, (uint32_t)n + 1);
        tt_test_write_file(path, buf, n);
        tt_tensor *t = NULL;
        tt_status s = tt_npy_load(path, &t);
        if (s == TT_OK) {
            assert_non_null(t);
            int64_t numel = tt_tensor_numel(t);
            assert_true(numel >= 0 && numel <= 64);
            ok++;
        } else {
            assert_null(t);
            assert_true(strlen(tt_last_error()) > 0);
            failed++;
        }
        tt_tensor_free(t);
    }
    unlink(path);
    /* Both branches must have been exercised for the fuzz to mean anything. */
    assert_true(ok > 0);
    assert_true(failed > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_all_dtypes_and_ranks),
        cmocka_unit_test(round_trip_empty_and_scalar),
        cmocka_unit_test(load_hand_built_valid),
        cmocka_unit_test(load_f64_converts),
        cmocka_unit_test(reject_bad_preamble),
        cmocka_unit_test(reject_missing_file_and_directory),
        cmocka_unit_test(reject_unsupported_layouts),
        cmocka_unit_test(reject_bad_sizes),
        cmocka_unit_test(reject_garbage_headers),
        cmocka_unit_test(save_errors),
        cmocka_unit_test(fuzz_never_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
