/* IDX reader: valid plain and gzip files, and every way a hostile or damaged file can fail. */
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>
#include "tinytrain/idx.h"

static char path_buf[256];

static const char *write_file(const void *bytes, size_t n, int gz)
{
    snprintf(path_buf, sizeof path_buf, "/tmp/tt_idx_test_%d%s", (int)getpid(), gz ? ".gz" : "");
    if (gz) {
        gzFile f = gzopen(path_buf, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, bytes, (unsigned)n), (int)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path_buf, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(bytes, 1, n, f), n);
        fclose(f);
    }
    return path_buf;
}

/* A 2 x 2 x 3 unsigned-byte IDX file: magic 0 0 8 3, big-endian dims, then 12 bytes. */
static const unsigned char valid[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0,  0,
                                      0, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255};

static void load_valid(void **state)
{
    (void)state;
    for (int gz = 0; gz < 2; gz++) {
        tt_tensor *t = NULL;
        TT_ASSERT_OK(tt_idx_load(write_file(valid, sizeof valid, gz), &t));
        assert_int_equal(t->dtype, TT_U8);
        assert_int_equal(t->shape.ndim, 3);
        assert_int_equal(t->shape.dims[0], 2);
        assert_int_equal(t->shape.dims[2], 3);
        assert_int_equal(((unsigned char *)t->data)[11], 255);
        assert_int_equal(((unsigned char *)t->data)[4], 4);
        tt_tensor_free(t);
        unlink(path_buf);
    }
}

static void expect_error(const unsigned char *bytes, size_t n, tt_status want, const char *needle)
{
    for (int gz = 0; gz < 2; gz++) {
        tt_tensor *t = (tt_tensor *)0x1;
        const char *p = write_file(bytes, n, gz);
        assert_int_equal(tt_idx_load(p, &t), want);
        assert_null(t);
        assert_non_null(strstr(tt_last_error(), p));
        if (needle && !strstr(tt_last_error(), needle)) fail_msg("message: %s", tt_last_error());
        unlink(path_buf);
    }
}

static void truncated_data(void **state)
{
    (void)state;
    expect_error(valid, sizeof valid - 1, TT_ERR_FORMAT, "ends early");
    expect_error(valid, 10, TT_ERR_FORMAT, "ends early");
    expect_error(valid, 0, TT_ERR_FORMAT, "ends early");
}

static void trailing_bytes(void **state)
{
    (void)state;
    unsigned char b[sizeof valid + 1];
    memcpy(b, valid, sizeof valid);
    b[sizeof valid] = 7;
    expect_error(b, sizeof b, TT_ERR_FORMAT, "trailing");
}

static void bad_headers(void **state)
{
    (void)state;
    unsigned char b[sizeof valid];
    memcpy(b, valid, sizeof b);
    b[0] = 0x1f; /* not the IDX magic */
    expect_error(b, sizeof b, TT_ERR_FORMAT, "not an IDX file");
    memcpy(b, valid, sizeof b);
    b[2] = 0x0d; /* float32 elements */
    expect_error(b, sizeof b, TT_ERR_UNSUPPORTED, "0x0d");
    memcpy(b, valid, sizeof b);
    b[3] = 9; /* rank 9 */
    expect_error(b, sizeof b, TT_ERR_FORMAT, "rank");
    memcpy(b, valid, sizeof b);
    b[7] = 0; /* a zero dimension */
    expect_error(b, sizeof b, TT_ERR_FORMAT, "dimension 0");
}

static void allocation_bomb(void **state)
{
    (void)state;
    /* 0x7fffffff^2 bytes declared, 4 bytes present: refused before any allocation. */
    const unsigned char b[] = {0,    0,    8,    2,    0x7f, 0xff, 0xff, 0xff,
                               0x7f, 0xff, 0xff, 0xff, 1,    2,    3,    4};
    expect_error(b, sizeof b, TT_ERR_FORMAT, "absurd");
}

static void missing_file(void **state)
{
    (void)state;
    tt_tensor *t;
    assert_int_equal(tt_idx_load("/nonexistent/dir/train.gz", &t), TT_ERR_IO);
    assert_non_null(strstr(tt_last_error(), "/nonexistent/dir/train.gz"));
    assert_int_equal(tt_idx_load(NULL, &t), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_idx_load("x", NULL), TT_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(load_valid),      cmocka_unit_test(truncated_data),
        cmocka_unit_test(trailing_bytes),  cmocka_unit_test(bad_headers),
        cmocka_unit_test(allocation_bomb), cmocka_unit_test(missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
