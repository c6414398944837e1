/* e2e_test.c — every sample through every execution path kiln has,
 * compared with the outputs PyTorch produced when the sample was exported.
 *
 *   kiln_e2e_test --kiln build/kiln --manifest samples/zoo/manifest.tsv
 *                 [--root DIR] [--filter SUBSTR[,SUBSTR...]] [--path PATH[,PATH...]]
 *
 * PATH: interp | interp-O0 | interp-threads2 | c-exe | c-lib | c-aarch64 |
 *       llvm-exe | llvm-aarch64 | llvm-jit | llvm-exe-threads2 (several, comma-separated, run
 *       in this order on each sample before the next sample).
 *
 * The manifest has one tab-separated line per sample (after a header):
 *   name  dir  inputs  outputs  opset  atol  rtol
 * and dir holds model.onnx, input_<k>.npy and output_<k>.npy (graph order).
 * Each path runs the real command line (`kiln run --backend interp ...
 * -o TMP`), so the CLI, the .npy I/O and the output naming are tested too.
 * Output files are found by the model's output names, sanitized as
 * `kiln run` documents.
 *
 * The c-exe path (run only when named with --path, its own ctest entry)
 * compiles the sample with `kiln compile MODEL -o TMP/model --quiet` (the
 * C backend, the generated testbench) and runs `TMP/model -i ... -o TMP/out`.
 * c-lib compiles `-o TMP/model.so` and runs `kiln run TMP/model.so` (dlopen,
 * libffi); run after c-exe on the same sample, its runtime objects come
 * from kiln's object cache (KILN_CACHE_DIR: exe and lib share them), and
 * its output files must be byte-identical to c-exe's. c-aarch64
 * cross-compiles the executable with `--target aarch64`
 * (aarch64-linux-gnu-gcc -static) and runs it under `qemu-aarch64`; when
 * qemu-aarch64, the cross compiler or the target's static libc is missing,
 * the run exits 77 (ctest: skipped) saying which.
 * The llvm-exe path does the same with `--backend llvm` (the LLVM backend,
 * the same testbench); llvm-aarch64 cross-compiles with `--target aarch64`
 * and runs the executable under `qemu-aarch64 -L /usr/aarch64-linux-gnu`;
 * llvm-jit runs `kiln run --backend llvm` (compiled in memory).
 * llvm-exe-threads2 compiles with `--backend llvm --threads 2` and runs the
 * executable on its default pool of 2; run after llvm-exe, its output files
 * must be byte-identical to llvm-exe's.
 */
#define _GNU_SOURCE
#include "frontend/frontend.h"
#include "runtime/krt_npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct sample {
    char name[128], dir[1024];
    int n_inputs, n_outputs, opset;
    double atol, rtol;
} sample;

typedef struct options {
    const char *kiln, *manifest, *root, *filter, *path;
} options;

/* Is `name` one of the comma-separated items of `list` (exact: paths) or a
 * substring of one of them (substr: sample filters)? */
static bool in_list(const char *list, const char *name, bool substr)
{
    for (const char *at = list; at && *at;) {
        const char *end = strchr(at, ',');
        size_t n = end ? (size_t)(end - at) : strlen(at);
        char item[256];
        snprintf(item, sizeof item, "%.*s", (int)n, at);
        if (substr ? n > 0 && strstr(name, item) != NULL : strcmp(name, item) == 0)
            return true;
        at = end ? end + 1 : NULL;
    }
    return false;
}

/* The execution paths: how to run one sample into an output directory. */
typedef struct exec_path {
    const char *name;
    const char *backend;  /* `kiln run --backend X` */
    const char *extra[2]; /* more options for `kiln run` (NULL-padded) */
    int same_bits_as;     /* index of an earlier path whose output files must
                             be byte-identical to this one's; -1: none */
    bool compiled;        /* `kiln compile` to an executable, then run it */
    bool library;         /* compiled to TMP/model.so, run by `kiln run TMP/model.so` */
    bool on_request;      /* only with --path NAME */
    const char *compile_extra[2]; /* more options for `kiln compile` (NULL-padded) */
    const char *runner[3];        /* the compiled executable runs under this (NULL-padded) */
    const char *needs[3];         /* programs on PATH or absolute files it needs, else a skip */
} exec_path;

/* The interpreter at -O0 runs the graph as imported; the default (-O2)
 * runs it after the canonical passes, which must not change the numbers
 * beyond the tolerance; with two threads every kernel call is split, which
 * must not change a single bit. */
static const exec_path paths[] = {
    {"interp-O0", "interp", {"-O0", NULL}, -1, false, false, false, {NULL, NULL}, {NULL, NULL, NULL}, {NULL}},
    {"interp", "interp", {NULL, NULL}, -1, false, false, false, {NULL, NULL}, {NULL, NULL, NULL}, {NULL}},
    {"interp-threads2", "interp", {"--threads", "2"}, 1, false, false, false, {NULL, NULL},
     {NULL, NULL, NULL}, {NULL}},
    {"c-exe", "c", {NULL, NULL}, -1, true, false, true, {NULL, NULL}, {NULL, NULL, NULL}, {NULL}},
    {"c-lib", "c", {NULL, NULL}, 3, true, true, true, {NULL, NULL}, {NULL, NULL, NULL}, {NULL}},
    /* -static: no -L sysroot for qemu (a dynamic executable fails here) */
    {"c-aarch64", "c", {NULL, NULL}, -1, true, false, true, {"--target", "aarch64"},
     {"qemu-aarch64", NULL, NULL},
     {"qemu-aarch64", "aarch64-linux-gnu-gcc", "/usr/aarch64-linux-gnu/lib/libc.a"}},
    {"llvm-exe", "llvm", {NULL, NULL}, -1, true, false, true, {NULL, NULL}, {NULL, NULL, NULL}, {NULL}},
    {"llvm-aarch64", "llvm", {NULL, NULL}, -1, true, false, true, {"--target", "aarch64"},
     {"qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"}, {"qemu-aarch64", NULL, NULL}},
    {"llvm-jit", "llvm", {NULL, NULL}, -1, false, false, true, {NULL, NULL}, {NULL, NULL, NULL}, {NULL}},
    /* compiled with --threads 2, run on its default pool of 2: llvm-exe's bits */
    {"llvm-exe-threads2", "llvm", {NULL, NULL}, 6, true, false, true, {"--threads", "2"},
     {NULL, NULL, NULL}, {NULL}},
};
#define N_PATHS (sizeof paths / sizeof paths[0])

static bool parse_line(char *line, sample *s)
{
    char *f[7];
    int n = 0;
    for (char *tok = strtok(line, "\t\r\n"); tok && n < 7; tok = strtok(NULL, "\t\r\n"))
        f[n++] = tok;
    if (n != 7)
        return false;
    snprintf(s->name, sizeof s->name, "%s", f[0]);
    snprintf(s->dir, sizeof s->dir, "%s", f[1]);
    s->n_inputs = atoi(f[2]);
    s->n_outputs = atoi(f[3]);
    s->opset = atoi(f[4]);
    s->atol = atof(f[5]);
    s->rtol = atof(f[6]);
    return s->n_inputs >= 0 && s->n_outputs > 0 && s->n_outputs <= 64 && s->n_inputs <= 64;
}

static void sanitize(const char *name, char *out, size_t size)
{
    size_t n = 0;
    for (; name[n] && n + 1 < size; n++) {
        char c = name[n];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        out[n] = ok ? c : '_';
    }
    out[n] = 0;
}

/* Run argv; returns the exit status (or 128+signal). */
static int run_command(char *const argv[])
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], argv);  /* a runner (qemu-aarch64) is found on PATH */
        perror(argv[0]);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static double as_double(const krt_npy *a, size_t i)
{
    return krt_load_f64(a->dtype, a->data, (int64_t)i);
}

/* Compare; prints the worst element. Exact for non-float outputs. */
static bool compare(const sample *s, int k, const krt_npy *got, const krt_npy *want)
{
    if (got->dtype != want->dtype || got->rank != want->rank ||
        memcmp(got->dims, want->dims, sizeof(int64_t) * (size_t)got->rank) != 0) {
        printf("  output %d: dtype/shape differ (%s rank %d vs %s rank %d)\n", k,
               krt_dtype_name(got->dtype), got->rank, krt_dtype_name(want->dtype), want->rank);
        return false;
    }
    bool exact = !(got->dtype == KRT_F32 || got->dtype == KRT_F64 || got->dtype == KRT_F16);
    size_t n = got->nbytes / krt_dtype_size(got->dtype), worst = 0;
    double worst_excess = -1, max_abs = 0;
    for (size_t i = 0; i < n; i++) {
        double x = as_double(got, i), y = as_double(want, i), d = fabs(x - y);
        double allowed = exact ? 0 : s->atol + s->rtol * fabs(y);
        if (isnan(d) && !(isnan(x) && isnan(y)))
            d = INFINITY;
        if (d > max_abs && !(isnan(x) && isnan(y)))
            max_abs = d;
        if (d - allowed > worst_excess)
            worst_excess = d - allowed, worst = i;
    }
    bool ok = worst_excess <= 0;
    printf("  output %d: %zu elements, max |diff| %.3g%s", k, n, max_abs, ok ? "\n" : "");
    if (!ok)
        printf(", element %zu is %.9g, expected %.9g (atol %g, rtol %g)\n", worst,
               as_double(got, worst), as_double(want, worst), s->atol, s->rtol);
    return ok;
}

static bool check_outputs(const sample *s, const kiln_graph *g, const char *out_dir)
{
    bool ok = (int)g->n_outputs == s->n_outputs;
    if (!ok)
        printf("  model has %u outputs, manifest says %d\n", g->n_outputs, s->n_outputs);
    for (int k = 0; ok && k < s->n_outputs; k++) {
        char name[512], got_path[2048], want_path[2048], err[1024];
        krt_npy got, want;
        sanitize(g->values[g->outputs[k]].name, name, sizeof name);
        snprintf(got_path, sizeof got_path, "%s/%s.npy", out_dir, name);
        snprintf(want_path, sizeof want_path, "%s/output_%d.npy", s->dir, k);
        if (krt_npy_read(got_path, &got, err, sizeof err) != KRT_OK) {
            printf("  %s\n", err);
            return false;
        }
        if (krt_npy_read(want_path, &want, err, sizeof err) != KRT_OK) {
            printf("  %s\n", err);
            krt_npy_free(&got);
            return false;
        }
        ok = compare(s, k, &got, &want);
        krt_npy_free(&got);
        krt_npy_free(&want);
    }
    return ok;
}

/* "--shape NAME=D0xD1x..." for input k, from the shape of its sample file
 * (a sample exported with a dynamic batch of 2 is compiled for 2). */
static bool shape_arg(const kiln_graph *g, const sample *s, int k, char *out, size_t size)
{
    char path[2048], err[1024];
    krt_npy a;
    snprintf(path, sizeof path, "%s/input_%d.npy", s->dir, k);
    if (k >= (int)g->n_inputs || krt_npy_read(path, &a, err, sizeof err) != KRT_OK)
        return false;
    size_t at = (size_t)snprintf(out, size, "%s=", g->values[g->inputs[k]].name);
    for (int i = 0; i < a.rank && at < size; i++)
        at += (size_t)snprintf(out + at, size - at, "%s%lld", i ? "x" : "", (long long)a.dims[i]);
    krt_npy_free(&a);
    return a.rank > 0;
}

/* `kiln compile MODEL -o TMP/model[.so] --quiet --shape ...`; the artifact's path in exe. */
static bool compile_sample(const options *opt, const sample *s, const exec_path *p, char *model,
                           const char *tmp, char *exe, size_t size)
{
    static char shapes[64][1024];
    char *argv[12 + 2 * 64];
    int argc = 0;
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    snprintf(exe, size, "%s/model%s", tmp, p->library ? ".so" : "");
    argv[argc++] = (char *)opt->kiln, argv[argc++] = "compile", argv[argc++] = model;
    argv[argc++] = "-o", argv[argc++] = exe, argv[argc++] = "--quiet";
    argv[argc++] = "--backend", argv[argc++] = (char *)p->backend;
    for (int k = 0; k < 2 && p->compile_extra[k]; k++)
        argv[argc++] = (char *)p->compile_extra[k];
    bool loaded = kiln_onnx_load(ctx, model, &g) == KILN_OK;
    for (int k = 0; loaded && k < s->n_inputs && k < 64; k++)
        if (shape_arg(g, s, k, shapes[k], sizeof shapes[k]))
            argv[argc++] = "--shape", argv[argc++] = shapes[k];
    argv[argc] = NULL;
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    int rc = run_command(argv);
    if (rc != 0)
        printf("  kiln compile exited with status %d\n", rc);
    return rc == 0;
}

/* Run sample s along path p in the directory tmp, its outputs into out. */
static bool run_sample(const options *opt, const sample *s, const exec_path *p, const char *tmp,
                       const char *out)
{
    char model[2048], inputs[64][2048], exe[2100];
    char *argv[16 + 2 * 64];
    int argc = 0;
    snprintf(model, sizeof model, "%s/model.onnx", s->dir);
    if (p->compiled && !compile_sample(opt, s, p, model, tmp, exe, sizeof exe))
        return false;
    for (int k = 0; k < 3 && p->runner[k]; k++)
        argv[argc++] = (char *)p->runner[k];
    bool direct = p->compiled && !p->library; /* the compiled executable itself */
    argv[argc++] = direct ? exe : (char *)opt->kiln;
    if (p->library) {
        argv[argc++] = "run";
        argv[argc++] = exe;
    } else if (!p->compiled) {
        argv[argc++] = "run";
        argv[argc++] = model;
        argv[argc++] = "--backend";
        argv[argc++] = (char *)p->backend;
    }
    for (int k = 0; k < 2 && p->extra[k]; k++)
        argv[argc++] = (char *)p->extra[k];
    for (int k = 0; k < s->n_inputs; k++) {
        snprintf(inputs[k], sizeof inputs[k], "%s/input_%d.npy", s->dir, k);
        argv[argc++] = "-i";
        argv[argc++] = inputs[k];
    }
    argv[argc++] = "-o";
    argv[argc++] = (char *)out;
    argv[argc] = NULL;
    int rc = run_command(argv);
    bool ok = rc == 0;
    if (!ok)
        printf("  %s exited with status %d\n", direct ? "the compiled model" : "kiln run", rc);
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    if (ok && kiln_onnx_load(ctx, model, &g) != KILN_OK) {
        printf("  %s\n", kiln_ctx_message(ctx));
        ok = false;
    }
    if (ok)
        ok = check_outputs(s, g, out);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    return ok;
}

/* The output files of two runs are byte-identical (`diff -r`). */
static bool same_bits(const char *a, const char *b, const char *a_name)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "diff -r '%s' '%s' >/dev/null", a, b);
    bool same = system(cmd) == 0;
    if (!same)
        printf("  outputs differ in their bits from path %s\n", a_name);
    return same;
}

/* Is `prog` a file (a path) or a program on PATH? */
static bool have(const char *prog)
{
    if (strchr(prog, '/'))
        return access(prog, R_OK) == 0;
    const char *path = getenv("PATH");
    for (const char *at = path; at && *at;) {
        const char *end = strchr(at, ':');
        char file[4200];
        snprintf(file, sizeof file, "%.*s/%s", (int)(end ? end - at : (long)strlen(at)), at, prog);
        if (access(file, X_OK) == 0)
            return true;
        at = end ? end + 1 : NULL;
    }
    return false;
}

/* Every --path exists; false (with a message) for an unknown name. When a
 * requested path needs a program or file that is missing, *skip names it. */
static bool check_paths(const char *list, const char **skip, const char **which)
{
    bool known = true;
    *skip = NULL;
    for (const char *at = list; at && *at;) {
        const char *end = strchr(at, ',');
        int n = (int)(end ? end - at : (long)strlen(at));
        bool found = false;
        for (size_t p = 0; p < N_PATHS; p++) {
            if ((int)strlen(paths[p].name) != n || strncmp(paths[p].name, at, (size_t)n) != 0)
                continue;
            found = true;
            for (int k = 0; k < 3 && paths[p].needs[k] && !*skip; k++)
                if (!have(paths[p].needs[k]))
                    *skip = paths[p].needs[k], *which = paths[p].name;
        }
        if (!found) {
            fprintf(stderr, "kiln_e2e_test: unknown path '%.*s'\n", n, at);
            known = false;
        }
        at = end ? end + 1 : NULL;
    }
    return known;
}

static void remove_dir(const char *dir)
{
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("  (could not remove %s)\n", dir);
}

/* Every selected path on one sample; returns the failures, adds passes. */
static int run_paths(const options *opt, const sample *s, int *passed)
{
    char dirs[N_PATHS][32], out[N_PATHS][48];
    bool ran[N_PATHS] = {0}, good[N_PATHS] = {0};
    int failed = 0;
    for (size_t p = 0; p < N_PATHS; p++) {
        if (opt->path ? !in_list(opt->path, paths[p].name, false) : paths[p].on_request)
            continue;
        snprintf(dirs[p], sizeof dirs[p], "/tmp/kiln_e2e_XXXXXX");
        if (!mkdtemp(dirs[p])) {
            printf("FAIL %s [%s]: no temporary directory\n", s->name, paths[p].name);
            failed++;
            continue;
        }
        ran[p] = true;
        snprintf(out[p], sizeof out[p], "%s/out", dirs[p]);
        printf("%s [%s]\n", s->name, paths[p].name);
        bool ok = run_sample(opt, s, &paths[p], dirs[p], out[p]);
        int ref = paths[p].same_bits_as;
        if (ok && ref >= 0 && good[ref])
            ok = same_bits(out[ref], out[p], paths[ref].name);
        printf("%s %s [%s]\n", ok ? "pass" : "FAIL", s->name, paths[p].name);
        good[p] = ok;
        ok ? (*passed)++ : failed++;
    }
    for (size_t p = 0; p < N_PATHS; p++)
        if (ran[p])
            remove_dir(dirs[p]);
    return failed;
}

int main(int argc, char **argv)
{
    options opt = {.root = "."};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--kiln") == 0) opt.kiln = argv[i + 1];
        else if (strcmp(argv[i], "--manifest") == 0) opt.manifest = argv[i + 1];
        else if (strcmp(argv[i], "--root") == 0) opt.root = argv[i + 1];
        else if (strcmp(argv[i], "--filter") == 0) opt.filter = argv[i + 1];
        else if (strcmp(argv[i], "--path") == 0) opt.path = argv[i + 1];
        else {
            fprintf(stderr, "kiln_e2e_test: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!opt.kiln || !opt.manifest || chdir(opt.root) != 0) {
        fprintf(stderr, "usage: kiln_e2e_test --kiln KILN --manifest TSV [--root DIR] "
                        "[--filter S[,S...]] [--path P[,P...]]\n");
        return 2;
    }
    const char *missing = NULL, *which = NULL;
    if (opt.path && !check_paths(opt.path, &missing, &which))
        return 2;
    if (missing) {
        printf("SKIP: path %s needs %s, which is missing (scripts/setup installs qemu-user "
               "gcc-aarch64-linux-gnu libc6-dev-arm64-cross)\n", which, missing);
        return 77;
    }
    FILE *f = fopen(opt.manifest, "r");
    if (!f) {
        fprintf(stderr, "kiln_e2e_test: cannot open %s\n", opt.manifest);
        return 2;
    }
    char line[4096];
    int passed = 0, failed = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        sample s;
        if (lineno++ == 0 || line[0] == '#' || line[0] == '\n')
            continue;  /* header */
        if (!parse_line(line, &s)) {
            printf("FAIL manifest line %d is malformed\n", lineno);
            failed++;
            continue;
        }
        if (opt.filter && !in_list(opt.filter, s.name, true))
            continue;
        failed += run_paths(&opt, &s, &passed);
    }
    fclose(f);
    printf("\ne2e: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
