/* cmd_compile.c — `kiln compile`: a model into C sources, an object, a
 * shared library or an executable, through the C backend (backends/c), or
 * into LLVM IR, bitcode, assembly, an object, a library or an executable
 * through the LLVM backend (backends/llvm, --backend llvm).
 *
 *   kiln compile MODEL -o OUT [--backend c|llvm] [--emit c|llvm|bc|asm|exe|lib|obj]
 *                [--name NAME] [--cpu native|NAME] [--target x86_64|aarch64|TRIPLE]
 *                [--weights inline|file] [--testbench] [--quiet] [graph options]
 *
 * With --backend llvm, .ll/.bc/.s select llvm/bc/asm; the LLVM backend
 * makes the object itself and links lib/exe with the C driver.
 *
 * --emit defaults from OUT: a directory (no extension) or NAME.c → C
 * sources (the directory OUT, or OUT without ".c"); .so → lib; .o → obj;
 * anything else → an executable (the model + the generated testbench
 * main.c). exe/lib/obj generate the sources in a temporary directory and
 * run $CC (default cc; aarch64-linux-gnu-gcc, executables linked -static,
 * for --target aarch64) with -O3 -march=native (--cpu NAME: -march=NAME)
 * -fPIC, the same for every kind (set_flags); an object keeps only the
 * model's ABI symbols global (objcopy -G). Every artifact is written
 * under a temporary name and renamed into place: a failure leaves nothing.
 * The sources and objects of exe/lib/obj are built in OUT.tmp<pid>.d
 * beside OUT; a kiln killed in the middle leaves its OUT.tmp<pid>*, which
 * the next compile to the same OUT removes (kiln_cgen_clean_stale).
 *
 * --weights file (C backend): the constants go to NAME.weights (in the C
 * directory, or beside an exe/lib/obj) instead of NAME_weights.c, and the
 * generated code loads it at run time (backends/c/cgen_weights.c).
 *
 * Static shapes (DESIGN.md, decision 2): an input whose only unbound
 * dimension is the first (a batch) gets 1, with a note; any other unbound
 * dimension is an error naming the input and suggesting --shape.
 */
#define _POSIX_C_SOURCE 200809L
#include "backends/c/cgen.h"
#include "backends/llvm/llvm.h"
#include "passes/pass.h"
#include "passes/plan.h"
#include "tools/driver.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef enum emit_kind { EMIT_DEFAULT, EMIT_C, EMIT_EXE, EMIT_LIB, EMIT_OBJ, EMIT_LL, EMIT_BC,
                         EMIT_ASM, EMIT_COUNT } emit_kind;

static const char *const emit_names[] = {
    [EMIT_C] = "c", [EMIT_EXE] = "exe", [EMIT_LIB] = "lib", [EMIT_OBJ] = "obj",
    [EMIT_LL] = "llvm", [EMIT_BC] = "bc", [EMIT_ASM] = "asm",
};

/* The LLVM backend's name for each kind it makes. */
static const kiln_llvm_emit llvm_emit[] = {
    [EMIT_EXE] = KILN_LLVM_EMIT_EXE, [EMIT_LIB] = KILN_LLVM_EMIT_LIB, [EMIT_OBJ] = KILN_LLVM_EMIT_OBJ,
    [EMIT_LL] = KILN_LLVM_EMIT_LL, [EMIT_BC] = KILN_LLVM_EMIT_BC, [EMIT_ASM] = KILN_LLVM_EMIT_ASM,
};

typedef struct compile_opts {
    driver_model_opts model;
    const char *model_path, *out, *name, *cpu, *target;
    emit_kind emit;
    bool llvm;                  /* --backend llvm */
    bool testbench, quiet;
    const char *workdir;        /* build in workdir/build, not a new /tmp/kiln_compile_XXXXXX */
    bool weights_file;          /* --weights file */
    int threads;                /* --threads N: the generated code splits calls over N threads */
    char batch_specs[8][512];   /* --shape NAME=1x... added for unbound batch dims */
} compile_opts;

static void help(void)
{
    printf("usage: kiln compile MODEL -o OUT [options] [graph options]\n\n"
           "Compile MODEL (.onnx or kiln text IR) ahead of time.\n\n"
           "options:\n"
           "  -o OUT            the artifact; its extension picks --emit: a directory or\n"
           "                    NAME.c: C sources (in OUT, or OUT without .c); .so: lib;\n"
           "                    .o: obj; .ll, .bc, .s: llvm, bc, asm (--backend llvm);\n"
           "                    anything else: an executable\n"
           "  --emit KIND       c | exe | lib | obj (both backends); llvm | bc | asm (llvm)\n"
           "  --backend B       c (default): C sources built by $CC; llvm: LLVM 19 in process\n"
           "  --name NAME       the C prefix (NAME_run, NAME_info); default: from OUT\n"
           "  --cpu native|CPU  -march= for the C compiler, the LLVM CPU (default native)\n"
           "  --target T        x86_64 (default) or aarch64 (aarch64-linux-gnu-gcc; an\n"
           "                    executable is linked -static, runs under qemu-aarch64); the\n"
           "                    LLVM backend also takes a triple (aarch64-unknown-linux-gnu)\n"
           "  --weights W       inline (default): constants compiled in; file: in NAME.weights\n"
           "                    beside the output, loaded at run time (C backend)\n"
           "  --threads N       the generated NAME_run splits kernel calls over a pool of up\n"
           "                    to N threads (the executable's default is N); outputs are\n"
           "                    bit-identical for any thread count\n"
           "  --testbench       with C output, also write main.c (the executable's main)\n"
           "  --quiet           no compile summary on stderr\n"
           "  -h, --help        this help\n\n"
           "The executable takes -i [NAME=]FILE.npy, -o DIR (DIR/NAME.npy), --bench N and\n"
           "--profile (the time per node and op kind, as kiln run --profile prints it).\n"
           "$CC overrides the C compiler. Every model input needs a static shape: a\n"
           "first (batch) dimension left unbound is set to 1; others need --shape.\n\n");
    driver_model_help(stdout);
    printf("\nExit status: 0 success, 1 error in the model, 2 usage error.\n");
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static emit_kind emit_from_name(const char *s)
{
    for (int k = EMIT_C; k < EMIT_COUNT; k++)
        if (strcmp(s, emit_names[k]) == 0)
            return (emit_kind)k;
    return EMIT_DEFAULT;
}

static emit_kind emit_from_out(const char *out)
{
    struct stat sb;
    if (stat(out, &sb) == 0 && S_ISDIR(sb.st_mode))
        return EMIT_C;
    const char *base = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
    if (has_suffix(out, ".c") || has_suffix(out, "/") || !strchr(base, '.'))
        return has_suffix(out, ".c") || has_suffix(out, "/") ? EMIT_C : EMIT_EXE;
    if (has_suffix(out, ".so"))
        return EMIT_LIB;
    if (has_suffix(out, ".o"))
        return EMIT_OBJ;
    if (has_suffix(out, ".ll"))
        return EMIT_LL;
    if (has_suffix(out, ".bc"))
        return EMIT_BC;
    if (has_suffix(out, ".s"))
        return EMIT_ASM;
    return EMIT_EXE;
}

static int option(int argc, char **argv, int *i, compile_opts *o)
{
    const char *a = argv[*i];
    if (*i + 1 >= argc)
        return driver_usage_error("compile", "unknown option '%s' (or missing its argument)", a);
    const char *v = argv[++*i];
    if (strcmp(a, "-o") == 0)
        o->out = v;
    else if (strcmp(a, "--name") == 0)
        o->name = v;
    else if (strcmp(a, "--cpu") == 0)
        o->cpu = v;
    else if (strcmp(a, "--target") == 0)
        o->target = v;
    else if (strcmp(a, "--backend") == 0 && strcmp(v, "c") != 0 && strcmp(v, "llvm") != 0)
        return driver_usage_error("compile", "unknown backend '%s' (available: c, llvm)", v);
    else if (strcmp(a, "--backend") == 0)
        o->llvm = strcmp(v, "llvm") == 0;
    else if (strcmp(a, "--weights") == 0 && strcmp(v, "inline") != 0 && strcmp(v, "file") != 0)
        return driver_usage_error("compile", "--weights '%s': inline or file", v);
    else if (strcmp(a, "--weights") == 0)
        o->weights_file = strcmp(v, "file") == 0;
    else if (strcmp(a, "--threads") == 0 && (o->threads = atoi(v)) < 1)
        return driver_usage_error("compile", "--threads '%s': a count from 1 to 256", v);
    else if (strcmp(a, "--threads") == 0 && (o->threads > 256 || strspn(v, "0123456789") != strlen(v)))
        return driver_usage_error("compile", "--threads '%s': a count from 1 to 256", v);
    else if (strcmp(a, "--emit") == 0 && (o->emit = emit_from_name(v)) == EMIT_DEFAULT)
        return driver_usage_error("compile", "--emit '%s': one of c, exe, lib, obj, llvm, bc, asm", v);
    else if (strcmp(a, "--backend") != 0 && strcmp(a, "--emit") != 0 && strcmp(a, "--weights") != 0 &&
             strcmp(a, "--threads") != 0)
        return driver_usage_error("compile", "unknown option '%s'", a);
    return EXIT_OK;
}

static int parse_args(int argc, char **argv, compile_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int m = driver_model_option(argc, argv, &i, &o->model);
        if (m != 0) {
            if (m < 0)
                return EXIT_USAGE;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            help();
            return -1;
        } else if (strcmp(a, "--testbench") == 0) {
            o->testbench = true;
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
        } else if (a[0] == '-' && a[1]) {
            int rc = option(argc, argv, &i, o);
            if (rc)
                return rc;
        } else if (!o->model_path) {
            o->model_path = a;
        } else {
            return driver_usage_error("compile", "unexpected argument '%s'", a);
        }
    }
    if (!o->model_path)
        return driver_usage_error("compile", "no model given");
    if (!o->out)
        return driver_usage_error("compile", "no output given (-o OUT)");
    if (!o->llvm && o->target && strcmp(o->target, "x86_64") != 0 && strcmp(o->target, "aarch64") != 0)
        return driver_usage_error("compile", "--target '%s': x86_64 or aarch64 (a triple needs "
                                  "--backend llvm)", o->target);
    if (o->emit == EMIT_DEFAULT)
        o->emit = emit_from_out(o->out);
    if (!o->llvm && o->emit >= EMIT_LL)
        return driver_usage_error("compile", "--emit %s (or a .ll/.bc/.s output) needs --backend llvm",
                                  emit_names[o->emit]);
    if (o->llvm && o->weights_file)
        return driver_usage_error("compile", "--weights file is for the C backend; the LLVM backend "
                                  "compiles the constants in (drop --weights or use --backend c)");
    if (o->llvm && o->emit == EMIT_C)
        return driver_usage_error("compile", "--backend llvm makes llvm, bc, asm, obj, lib or exe, "
                                  "not C sources: name the output with one of .ll .bc .s .o .so");
    return EXIT_OK;
}

/* ---- static shapes -------------------------------------------------------- */

/* Input k's shape with an unbound first dimension set to 1, as a --shape
 * spec; false when some other dimension is unbound too. */
static bool batch_spec(const kiln_graph *g, uint32_t k, char *spec, size_t size)
{
    const kiln_value *v = &g->values[g->inputs[k]];
    size_t at = (size_t)snprintf(spec, size, "%s=", v->name);
    if (v->shape.rank < 1 || !KILN_DIM_IS_SYM(v->shape.dim[0]))
        return false;
    for (int i = 0; i < v->shape.rank && at < size; i++) {
        if (i > 0 && KILN_DIM_IS_SYM(v->shape.dim[i]))
            return false;
        at += (size_t)snprintf(spec + at, size - at, "%s%lld", i ? "x" : "",
                               i ? (long long)v->shape.dim[i] : 1LL);
    }
    return at < size;
}

/* 0: every input static; 1: batch specs were added (reload); -1: error. */
static int bind_batches(kiln_ctx *ctx, const kiln_graph *g, compile_opts *o)
{
    int added = 0;
    char shape[256];
    for (uint32_t k = 0; k < g->n_inputs; k++) {
        const kiln_value *v = &g->values[g->inputs[k]];
        if (kiln_shape_is_static(&v->shape))
            continue;
        if (added == 8 || o->model.n_shapes == 64 || !batch_spec(g, k, o->batch_specs[added], 512)) {
            kiln_error(ctx, KILN_ERR_INVALID, "%s: input '%s' has shape %s; a compiled model needs "
                       "static shapes: bind it with --shape %s=D0xD1x...", g->source, v->name,
                       kiln_shape_format(g, &v->shape, shape, sizeof shape), v->name);
            return -1;
        }
        if (!o->quiet)
            fprintf(stderr, "kiln: note: input '%s' %s: batch dimension bound to 1 (--shape %s)\n",
                    v->name, kiln_shape_format(g, &v->shape, shape, sizeof shape),
                    o->batch_specs[added]);
        o->model.shapes[o->model.n_shapes++] = o->batch_specs[added++];
    }
    return added > 0;
}

/* The GEMM kernel pack-weights packs for, unless --pack-for says: the
 * LLVM backend's kernels have no run-time dispatch, so its build's own;
 * the C backend's dispatch on x86-64 (the host's pick is the best guess),
 * and --target aarch64 has NEON alone. */
static int pack_target(kiln_ctx *ctx, compile_opts *o)
{
    if (o->model.pack_for)
        return EXIT_OK;
    if (o->llvm) {
        kiln_llvm_opts lo = {.target = o->target, .cpu = o->cpu};
        return kiln_llvm_gemm_kernel(ctx, &lo, &o->model.pack_for) ? driver_fail(ctx) : EXIT_OK;
    }
    if (o->target && strncmp(o->target, "aarch64", 7) == 0)
        o->model.pack_for = "neon";
    return EXIT_OK;
}

static int load(kiln_ctx *ctx, compile_opts *o, kiln_graph **g)
{
    int rc = driver_load_model(ctx, o->model_path, &o->model, g);
    if (rc != EXIT_OK)
        return rc;
    int b = bind_batches(ctx, *g, o);
    if (b == 0)
        return EXIT_OK;
    kiln_graph_destroy(*g);
    *g = NULL;
    return b < 0 ? driver_fail(ctx) : driver_load_model(ctx, o->model_path, &o->model, g);
}

/* ---- the C compiler --------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *compiler(const compile_opts *o)
{
    const char *cc = getenv("CC");
    if (cc && *cc)
        return cc;
    return o->target && strcmp(o->target, "aarch64") == 0 ? "aarch64-linux-gnu-gcc" : "cc";
}

/* ---- building the generated sources ------------------------------------------
 *
 * Each .c file is compiled on its own, up to one job per CPU at once, then
 * linked. The runtime's files are the same for every model, and some take
 * many seconds at -O3 (the dtype variants of the elementwise kernels), so
 * their objects are cached (like ccache): under $KILN_CACHE_DIR, else
 * $XDG_CACHE_HOME/kiln, else ~/.cache/kiln, keyed by a digest of the
 * compiler command, the file and every header in the directory. A cache
 * that cannot be written is skipped silently; KILN_CACHE_DIR=off disables it.
 */

enum { MAX_FILES = 64, MAX_ARGS = 32 };

typedef struct build {
    const compile_opts *o;
    const char *dir;
    char *files[MAX_FILES];          /* the .c base names, sorted */
    int n_files;
    char flags[MAX_ARGS][64];        /* compiler flags shared by every step */
    int n_flags;
    char cache[4096];                /* "" when no cache */
    int cached;                      /* objects taken from the cache */
} build;

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static uint64_t fnv_file(uint64_t h, const char *path)
{
    char buf[65536];
    size_t n;
    FILE *f = fopen(path, "rb");
    while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
        h = fnv(h, buf, n);
    if (f)
        fclose(f);
    return fnv(h, path + strlen(path) - 1, 1);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_sources(build *b)
{
    DIR *d = opendir(b->dir);
    struct dirent *ent;
    while (d && (ent = readdir(d)) != NULL && b->n_files < MAX_FILES)
        if (has_suffix(ent->d_name, ".c"))
            b->files[b->n_files++] = strdup(ent->d_name);
    if (d)
        closedir(d);
    qsort(b->files, (size_t)b->n_files, sizeof b->files[0], compare_names);
}

/* One set of flags for exe, lib and obj: position-independent code
 * everywhere, so that the cached runtime objects of one serve the others
 * (an executable and a library of the same model cost one runtime build),
 * and an object links into a shared library too. Without semantic
 * interposition a library's code is what an executable's is (calls
 * between the runtime's global functions may be inlined; nothing
 * interposes them), so the three kinds compute the same bits. */
static void set_flags(build *b)
{
    const compile_opts *o = b->o;
    bool cross = o->target && strcmp(o->target, "aarch64") == 0;
    snprintf(b->flags[b->n_flags++], 64, "-std=c11");
    snprintf(b->flags[b->n_flags++], 64, "-O3");
    if (o->cpu || !cross)
        snprintf(b->flags[b->n_flags++], 64, "-march=%.50s", o->cpu ? o->cpu : "native");
    snprintf(b->flags[b->n_flags++], 64, "-fPIC");
    snprintf(b->flags[b->n_flags++], 64, "-fno-semantic-interposition");
}

static void set_cache(build *b)
{
    const char *env = getenv("KILN_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (env && strcmp(env, "off") == 0)
        return;
    if (env && *env)
        snprintf(b->cache, sizeof b->cache, "%.4000s", env);
    else if (xdg && *xdg)
        snprintf(b->cache, sizeof b->cache, "%.4000s/kiln", xdg);
    else if (home && *home)
        snprintf(b->cache, sizeof b->cache, "%.4000s/.cache/kiln", home);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' 2>/dev/null", b->cache);
    if (b->cache[0] && system(cmd) != 0)
        b->cache[0] = 0;
}

/* The cache key of runtime file `file`: compiler, flags, file, and the
 * runtime headers (krt*.h, krt_*.def, kiln_model.h) it includes, directly
 * or through another (the copies include each other flat, `#include
 * "krt.h"`). Only those: the model's own NAME.h and the headers only other
 * files need (main.c's krt_npy.h in an executable, krt_pool.h with
 * --threads) vary from model to model and from exe to lib, and hashing
 * them made every such build miss the cache. */
static bool runtime_header(const char *name)
{
    return (strncmp(name, "krt", 3) == 0 || strcmp(name, "kiln_model.h") == 0) &&
           (has_suffix(name, ".h") || has_suffix(name, ".def"));
}

/* Add the runtime headers `file` includes (transitively) to names[*n]. */
static void add_includes(const char *dir, const char *file, char **names, int *n)
{
    char path[4400], line[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        const char *p = line + strspn(line, " \t");
        if (*p != '#')
            continue;
        p += 1 + strspn(p + 1, " \t");
        if (strncmp(p, "include", 7) != 0)
            continue;
        p += 7 + strspn(p + 7, " \t");
        const char *end = *p == '"' ? strchr(p + 1, '"') : NULL;
        if (!end || end - p - 1 >= 256)
            continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(end - p - 1), p + 1);
        bool seen = !runtime_header(name) || strchr(name, '/') || *n >= MAX_FILES;
        for (int i = 0; i < *n && !seen; i++)
            seen = strcmp(names[i], name) == 0;
        if (seen)
            continue;
        names[(*n)++] = strdup(name);
        add_includes(dir, name, names, n);
    }
    if (f)
        fclose(f);
}

static uint64_t cache_key(const build *b, const char *file)
{
    char path[4400];
    uint64_t h = fnv(1469598103934665603ull, compiler(b->o), strlen(compiler(b->o)) + 1);
    for (int i = 0; i < b->n_flags; i++)
        h = fnv(h, b->flags[i], strlen(b->flags[i]) + 1);
    snprintf(path, sizeof path, "%s/%s", b->dir, file);
    h = fnv_file(h, path);
    char *headers[MAX_FILES];
    int n = 0;
    add_includes(b->dir, file, headers, &n);
    qsort(headers, (size_t)n, sizeof headers[0], compare_names);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", b->dir, headers[i]);
        h = fnv(fnv_file(h, path), headers[i], strlen(headers[i]));
        free(headers[i]);
    }
    return h;
}

static bool copy_file(const char *from, const char *to)
{
    char buf[65536], tmp[4400];
    size_t n;
    bool ok = true;
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", to, (long)getpid());
    FILE *in = fopen(from, "rb"), *out = in ? fopen(tmp, "wb") : NULL;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = ok && fwrite(buf, 1, n, out) == n;
    if (in)
        fclose(in);
    ok = out && fclose(out) == 0 && ok && in;
    ok = ok && rename(tmp, to) == 0;
    if (!ok)
        unlink(tmp);
    return ok;
}

static void object_name(const build *b, int i, char *out, size_t size)
{
    snprintf(out, size, "%s/%.*s.o", b->dir, (int)strlen(b->files[i]) - 2, b->files[i]);
}

/* NAME_weights.c: -DKILN_WEIGHTS_BIN="DIR/NAME_weights.bin", so that a
 * GNU-compatible compiler pulls the weights in through .incbin (seconds)
 * instead of parsing their hex (minutes for DeiT-Small). false for every
 * other file, and when the path would need escaping (the hex then). */
static bool weights_bin_define(const build *b, const char *file, char *out, size_t size)
{
    size_t n = strlen(file);
    if (!has_suffix(file, "_weights.c") || strpbrk(b->dir, "\"\\\n"))
        return false;
    int len = snprintf(out, size, "-DKILN_WEIGHTS_BIN=\"%s/%.*s.bin\"", b->dir, (int)n - 2, file);
    if (len < 0 || (size_t)len >= size)
        return false;
    char path[4400];
    snprintf(path, sizeof path, "%s/%.*s.bin", b->dir, (int)n - 2, file);
    return access(path, R_OK) == 0;
}

/* Start compiling file i (pid), or take it from the cache (0). */
static pid_t start_compile(build *b, int i, char *cached, size_t size)
{
    char src[4400], obj[4400];
    char *argv[MAX_ARGS + 8];
    int n = 0;
    cached[0] = 0;
    object_name(b, i, obj, sizeof obj);
    if (b->cache[0] && strncmp(b->files[i], "krt_", 4) == 0) {
        snprintf(cached, size, "%s/%016llx.o", b->cache, (unsigned long long)cache_key(b, b->files[i]));
        if (copy_file(cached, obj)) {
            b->cached++;
            cached[0] = 0;
            return 0;
        }
    }
    snprintf(src, sizeof src, "%s/%s", b->dir, b->files[i]);
    argv[n++] = (char *)compiler(b->o);
    for (int k = 0; k < b->n_flags; k++)
        argv[n++] = b->flags[k];
    char bin[4500];
    if (weights_bin_define(b, b->files[i], bin, sizeof bin))
        argv[n++] = bin;
    argv[n++] = "-c", argv[n++] = src, argv[n++] = "-o", argv[n++] = obj, argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "kiln: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* Compile every file, `jobs` at once; false when one failed. */
static bool compile_all(build *b, int jobs)
{
    pid_t pids[MAX_FILES] = {0};
    char keys[MAX_FILES][4200];
    int running = 0, next = 0;
    bool ok = true;
    while (next < b->n_files || running > 0) {
        while (ok && next < b->n_files && running < jobs) {
            pids[next] = start_compile(b, next, keys[next], sizeof keys[next]);
            ok = pids[next] >= 0;
            running += pids[next] > 0;
            next++;
        }
        if (!ok && running == 0)
            break;
        int status;
        pid_t done = running ? wait(&status) : -1;
        if (done <= 0)
            continue;
        running--;
        ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        for (int i = 0; i < next; i++)
            if (pids[i] == done && ok && keys[i][0]) {  /* a new runtime object: cache it */
                char obj[4400];
                object_name(b, i, obj, sizeof obj);
                copy_file(obj, keys[i]);
            }
    }
    return ok;
}

static int link_argv(const build *b, const char *out, char **argv, char objs[][4400])
{
    int n = 0;
    argv[n++] = (char *)compiler(b->o);
    for (int k = 0; k < b->n_flags; k++)
        argv[n++] = (char *)b->flags[k];
    if (b->o->emit == EMIT_LIB)
        argv[n++] = "-shared";
    if (b->o->emit == EMIT_OBJ)
        argv[n++] = "-r", argv[n++] = "-nostdlib";
    /* an AArch64 executable runs on any AArch64 Linux (and under qemu-aarch64
     * without a sysroot): no dynamic loader or libc of the target needed */
    if (b->o->emit == EMIT_EXE && b->o->target && strcmp(b->o->target, "aarch64") == 0)
        argv[n++] = "-static";
    argv[n++] = "-o", argv[n++] = (char *)out;
    for (int i = 0; i < b->n_files; i++) {
        object_name(b, i, objs[i], 4400);
        argv[n++] = objs[i];
    }
    if (b->o->emit != EMIT_OBJ)
        argv[n++] = "-lm", argv[n++] = "-lpthread";
    argv[n] = NULL;
    return n;
}

/* An object keeps only NAME_info, NAME_run, NAME_workspace_size,
 * NAME_profile, NAME_run_profiled (and the weights and pool entry points
 * NAME.h declares) global (objcopy -G), so
 * two compiled models link into one program without their copies of the
 * runtime clashing. */
static bool localize(const compile_opts *o, const char *obj, const char *name)
{
    /* the ABI, and what NAME.h declares with --weights file and --threads
     * (objcopy -G of a symbol the object lacks is harmless) */
    static const char *const suffixes[] = {"_info", "_run", "_workspace_size", "_profile",
                                           "_run_profiled", "_weights_size", "_load_weights",
                                           "_check_weights", "_set_weights", "_set_pool",
                                           "_max_threads"};
    enum { N_KEEP = sizeof suffixes / sizeof suffixes[0] };
    char keep[N_KEEP][300], *argv[2 * N_KEEP + 3];
    int n = 0;
    const char *tool = getenv("OBJCOPY");
    bool cross = o->target && strcmp(o->target, "aarch64") == 0;
    if (!tool || !*tool)
        tool = cross ? "aarch64-linux-gnu-objcopy" : "objcopy";
    argv[n++] = (char *)tool;
    for (int k = 0; k < N_KEEP; k++) {
        snprintf(keep[k], sizeof keep[k], "%s%s", name, suffixes[k]);
        argv[n++] = "-G", argv[n++] = keep[k];
    }
    argv[n++] = (char *)obj, argv[n] = NULL;
    return kiln_cgen_run_program(argv) == 0;
}

/* Build the sources in dir into o->out; with weights (--weights file),
 * rename weights[0] to weights[1] just before the artifact. */
static kiln_status run_cc(kiln_ctx *ctx, const compile_opts *o, const char *dir, const char *name,
                          char weights[2][4400], double *seconds, int *cached)
{
    static char objs[MAX_FILES][4400];
    char *argv[MAX_FILES + MAX_ARGS + 16], tmp[4400];
    build b = {.o = o, .dir = dir};
    list_sources(&b);
    set_flags(&b);
    set_cache(&b);
    double t0 = now_seconds();
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    bool ok = compile_all(&b, cpus > 0 ? (int)cpus : 1);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", o->out, (long)getpid());
    if (ok) {
        link_argv(&b, tmp, argv, objs);
        ok = kiln_cgen_run_program(argv) == 0 && (o->emit != EMIT_OBJ || localize(o, tmp, name));
    }
    *seconds = now_seconds() - t0;
    *cached = b.cached;
    for (int i = 0; i < b.n_files; i++)
        free(b.files[i]);
    if (!ok) {
        unlink(tmp);
        return kiln_error(ctx, KILN_ERR_RUNTIME, "%s: the C compiler (%s) failed on the generated "
                          "sources (its messages are above)", o->model_path, compiler(o));
    }
    if (weights && rename(weights[0], weights[1]) != 0) {
        unlink(tmp);
        return kiln_error(ctx, KILN_ERR_IO, "%s: cannot rename into place: %s", weights[1],
                          strerror(errno));
    }
    if (rename(tmp, o->out) != 0) {
        unlink(tmp);
        return kiln_error(ctx, KILN_ERR_IO, "%s: cannot rename into place: %s", o->out, strerror(errno));
    }
    return KILN_OK;
}

/* ---- the command ----------------------------------------------------------- */

/* The C directory for --emit c: OUT, or OUT without its ".c". */
static void c_dir(const char *out, char *dir, size_t size)
{
    snprintf(dir, size, "%s", out);
    size_t n = strlen(dir);
    if (has_suffix(dir, ".c"))
        dir[n - 2] = 0;
    while ((n = strlen(dir)) > 1 && dir[n - 1] == '/')
        dir[n - 1] = 0;
}

/* The C prefix: --name, else the base name of OUT without extension. */
static void model_name(const compile_opts *o, char *name, size_t size)
{
    char base[512];
    const char *b = o->name;
    if (!b) {
        char dir[4200];
        c_dir(o->out, dir, sizeof dir);
        snprintf(base, sizeof base, "%.500s", strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir);
        if (o->emit != EMIT_C && strchr(base, '.'))
            *strchr(base, '.') = 0;
        b = base;
    }
    kiln_cgen_c_name(b, name, size);
}

typedef struct timings {
    double load, plan, emit, cc;
    int cached;                      /* runtime objects from the cache */
} timings;

/* The summary's plan line: the arena peak beside the live lower bound (the
 * most bytes live at one node, which no placement beats). */
static void plan_line(const timings *t, const kiln_plan *plan)
{
    char peak[64], bound[64];
    fprintf(stderr, "  plan         %8.1f ms  arena peak %s (lower bound %s, +%.0f%%), %u tensors "
            "(%u in place)\n", t->plan * 1e3, kiln_plan_format_bytes(plan->peak, peak, sizeof peak),
            kiln_plan_format_bytes(plan->lower_bound, bound, sizeof bound),
            plan->lower_bound ? 100.0 * ((double)plan->peak / (double)plan->lower_bound - 1) : 0.0,
            plan->n_tensors, plan->n_inplace);
}

static void summary(const compile_opts *o, const kiln_graph *g, const kiln_plan *plan,
                    const kiln_cgen_stats *s, const timings *t, const char *name)
{
    char wbytes[64], src[64], pipeline[2048];
    fprintf(stderr, "kiln compile: %s -> %s (%s, C prefix %s)\n", o->model_path, o->out,
            emit_names[o->emit], name);
    fprintf(stderr, "  load+passes  %8.1f ms  %s\n", t->load * 1e3,
            driver_pipeline_text(&o->model, pipeline, sizeof pipeline));
    plan_line(t, plan);
    fprintf(stderr, "  emit C       %8.1f ms  %u nodes, %u kernel calls; weights %s in %u tensors; "
            "%s of C, %u runtime files\n", t->emit * 1e3, s->n_nodes, s->n_calls,
            kiln_plan_format_bytes(s->weight_bytes, wbytes, sizeof wbytes), s->n_weights,
            kiln_plan_format_bytes(s->source_bytes, src, sizeof src), s->n_runtime_files);
    if (s->weights_file_bytes)
        fprintf(stderr, "  weights      %s in %s.weights (--weights file)\n",
                kiln_plan_format_bytes(s->weights_file_bytes, wbytes, sizeof wbytes), name);
    if (o->emit != EMIT_C)
        fprintf(stderr, "  cc           %8.1f ms  %s -O3%s%s (%d runtime objects cached)\n", t->cc * 1e3,
                compiler(o), o->cpu || !o->target || strcmp(o->target, "aarch64") ? " -march=" : "",
                o->cpu ? o->cpu : !o->target || strcmp(o->target, "aarch64") ? "native" : "", t->cached);
    driver_token_summary(stderr, o->model.report, "  ");
    (void)g;
}

/* mkdir -p of OUT's parent directory, so -o build/x/model works as -o DIR does for run. */
static kiln_status make_parent(kiln_ctx *ctx, const char *out)
{
    char path[4200];
    snprintf(path, sizeof path, "%s", out);
    for (char *p = path + 1; *p; p++)
        if (*p == '/' && p[1]) {
            *p = 0;
            if (mkdir(path, 0777) != 0 && errno != EEXIST)
                return kiln_error(ctx, KILN_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
            *p = '/';
        }
    return KILN_OK;
}

/* --backend llvm: the plan, then the LLVM backend writes OUT itself. */
static kiln_status compile_llvm(kiln_ctx *ctx, const compile_opts *o, const kiln_graph *g,
                                const kiln_plan *plan, const char *name, const timings *t)
{
    int level = o->model.opt_level >= 0 ? o->model.opt_level : KILN_DEFAULT_OPT_LEVEL;
    kiln_llvm_opts lo = {.name = name, .model_path = o->model_path, .target = o->target,
                         .cpu = o->cpu, .opt_level = level >= 2 ? 3 : level,
                         .emit = llvm_emit[o->emit]};
    kiln_llvm_stats s;
    char wbytes[64];
    kiln_status st = kiln_llvm_compile(ctx, g, plan, &lo, o->out, &s);
    if (st || o->quiet)
        return st;
    fprintf(stderr, "kiln compile: %s -> %s (llvm %s, %s, cpu %s, kernels %s, prefix %s)\n",
            o->model_path, o->out, emit_names[o->emit], s.triple, s.cpu, s.kernels, name);
    fprintf(stderr, "  load+passes  %8.1f ms\n", t->load * 1e3);
    plan_line(t, plan);
    fprintf(stderr, "  module       %8.1f ms  %u nodes, %u kernel calls; weights %s in %u tensors\n",
            s.t_ir * 1e3, s.n_nodes, s.n_calls,
            kiln_plan_format_bytes(s.weight_bytes, wbytes, sizeof wbytes), s.n_weights);
    fprintf(stderr, "  optimize     %8.1f ms  default<O%d>\n", s.t_opt * 1e3, lo.opt_level);
    fprintf(stderr, "  codegen      %8.1f ms\n", s.t_codegen * 1e3);
    if (o->emit == EMIT_LIB || o->emit == EMIT_EXE)
        fprintf(stderr, "  link         %8.1f ms\n", s.t_link * 1e3);
    driver_token_summary(stderr, o->model.report, "  ");
    return KILN_OK;
}

/* dirname(out)/NAME.weights: where --weights file puts the weights of an
 * exe, lib or obj (an executable looks for them beside itself). */
static void weights_beside(const char *out, const char *name, char *path, size_t size)
{
    const char *slash = strrchr(out, '/');
    snprintf(path, size, "%.*s%s%s.weights", slash ? (int)(slash - out) : 0, slash ? out : "",
             slash ? "/" : "", name);
}

static kiln_status compile(kiln_ctx *ctx, const compile_opts *o, const kiln_graph *g, timings *t)
{
    char name[128], dir[4200] = "", weights[2][4400];
    kiln_plan *plan = NULL;
    kiln_cgen_stats stats;
    double t0 = now_seconds();
    kiln_status st = make_parent(ctx, o->out);
    if (!st)
        st = kiln_plan_memory(ctx, g, &(kiln_plan_opts){.threads = o->threads > 1 ? o->threads : 1},
                              &plan);
    if (!st)
        st = kiln_plan_check(ctx, g, plan);
    t->plan = now_seconds() - t0;
    model_name(o, name, sizeof name);
    if (o->llvm) {
        kiln_cgen_clean_stale(o->out);  /* an earlier kiln's OUT.tmp<pid>, killed in the middle */
        if (!st)
            st = compile_llvm(ctx, o, g, plan, name, t);
        kiln_plan_destroy(plan);
        return st;
    }
    /* what an earlier kiln, killed in the middle, left beside the outputs */
    weights_beside(o->out, name, weights[1], sizeof weights[1]);
    if (o->emit == EMIT_C)
        c_dir(o->out, dir, sizeof dir);
    kiln_cgen_clean_stale(o->emit == EMIT_C ? dir : o->out);
    if (o->emit != EMIT_C && o->weights_file)
        kiln_cgen_clean_stale(weights[1]);
    if (!st && o->emit != EMIT_C && o->workdir) {  /* the caller's private directory (kiln run --backend c) */
        snprintf(dir, sizeof dir, "%.4000s/build", o->workdir);
        if (mkdir(dir, 0700) != 0) {
            st = kiln_error(ctx, KILN_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
            dir[0] = 0;
        }
    } else if (!st && o->emit != EMIT_C) {  /* sources and objects beside OUT: renames stay on one file system */
        snprintf(dir, sizeof dir, "%.4000s.tmp%ld.d", o->out, (long)getpid());
        if (mkdir(dir, 0777) != 0) {
            st = kiln_error(ctx, KILN_ERR_IO, "%s: cannot create the build directory: %s; check that "
                            "the directory of -o is writable", dir, strerror(errno));
            dir[0] = 0;
        }
    }
    char gen[4300];
    snprintf(gen, sizeof gen, "%s%s", dir, o->emit == EMIT_C ? "" : "/src");
    snprintf(weights[0], sizeof weights[0], "%.4200s/%.127s.weights", gen, name);
    kiln_cgen_opts co = {.name = name, .model_path = o->model_path,
                         .testbench = o->testbench || o->emit == EMIT_EXE,
                         .weights_file = o->weights_file, .threads = o->threads};
    t0 = now_seconds();
    if (!st)
        st = kiln_cgen_emit(ctx, g, plan, &co, gen, &stats);
    t->emit = now_seconds() - t0;
    if (!st && o->emit != EMIT_C)
        st = run_cc(ctx, o, gen, name, o->weights_file ? weights : NULL, &t->cc, &t->cached);
    if (o->emit != EMIT_C && dir[0])
        kiln_cgen_remove_tree(dir);
    if (!st && !o->quiet)
        summary(o, g, plan, &stats, t, name);
    kiln_plan_destroy(plan);
    return st;
}

kiln_status driver_compile_c_library(kiln_ctx *ctx, const kiln_graph *g, const char *model_path,
                                     const char *name, int threads, const char *workdir,
                                     const char *out)
{
    compile_opts o = {.model = DRIVER_MODEL_OPTS_INIT, .model_path = model_path, .out = out,
                      .name = name, .emit = EMIT_LIB, .quiet = true, .workdir = workdir,
                      .threads = threads};
    timings t = {0};
    return compile(ctx, &o, g, &t);
}

int cmd_compile(int argc, char **argv)
{
    compile_opts o = {.model = DRIVER_MODEL_OPTS_INIT};
    driver_token_report report = {0};
    o.model.report = &report;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    timings t = {0};
    double t0 = now_seconds();
    rc = pack_target(ctx, &o);
    if (rc == EXIT_OK)
        rc = load(ctx, &o, &g);
    t.load = now_seconds() - t0;
    if (rc == EXIT_OK && compile(ctx, &o, g, &t) != KILN_OK)
        rc = driver_fail(ctx);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    return rc;
}
