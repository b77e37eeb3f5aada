/* tinytrain calib CONFIG.yaml -n N -o OUT.npz|OUT.h5: a calibration set for PTQ. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "tinytrain/calib.h"

static void calib_usage(FILE *f)
{
    fprintf(f, "usage: tinytrain calib CONFIG.yaml -n N -o OUT.npz|OUT.h5 [--seed S]\n"
               "                       [--split train|test]\n\n"
               "Write N samples of the config's data, normalised as the model sees them (no\n"
               "augmentation), as arrays \"input\" [N, model.input...], \"target\" and \"index\"\n"
               "(docs/calib.md). Classification data is stratified per class.\n\n"
               "options:\n"
               "  -n, --samples N    number of samples (1 .. the split's size)\n"
               "  -o, --output FILE  .npz (NumPy) or .h5 (HDF5), replaced atomically\n"
               "  --seed S           seed of the choice (default: the config's seed)\n"
               "  --split S          train (default; the whole training split) or test\n"
               "  -h, --help         this help\n");
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "tinytrain calib: %s%s%s (see 'tinytrain calib --help')\n", msg, arg ? " " : "",
            arg ? arg : "");
    return TT_EXIT_USAGE;
}

static bool has_ext(const char *s, const char *ext)
{
    size_t a = strlen(s), b = strlen(ext);
    return a > b && !strcmp(s + a - b, ext);
}

int tt_cmd_calib(int argc, char **argv)
{
    const char *config = NULL, *out = NULL, *n_s = NULL, *seed_s = NULL, *split = "train";
    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            calib_usage(stdout);
            return TT_EXIT_OK;
        }
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output"))
            slot = &out;
        else if (!strcmp(argv[i], "-n") || !strcmp(argv[i], "--samples"))
            slot = &n_s;
        else if (!strcmp(argv[i], "--seed"))
            slot = &seed_s;
        else if (!strcmp(argv[i], "--split"))
            slot = &split;
        if (slot) {
            if (!(*slot = tt_cli_value("calib", argc, argv, &i))) return TT_EXIT_USAGE;
        } else if (argv[i][0] == '-' || config) {
            return usage_error("unexpected argument", argv[i]);
        } else {
            config = argv[i];
        }
    }
    if (!config) return usage_error("missing CONFIG.yaml", NULL);
    if (!n_s) return usage_error("missing -n N", NULL);
    if (!out) return usage_error("missing -o OUT.npz|OUT.h5", NULL);
    uint64_t n = 0, seed = 0;
    if (!tt_cli_parse_u64(n_s, &n) || n < 1 || n > INT64_MAX)
        return usage_error("-n needs a whole number >= 1, got", n_s);
    if (seed_s && !tt_cli_parse_u64(seed_s, &seed))
        return usage_error("--seed needs a whole number >= 0, got", seed_s);
    if (strcmp(split, "train") && strcmp(split, "test"))
        return usage_error("--split is train or test, got", split);
    if (!has_ext(out, ".npz") && !has_ext(out, ".h5"))
        return usage_error("-o must end in .npz or .h5, got", out);

    tt_config *cfg = NULL;
    if (tt_config_load(config, &cfg) != TT_OK) {
        tt_cli_error("calib", "cannot load the config", true);
        return TT_EXIT_USAGE;
    }
    if (!seed_s) seed = cfg->seed;
    tt_calib_set set;
    int rc = TT_EXIT_OK;
    if (tt_calib_build(cfg, (int64_t)n, seed, !strcmp(split, "train"), &set) != TT_OK) {
        tt_cli_error("calib", "cannot build the calibration set", true);
        rc = TT_EXIT_FAIL;
    } else if (tt_calib_save(out, &set) != TT_OK) {
        tt_cli_error("calib", "cannot write the calibration set", true);
        rc = TT_EXIT_FAIL;
    } else {
        char shp[64];
        fprintf(stderr, "tinytrain calib: %" PRIu64 " %s samples %s -> %s (seed %" PRIu64 ")\n", n,
                split, tt_shape_str(&set.input->shape, shp, sizeof shp), out, seed);
    }
    tt_calib_free(&set);
    tt_config_free(cfg);
    return rc;
}
