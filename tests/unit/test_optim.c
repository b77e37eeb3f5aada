/* Optimisers, gradient clipping and learning-rate schedules against PyTorch.
 *
 * The REF_* arrays below were printed by tests/fixtures/gen_optim_ref.py with torch 2.15.0 (CPU,
 * foreach=False: the single-tensor update path); rerun it and paste its output to regenerate.
 * The script rounds every hyperparameter to float32 first, so both sides start from identical
 * numbers.
 *
 * Tolerance: |ours - torch| <= 1e-6 * max(|torch|, 1). Both sides do the same float32
 * operations in the same order; they can still differ by an ulp per operation where PyTorch's
 * vectorised kernels fuse a multiply-add (FMA) and we do not. Over six steps of ~6 operations
 * that is a few ulps of the O(1) operands (ulp ~ 1.2e-7 at 1), i.e. a few 1e-7 absolute, which
 * 1e-6 covers with margin; a wrong formula (missing bias correction, dampening on the first
 * step, coupled vs decoupled decay) moves the values by 1e-4 or more. Below 1 the bound is
 * absolute because a parameter that an update drives near 0 keeps the absolute rounding error
 * of its O(1) operands. */
#include <math.h>
#include "testutil.h"

static const float REF_W0[6] = {0.5f, -1.25f, 2.0f, -0.75f, 1.5f, 0.25f};
static const float REF_B0[2] = {0.1f, -0.3f};
static const float REF_GW[6] = {0.3f, -0.2f, 0.5f, -0.4f, 0.1f, 0.6f};
static const float REF_GB[2] = {0.25f, -0.15f};
static const float REF_COEF[6] = {1.0f, -0.5f, 2.0f, 0.25f, -1.0f, 1.5f};
static const float REF_LRS[6] = {0.01f, 0.02f, 0.015f, 0.005f, 0.03f, 0.01f};
static const float REF_SGD_PLAIN[6][8] = {
    {0.469999999f, -1.23000002f, 1.95000005f, -0.709999979f, 1.49000001f, 0.189999998f,
     0.075000003f, -0.284999996f},
    {0.485000014f, -1.24000001f, 1.97500002f, -0.729999959f, 1.495f, 0.219999999f, 0.087500006f,
     -0.292499989f},
    {0.425000012f, -1.20000005f, 1.875f, -0.649999976f, 1.47500002f, 0.099999994f, 0.0375000052f,
     -0.262499988f},
    {0.417500019f, -1.19500005f, 1.86249995f, -0.639999986f, 1.47249997f, 0.0849999934f,
     0.0312500037f, -0.258749992f},
    {0.44750002f, -1.21500003f, 1.9124999f, -0.680000007f, 1.48249996f, 0.144999996f, 0.056250006f,
     -0.273750007f},
    {0.402500004f, -1.18500006f, 1.83749986f, -0.620000005f, 1.46749997f, 0.0549999923f,
     0.0187500045f, -0.251249999f},
};
static const float REF_SGD_MOMENTUM[6][8] = {
    {0.469999999f, -1.23000002f, 1.95000005f, -0.709999979f, 1.49000001f, 0.189999998f,
     0.075000003f, -0.284999996f},
    {0.458000004f, -1.222f, 1.93000007f, -0.694000006f, 1.48600006f, 0.165999994f, 0.0650000051f,
     -0.278999984f},
    {0.387199998f, -1.17480004f, 1.81200004f, -0.599600017f, 1.46240008f, 0.0243999902f,
     0.00600000704f, -0.243599981f},
    {0.315979987f, -1.12732005f, 1.69330001f, -0.504640043f, 1.43866003f, -0.11804001f,
     -0.0533499904f, -0.207989976f},
    {0.281881988f, -1.10458803f, 1.63646996f, -0.459176034f, 1.42729402f, -0.186235994f,
     -0.0817649886f, -0.190940976f},
    {0.20619379f, -1.05412924f, 1.51032293f, -0.358258426f, 1.40206456f, -0.337612391f,
     -0.144838482f, -0.153096884f},
};
static const float REF_SGD_DAMP_WD[6][8] = {
    {0.483749986f, -1.23687506f, 1.97000003f, -0.728124976f, 1.49125004f, 0.219374999f,
     0.0872500017f, -0.291750014f},
    {0.473895311f, -1.22732902f, 1.9497875f, -0.714714825f, 1.48363602f, 0.202100784f,
     0.0800659359f, -0.286660314f},
    {0.450419188f, -1.20815802f, 1.90618026f, -0.683093309f, 1.47069025f, 0.158028781f,
     0.0617186055f, -0.274730235f},
    {0.429200262f, -1.19006097f, 1.86578679f, -0.654442251f, 1.45787024f, 0.118823647f,
     0.0454010926f, -0.263905257f},
    {0.419188619f, -1.17909575f, 1.84363973f, -0.640703321f, 1.4482919f, 0.102311008f,
     0.0385403298f, -0.258665383f},
    {0.39940533f, -1.16134977f, 1.80486751f, -0.613911331f, 1.43506885f, 0.0664730072f,
     0.0236285441f, -0.248525158f},
};
static const float REF_SGD_NESTEROV[6][8] = {
    {0.44205001f, -1.20962501f, 1.90120006f, -0.672574997f, 1.47815001f, 0.135525003f,
     0.0523100011f, -0.270930022f},
    {0.445005119f, -1.20911419f, 1.90296781f, -0.676289618f, 1.47552657f, 0.143465012f,
     0.0556296147f, -0.272272259f},
    {0.31971705f, -1.12244582f, 1.69015419f, -0.508953154f, 1.4291923f, -0.104539618f,
     -0.0476913415f, -0.209456787f},
    {0.246500835f, -1.0698998f, 1.56337333f, -0.410991967f, 1.39935398f, -0.247916013f,
     -0.107414529f, -0.172644943f},
    {0.244175628f, -1.06408584f, 1.55407131f, -0.407504082f, 1.3923769f, -0.249077827f,
     -0.107879229f, -0.171249777f},
    {0.129340857f, -0.982794404f, 1.35665381f, -0.253960609f, 1.34721148f, -0.474873334f,
     -0.201939166f, -0.113574125f},
};
static const float REF_ADAM[6][8] = {
    {0.49000001f, -1.24000001f, 1.99000001f, -0.74000001f, 1.49000001f, 0.239999995f, 0.0900000036f,
     -0.290000021f},
    {0.487336636f, -1.23733664f, 1.98733664f, -0.737336636f, 1.48733664f, 0.237336621f,
     0.0873366371f, -0.287336648f},
    {0.480755508f, -1.23075557f, 1.98075557f, -0.730755508f, 1.48075557f, 0.230755508f,
     0.0807555169f, -0.28075552f},
    {0.474765748f, -1.22476578f, 1.97476578f, -0.724765718f, 1.47476578f, 0.224765748f,
     0.0747657493f, -0.27476576f},
    {0.472295523f, -1.22229552f, 1.97229552f, -0.722295523f, 1.47229552f, 0.222295538f,
     0.0722955391f, -0.272295535f},
    {0.467788815f, -1.21778882f, 1.96778882f, -0.717788815f, 1.46778882f, 0.217788815f,
     0.0677888244f, -0.267788827f},
};
static const float REF_ADAM_WD[6][8] = {
    {0.49000001f, -1.24000001f, 1.99000001f, -0.74000001f, 1.49000001f, 0.239999995f, 0.0900000036f,
     -0.290000021f},
    {0.485626489f, -1.23276937f, 1.98385811f, -0.735432446f, 1.48102963f, 0.236878276f,
     0.086914517f, -0.285351604f},
    {0.478401124f, -1.22439265f, 1.97594678f, -0.728133678f, 1.47173595f, 0.230123863f,
     0.0801748037f, -0.278022259f},
    {0.471614212f, -1.21621847f, 1.96831882f, -0.721253932f, 1.46252787f, 0.223920316f,
     0.0739956722f, -0.271115065f},
    {0.467912376f, -1.21002448f, 1.96314859f, -0.717395604f, 1.45424986f, 0.221135303f,
     0.0712545812f, -0.267224908f},
    {0.462438196f, -1.20269907f, 1.95656657f, -0.711799681f, 1.44543326f, 0.216378167f,
     0.0665368214f, -0.261611134f},
};
static const float REF_ADAMW_WD[6][8] = {
    {0.489500016f, -1.23874998f, 1.98800004f, -0.739250004f, 1.4885f, 0.239749998f, 0.0899000019f,
     -0.289700031f},
    {0.486347139f, -1.2348479f, 1.98334873f, -0.735847414f, 1.48434818f, 0.236846879f,
     0.0871467367f, -0.286746949f},
    {0.479279667f, -1.22703195f, 1.97478437f, -0.728530467f, 1.47628284f, 0.230028927f,
     0.0804784745f, -0.279879063f},
    {0.472810626f, -1.21981514f, 1.96681988f, -0.721812129f, 1.46881676f, 0.223809138f,
     0.0744082332f, -0.27360943f},
    {0.469867587f, -1.21612513f, 1.96238279f, -0.718620121f, 1.46487772f, 0.221115127f,
     0.071863614f, -0.270865589f},
    {0.464891016f, -1.21040237f, 1.95591378f, -0.713394821f, 1.45890617f, 0.216387287f,
     0.0672850385f, -0.266088009f},
};
static const float REF_ADAMW_LRS[6][8] = {
    {0.489750028f, -1.239375f, 1.98899996f, -0.739624977f, 1.48925006f, 0.239875019f, 0.08995004f,
     -0.289850086f},
    {0.485037565f, -1.23391294f, 1.98278821f, -0.734662592f, 1.48353815f, 0.235412404f,
     0.0856373683f, -0.285337538f},
    {0.474294156f, -1.22260785f, 1.9709214f, -0.723731935f, 1.4720459f, 0.224856183f, 0.0751934946f,
     -0.274743915f},
    {0.47117573f, -1.2193023f, 1.9674288f, -0.720551133f, 1.468678f, 0.221800104f, 0.0721748248f,
     -0.271675348f},
    {0.465435743f, -1.21244013f, 1.9594444f, -0.714437127f, 1.46144187f, 0.216434181f, 0.067033343f,
     -0.266234636f},
    {0.46065551f, -1.20728636f, 1.95391715f, -0.70953238f, 1.45616364f, 0.211778432f, 0.0624523088f,
     -0.261554003f},
};
static const float REF_CLIP_HALF_NORM = 0.997496843f;
static const float REF_CLIP_HALF_GRADS[8] = {0.15037626f,  -0.10025084f,  0.2506271f,
                                             -0.20050168f, 0.0501254201f, 0.300752521f,
                                             0.12531355f,  -0.0751881301f};
static const float REF_CLIP_TEN_NORM = 0.997496843f;
static const float REF_CLIP_TEN_GRADS[8] = {0.300000012f, -0.200000003f, 0.5f,  -0.400000006f,
                                            0.100000001f, 0.600000024f,  0.25f, -0.150000006f};
static const float REF_SCHED_STEP[12] = {
    0.100000001f,  0.100000001f,  0.100000001f,  0.0500000007f, 0.0500000007f, 0.0500000007f,
    0.0250000004f, 0.0250000004f, 0.0250000004f, 0.0125000002f, 0.0125000002f, 0.0125000002f};
static const float REF_SCHED_COSINE[26] = {
    0.100000001f,  0.097577299f,  0.0905463426f, 0.0795953712f,  0.0657963422f,  0.0505000008f,
    0.0352036593f, 0.0214046304f, 0.010453659f,  0.00342270253f, 0.00100000005f, 0.00342270253f,
    0.010453659f,  0.0214046304f, 0.0352036593f, 0.0505000008f,  0.0657963422f,  0.0795953712f,
    0.0905463426f, 0.097577299f,  0.100000001f,  0.097577299f,   0.0905463426f,  0.0795953712f,
    0.0657963422f, 0.0505000008f};
static const float REF_SCHED_STEP_WARM[12] = {
    0.0100000003f, 0.0325000006f, 0.0550000009f, 0.0387500006f, 0.0500000007f, 0.0500000007f,
    0.0250000004f, 0.0250000004f, 0.0250000004f, 0.0125000002f, 0.0125000002f, 0.0125000002f};
static const float REF_SCHED_COSINE_WARM[16] = {
    0.0250000004f, 0.0393185171f,  0.0513156994f,  0.0597487382f, 0.0637500009f,  0.0629409532f,
    0.0500000007f, 0.0370590483f,  0.0250000004f,  0.0146446612f, 0.00669872991f, 0.00170370871f,
    0.0f,          0.00170370871f, 0.00669872991f, 0.0146446612f};
static const float REF_SCHED_CONST_WARM[9] = {0.0100000003f, 0.0180000004f, 0.0260000005f,
                                              0.0340000006f, 0.0420000007f, 0.0500000007f,
                                              0.0500000007f, 0.0500000007f, 0.0500000007f};

#define N_STEPS  6
#define N_PARAMS 8 /* W[2,3] then b[2], flattened */

/* y = Gemm(x, W, b) plus an unused frozen parameter that no optimiser may touch. */
typedef struct fixture {
    tt_graph *g;
    tt_exec *e;
    int x, w, b, y, frozen;
} fixture;

static void fx_init(fixture *f)
{
    TT_ASSERT_OK(tt_graph_create(&f->g));
    int64_t xd[2] = {TT_DIM_BATCH, 3}, wd[2] = {2, 3}, bd[1] = {2}, fd[1] = {3};
    TT_ASSERT_OK(tt_graph_add_input(f->g, "x", TT_F32, 2, xd, &f->x));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "w", 2, wd, true, &f->w));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "b", 1, bd, true, &f->b));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "frozen", 1, fd, false, &f->frozen));
    int in[3] = {f->x, f->w, f->b};
    TT_ASSERT_OK(tt_graph_add_node(f->g, TT_OP_GEMM, "y", 3, in, 0, NULL, &f->y));
    memcpy(tt_graph_param_data(f->g, f->w), REF_W0, sizeof REF_W0);
    memcpy(tt_graph_param_data(f->g, f->b), REF_B0, sizeof REF_B0);
    float fr[3] = {1.0f, -2.0f, 3.0f};
    memcpy(tt_graph_param_data(f->g, f->frozen), fr, sizeof fr);
    TT_ASSERT_OK(tt_exec_create(f->g, 2, &f->e));
    /* One real forward/backward so the executor is in its trained state; the tests then write
     * known gradients straight into the gradient buffers. */
    float xv[6] = {1, 2, 3, -1, 0, 1}, seed[4] = {1, 1, 1, 1};
    TT_ASSERT_OK(tt_exec_set_input(f->e, f->x, xv, 2));
    TT_ASSERT_OK(tt_exec_forward(f->e, 2, true));
    TT_ASSERT_OK(tt_exec_backward_from(f->e, f->y, seed));
    assert_non_null(tt_exec_grad(f->e, f->w));
    assert_non_null(tt_exec_grad(f->e, f->b));
    assert_null(tt_exec_grad(f->e, f->frozen));
}

static void fx_free(fixture *f)
{
    tt_exec_free(f->e);
    tt_graph_free(f->g);
}

/* The gradient of step k: (REF_GW, REF_GB) * REF_COEF[k], the product rounded to float as
 * the script's float32 tensor product is. */
static void fx_set_grads(fixture *f, int k)
{
    float *gw = tt_tensor_f32(tt_exec_grad(f->e, f->w));
    float *gb = tt_tensor_f32(tt_exec_grad(f->e, f->b));
    for (int i = 0; i < 6; i++) gw[i] = REF_GW[i] * REF_COEF[k];
    for (int i = 0; i < 2; i++) gb[i] = REF_GB[i] * REF_COEF[k];
}

static void fx_params(fixture *f, float *out)
{
    memcpy(out, tt_graph_param_data(f->g, f->w), 6 * sizeof(float));
    memcpy(out + 6, tt_graph_param_data(f->g, f->b), 2 * sizeof(float));
}

static bool close_to_ref(float got, float want)
{
    double scale = fabs((double)want) > 1.0 ? fabs((double)want) : 1.0;
    return fabs((double)got - (double)want) <= 1e-6 * scale;
}

/* Run N_STEPS steps of cfg (lr from lrs[k] when given) and compare every parameter after every
 * step with ref. Also checks that the optimiser leaves the gradients and the frozen parameter
 * alone and counts its steps. Writes the final parameters to final_out if not NULL. */
static void run_case(const tt_optim_config *cfg, const float ref[N_STEPS][N_PARAMS],
                     const float *lrs, float *final_out)
{
    fixture f;
    fx_init(&f);
    tt_optim *o;
    TT_ASSERT_OK(tt_optim_create(cfg, f.e, &o));
    assert_int_equal(tt_optim_steps(o), 0);
    double worst = 0.0;
    for (int k = 0; k < N_STEPS; k++) {
        fx_set_grads(&f, k);
        TT_ASSERT_OK(tt_optim_step(o, lrs ? lrs[k] : cfg->lr));
        assert_int_equal(tt_optim_steps(o), k + 1);
        float p[N_PARAMS];
        fx_params(&f, p);
        for (int i = 0; i < N_PARAMS; i++) {
            double d = fabs((double)p[i] - (double)ref[k][i]);
            if (d > worst) worst = d;
            if (!close_to_ref(p[i], ref[k][i]))
                print_error("step %d param %d: got %.9g, torch %.9g\n", k + 1, i, p[i], ref[k][i]);
            assert_true(close_to_ref(p[i], ref[k][i]));
        }
        const float *gw = tt_tensor_f32(tt_exec_grad(f.e, f.w));
        for (int i = 0; i < 6; i++) assert_true(gw[i] == REF_GW[i] * REF_COEF[k]);
    }
    const float *fr = tt_graph_param_data(f.g, f.frozen);
    assert_true(fr[0] == 1.0f && fr[1] == -2.0f && fr[2] == 3.0f);
    print_message("worst |ours - torch| = %.3g\n", worst);
    if (final_out) fx_params(&f, final_out);
    tt_optim_free(o);
    fx_free(&f);
}

static tt_optim_config sgd(float lr, float mom, float damp, float wd, bool nesterov)
{
    tt_optim_config c = tt_optim_defaults(TT_OPTIM_SGD);
    c.lr = lr;
    c.momentum = mom;
    c.dampening = damp;
    c.weight_decay = wd;
    c.nesterov = nesterov;
    return c;
}

static tt_optim_config adam(tt_optim_kind kind, float lr, float b1, float b2, float eps, float wd)
{
    tt_optim_config c = tt_optim_defaults(kind);
    c.lr = lr;
    c.beta1 = b1;
    c.beta2 = b2;
    c.eps = eps;
    c.weight_decay = wd;
    return c;
}

static void sgd_plain(void **state)
{
    (void)state;
    tt_optim_config c = sgd(0.1f, 0, 0, 0, false);
    run_case(&c, REF_SGD_PLAIN, NULL, NULL);
}

static void sgd_momentum(void **state)
{
    (void)state;
    tt_optim_config c = sgd(0.1f, 0.9f, 0, 0, false);
    run_case(&c, REF_SGD_MOMENTUM, NULL, NULL);
}

/* Dampening applies from the second step only (PyTorch seeds the buffer with the raw gradient),
 * and weight decay enters the gradient before the momentum buffer. */
static void sgd_dampening_weight_decay(void **state)
{
    (void)state;
    tt_optim_config c = sgd(0.05f, 0.8f, 0.5f, 0.05f, false);
    run_case(&c, REF_SGD_DAMP_WD, NULL, NULL);
}

static void sgd_nesterov(void **state)
{
    (void)state;
    tt_optim_config c = sgd(0.1f, 0.9f, 0, 0.01f, true);
    run_case(&c, REF_SGD_NESTEROV, NULL, NULL);
}

static void adam_plain(void **state)
{
    (void)state;
    tt_optim_config c = adam(TT_OPTIM_ADAM, 0.01f, 0.9f, 0.999f, 1e-8f, 0);
    run_case(&c, REF_ADAM, NULL, NULL);
}

/* Adam's weight decay is L2 added to the gradient; AdamW's shrinks the weights directly. The
 * two must match their own PyTorch references and differ from each other. */
static void adam_l2_vs_adamw_decoupled(void **state)
{
    (void)state;
    float pa[N_PARAMS], pw[N_PARAMS];
    tt_optim_config a = adam(TT_OPTIM_ADAM, 0.01f, 0.9f, 0.999f, 1e-8f, 0.1f);
    run_case(&a, REF_ADAM_WD, NULL, pa);
    tt_optim_config w = adam(TT_OPTIM_ADAMW, 0.01f, 0.9f, 0.999f, 1e-8f, 0.1f);
    run_case(&w, REF_ADAMW_WD, NULL, pw);
    double maxdiff = 0.0;
    for (int i = 0; i < N_PARAMS; i++) {
        double d = fabs((double)pa[i] - (double)pw[i]);
        if (d > maxdiff) maxdiff = d;
    }
    /* The torch references differ by ~1.3e-2 after six steps: far outside the 1e-6 tolerance. */
    assert_true(maxdiff > 1e-3);
}

/* AdamW with non-default betas/eps and a learning rate that changes every step: the lr passed
 * to tt_optim_step (not the config's) drives both the update and the decoupled decay. */
static void adamw_varying_lr(void **state)
{
    (void)state;
    tt_optim_config c = adam(TT_OPTIM_ADAMW, 0.01f, 0.8f, 0.99f, 1e-6f, 0.05f);
    run_case(&c, REF_ADAMW_LRS, REF_LRS, NULL);
}

static void defaults_match_pytorch(void **state)
{
    (void)state;
    tt_optim_config s = tt_optim_defaults(TT_OPTIM_SGD);
    assert_int_equal(s.kind, TT_OPTIM_SGD);
    assert_true(s.lr == 0.01f && s.momentum == 0.0f && s.dampening == 0.0f && !s.nesterov &&
                s.weight_decay == 0.0f);
    tt_optim_config a = tt_optim_defaults(TT_OPTIM_ADAM);
    assert_int_equal(a.kind, TT_OPTIM_ADAM);
    assert_true(a.lr == 1e-3f && a.beta1 == 0.9f && a.beta2 == 0.999f && a.eps == 1e-8f &&
                a.weight_decay == 0.0f);
    tt_optim_config w = tt_optim_defaults(TT_OPTIM_ADAMW);
    assert_int_equal(w.kind, TT_OPTIM_ADAMW);
    assert_true(w.lr == 1e-3f && w.beta1 == 0.9f && w.beta2 == 0.999f && w.eps == 1e-8f &&
                w.weight_decay == 0.01f);
}

static void expect_bad_config(const tt_optim_config *c, tt_exec *e, const char *needle)
{
    static int sentinel;
    tt_optim *o = (tt_optim *)&sentinel; /* create must reset *out to NULL on failure */
    assert_int_equal(tt_optim_create(c, e, &o), TT_ERR_INVALID_ARG);
    assert_null(o);
    if (!strstr(tt_last_error(), needle))
        print_error("message '%s' lacks '%s'\n", tt_last_error(), needle);
    assert_non_null(strstr(tt_last_error(), needle));
}

static void bad_configs_rejected(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    tt_optim_config c = sgd(-0.1f, 0, 0, 0, false);
    expect_bad_config(&c, f.e, "learning rate");
    c = sgd(NAN, 0, 0, 0, false);
    expect_bad_config(&c, f.e, "learning rate");
    c = sgd(0.1f, -0.5f, 0, 0, false);
    expect_bad_config(&c, f.e, "momentum");
    c = sgd(0.1f, 0.9f, 0, -1e-4f, false);
    expect_bad_config(&c, f.e, "weight_decay");
    c = sgd(0.1f, 0.0f, 0, 0, true);
    expect_bad_config(&c, f.e, "Nesterov");
    c = sgd(0.1f, 0.9f, 0.1f, 0, true);
    expect_bad_config(&c, f.e, "Nesterov");
    c = adam(TT_OPTIM_ADAM, 1e-3f, 1.0f, 0.999f, 1e-8f, 0);
    expect_bad_config(&c, f.e, "beta1");
    c = adam(TT_OPTIM_ADAMW, 1e-3f, -0.1f, 0.999f, 1e-8f, 0);
    expect_bad_config(&c, f.e, "beta1");
    c = adam(TT_OPTIM_ADAM, 1e-3f, 0.9f, 1.0f, 1e-8f, 0);
    expect_bad_config(&c, f.e, "beta2");
    c = adam(TT_OPTIM_ADAM, 1e-3f, 0.9f, 0.999f, 0.0f, 0);
    expect_bad_config(&c, f.e, "eps");
    c = adam(TT_OPTIM_ADAMW, 1e-3f, 0.9f, 0.999f, -1e-8f, 0);
    expect_bad_config(&c, f.e, "eps");
    c = tt_optim_defaults(TT_OPTIM_SGD);
    c.kind = (tt_optim_kind)7;
    expect_bad_config(&c, f.e, "kind");

    /* NULL arguments. */
    tt_optim *o = NULL;
    c = tt_optim_defaults(TT_OPTIM_ADAM);
    assert_int_equal(tt_optim_create(NULL, f.e, &o), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_optim_create(&c, NULL, &o), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_optim_create(&c, f.e, NULL), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_optim_step(NULL, 0.1f), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_optim_steps(NULL), 0);
    tt_optim_free(NULL);

    /* A bad learning rate at step time (e.g. from a broken schedule) is refused untouched. */
    TT_ASSERT_OK(tt_optim_create(&c, f.e, &o));
    float before[N_PARAMS], after[N_PARAMS];
    fx_params(&f, before);
    assert_int_equal(tt_optim_step(o, NAN), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_optim_step(o, -1.0f), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_optim_step(o, INFINITY), TT_ERR_INVALID_ARG);
    fx_params(&f, after);
    assert_memory_equal(before, after, sizeof before);
    assert_int_equal(tt_optim_steps(o), 0);
    tt_optim_free(o);
    fx_free(&f);
}

static void no_trainable_params_rejected(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, w, y;
    int64_t xd[2] = {TT_DIM_BATCH, 3}, wd[2] = {2, 3};
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 2, xd, &x));
    TT_ASSERT_OK(tt_graph_add_param(g, "w", 2, wd, false, &w));
    int in[2] = {x, w};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_GEMM, "y", 2, in, 0, NULL, &y));
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 1, &e));
    tt_optim_config c = tt_optim_defaults(TT_OPTIM_SGD);
    tt_optim *o;
    assert_int_equal(tt_optim_create(&c, e, &o), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "no trainable"));
    tt_exec_free(e);
    tt_graph_free(g);
}

static void clip_grad_norm_matches_torch(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    float *gw = tt_tensor_f32(tt_exec_grad(f.e, f.w));
    float *gb = tt_tensor_f32(tt_exec_grad(f.e, f.b));

    /* The norm itself, computed independently in double: sqrt(sum of squares) over W and b. */
    double ss = 0.0;
    for (int i = 0; i < 6; i++) ss += (double)REF_GW[i] * REF_GW[i];
    for (int i = 0; i < 2; i++) ss += (double)REF_GB[i] * REF_GB[i];

    /* max_norm 0.5 < norm ~0.997: scaled by 0.5 / (norm + 1e-6). */
    fx_set_grads(&f, 0);
    float norm = 0.0f;
    TT_ASSERT_OK(tt_clip_grad_norm(f.e, 0.5f, &norm));
    assert_true(fabs(norm - sqrt(ss)) <= 1e-6 * sqrt(ss));
    assert_true(close_to_ref(norm, REF_CLIP_HALF_NORM));
    for (int i = 0; i < 6; i++) assert_true(close_to_ref(gw[i], REF_CLIP_HALF_GRADS[i]));
    for (int i = 0; i < 2; i++) assert_true(close_to_ref(gb[i], REF_CLIP_HALF_GRADS[6 + i]));
    /* After clipping, the norm is max_norm (up to the 1e-6 guard and float rounding). */
    double ss2 = 0.0;
    for (int i = 0; i < 6; i++) ss2 += (double)gw[i] * gw[i];
    for (int i = 0; i < 2; i++) ss2 += (double)gb[i] * gb[i];
    assert_true(fabs(sqrt(ss2) - 0.5) <= 1e-6);

    /* max_norm 10 > norm: gradients untouched, bit for bit. */
    fx_set_grads(&f, 0);
    TT_ASSERT_OK(tt_clip_grad_norm(f.e, 10.0f, &norm));
    assert_true(close_to_ref(norm, REF_CLIP_TEN_NORM));
    for (int i = 0; i < 6; i++) assert_true(gw[i] == REF_CLIP_TEN_GRADS[i]);
    for (int i = 0; i < 2; i++) assert_true(gb[i] == REF_CLIP_TEN_GRADS[6 + i]);
    TT_ASSERT_OK(tt_clip_grad_norm(f.e, 10.0f, NULL));

    /* A NaN or Inf gradient is a numeric error, reported with the norm, grads left alone. */
    gb[1] = NAN;
    assert_int_equal(tt_clip_grad_norm(f.e, 1.0f, &norm), TT_ERR_NUMERIC);
    assert_true(isnan(norm));
    assert_true(gw[0] == REF_GW[0]);
    gb[1] = INFINITY;
    assert_int_equal(tt_clip_grad_norm(f.e, 1.0f, &norm), TT_ERR_NUMERIC);
    assert_true(isinf(norm));

    assert_int_equal(tt_clip_grad_norm(NULL, 1.0f, &norm), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_clip_grad_norm(f.e, 0.0f, &norm), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_clip_grad_norm(f.e, NAN, &norm), TT_ERR_INVALID_ARG);
    fx_free(&f);
}

/* Learning rates are small, so they are held to 1e-6 of their own size, plus a 1e-12 floor for
 * the exact zero at the bottom of the cosine (torch's recursive form leaves ~1e-18 there). */
static void expect_sched(const tt_schedule *s, const float *ref, int n)
{
    for (int t = 0; t < n; t++) {
        float lr = tt_schedule_lr(s, t);
        bool ok = fabs((double)lr - (double)ref[t]) <= 1e-6 * fabs((double)ref[t]) + 1e-12;
        if (!ok) print_error("t=%d: got %.9g, torch %.9g\n", t, lr, ref[t]);
        assert_true(ok);
    }
}

static void schedules_match_torch(void **state)
{
    (void)state;
    tt_schedule s = {.kind = TT_SCHED_STEP, .base_lr = 0.1f, .step_size = 3, .gamma = 0.5f};
    expect_sched(&s, REF_SCHED_STEP, 12);

    /* Runs past t_max: PyTorch's cosine turns back up, and so does ours. */
    s = (tt_schedule){.kind = TT_SCHED_COSINE, .base_lr = 0.1f, .t_max = 10, .eta_min = 0.001f};
    expect_sched(&s, REF_SCHED_COSINE, 26);

    /* ChainedScheduler([LinearLR(0.1, 4), StepLR(3, 0.5)]): the factors multiply. */
    s = (tt_schedule){.kind = TT_SCHED_STEP,
                      .base_lr = 0.1f,
                      .step_size = 3,
                      .gamma = 0.5f,
                      .warmup = 4,
                      .warmup_start = 0.1f};
    expect_sched(&s, REF_SCHED_STEP_WARM, 12);

    s = (tt_schedule){.kind = TT_SCHED_COSINE,
                      .base_lr = 0.1f,
                      .t_max = 12,
                      .eta_min = 0.0f,
                      .warmup = 5,
                      .warmup_start = 0.25f};
    expect_sched(&s, REF_SCHED_COSINE_WARM, 16);

    s = (tt_schedule){
        .kind = TT_SCHED_CONSTANT, .base_lr = 0.05f, .warmup = 5, .warmup_start = 0.2f};
    expect_sched(&s, REF_SCHED_CONST_WARM, 9);

    s = (tt_schedule){.kind = TT_SCHED_CONSTANT, .base_lr = 0.05f};
    assert_true(tt_schedule_lr(&s, 0) == 0.05f && tt_schedule_lr(&s, 1000000) == 0.05f);
    assert_true(tt_schedule_lr(&s, -3) == 0.05f);
}

/* Invalid schedules give NaN, which tt_optim_step then refuses. */
static void bad_schedules_give_nan(void **state)
{
    (void)state;
    assert_true(isnan(tt_schedule_lr(NULL, 0)));
    tt_schedule s = {.kind = TT_SCHED_STEP, .base_lr = 0.1f, .step_size = 0, .gamma = 0.5f};
    assert_true(isnan(tt_schedule_lr(&s, 1)));
    s = (tt_schedule){.kind = TT_SCHED_COSINE, .base_lr = 0.1f, .t_max = 0};
    assert_true(isnan(tt_schedule_lr(&s, 1)));
    s = (tt_schedule){.kind = TT_SCHED_CONSTANT, .base_lr = 0.1f, .warmup = -1};
    assert_true(isnan(tt_schedule_lr(&s, 1)));
    s = (tt_schedule){.kind = TT_SCHED_CONSTANT, .base_lr = 0.1f, .warmup = 3, .warmup_start = 0};
    assert_true(isnan(tt_schedule_lr(&s, 1)));
    s = (tt_schedule){.kind = (tt_sched_kind)9, .base_lr = 0.1f};
    assert_true(isnan(tt_schedule_lr(&s, 1)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sgd_plain),
        cmocka_unit_test(sgd_momentum),
        cmocka_unit_test(sgd_dampening_weight_decay),
        cmocka_unit_test(sgd_nesterov),
        cmocka_unit_test(adam_plain),
        cmocka_unit_test(adam_l2_vs_adamw_decoupled),
        cmocka_unit_test(adamw_varying_lr),
        cmocka_unit_test(defaults_match_pytorch),
        cmocka_unit_test(bad_configs_rejected),
        cmocka_unit_test(no_trainable_params_rejected),
        cmocka_unit_test(clip_grad_norm_matches_torch),
        cmocka_unit_test(schedules_match_torch),
        cmocka_unit_test(bad_schedules_give_nan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
