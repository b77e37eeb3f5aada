#include "testutil.h"
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tinytrain/qat.h"

void tt_test_fill_uniform(float *x, int64_t n, float lo, float hi, tt_rng *rng)
{
    for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * tt_rng_uniform(rng);
}

tt_gradcheck_opts tt_gradcheck_defaults(void)
{
    tt_gradcheck_opts o = {.eps = 1e-3f, .rtol = 1e-2, .atol = 1e-3, .seed = 1234};
    return o;
}

static double weighted_sum(tt_exec *e, int out_id, const float *r)
{
    tt_tensor *y = tt_exec_value(e, out_id);
    const float *yd = tt_tensor_f32(y);
    double s = 0.0;
    for (int64_t i = 0; i < tt_tensor_numel(y); i++) s += (double)yd[i] * (double)r[i];
    return s;
}

static double eval_at(tt_exec *e, int out_id, int64_t batch, const float *r, uint64_t seed)
{
    tt_exec_seed(e, seed);
    tt_status s = tt_exec_forward(e, batch, true);
    if (s != TT_OK) {
        print_error("forward failed: %s\n", tt_last_error());
        return NAN;
    }
    return weighted_sum(e, out_id, r);
}

int tt_gradcheck(tt_exec *e, int out_id, int64_t batch, const tt_gradcheck_opts *o,
                 double *worst_rel)
{
    tt_graph *g = tt_exec_graph(e);
    tt_exec_seed(e, o->seed);
    if (tt_exec_forward(e, batch, true) != TT_OK) {
        print_error("forward failed: %s\n", tt_last_error());
        return -1;
    }
    int64_t n_out = tt_tensor_numel(tt_exec_value(e, out_id));
    float *r = malloc((size_t)n_out * sizeof *r);
    tt_rng rng;
    tt_rng_seed(&rng, 99, 1);
    tt_test_fill_uniform(r, n_out, -1.0f, 1.0f, &rng);
    if (tt_exec_backward_from(e, out_id, r) != TT_OK) {
        print_error("backward failed: %s\n", tt_last_error());
        free(r);
        return -1;
    }
    int bad = 0;
    double worst = 0.0, biggest = 0.0;
    for (int v = 0; v < g->n_values; v++) {
        if (g->values[v].kind == TT_VALUE_ACT || !tt_exec_grad(e, v)) continue;
        tt_tensor *gt = tt_exec_grad(e, v);
        int64_t n = tt_tensor_numel(gt);
        float *analytic = malloc((size_t)n * sizeof *analytic);
        memcpy(analytic, gt->data, (size_t)n * sizeof *analytic);
        float *x = tt_tensor_f32(tt_exec_value(e, v));
        for (int64_t i = 0; i < n; i++) {
            float x0 = x[i];
            x[i] = x0 + o->eps;
            double lp = eval_at(e, out_id, batch, r, o->seed);
            x[i] = x0 - o->eps;
            double lm = eval_at(e, out_id, batch, r, o->seed);
            x[i] = x0;
            double num = (lp - lm) / (2.0 * (double)o->eps);
            if (fabs(num) > biggest) biggest = fabs(num);
            double diff = fabs((double)analytic[i] - num);
            double rel = diff / (fabs(num) > 1e-6 ? fabs(num) : 1e-6);
            if (!(diff <= o->atol + o->rtol * fabs(num))) {
                if (bad < 5)
                    print_error("gradcheck %s[%lld]: analytic %.6g numeric %.6g\n",
                                g->values[v].name, (long long)i, analytic[i], num);
                bad++;
            }
            if (diff > o->atol && rel > worst) worst = rel;
        }
        free(analytic);
    }
    /* Leave the executor as the caller found it: forward at the original values. */
    eval_at(e, out_id, batch, r, o->seed);
    free(r);
    if (biggest == 0.0) {
        print_error("gradcheck: every numeric gradient is zero; the check proves nothing\n");
        bad++;
    }
    if (worst_rel) *worst_rel = worst;
    return bad;
}

const char *tt_test_fixture(const char *rel, char *buf, size_t len)
{
    const char *root = getenv("TT_FIXTURES");
    snprintf(buf, len, "%s/%s", root ? root : "tests/fixtures", rel);
    return buf;
}

void tt_test_model_build(tt_test_model *m, const char *yaml)
{
    memset(m, 0, sizeof *m);
    TT_ASSERT_OK(tt_config_parse(yaml, strlen(yaml), "m.yaml", &m->cfg));
    TT_ASSERT_OK(tt_graph_create(&m->g));
    tt_rng rng;
    tt_rng_seed(&rng, 11, 0);
    TT_ASSERT_OK(tt_model_build(m->cfg, m->g, &rng, &m->in, &m->out));
    for (int v = 0; v < m->g->n_values; v++) {
        tt_value *val = &m->g->values[v];
        if (val->kind != TT_VALUE_PARAM || !strstr(val->name, "bn")) continue;
        bool var = strstr(val->name, "running_var") != NULL;
        tt_test_fill_uniform(tt_graph_param_data(m->g, v), tt_shape_numel(&val->shape),
                             var ? 0.5f : -0.5f, var ? 2.0f : 0.5f, &rng);
    }
}

void tt_test_model_qat(tt_test_model *m)
{
    TT_ASSERT_OK(tt_qat_prepare(m->g, m->in, m->out, &m->cfg->qat, &m->q, &m->qin, &m->qout, NULL));
    const tt_shape *is = &m->q->values[m->qin].shape;
    int64_t batch = 8, per = 1;
    for (int d = 1; d < is->ndim; d++) per *= is->dims[d];
    float *x = malloc((size_t)(batch * per) * sizeof *x);
    assert_non_null(x);
    tt_rng rng;
    tt_rng_seed(&rng, 5, 0);
    tt_test_fill_uniform(x, batch * per, -1.0f, 2.0f, &rng);
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(m->q, batch, &e));
    TT_ASSERT_OK(tt_exec_set_input(e, m->qin, x, batch));
    TT_ASSERT_OK(tt_exec_forward(e, batch, true));
    tt_exec_free(e);
    free(x);
}

void tt_test_model_free(tt_test_model *m)
{
    tt_graph_free(m->q);
    tt_graph_free(m->g);
    tt_config_free(m->cfg);
}

char *tt_test_tmpdir_make(const char *prefix, char *buf, size_t len)
{
    int n = snprintf(buf, len, "/tmp/%s_XXXXXX", prefix);
    if (n < 0 || (size_t)n >= len) return NULL;
    return mkdtemp(buf);
}

void tt_test_tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            tt_test_tmpdir_remove(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

int tt_test_tmpdir_teardown(void **state)
{
    if (*state) tt_test_tmpdir_remove(*state);
    return 0;
}

void *tt_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) print_error("%s: cannot open\n", path);
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    if (len) *len = (size_t)n;
    return buf;
}

void tt_test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) print_error("%s: cannot create\n", path);
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}
