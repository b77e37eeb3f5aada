/* .npz archives: round trips (stored and deflated) for every dtype and rank, archives written
 * by numpy (tests/fixtures/npz/, made by gen_npz.py), every documented rejection with its status
 * and a message naming the file and member (hostile archives from gen_npz.py, plus truncations
 * and a mutation fuzz made here, which must never crash: run it under ASan/UBSan), atomic saves
 * that leave an existing file alone on failure, and the npz data set loader.
 *
 * Every comparison of loaded values is exact: the archive stores the tensor's bytes, and the
 * only conversion ('<f8' -> float32) is one correctly rounded cast that the checks repeat. */
#include "testutil.h"
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "data/dataset_internal.h"
#include "tinytrain/npz.h"

static char tmpdir[64];

/* The group's directory, removed with all below it by tt_test_tmpdir_teardown. */
static int make_tmpdir(void **state)
{
    *state = tt_test_tmpdir_make("tt_npz", tmpdir, sizeof tmpdir);
    return *state ? 0 : -1;
}

/* A path in the test's temporary directory; slot 0..7 can be alive at once. */
static const char *tmp(int slot, const char *name)
{
    static char buf[8][128];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", tmpdir, name);
    return buf[slot];
}

static char fxbuf[512];
static const char *fixture(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "npz/%s", name);
    return tt_test_fixture(rel, fxbuf, sizeof fxbuf);
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* The call failed with `want`, and the message holds each non-NULL needle. */
static void expect_fail(tt_status got, tt_status want, const char *n1, const char *n2,
                        const char *expr)
{
    const char *m = tt_last_error();
    if (got != want)
        fail_msg("%s: status '%s', want '%s': %s", expr, tt_status_str(got), tt_status_str(want),
                 m);
    if (n1 && !strstr(m, n1)) fail_msg("%s: '%s' not in the message: %s", expr, n1, m);
    if (n2 && !strstr(m, n2)) fail_msg("%s: '%s' not in the message: %s", expr, n2, m);
}
#define EXPECT_FAIL(call, want, n1, n2) expect_fail((call), (want), (n1), (n2), #call)

static void fill_pattern(tt_tensor *t, int seed)
{
    int64_t n = tt_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = i + 31 * seed;
        switch (t->dtype) {
        case TT_F32:
            ((float *)t->data)[i] = (float)v * 0.37f - 5.5f;
            break;
        case TT_I32:
            ((int32_t *)t->data)[i] = (int32_t)(v * 2654435761u) - 1000;
            break;
        case TT_I64:
            ((int64_t *)t->data)[i] = v * 1099511628211LL - (1LL << 40);
            break;
        case TT_U8:
            ((uint8_t *)t->data)[i] = (uint8_t)(v * 37);
            break;
        case TT_I8:
            ((int8_t *)t->data)[i] = (int8_t)(v * 37 - 128);
            break;
        }
    }
}

static void assert_same_tensor(const tt_tensor *a, const tt_tensor *b)
{
    assert_int_equal(a->dtype, b->dtype);
    assert_true(tt_shape_equal(&a->shape, &b->shape));
    assert_memory_equal(a->data, b->data, (size_t)tt_tensor_numel(a) * tt_dtype_size(a->dtype));
}

/* ---------------------------------------------------------------------------------------- */
/* Round trips */

#define N_RT 12

/* Every dtype at ranks 1..4, a scalar and an empty array, under distinct names. */
static int make_set(tt_tensor *ts[N_RT], const char *names[N_RT])
{
    static const tt_dtype dts[] = {TT_F32, TT_I32, TT_I64, TT_U8, TT_I8};
    static const char *const nm[N_RT] = {"f32_r1", "i32_r2", "i64_r3", "u8_r4", "i8_r1",  "f32_r2",
                                         "i32_r3", "i64_r4", "u8_r1",  "i8_r2", "scalar", "empty"};
    const int64_t dims[4] = {3, 2, 5, 7};
    int k = 0;
    for (int i = 0; i < 10; i++, k++) {
        TT_ASSERT_OK(tt_tensor_alloc(&ts[k], dts[i % 5], 1 + i % 4, dims));
        fill_pattern(ts[k], i);
        names[k] = nm[k];
    }
    TT_ASSERT_OK(tt_tensor_alloc(&ts[k], TT_F32, 0, NULL));
    tt_tensor_f32(ts[k])[0] = 4.25f;
    names[k] = nm[k];
    k++;
    const int64_t e[2] = {0, 3};
    TT_ASSERT_OK(tt_tensor_alloc(&ts[k], TT_F32, 2, e));
    names[k] = nm[k];
    return k + 1;
}

static void round_trip(bool compressed)
{
    tt_tensor *ts[N_RT];
    const char *names[N_RT];
    int n = make_set(ts, names);
    const char *path = tmp(0, compressed ? "rt_c.npz" : "rt_s.npz");
    TT_ASSERT_OK(tt_npz_save(path, n, names, (const tt_tensor *const *)ts, compressed));
    assert_false(exists(tmp(1, compressed ? "rt_c.npz.tmp" : "rt_s.npz.tmp")));

    tt_npz *z;
    TT_ASSERT_OK(tt_npz_open(path, &z));
    assert_int_equal(tt_npz_count(z), n);
    for (int i = 0; i < n; i++) {
        assert_string_equal(tt_npz_name(z, i), names[i]); /* archive order = save order */
        assert_true(tt_npz_has(z, names[i]));
        tt_tensor *u;
        TT_ASSERT_OK(tt_npz_load(z, names[i], &u));
        if (ts[i]->shape.ndim == 0) { /* a scalar reads back as [1], like tt_npy_load */
            assert_int_equal(u->shape.ndim, 1);
            assert_int_equal(u->shape.dims[0], 1);
            assert_true(tt_tensor_f32(u)[0] == 4.25f);
        } else {
            assert_same_tensor(ts[i], u);
        }
        tt_tensor_free(u);
    }
    assert_null(tt_npz_name(z, n));
    assert_null(tt_npz_name(z, -1));
    assert_false(tt_npz_has(z, "f32_r1.npy"));
    tt_npz_close(z);

    /* The same arrays give the same bytes (fixed timestamps, nothing random). */
    const char *again = tmp(2, "rt_again.npz");
    TT_ASSERT_OK(tt_npz_save(again, n, names, (const tt_tensor *const *)ts, compressed));
    size_t la, lb;
    unsigned char *a = tt_test_read_file(path, &la), *b = tt_test_read_file(again, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    /* Stored: the first member's .npy bytes follow its 30-byte local header and name as they
     * are; deflated: they do not. */
    assert_memory_equal(a, "PK\x03\x04", 4);
    size_t name_len = (size_t)(a[26] | a[27] << 8), extra_len = (size_t)(a[28] | a[29] << 8);
    assert_memory_equal(a + 30, "f32_r1.npy", name_len);
    bool magic = memcmp(a + 30 + name_len + extra_len, "\x93NUMPY", 6) == 0;
    assert_int_equal(magic, !compressed);
    free(a);
    free(b);
    unlink(path);
    unlink(again);
    for (int i = 0; i < n; i++) tt_tensor_free(ts[i]);
}

static void round_trip_stored(void **state)
{
    (void)state;
    round_trip(false);
}

static void round_trip_compressed(void **state)
{
    (void)state;
    round_trip(true);
}

/* tt_npz_load_file, and an array of 4 MiB of zeros: deflate packs it close to its 1032:1
 * limit, which the zip-bomb check must still accept. */
static void load_file_and_high_ratio(void **state)
{
    (void)state;
    int64_t d = 4 << 20;
    tt_tensor *t, *u;
    TT_ASSERT_OK(tt_tensor_alloc(&t, TT_U8, 1, &d));
    const char *path = tmp(0, "zeros.npz"), *names[1] = {"z"};
    TT_ASSERT_OK(tt_npz_save(path, 1, names, (const tt_tensor *const *)&t, true));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size < 8192); /* so the ratio really is near the limit (> 500:1) */
    TT_ASSERT_OK(tt_npz_load_file(path, "z", &u));
    assert_same_tensor(t, u);
    tt_tensor_free(u);
    u = (tt_tensor *)&u;
    EXPECT_FAIL(tt_npz_load_file(path, "q", &u), TT_ERR_FORMAT, "'q'", path);
    assert_null(u);
    unlink(path);
    tt_tensor_free(t);
}

/* ---------------------------------------------------------------------------------------- */
/* Archives written by numpy (gen_npz.py documents each array's formula) */

static tt_tensor *load_named(tt_npz *z, const char *name, tt_dtype dt, int ndim,
                             const int64_t *dims)
{
    tt_tensor *t;
    TT_ASSERT_OK(tt_npz_load(z, name, &t));
    assert_int_equal(t->dtype, dt);
    assert_int_equal(t->shape.ndim, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(t->shape.dims[i], dims[i]);
    return t;
}

static void check_numpy_archive(const char *file)
{
    tt_npz *z;
    TT_ASSERT_OK(tt_npz_open(fixture(file), &z));
    static const char *const want[] = {"x", "y", "b", "i8", "i32", "d", "s", "e", "grp/w", "arr_0"};
    assert_int_equal(tt_npz_count(z), 10);
    for (int i = 0; i < 10; i++) assert_string_equal(tt_npz_name(z, i), want[i]);

    tt_tensor *t = load_named(z, "x", TT_F32, 2, (int64_t[]){4, 3});
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++) assert_true(tt_tensor_f32(t)[i * 3 + k] == i - k / 4.0f);
    tt_tensor_free(t);
    t = load_named(z, "y", TT_I64, 1, (int64_t[]){4});
    for (int i = 0; i < 4; i++) assert_int_equal(((int64_t *)t->data)[i], 3 * i - 5);
    tt_tensor_free(t);
    t = load_named(z, "b", TT_U8, 3, (int64_t[]){2, 3, 4});
    for (int j = 0; j < 24; j++) assert_int_equal(((uint8_t *)t->data)[j], 10 * j);
    tt_tensor_free(t);
    t = load_named(z, "i8", TT_I8, 1, (int64_t[]){5});
    for (int j = 0; j < 5; j++) assert_int_equal(((int8_t *)t->data)[j], j - 2);
    tt_tensor_free(t);
    t = load_named(z, "i32", TT_I32, 4, (int64_t[]){1, 2, 1, 2});
    for (int j = 0; j < 4; j++) assert_int_equal(((int32_t *)t->data)[j], -1000 * j);
    tt_tensor_free(t);
    t = load_named(z, "d", TT_F32, 1, (int64_t[]){3}); /* '<f8' narrowed */
    assert_true(tt_tensor_f32(t)[0] == 0.1f);
    assert_true(tt_tensor_f32(t)[1] == -2.25f);
    assert_true(isinf(tt_tensor_f32(t)[2]) && tt_tensor_f32(t)[2] > 0);
    tt_tensor_free(t);
    t = load_named(z, "s", TT_F32, 1, (int64_t[]){1});
    assert_true(tt_tensor_f32(t)[0] == 4.25f);
    tt_tensor_free(t);
    t = load_named(z, "e", TT_F32, 2, (int64_t[]){0, 3});
    tt_tensor_free(t);
    t = load_named(z, "grp/w", TT_F32, 1, (int64_t[]){2});
    assert_true(tt_tensor_f32(t)[0] == 1.5f && tt_tensor_f32(t)[1] == 2.5f);
    tt_tensor_free(t);
    t = load_named(z, "arr_0", TT_I32, 1, (int64_t[]){3});
    for (int j = 0; j < 3; j++) assert_int_equal(((int32_t *)t->data)[j], 7 + j);
    tt_tensor_free(t);

    /* A missing name lists the ones present. */
    t = (tt_tensor *)&t;
    EXPECT_FAIL(tt_npz_load(z, "w", &t), TT_ERR_FORMAT, "no array named 'w'",
                "x, y, b, i8, i32, d, s, e, grp/w, arr_0");
    assert_null(t);
    assert_non_null(strstr(tt_last_error(), file));
    tt_npz_close(z);
}

static void numpy_savez(void **state)
{
    (void)state;
    check_numpy_archive("savez.npz");
}

static void numpy_savez_compressed(void **state)
{
    (void)state;
    check_numpy_archive("savez_compressed.npz");
}

/* ---------------------------------------------------------------------------------------- */
/* Hostile input */

static void reject_not_an_archive(void **state)
{
    (void)state;
    tt_npz *z = (tt_npz *)&z;
    EXPECT_FAIL(tt_npz_open("/tmp/tt_npz_no_such_dir/x.npz", &z), TT_ERR_IO,
                "/tmp/tt_npz_no_such_dir/x.npz", NULL);
    assert_null(z);
    EXPECT_FAIL(tt_npz_open(tmpdir, &z), TT_ERR_IO, tmpdir, "regular");
    const char *p = tmp(0, "text.npz");
    tt_test_write_file(p, "hello, world\n", 13);
    EXPECT_FAIL(tt_npz_open(p, &z), TT_ERR_FORMAT, p, "not a zip");
    tt_test_write_file(p, "", 0);
    EXPECT_FAIL(tt_npz_open(p, &z), TT_ERR_FORMAT, p, "empty");
    /* A lone .npy is not an archive either. */
    tt_test_write_file(p, "\x93NUMPY\x01\x00\x02\x00{}", 12);
    EXPECT_FAIL(tt_npz_open(p, &z), TT_ERR_FORMAT, p, "not a zip");
    unlink(p);
    EXPECT_FAIL(tt_npz_open(NULL, &z), TT_ERR_INVALID_ARG, NULL, NULL);
    EXPECT_FAIL(tt_npz_open(p, NULL), TT_ERR_INVALID_ARG, NULL, NULL);
    EXPECT_FAIL(tt_npz_load(NULL, "x", &(tt_tensor *){NULL}), TT_ERR_INVALID_ARG, NULL, NULL);
    assert_int_equal(tt_npz_count(NULL), 0);
    assert_null(tt_npz_name(NULL, 0));
    tt_npz_close(NULL);
}

/* Every proper prefix of a valid archive (stored, then deflated) is refused, naming the file:
 * the end-of-central-directory record is the last thing in a zip, so a cut file has none. */
static void reject_every_truncation(void **state)
{
    (void)state;
    int64_t d[2] = {5, 6};
    tt_tensor *t;
    TT_ASSERT_OK(tt_tensor_alloc(&t, TT_F32, 2, d));
    fill_pattern(t, 1);
    const char *names[2] = {"a", "b"};
    const tt_tensor *ts[2] = {t, t};
    const char *src = tmp(0, "full.npz"), *cut = tmp(1, "cut.npz");
    for (int c = 0; c < 2; c++) {
        TT_ASSERT_OK(tt_npz_save(src, 2, names, ts, c == 1));
        size_t n;
        unsigned char *buf = tt_test_read_file(src, &n);
        for (size_t len = 0; len < n; len++) {
            tt_test_write_file(cut, buf, len);
            tt_npz *z = NULL;
            tt_status s = tt_npz_open(cut, &z);
            if (s != TT_OK && strstr(tt_last_error(), cut)) continue;
            fail_msg("a %zu-byte prefix of a %zu-byte archive: %s '%s'", len, n, tt_status_str(s),
                     tt_last_error());
        }
        free(buf);
    }
    unlink(src);
    unlink(cut);
    tt_tensor_free(t);
}

typedef struct bad_case {
    const char *file;
    const char *array; /* the array to load; NULL: opening fails */
    tt_status want;
    const char *needle;
} bad_case;

/* The hostile archives of gen_npz.py: one defect each. */
static void reject_hostile_fixtures(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"bad_magic.npz", "x", TT_ERR_FORMAT, "bad magic"},
        {"bad_header.npz", "x", TT_ERR_FORMAT, "malformed header"},
        {"short_data.npz", "x", TT_ERR_FORMAT, "truncated data"},
        {"trailing.npz", "x", TT_ERR_FORMAT, "trailing"},
        {"cap.npz", "x", TT_ERR_NOMEM, "cap"},
        {"fortran.npz", "x", TT_ERR_UNSUPPORTED, "fortran_order"},
        {"bigendian.npz", "x", TT_ERR_UNSUPPORTED, "big-endian"},
        {"bomb.npz", "x", TT_ERR_FORMAT, "more than its declared"},
        {"ratio.npz", "x", TT_ERR_FORMAT, "zip bomb"},
        {"crc.npz", "x", TT_ERR_FORMAT, "CRC"},
        {"corrupt_deflate.npz", "x", TT_ERR_FORMAT, "corrupt"},
        {"encrypted.npz", "x", TT_ERR_UNSUPPORTED, "encrypted"},
        {"bzip2.npz", "x", TT_ERR_UNSUPPORTED, "compression method 12"},
        {"stored_sizes.npz", "x", TT_ERR_FORMAT, "stored member"},
        {"dup.npz", NULL, TT_ERR_FORMAT, "'x.npy'"},
        {"dup_suffix.npz", NULL, TT_ERR_FORMAT, "'x'"},
        {"local_mismatch.npz", NULL, TT_ERR_FORMAT, "inconsistent"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *c = &cases[i];
        char path[512];
        snprintf(path, sizeof path, "%s", fixture(c->file));
        tt_npz *z = NULL;
        tt_status s = tt_npz_open(path, &z);
        if (!c->array) {
            expect_fail(s, c->want, path, c->needle, c->file);
            assert_null(z);
            continue;
        }
        if (s != TT_OK) fail_msg("%s: open failed: %s", c->file, tt_last_error());
        tt_tensor *t = (tt_tensor *)&t;
        s = tt_npz_load(z, c->array, &t);
        expect_fail(s, c->want, path, c->needle, c->file);
        assert_null(t);
        assert_non_null(strstr(tt_last_error(), "member 'x.npy'"));
        tt_npz_close(z);
    }
    /* A bad member does not spoil its neighbours. */
    tt_npz *z;
    tt_tensor *t;
    TT_ASSERT_OK(tt_npz_open(fixture("bad_magic.npz"), &z));
    TT_ASSERT_OK(tt_npz_load(z, "y", &t));
    assert_int_equal(tt_tensor_numel(t), 16);
    assert_true(tt_tensor_f32(t)[15] == 15.0f);
    tt_tensor_free(t);
    tt_npz_close(z);
}

/* Flip, truncate and splice bytes of valid archives at random: every outcome must be a status,
 * never a crash, a leak or an out-of-bounds access (the ASan build checks the latter). */
static void fuzz_never_crashes(void **state)
{
    (void)state;
    int64_t d[2] = {4, 3};
    tt_tensor *t, *l;
    TT_ASSERT_OK(tt_tensor_alloc(&t, TT_F32, 2, d));
    fill_pattern(t, 2);
    TT_ASSERT_OK(tt_tensor_alloc(&l, TT_I64, 1, d));
    fill_pattern(l, 3);
    const char *names[2] = {"x", "y"};
    const tt_tensor *ts[2] = {t, l};
    unsigned char *base[2];
    size_t blen[2];
    const char *path = tmp(0, "fuzz.npz");
    for (int c = 0; c < 2; c++) {
        TT_ASSERT_OK(tt_npz_save(path, 2, names, ts, c == 1));
        base[c] = tt_test_read_file(path, &blen[c]);
    }
    unsigned char *buf = malloc(blen[0] > blen[1] ? blen[0] : blen[1]);
    assert_non_null(buf);
    tt_rng rng;
    tt_rng_seed(&rng, 42, 11);
    int opened = 0, loaded = 0, failed = 0;
    for (int it = 0; it < 3000; it++) {
        int b = (int)tt_rng_below(&rng, 2);
        size_t n = blen[b];
        memcpy(buf, base[b], n);
        int flips = 1 + (int)tt_rng_below(&rng, 3);
        for (int k = 0; k < flips; k++) {
            size_t at = tt_rng_below(&rng, (uint32_t)n);
            /* Small values hit sizes, counts and methods; any byte elsewhere. */
            buf[at] = tt_rng_below(&rng, 2) ? (unsigned char)tt_rng_below(&rng, 4)
                                            : (unsigned char)tt_rng_u32(&rng);
        }
        if (tt_rng_below(&rng, 8) == 0) n = tt_rng_below(&rng, (uint32_t)n + 1);
        tt_test_write_file(path, buf, n);
        tt_npz *z = NULL;
        if (tt_npz_open(path, &z) != TT_OK) {
            assert_null(z);
            assert_true(strlen(tt_last_error()) > 0);
            failed++;
            continue;
        }
        opened++;
        for (int i = 0; i < tt_npz_count(z); i++) {
            tt_tensor *u = NULL;
            if (tt_npz_load(z, tt_npz_name(z, i), &u) == TT_OK) {
                assert_true(tt_tensor_numel(u) <= 12);
                loaded++;
            } else {
                assert_null(u);
                assert_true(strlen(tt_last_error()) > 0);
                failed++;
            }
            tt_tensor_free(u);
        }
        tt_npz_close(z);
    }
    /* Both outcomes must have happened for the fuzz to mean anything. */
    assert_true(opened > 0 && loaded > 0 && failed > 0);
    free(buf);
    free(base[0]);
    free(base[1]);
    unlink(path);
    tt_tensor_free(t);
    tt_tensor_free(l);
}

/* ---------------------------------------------------------------------------------------- */
/* Saving */

static void save_argument_errors(void **state)
{
    (void)state;
    int64_t d = 4;
    tt_tensor *t;
    TT_ASSERT_OK(tt_tensor_alloc(&t, TT_F32, 1, &d));
    const tt_tensor *ts[3] = {t, t, t};
    const char *path = tmp(0, "args.npz");
    /* An existing file must survive every refused save. */
    tt_test_write_file(path, "old contents", 12);
    EXPECT_FAIL(tt_npz_save(path, 0, (const char *[]){"a"}, ts, false), TT_ERR_INVALID_ARG, path,
                "1 to");
    EXPECT_FAIL(tt_npz_save(path, 2, (const char *[]){"a", "a"}, ts, false), TT_ERR_INVALID_ARG,
                path, "'a'");
    EXPECT_FAIL(tt_npz_save(path, 3, (const char *[]){"a", "b", "a"}, ts, true), TT_ERR_INVALID_ARG,
                path, "distinct");
    EXPECT_FAIL(tt_npz_save(path, 2, (const char *[]){"a", ""}, ts, false), TT_ERR_INVALID_ARG,
                path, "no name");
    EXPECT_FAIL(tt_npz_save(path, 2, (const char *[]){"a", NULL}, ts, false), TT_ERR_INVALID_ARG,
                path, "no name");
    char longname[TT_NPZ_MAX_NAME + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    EXPECT_FAIL(tt_npz_save(path, 1, (const char *[]){longname}, ts, false), TT_ERR_INVALID_ARG,
                path, "longer");
    EXPECT_FAIL(
        tt_npz_save(path, 2, (const char *[]){"a", "b"}, (const tt_tensor *[]){t, NULL}, false),
        TT_ERR_INVALID_ARG, path, "'b'");
    EXPECT_FAIL(tt_npz_save(NULL, 1, (const char *[]){"a"}, ts, false), TT_ERR_INVALID_ARG, NULL,
                NULL);
    EXPECT_FAIL(tt_npz_save(path, 1, NULL, ts, false), TT_ERR_INVALID_ARG, NULL, NULL);
    EXPECT_FAIL(tt_npz_save(path, 1, (const char *[]){"a"}, NULL, false), TT_ERR_INVALID_ARG, NULL,
                NULL);
    /* A symbolic (batch) dimension cannot be saved; the message names the array. */
    t->shape.dims[0] = TT_DIM_BATCH;
    EXPECT_FAIL(tt_npz_save(path, 2, (const char *[]){"ok", "sym"}, ts, true), TT_ERR_SHAPE, path,
                "array 'ok'");
    t->shape.dims[0] = 4;
    size_t n;
    unsigned char *after = tt_test_read_file(path, &n);
    assert_int_equal(n, 12);
    assert_memory_equal(after, "old contents", 12);
    free(after);
    assert_false(exists(tmp(1, "args.npz.tmp")));
    unlink(path);
    tt_tensor_free(t);
}

/* A save that fails half-way (the file-size limit stops the write, so the bytes already in the
 * temporary are a damaged archive) leaves the previous archive as it was, and no temporary. */
static void failed_save_leaves_existing_file(void **state)
{
    (void)state;
    int64_t d = 1 << 20;
    tt_tensor *big, *u;
    TT_ASSERT_OK(tt_tensor_alloc(&big, TT_F32, 1, &d)); /* 4 MiB */
    tt_rng rng;
    tt_rng_seed(&rng, 7, 1);
    /* Random mantissas: deflate cannot pack them under the limit either. */
    tt_test_fill_uniform(tt_tensor_f32(big), d, -1.0f, 1.0f, &rng);
    int64_t ds = 3;
    tt_tensor *small;
    TT_ASSERT_OK(tt_tensor_alloc(&small, TT_I32, 1, &ds));
    fill_pattern(small, 6);
    const char *path = tmp(0, "keep.npz"), *tmpf = tmp(1, "keep.npz.tmp");
    const char *names[1] = {"w"};
    TT_ASSERT_OK(tt_npz_save(path, 1, names, (const tt_tensor *const *)&small, false));
    size_t n0;
    unsigned char *before = tt_test_read_file(path, &n0);

    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN); /* get EFBIG instead of a signal */
    for (int c = 0; c < 2; c++) {
        struct rlimit lim = {.rlim_cur = 64 * 1024, .rlim_max = old.rlim_max};
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        tt_status s = tt_npz_save(path, 1, names, (const tt_tensor *const *)&big, c == 1);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        expect_fail(s, TT_ERR_IO, path, NULL, "save over the size limit");
        size_t n1;
        unsigned char *after = tt_test_read_file(path, &n1);
        assert_int_equal(n1, n0);
        assert_memory_equal(after, before, n0);
        free(after);
        TT_ASSERT_OK(tt_npz_load_file(path, "w", &u));
        assert_same_tensor(small, u);
        tt_tensor_free(u);
        assert_false(exists(tmpf));
    }
    signal(SIGXFSZ, prev);

    /* Renaming over a directory fails after the temporary was written: removed, target kept. */
    const char *dir = tmp(2, "adir");
    assert_int_equal(mkdir(dir, 0700), 0);
    EXPECT_FAIL(tt_npz_save(dir, 1, names, (const tt_tensor *const *)&small, true), TT_ERR_IO, dir,
                "rename");
    assert_false(exists(tmp(3, "adir.tmp")));
    rmdir(dir);
    /* A directory that does not exist: the message names the temporary it could not create. */
    EXPECT_FAIL(tt_npz_save("/tmp/tt_npz_no_such_dir/x.npz", 1, names,
                            (const tt_tensor *const *)&small, false),
                TT_ERR_IO, "/tmp/tt_npz_no_such_dir/x.npz.tmp", NULL);

    /* And a successful save does replace it. */
    TT_ASSERT_OK(tt_npz_save(path, 1, names, (const tt_tensor *const *)&big, true));
    TT_ASSERT_OK(tt_npz_load_file(path, "w", &u));
    assert_same_tensor(big, u);
    tt_tensor_free(u);
    free(before);
    unlink(path);
    tt_tensor_free(big);
    tt_tensor_free(small);
}

/* ---------------------------------------------------------------------------------------- */
/* The npz data set loader (data.npz: x [12, 1, 2, 2] = i + j / 4, y = i % 3, yr [12, 2] =
 * i / 2 + k, y11 one sample short) */

static void dataset_npz(void **state)
{
    (void)state;
    char file[512];
    snprintf(file, sizeof file, "%s", fixture("data.npz"));
    tt_dataset *ds;
    TT_ASSERT_OK(tt_ds_load_npz(file, "x", "y", TT_TASK_CLASSIFICATION, NULL, 0, &ds));
    assert_int_equal(ds->n, 12);
    assert_int_equal(ds->input_shape.ndim, 3);
    assert_int_equal(ds->input_shape.dims[0], 1);
    assert_int_equal(ds->input_shape.dims[1], 2);
    assert_int_equal(ds->input_shape.dims[2], 2);
    assert_int_equal(ds->target_kind, TT_TARGET_LABEL);
    assert_int_equal(ds->n_classes, 3);
    for (int i = 0; i < 12; i++) {
        assert_int_equal(ds->labels[i], i % 3);
        for (int j = 0; j < 4; j++) assert_true(ds->inputs[i * 4 + j] == (float)(i + j / 4.0));
    }
    /* One archive, one recorded source. */
    assert_int_equal(ds->n_sources, 1);
    assert_string_equal(ds->sources[0].path, file);
    assert_int_equal(strlen(ds->sources[0].sha256), 64);
    tt_dataset_free(ds);

    const tt_shape flat = {.ndim = 1, .dims = {4}};
    TT_ASSERT_OK(tt_ds_load_npz(file, "x", "yr", TT_TASK_REGRESSION, &flat, 2, &ds));
    assert_int_equal(ds->input_shape.ndim, 1);
    assert_int_equal(ds->target_kind, TT_TARGET_FLOAT);
    assert_int_equal(ds->target_numel, 2);
    for (int i = 0; i < 12; i++)
        for (int k = 0; k < 2; k++) assert_true(ds->targets[i * 2 + k] == (float)(i / 2.0 + k));
    tt_dataset_free(ds);

    ds = (tt_dataset *)&ds;
    EXPECT_FAIL(tt_ds_load_npz(file, "x", "labels", TT_TASK_CLASSIFICATION, NULL, 0, &ds),
                TT_ERR_FORMAT, "'labels'", "x, y, yr, y11");
    assert_null(ds);
    EXPECT_FAIL(tt_ds_load_npz(file, "x", "y11", TT_TASK_CLASSIFICATION, NULL, 0, &ds),
                TT_ERR_FORMAT, "(array 'y11')", "(array 'x')");
    EXPECT_FAIL(tt_ds_load_npz(file, "x", "yr", TT_TASK_CLASSIFICATION, NULL, 0, &ds),
                TT_ERR_FORMAT, "(array 'yr')", "integers");
    EXPECT_FAIL(tt_ds_load_npz(file, "x", "x", TT_TASK_REGRESSION, NULL, 0, &ds),
                TT_ERR_INVALID_ARG, file, "same array");
    EXPECT_FAIL(tt_ds_load_npz(file, "x", "", TT_TASK_REGRESSION, NULL, 0, &ds), TT_ERR_INVALID_ARG,
                file, NULL);
    EXPECT_FAIL(tt_ds_load_npz("", "x", "y", TT_TASK_REGRESSION, NULL, 0, &ds), TT_ERR_INVALID_ARG,
                "npz", NULL);
    EXPECT_FAIL(
        tt_ds_load_npz("/tmp/tt_npz_no_such_dir/d.npz", "x", "y", TT_TASK_REGRESSION, NULL, 0, &ds),
        TT_ERR_IO, "/tmp/tt_npz_no_such_dir/d.npz", NULL);
    assert_null(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_stored),
        cmocka_unit_test(round_trip_compressed),
        cmocka_unit_test(load_file_and_high_ratio),
        cmocka_unit_test(numpy_savez),
        cmocka_unit_test(numpy_savez_compressed),
        cmocka_unit_test(reject_not_an_archive),
        cmocka_unit_test(reject_every_truncation),
        cmocka_unit_test(reject_hostile_fixtures),
        cmocka_unit_test(fuzz_never_crashes),
        cmocka_unit_test(save_argument_errors),
        cmocka_unit_test(failed_save_leaves_existing_file),
        cmocka_unit_test(dataset_npz),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, tt_test_tmpdir_teardown);
}
