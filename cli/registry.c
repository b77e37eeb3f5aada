/* tinytrain registry verify|add: the model registry (docs/gate.md). */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "tinytrain/gate.h"
#include "tinytrain/onnx.h"
#include "tinytrain/registry.h"

#define DEFAULT_REGISTRY "model/registry.json"
#define EM_DASH          "\xe2\x80\x94"

static void registry_usage(FILE *f)
{
    fprintf(f,
            "usage: tinytrain registry verify [--registry FILE]\n"
            "       tinytrain registry add MODEL.onnx --id ID --kind KIND --quant-mode MODE\n"
            "                              [--budget X] [--calibration FILE] [--notes TEXT]\n"
            "                              [--gate-data F.npz] [--registry FILE] [--replace]\n\n"
            "The model registry (default %s; fields in docs/gate.md, rules in\n"
            "model/registry.schema.json).\n\n"
            "verify  checks the schema, unique ids, that every file exists inside the registry's\n"
            "        directory with the registered sha256 / int8_sha256 and opset, that a\n"
            "        static entry's calibration set is there, and that gate data matches its\n"
            "        gate_data_sha256 and holds at least %d finite float32 samples of the\n"
            "        model's input shape. One line per model; exit 0 all ok, 1 anything wrong,\n"
            "        2 bad command line or unreadable registry.\n"
            "add     registers MODEL.onnx (inside the registry's directory; its int8 sibling\n"
            "        MODEL.int8.onnx unless fp32): computes the hashes, reads the opset, keeps\n"
            "        the file sorted by id (2-space indent, sorted keys), written atomically.\n"
            "        Creates the registry if it does not exist.\n\n"
            "options:\n"
            "  --registry FILE     the registry (default %s)\n"
            "  --id ID             ^[a-z0-9][a-z0-9_-]*$, at most 64 characters\n"
            "  --kind KIND         classifier, regressor or filter\n"
            "  --quant-mode MODE   fp32, dynamic, static or qat\n"
            "  --budget X          quant_accuracy_budget_plcc, 0..1 (default %g; %g for qat)\n"
            "  --calibration FILE  quant_calibration_set (.npz/.h5, required for static)\n"
            "  --notes TEXT        free text (at most %d characters)\n"
            "  --gate-data F.npz   samples the gate runs this model on instead of drawn ones\n"
            "                      (gate_data + gate_data_sha256; e.g. tinytrain calib CONFIG\n"
            "                      -n 16 --split test -o F.npz); checked as verify does\n"
            "  --replace           overwrite an entry with the same id\n"
            "  -h, --help          this help\n",
            DEFAULT_REGISTRY, TT_GATE_SAMPLES_DEFAULT, DEFAULT_REGISTRY, TT_REGISTRY_BUDGET_DEFAULT,
            TT_REGISTRY_BUDGET_DEFAULT_QAT, TT_REGISTRY_NOTES_MAX);
}

static int unexpected(const char *arg)
{
    fprintf(stderr,
            "tinytrain registry: unexpected argument '%s' (see 'tinytrain registry --help')\n",
            arg);
    return TT_EXIT_USAGE;
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "tinytrain registry: %s%s%s (see 'tinytrain registry --help')\n", msg,
            arg ? " " : "", arg ? arg : "");
    return TT_EXIT_USAGE;
}

/* ---- verify ---- */

static int verify(const char *path)
{
    tt_registry reg;
    tt_status s = tt_registry_load(path, &reg);
    if (s == TT_ERR_IO || s == TT_ERR_NOMEM) {
        tt_cli_error("registry", "cannot read the registry", true);
        return TT_EXIT_USAGE;
    }
    if (s != TT_OK) {
        fprintf(stderr, "tinytrain registry: invalid: %s\n", tt_last_error());
        return TT_EXIT_FAIL;
    }
    int bad = 0;
    for (int i = 0; i < reg.n; i++) {
        const tt_registry_entry *e = &reg.models[i];
        if (tt_registry_check_files(&reg, e) == TT_OK) {
            printf("[ok]   %-24s mode=%-7s %s%s\n", e->id, tt_quant_mode_name(e->quant_mode),
                   e->onnx, e->quant_mode == TT_QUANT_FP32 ? "" : " + int8 sibling");
        } else {
            printf("[FAIL] %s " EM_DASH " %s\n", e->id, tt_last_error());
            bad++;
        }
    }
    fprintf(stderr, "tinytrain registry: %s: %d model%s, %d with problems\n", path, reg.n,
            reg.n == 1 ? "" : "s", bad);
    tt_registry_free(&reg);
    return bad ? TT_EXIT_FAIL : TT_EXIT_OK;
}

/* ---- add ---- */

typedef struct add_args {
    const char *model, *id, *kind, *mode, *budget, *calibration, *notes, *registry, *gate_data;
    bool replace;
} add_args;

static int parse_add(int argc, char **argv, add_args *a)
{
    for (int i = 2; i < argc; i++) {
        const char **slot = NULL;
        if (!strcmp(argv[i], "--id"))
            slot = &a->id;
        else if (!strcmp(argv[i], "--kind"))
            slot = &a->kind;
        else if (!strcmp(argv[i], "--quant-mode"))
            slot = &a->mode;
        else if (!strcmp(argv[i], "--budget"))
            slot = &a->budget;
        else if (!strcmp(argv[i], "--calibration"))
            slot = &a->calibration;
        else if (!strcmp(argv[i], "--notes"))
            slot = &a->notes;
        else if (!strcmp(argv[i], "--registry"))
            slot = &a->registry;
        else if (!strcmp(argv[i], "--gate-data"))
            slot = &a->gate_data;
        if (slot) {
            if (!(*slot = tt_cli_value("registry", argc, argv, &i))) return TT_EXIT_USAGE;
        } else if (!strcmp(argv[i], "--replace")) {
            a->replace = true;
        } else if (argv[i][0] == '-' || a->model) {
            return unexpected(argv[i]);
        } else {
            a->model = argv[i];
        }
    }
    if (!a->model) return usage_error("add: missing MODEL.onnx", NULL);
    if (!a->id) return usage_error("add: missing --id ID", NULL);
    if (!a->kind) return usage_error("add: missing --kind classifier|regressor|filter", NULL);
    if (!a->mode) return usage_error("add: missing --quant-mode fp32|dynamic|static|qat", NULL);
    return 0;
}

/* The registry to add to: the file's contents, or a new empty one beside which the schema's
 * "$schema" reference is written only if the schema file is really there. */
static int open_registry(const char *path, tt_registry *reg)
{
    if (access(path, F_OK) == 0) {
        tt_status s = tt_registry_load(path, reg);
        if (s == TT_OK) return 0;
        tt_cli_error("registry",
                     s == TT_ERR_IO ? "cannot read the registry"
                                    : "the registry is invalid; fix it first",
                     true);
        return s == TT_ERR_IO ? TT_EXIT_USAGE : TT_EXIT_FAIL;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        slash[slash == dir ? 1 : 0] = '\0';
    static const char empty[] = "{\"schema_version\": 1, \"models\": []}";
    if (access(dir, W_OK) != 0 || tt_registry_parse(empty, strlen(empty), path, dir, reg)) {
        fprintf(stderr, "tinytrain registry: %s: cannot create the registry there (%s)\n", path,
                strerror(errno));
        return TT_EXIT_USAGE;
    }
    char schema[PATH_MAX + 32];
    snprintf(schema, sizeof schema, "%s/registry.schema.json", reg->dir);
    if (access(schema, F_OK) == 0)
        snprintf(reg->schema_ref, sizeof reg->schema_ref, "./registry.schema.json");
    return 0;
}

/* path (as typed) relative to the registry's directory, which it must lie inside. */
static int relative_to(const tt_registry *reg, const char *path, const char *what, char *rel,
                       size_t len)
{
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        fprintf(stderr, "tinytrain registry: %s %s: %s\n", what, path, strerror(errno));
        return TT_EXIT_FAIL;
    }
    size_t d = strlen(reg->dir);
    if (strncmp(real, reg->dir, d) || real[d] != '/') {
        fprintf(stderr,
                "tinytrain registry: %s %s is outside the registry's directory %s; registered "
                "files live inside it (copy it there first)\n",
                what, path, reg->dir);
        return TT_EXIT_FAIL;
    }
    if (strlen(real + d + 1) >= len) {
        fprintf(stderr, "tinytrain registry: %s %s: path too long\n", what, path);
        return TT_EXIT_FAIL;
    }
    snprintf(rel, len, "%s", real + d + 1);
    return 0;
}

static int hash_into(const char *path, char hex[65])
{
    if (tt_registry_file_sha256(path, hex) == TT_OK) return 0;
    tt_cli_error("registry", "cannot hash", true);
    return TT_EXIT_FAIL;
}

/* Everything about the model files: paths, hashes, opset. */
static int describe_files(const tt_registry *reg, const add_args *a, tt_registry_entry *e)
{
    int rc = relative_to(reg, a->model, "model", e->onnx, sizeof e->onnx);
    if (rc) return rc;
    if ((rc = hash_into(a->model, e->sha256))) return rc;
    tt_onnx_info info;
    if (tt_onnx_inspect(a->model, &info) != TT_OK) {
        tt_cli_error("registry", "not a readable ONNX model", true);
        return TT_EXIT_FAIL;
    }
    e->opset = (int)info.opset;
    if (e->quant_mode != TT_QUANT_FP32) {
        char int8[PATH_MAX];
        if (tt_registry_int8_sibling(a->model, int8, sizeof int8) != TT_OK) {
            tt_cli_error("registry", "no int8 sibling", true);
            return TT_EXIT_FAIL;
        }
        if (access(int8, R_OK) != 0) {
            fprintf(stderr,
                    "tinytrain registry: quant_mode %s needs the int8 sibling %s, which is not "
                    "there (tinytrain qat writes NAME.int8.onnx beside NAME.onnx)\n",
                    a->mode, int8);
            return TT_EXIT_FAIL;
        }
        if ((rc = hash_into(int8, e->int8_sha256))) return rc;
    }
    if (a->calibration)
        rc = relative_to(reg, a->calibration, "calibration set", e->calibration,
                         sizeof e->calibration);
    if (!rc && a->gate_data &&
        !(rc = relative_to(reg, a->gate_data, "gate data", e->gate_data, sizeof e->gate_data)))
        rc = hash_into(a->gate_data, e->gate_data_sha256);
    return rc;
}

static int entry_from_args(const add_args *a, tt_registry_entry *e)
{
    memset(e, 0, sizeof *e);
    if (strlen(a->id) > TT_REGISTRY_ID_MAX) return usage_error("--id is longer than 64:", a->id);
    snprintf(e->id, sizeof e->id, "%s", a->id);
    if (!tt_model_kind_parse(a->kind, &e->kind))
        return usage_error("--kind is classifier, regressor or filter, got", a->kind);
    if (!tt_quant_mode_parse(a->mode, &e->quant_mode))
        return usage_error("--quant-mode is fp32, dynamic, static or qat, got", a->mode);
    if (a->budget) {
        char *end;
        errno = 0;
        e->budget = strtod(a->budget, &end);
        if (errno || *end || end == a->budget || !(e->budget >= 0 && e->budget <= 1))
            return usage_error("--budget needs a number from 0 to 1, got", a->budget);
        e->budget_set = true;
    } else if (e->quant_mode != TT_QUANT_FP32) {
        /* Written out, so the file says which budget the gate applies. */
        e->budget = tt_registry_default_budget(e->quant_mode);
        e->budget_set = true;
    }
    if (e->quant_mode == TT_QUANT_STATIC && !a->calibration)
        return usage_error("--quant-mode static needs --calibration FILE (the calibration set "
                           "the int8 model was made with)",
                           NULL);
    if (e->quant_mode == TT_QUANT_FP32 && (a->budget || a->calibration || a->gate_data))
        return usage_error("--budget, --calibration and --gate-data describe an int8 model; not "
                           "with --quant-mode fp32",
                           NULL);
    if (a->gate_data &&
        (strlen(a->gate_data) < 5 || strcmp(a->gate_data + strlen(a->gate_data) - 4, ".npz")))
        return usage_error("--gate-data needs an .npz file, got", a->gate_data);
    if (a->notes) {
        if (strlen(a->notes) >= sizeof e->notes) return usage_error("--notes is too long", NULL);
        snprintf(e->notes, sizeof e->notes, "%s", a->notes);
        e->notes_set = true;
    }
    return 0;
}

static int add(int argc, char **argv)
{
    add_args a = {.registry = DEFAULT_REGISTRY};
    int rc = parse_add(argc, argv, &a);
    tt_registry_entry e;
    if (rc || (rc = entry_from_args(&a, &e))) return rc;
    tt_registry reg;
    if ((rc = open_registry(a.registry, &reg))) return rc;
    if (!(rc = describe_files(&reg, &a, &e))) {
        if (e.gate_data[0] && tt_registry_check_files(&reg, &e) != TT_OK) {
            /* Refused now rather than at the next verify or gate. */
            tt_cli_error("registry", "unusable --gate-data", true);
            rc = TT_EXIT_FAIL;
        } else if (tt_registry_insert(&reg, &e, a.replace) != TT_OK) {
            tt_cli_error("registry", "cannot add the model", true);
            rc = TT_EXIT_FAIL;
        } else if (tt_registry_save(&reg, a.registry) != TT_OK) {
            tt_cli_error("registry", "cannot write the registry", true);
            rc = TT_EXIT_FAIL;
        } else {
            fprintf(stderr, "tinytrain registry: %s %s (%s, %s, opset %d, sha256 %.12s...) in %s\n",
                    a.replace ? "registered" : "added", e.id, tt_model_kind_name(e.kind),
                    tt_quant_mode_name(e.quant_mode), e.opset, e.sha256, a.registry);
        }
    }
    tt_registry_free(&reg);
    return rc;
}

int tt_cmd_registry(int argc, char **argv)
{
    if (argc < 2) return usage_error("missing a subcommand: verify or add", NULL);
    const char *sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
        registry_usage(stdout);
        return TT_EXIT_OK;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            registry_usage(stdout);
            return TT_EXIT_OK;
        }
    if (!strcmp(sub, "add")) return add(argc, argv);
    if (strcmp(sub, "verify")) return usage_error("unknown subcommand", sub);
    const char *path = DEFAULT_REGISTRY;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--registry")) {
            if (!(path = tt_cli_value("registry", argc, argv, &i))) return TT_EXIT_USAGE;
        } else {
            return unexpected(argv[i]);
        }
    }
    return verify(path);
}
