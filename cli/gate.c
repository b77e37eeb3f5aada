/* tinytrain gate: every registered int8 model against its fp32 baseline (docs/gate.md). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli/cli.h"
#include "tinytrain/backends.h"
#include "tinytrain/gate.h"
#include "tinytrain/tinytrain.h"
#include "data/clock.h"

#define DEFAULT_REGISTRY "model/registry.json"

static void gate_usage(FILE *f)
{
    fprintf(f,
            "usage: tinytrain gate [ID...|--all] [--registry FILE] [options]\n"
            "       tinytrain gate --fp32 A.onnx --int8 B.onnx [--budget X] [--id NAME] "
            "[options]\n\n"
            "Run each registered model's int8 sibling against its fp32 model on %d seeded\n"
            "uniform [0, 1) inputs (or the samples of the entry's gate_data file, or of --data)\n"
            "and compare the first outputs: PLCC, drop = 1 - PLCC, worst_abs. A model passes\n"
            "when drop <= its quant_accuracy_budget_plcc. The files are sha256-checked against\n"
            "the registry first; a missing int8 file fails. fp32 entries are skipped. Details:\n"
            "docs/gate.md.\n\n"
            "options:\n"
            "  --registry FILE    the registry (default %s)\n"
            "  --all              every registered model (the default when no ID is given)\n"
            "  --fp32 A --int8 B  a pair of files instead of the registry (mode=override)\n"
            "  --budget X         the pair's budget, 0..1 (default %g)\n"
            "  --id NAME          the pair's label (default: A's file name without .onnx)\n"
            "  --gate             exit 1 when any model fails (else the exit status is 0)\n"
            "  --out-json FILE    write the rows and run_provenance as JSON\n"
            "  --out-md FILE      write the table as Markdown\n"
            "  --dump-inputs DIR  write DIR/<id>/input_NN.npy (the samples, as fed) and the\n"
            "                     fp32_output.npy / int8_output.npy, to compare other runtimes\n"
            "  --data F.npz       gate every model on the first N samples of F (the array\n"
            "                     named after the model input, or F's only array; [N, input\n"
            "                     shape...] float32) instead of drawn ones; not with --seed\n"
            "  --synthetic        draw the samples even for entries with gate_data (the seed\n"
            "                     system's gate); not with --data\n"
            "  --samples N        number of samples (default %d)\n"
            "  --seed S           seed of tinytrain's PCG32 generator (default %d; not numpy's\n"
            "                     default_rng, so the inputs differ from the seed's gate)\n"
            "  --mode M           runtime mode, int8 (integer kernels, default) or float\n"
            "  --backends LIST    run both models of every entry on each backend of LIST\n"
            "                     (cpu, opencl, opencl:N, cuda, cuda:N; default cpu) and print\n"
            "                     the per-backend table; a backend with no device here is\n"
            "                     reported unavailable (skipped), and a drop more than 1e-4\n"
            "                     from cpu's (when cpu is listed) fails that row\n"
            "  --threads T        threads (0: all cores)\n"
            "  -h, --help         this help\n\n"
            "exit status: 0 done (with --gate: every model passed or was skipped), 1 with\n"
            "--gate a model failed (or a report could not be written), 2 bad command line,\n"
            "unreadable or invalid registry, or unknown ID.\n",
            TT_GATE_SAMPLES_DEFAULT, DEFAULT_REGISTRY, TT_REGISTRY_BUDGET_DEFAULT,
            TT_GATE_SAMPLES_DEFAULT, TT_GATE_SEED_DEFAULT);
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "tinytrain gate: %s%s%s (see 'tinytrain gate --help')\n", msg, arg ? " " : "",
            arg ? arg : "");
    return TT_EXIT_USAGE;
}

typedef struct gate_args {
    const char *registry, *fp32, *int8, *budget, *id, *out_json, *out_md, *dump, *samples, *seed,
        *mode, *backends, *threads, *data;
    bool all, gate, synthetic;
    const char **ids;
    int n_ids;
} gate_args;

static const char **value_slot(gate_args *a, const char *flag)
{
    static const struct {
        const char *flag;
        size_t off;
    } flags[] = {
        {"--registry", offsetof(gate_args, registry)},
        {"--fp32", offsetof(gate_args, fp32)},
        {"--int8", offsetof(gate_args, int8)},
        {"--budget", offsetof(gate_args, budget)},
        {"--id", offsetof(gate_args, id)},
        {"--out-json", offsetof(gate_args, out_json)},
        {"--out-md", offsetof(gate_args, out_md)},
        {"--dump-inputs", offsetof(gate_args, dump)},
        {"--samples", offsetof(gate_args, samples)},
        {"--seed", offsetof(gate_args, seed)},
        {"--mode", offsetof(gate_args, mode)},
        {"--backends", offsetof(gate_args, backends)},
        {"--threads", offsetof(gate_args, threads)},
        {"--data", offsetof(gate_args, data)},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strcmp(flag, flags[i].flag)) return (const char **)((char *)a + flags[i].off);
    return NULL;
}

static int parse(int argc, char **argv, gate_args *a)
{
    a->ids = calloc((size_t)argc, sizeof *a->ids);
    if (!a->ids) return usage_error("out of memory", NULL);
    for (int i = 1; i < argc; i++) {
        const char **slot = value_slot(a, argv[i]);
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            gate_usage(stdout);
            return -1;
        }
        if (slot) {
            if (!(*slot = tt_cli_value("gate", argc, argv, &i))) return TT_EXIT_USAGE;
        } else if (!strcmp(argv[i], "--all")) {
            a->all = true;
        } else if (!strcmp(argv[i], "--gate")) {
            a->gate = true;
        } else if (!strcmp(argv[i], "--synthetic")) {
            a->synthetic = true;
        } else if (argv[i][0] == '-') {
            fprintf(stderr,
                    "tinytrain gate: unexpected argument '%s' (see 'tinytrain gate --help')\n",
                    argv[i]);
            return TT_EXIT_USAGE;
        } else {
            a->ids[a->n_ids++] = argv[i];
        }
    }
    return 0;
}

/* The flag combinations: a pair, or registry models; never both. */
static int check_combination(const gate_args *a)
{
    bool pair = a->fp32 || a->int8;
    if (pair && !(a->fp32 && a->int8))
        return usage_error(a->fp32 ? "--fp32 needs --int8 (a pair is both files)"
                                   : "--int8 needs --fp32 (a pair is both files)",
                           NULL);
    if (pair && (a->all || a->n_ids))
        return usage_error("--fp32/--int8 gate one pair; not with --all or registry IDs", NULL);
    if (pair && a->registry)
        return usage_error("--fp32/--int8 do not read the registry; drop --registry", NULL);
    if (!pair && (a->budget || a->id))
        return usage_error("--budget and --id label a --fp32/--int8 pair; registry models use "
                           "their quant_accuracy_budget_plcc and id",
                           NULL);
    if (a->all && a->n_ids) return usage_error("give IDs or --all, not both", NULL);
    if (a->data && a->synthetic)
        return usage_error("--data reads the samples from a file and --synthetic draws them; "
                           "give one",
                           NULL);
    if (a->data && a->seed)
        return usage_error("--seed seeds drawn samples; --data reads them from a file, so drop "
                           "--seed",
                           NULL);
    return 0;
}

/* --data is one file for every model: a bad one is a bad command line, found before anything
 * runs (what is inside it is checked against each model's input). */
static int check_data(const char *path)
{
    size_t n = strlen(path);
    if (n < 5 || strcmp(path + n - 4, ".npz"))
        return usage_error("--data needs an .npz file (np.savez, or tinytrain calib -o F.npz), "
                           "got",
                           path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "tinytrain gate: --data %s: cannot open it (%s)\n", path, strerror(errno));
        return TT_EXIT_USAGE;
    }
    fclose(f);
    return 0;
}

#define GATE_MAX_BACKENDS 8
#define GATE_EP_TOLERANCE 1e-4 /* |drop on a backend - drop on cpu| (issue 8, must-show 3) */

/* The comma-separated --backends list, each name checked for its form (not yet for a device). */
static int split_backends(const char *list, char names[][32], int *n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    *n = 0;
    for (char *save = NULL, *b = strtok_r(buf, ",", &save); b; b = strtok_r(NULL, ",", &save)) {
        bool ok = strlen(b) < 32 &&
                  (!strcmp(b, "cpu") || !strncmp(b, "opencl", 6) || !strncmp(b, "cuda", 4));
        if (!ok || *n == GATE_MAX_BACKENDS)
            return usage_error("--backends takes up to 8 of cpu, opencl, opencl:N, cuda, cuda:N "
                               "separated by commas, got",
                               list);
        snprintf(names[(*n)++], 32, "%s", b);
    }
    if (*n == 0) return usage_error("--backends needs at least one backend, got", list);
    return 0;
}

static int read_options(const gate_args *a, tt_gate_opts *o, double *budget)
{
    uint64_t v;
    o->samples = TT_GATE_SAMPLES_DEFAULT;
    if (a->samples) {
        if (!tt_cli_parse_u64(a->samples, &v) || v < 1 || v > TT_GATE_SAMPLES_MAX)
            return usage_error("--samples needs a whole number from 1 to 65536, got", a->samples);
        o->samples = (int64_t)v;
    }
    if (a->seed && !tt_cli_parse_u64(a->seed, &o->seed))
        return usage_error("--seed needs a whole number >= 0, got", a->seed);
    if (a->mode && !strcmp(a->mode, "float"))
        o->mode = TT_RT_FLOAT;
    else if (a->mode && strcmp(a->mode, "int8"))
        return usage_error("--mode is int8 or float, got", a->mode);
    *budget = TT_REGISTRY_BUDGET_DEFAULT;
    if (a->budget) {
        char *end;
        errno = 0;
        *budget = strtod(a->budget, &end);
        if (errno || *end || end == a->budget || !(*budget >= 0 && *budget <= 1))
            return usage_error("--budget needs a number from 0 to 1, got", a->budget);
    }
    if (a->id && (!a->id[0] || strlen(a->id) > TT_REGISTRY_ID_MAX || strchr(a->id, '/') ||
                  !strcmp(a->id, ".") || !strcmp(a->id, "..")))
        return usage_error("--id needs 1 to 64 characters without '/' (not '.' or '..'), got",
                           a->id);
    if (a->threads) {
        if (!tt_cli_parse_u64(a->threads, &v) || v > 4096)
            return usage_error("--threads needs a whole number >= 0, got", a->threads);
        tt_set_num_threads((int)v);
    }
    if (a->data && check_data(a->data)) return TT_EXIT_USAGE;
    o->dump_dir = a->dump;
    o->data = a->data;
    o->synthetic = a->synthetic;
    return 0;
}

/* The registry's entries to gate, in order: the IDs given, or all. */
static int select_entries(const tt_registry *reg, const gate_args *a,
                          const tt_registry_entry ***sel, int *n)
{
    int want = a->n_ids ? a->n_ids : reg->n;
    *sel = calloc(want > 0 ? (size_t)want : 1, sizeof **sel);
    if (!*sel) return usage_error("out of memory", NULL);
    for (int i = 0; i < want; i++) {
        const tt_registry_entry *e = a->n_ids ? tt_registry_find(reg, a->ids[i]) : &reg->models[i];
        if (!e) {
            fprintf(stderr, "tinytrain gate: unknown id '%s'; %s registers:", a->ids[i], reg->path);
            for (int k = 0; k < reg->n; k++) fprintf(stderr, " %s", reg->models[k].id);
            fprintf(stderr, "%s\n", reg->n ? "" : " nothing");
            return TT_EXIT_USAGE;
        }
        (*sel)[i] = e;
    }
    *n = want;
    return 0;
}

static void report_row(const tt_gate_row *r)
{
    char line[2048];
    tt_gate_line(r, line, sizeof line);
    printf("%s\n", line);
    fflush(stdout);
}

static int write_reports(const gate_args *a, const tt_gate_row *rows, int n, tt_gate_run *run)
{
    if (a->out_md && tt_gate_write_md(a->out_md, rows, n, run) != TT_OK) {
        tt_cli_error("gate", "cannot write --out-md", true);
        return TT_EXIT_FAIL;
    }
    if (a->out_json && tt_gate_write_json(a->out_json, rows, n, run) != TT_OK) {
        tt_cli_error("gate", "cannot write --out-json", true);
        return TT_EXIT_FAIL;
    }
    return 0;
}

/* Gate the selection (a pair when reg is NULL) into rows, printing each line as it is done
 * unless quiet. */
static int run_all(const gate_args *a, const tt_registry *reg, const tt_gate_opts *o, double budget,
                   bool quiet, tt_gate_row **rows, int *n)
{
    const tt_registry_entry **sel = NULL;
    int rc = 0, count = 1;
    if (reg && (rc = select_entries(reg, a, &sel, &count))) {
        free(sel);
        return rc;
    }
    *rows = calloc(count > 0 ? (size_t)count : 1, sizeof **rows);
    if (!*rows) rc = usage_error("out of memory", NULL);
    for (int i = 0; !rc && i < count; i++) {
        tt_status s = reg ? tt_gate_entry(reg, sel[i], o, &(*rows)[i])
                          : tt_gate_pair(a->fp32, a->int8, a->id, budget, o, &(*rows)[i]);
        if (s != TT_OK) {
            tt_cli_error("gate", "cannot gate", true);
            rc = TT_EXIT_USAGE;
            break;
        }
        if (!quiet) report_row(&(*rows)[i]);
        *n = i + 1;
    }
    free(sel);
    return rc;
}

static void summary(const tt_gate_row *rows, int n)
{
    int pass = 0, skip = 0;
    for (int i = 0; i < n; i++) {
        pass += rows[i].status == TT_GATE_ST_PASS;
        skip +=
            rows[i].status == TT_GATE_ST_SKIPPED_FP32 || rows[i].status == TT_GATE_ST_UNAVAILABLE;
    }
    fprintf(stderr, "tinytrain gate: %d passed, %d failed, %d skipped\n", pass, n - pass - skip,
            skip);
}

/* Rows of a backend with no device say so instead of carrying the load error. */
static void mark_unavailable(tt_gate_row *rows, int n, const char *backend, const char *why)
{
    for (int i = 0; i < n; i++) {
        /* only the failure to open the device: a hash mismatch or a broken file stays an error */
        if (rows[i].status != TT_GATE_ST_ERROR || !strstr(rows[i].message, why)) continue;
        rows[i].status = TT_GATE_ST_UNAVAILABLE;
        snprintf(rows[i].message, sizeof rows[i].message, "backend %s unavailable: %.900s", backend,
                 why);
    }
}

/* A row measured on a device must drop what the same model drops on the CPU, to 1e-4. */
static void check_agreement(tt_gate_row *rows, int per, int nb, const int *cpu_block)
{
    if (*cpu_block < 0) return;
    const tt_gate_row *ref = rows + (size_t)*cpu_block * per;
    for (int b = 0; b < nb; b++) {
        if (b == *cpu_block) continue;
        for (int i = 0; i < per; i++) {
            tt_gate_row *r = &rows[(size_t)b * per + i];
            if (!r->measured || !ref[i].measured) continue;
            double a = r->m.drop, c = ref[i].m.drop, d = fabs(a - c);
            if ((isnan(a) && isnan(c)) || d <= GATE_EP_TOLERANCE) continue;
            r->status = TT_GATE_ST_FAIL;
            size_t len = strlen(r->message);
            snprintf(r->message + len, sizeof r->message - len,
                     "%sdrop %.6f differs from cpu's %.6f by %.2e (limit %.0e)", len ? "; " : "", a,
                     c, d, GATE_EP_TOLERANCE);
            report_row(r); /* its line was printed as a pass before the CPU's was compared */
        }
    }
}

/* The per-backend table: one line per model and backend. */
static void print_table(const tt_gate_row *rows, int per, int nb, int cpu_block)
{
    printf("\n| model | backend | status | PLCC | drop | drop - cpu | worst_abs | wall s |\n"
           "|---|---|---|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < per; i++)
        for (int b = 0; b < nb; b++) {
            const tt_gate_row *r = &rows[(size_t)b * per + i];
            printf("| %s | %s | %s | ", r->id, r->backend, tt_gate_status_name(r->status));
            if (!r->measured) {
                printf("- | - | - | - | - |\n");
                continue;
            }
            const tt_gate_row *c = cpu_block >= 0 ? &rows[(size_t)cpu_block * per + i] : NULL;
            char dc[32] = "-";
            if (c && c->measured) snprintf(dc, sizeof dc, "%+.2e", r->m.drop - c->m.drop);
            printf("%.6f | %.6f | %s | %.4f | %.3f |\n", r->m.plcc, r->m.drop, dc, r->m.worst_abs,
                   r->run_s);
        }
}

/* Every entry (or the pair) on each backend, block after block of rows. */
static int run_backends(const gate_args *a, const tt_registry *reg, tt_gate_opts *o, double budget,
                        char names[][32], int nb, tt_gate_row **rows, int *per, int *cpu_block)
{
    *rows = NULL;
    *cpu_block = -1;
    /* A malformed name or a device N that does not exist is a usage error, before anything
     * runs; a backend this build or machine lacks is only unavailable. */
    char why[GATE_MAX_BACKENDS][512];
    for (int b = 0; b < nb; b++) {
        tt_status chk = tt_backend_check(names[b]);
        if (chk == TT_ERR_INVALID_ARG) {
            fprintf(stderr, "tinytrain gate: --backends: %s\n", tt_last_error());
            return TT_EXIT_USAGE;
        }
        snprintf(why[b], sizeof why[b], "%s", chk == TT_OK ? "" : tt_last_error());
    }
    for (int b = 0; b < nb; b++) {
        if (!strcmp(names[b], "cpu") && *cpu_block < 0) *cpu_block = b;
        if (nb > 1) printf("backend %s%s%s\n", names[b], why[b][0] ? ": " : "", why[b]);
        o->backend = names[b];
        tt_gate_row *block = NULL;
        int n = 0;
        int rc = run_all(a, reg, o, budget, why[b][0] != '\0', &block, &n);
        if (!rc && b > 0 && n != *per) rc = usage_error("internal error: blocks differ", NULL);
        tt_gate_row *grown =
            rc ? NULL : realloc(*rows, (size_t)(b + 1) * (n ? n : 1) * sizeof **rows);
        if (!rc && !grown) rc = usage_error("out of memory", NULL);
        if (rc) {
            free(block);
            return rc;
        }
        *rows = grown;
        *per = n;
        if (why[b][0]) {
            mark_unavailable(block, n, names[b], why[b]);
            for (int i = 0; i < n; i++) report_row(&block[i]);
        }
        memcpy(*rows + (size_t)b * n, block, (size_t)n * sizeof *block);
        free(block);
    }
    check_agreement(*rows, *per, nb, cpu_block);
    if (nb > 1 || strcmp(names[0], "cpu")) print_table(*rows, *per, nb, *cpu_block);
    return 0;
}

int tt_cmd_gate(int argc, char **argv)
{
    gate_args a = {0};
    tt_gate_opts o = {0};
    double budget = 0;
    char names[GATE_MAX_BACKENDS][32];
    int nb = 1;
    snprintf(names[0], sizeof names[0], "cpu");
    int rc = parse(argc, argv, &a);
    if (rc == -1) { /* --help */
        free(a.ids);
        return TT_EXIT_OK;
    }
    if (rc || (rc = check_combination(&a)) || (rc = read_options(&a, &o, &budget)) ||
        (a.backends && (rc = split_backends(a.backends, names, &nb)))) {
        free(a.ids);
        return rc;
    }
    double t0 = tt_clock_s();
    tt_registry reg = {0};
    bool pair = a.fp32 != NULL;
    const char *registry = a.registry ? a.registry : DEFAULT_REGISTRY;
    if (!pair && tt_registry_load(registry, &reg) != TT_OK) {
        tt_cli_error("gate", "cannot use the registry", true);
        free(a.ids);
        return TT_EXIT_USAGE;
    }
    tt_gate_row *rows = NULL;
    int per = 0, cpu_block = -1;
    rc = run_backends(&a, pair ? NULL : &reg, &o, budget, names, nb, &rows, &per, &cpu_block);
    int n = per * nb;
    if (!rc) {
        if (per == 0) fprintf(stderr, "tinytrain gate: %s registers no models\n", registry);
        summary(rows, n);
        char list[GATE_MAX_BACKENDS * 33] = "";
        for (int b = 0; b < nb; b++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", b ? "," : "",
                     names[b]);
        /* main passes argv + 1: argv[-1] is the program, recorded for a complete command. */
        tt_gate_run run = {.argc = argc + 1,
                           .argv = argv - 1,
                           .registry = pair ? NULL : registry,
                           .out_json = a.out_json,
                           .out_md = a.out_md,
                           .dump_dir = a.dump,
                           .backend = list,
                           .opts = &o,
                           .wall_s = tt_clock_s() - t0};
        rc = write_reports(&a, rows, n, &run);
        if (!rc && a.gate && !tt_gate_all_ok(rows, n)) rc = TT_EXIT_FAIL;
    }
    free(rows);
    free(a.ids);
    tt_registry_free(&reg);
    return rc;
}
