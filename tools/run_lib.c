/* run_lib.c — `kiln run LIB.so`: run a compiled model through its C ABI.
 *
 * A library kiln compiled under the name NAME exports (runtime/kiln_model.h)
 *
 *     const kiln_model_info NAME_info;
 *     size_t NAME_workspace_size(void);
 *     int    NAME_run(const void *const *inputs, void *const *outputs, void *workspace);
 *
 * Finding the model without being told NAME: before loading anything, the
 * file's ELF dynamic symbol table (.dynsym, the table the dynamic linker
 * itself resolves dlsym against) is read with plain reads, and every
 * defined data symbol NAME_info for which NAME_run and NAME_workspace_size
 * are defined functions is a model. Reading the file rather than walking
 * the loaded image (dl_iterate_phdr) means a file that is not a shared
 * library, or holds no model, is refused before any of its code (its
 * constructors) runs, and needs no knowledge of how the loader relocates
 * the dynamic section. Requiring the triple keeps an unrelated export that
 * happens to end in _info from being taken for a model. --name NAME picks
 * one model of several.
 *
 * Then the library is dlopen'ed, the descriptor's ABI version and size and
 * every tensor in it are checked, and NAME_workspace_size and NAME_run are
 * called through libffi with call interfaces built for the ABI's
 * signatures (no prototype compiled into kiln). Inputs are read and checked
 * as for the interpreter (tools/run.h), with the same messages; every
 * buffer handed to NAME_run is 64-byte aligned, and the workspace is
 * allocated once per session.
 *
 * A model compiled with --weights file exports NAME_set_weights: its
 * NAME.weights is loaded (NAME_load_weights checks it whole) from --weights
 * PATH, else from beside the library (what `kiln compile` wrote there), and
 * bound to the workspace. One compiled with --threads N exports
 * NAME_set_pool and NAME_max_threads: --threads T (default N) binds a pool
 * of T threads made by the library's own krt_pool_create (its struct is the
 * library's business); T = 1 binds none. The outputs are the same bits for
 * every T.
 */
#define _POSIX_C_SOURCE 200809L
#include "runtime/kiln_model.h"
#include "runtime/krt_profile.h"
#include "tools/run.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ffi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_MODELS = 16, MAX_NAME = 200, ALIGN = 64 };

/* kiln_model.h numbers dtypes as ONNX does; kiln_dtype follows
 * krt_dtypes.def. Unlisted numbers are KILN_DT_UNDEF: not runnable. */
static const kiln_dtype model_dtypes[] = {
    [KILN_MODEL_F32] = KILN_DT_F32,   [KILN_MODEL_U8] = KILN_DT_U8,
    [KILN_MODEL_I8] = KILN_DT_I8,     [KILN_MODEL_U16] = KILN_DT_U16,
    [KILN_MODEL_I16] = KILN_DT_I16,   [KILN_MODEL_I32] = KILN_DT_I32,
    [KILN_MODEL_I64] = KILN_DT_I64,   [KILN_MODEL_BOOL] = KILN_DT_BOOL,
    [KILN_MODEL_F16] = KILN_DT_F16,   [KILN_MODEL_F64] = KILN_DT_F64,
    [KILN_MODEL_U32] = KILN_DT_U32,   [KILN_MODEL_U64] = KILN_DT_U64,
    [KILN_MODEL_BF16] = KILN_DT_BF16,
};
/* 13 rows for the 13 dtypes after UNDEF: a new dtype needs a row above
 * (and a KILN_MODEL_* number in kiln_model.h). */
_Static_assert(KILN_DT_COUNT == 14, "model_dtypes: add a row for the new kiln_dtype");

static kiln_dtype dtype_from_model(int32_t d)
{
    return d >= 0 && (size_t)d < sizeof model_dtypes / sizeof model_dtypes[0] ? model_dtypes[d]
                                                                              : KILN_DT_UNDEF;
}

/* NAME_run's nonzero results, for messages. */
static const struct {
    const char *code, *what;
} run_errors[] = {
    [KILN_RUN_EARG] = {"KILN_RUN_EARG", "a NULL or misaligned pointer"},
    [KILN_RUN_EINDEX] = {"KILN_RUN_EINDEX", "an index input is out of range"},
    [KILN_RUN_EVALUE] = {"KILN_RUN_EVALUE", "an input value a kernel cannot take"},
    [KILN_RUN_ENOWEIGHTS] = {"KILN_RUN_ENOWEIGHTS", "no weights bound to the workspace"},
};

/* NAME_load_weights' results: what is wrong with the file. */
static const char *const weights_errors[] = {
    [KILN_RUN_EARG] = "cannot be loaded (a misaligned buffer: a bug in kiln)",
    [KILN_WEIGHTS_EOPEN] = "cannot be opened",
    [KILN_WEIGHTS_EFORMAT] = "is not a weights file written by kiln",
    [KILN_WEIGHTS_EMODEL] = "holds the weights of another model",
    [KILN_WEIGHTS_ESIZE] = "is truncated or has bytes after its end",
    [KILN_WEIGHTS_EDIGEST] = "is corrupted (its bytes do not match its digest)",
};

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#endif

/* A loaded model and its session. */
typedef struct lib_model {
    const char *path;        /* as given, for messages */
    const char *file;        /* the file opened: path, or the library `--backend c` built */
    char name[MAX_NAME + 1]; /* NAME */
    uint64_t info_bytes;     /* st_size of NAME_info; 0: unknown */
    void *handle;            /* dlopen */
    const kiln_model_info *info;
    void (*run_fn)(void), (*ws_fn)(void);
    ffi_cif run_cif, ws_cif;
    ffi_type *run_args[3];
    void *workspace; /* NAME_workspace_size() bytes, 64-aligned */
    void *weights;   /* --weights file: the loaded NAME.weights, 64-aligned */
    void *pool;      /* --threads: the library's krt_pool, or NULL */
    run_fn_ptr (*symbol)(const void *, const char *);  /* a compiled model's dlsym */
    const void *symbol_arg;
    void (*pool_destroy)(void);
    int threads;     /* the pool's threads; 1: none bound */
    const kiln_model_profile *profile; /* NAME_profile, or NULL (an older kiln's library) */
    void (*prof_fn)(void);             /* NAME_run_profiled, or NULL */
    run_port ports[RUN_MAX_INPUTS + RUN_MAX_OUTPUTS];
    run_sig sig;
} lib_model;

/* ---- the file: ELF header and dynamic symbol table ---------------------------- */

bool run_is_library(const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t n = strlen(base);
    const char *so = strstr(base, ".so.");
    if ((n > 3 && strcmp(base + n - 3, ".so") == 0) || (so && so[4] >= '0' && so[4] <= '9'))
        return true;
    unsigned char magic[SELFMAG] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not hang us */
    struct stat sb;
    if (fd < 0)
        return false;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return false; /* the model loader says what is wrong with it */
    }
    ssize_t got = read(fd, magic, SELFMAG);
    close(fd);
    return got == SELFMAG && memcmp(magic, ELFMAG, SELFMAG) == 0;
}

typedef struct elf_file {
    const char *path;
    int fd;
    uint64_t size;
    Elf64_Ehdr eh;
} elf_file;

/* n bytes at off, all of them within the file. */
static kiln_status read_at(kiln_ctx *ctx, const elf_file *f, uint64_t off, void *buf, uint64_t n)
{
    if (off > f->size || n > f->size - off)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: a truncated or corrupt ELF file", f->path);
    for (uint64_t done = 0; done < n;) {
        ssize_t r = pread(f->fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return kiln_error(ctx, KILN_ERR_IO, "%s: read error: %s", f->path,
                              r < 0 ? strerror(errno) : "unexpected end of file");
        done += (uint64_t)r;
    }
    return KILN_OK;
}

static const char *machine_name(unsigned m)
{
    switch (m) {
    case EM_X86_64: return "x86-64";
    case EM_AARCH64: return "AArch64";
    case EM_386: return "i386";
    case EM_ARM: return "32-bit ARM";
    case EM_RISCV: return "RISC-V";
    default: return "another machine";
    }
}

static const char *elf_type_name(unsigned t)
{
    switch (t) {
    case ET_EXEC: return "an executable";
    case ET_REL: return "a relocatable object file";
    case ET_CORE: return "a core dump";
    default: return "an ELF file of an unknown type";
    }
}

/* Is this a shared library this process can load? */
static kiln_status check_elf_header(kiln_ctx *ctx, elf_file *f)
{
    unsigned char *id = f->eh.e_ident;
    if (f->size < EI_NIDENT || read_at(ctx, f, 0, id, EI_NIDENT) != KILN_OK ||
        memcmp(id, ELFMAG, SELFMAG) != 0)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: not a shared library (no ELF header)",
                          f->path);
    if (id[EI_CLASS] != ELFCLASS64 || id[EI_DATA] != ELFDATA2LSB)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: a 32-bit or big-endian ELF file; kiln runs "
                          "64-bit little-endian libraries",
                          f->path);
    if (read_at(ctx, f, 0, &f->eh, sizeof f->eh) != KILN_OK)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: not a shared library (a truncated ELF header)", f->path);
    if (f->eh.e_type != ET_DYN)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: not a shared library (%s)", f->path,
                          elf_type_name(f->eh.e_type));
#ifdef HOST_MACHINE /* elsewhere dlopen is left to tell */
    if (f->eh.e_machine != HOST_MACHINE)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: a library for %s; this kiln runs %s", f->path,
                          machine_name(f->eh.e_machine), machine_name(HOST_MACHINE));
#endif
    return KILN_OK;
}

/* The .dynsym section and its string table, read whole (malloc'd; the
 * strings end in a NUL even if the file's do not). */
typedef struct dynsym {
    Elf64_Sym *syms;
    uint64_t n;
    char *strs;
    uint64_t strs_size;
    bool absent; /* no section table (a stripped-down file): nothing to scan */
} dynsym;

static void dynsym_free(dynsym *d)
{
    free(d->syms);
    free(d->strs);
}

static kiln_status read_section(kiln_ctx *ctx, const elf_file *f, const Elf64_Shdr *sh, void **out)
{
    *out = NULL;
    if (sh->sh_size > f->size)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: a truncated or corrupt ELF file", f->path);
    *out = kiln_xcalloc(1, (size_t)sh->sh_size + 1);
    return read_at(ctx, f, sh->sh_offset, *out, sh->sh_size);
}

static kiln_status read_dynsym(kiln_ctx *ctx, const elf_file *f, dynsym *d)
{
    const Elf64_Ehdr *eh = &f->eh;
    Elf64_Shdr sh, link;
    memset(d, 0, sizeof *d);
    if (eh->e_shnum == 0 || eh->e_shentsize != sizeof sh) {
        d->absent = true;
        return KILN_OK;
    }
    for (unsigned k = 0; k < eh->e_shnum; k++) {
        kiln_status st = read_at(ctx, f, eh->e_shoff + (uint64_t)k * sizeof sh, &sh, sizeof sh);
        if (st)
            return st;
        if (sh.sh_type != SHT_DYNSYM)
            continue;
        if (sh.sh_entsize != sizeof(Elf64_Sym) || sh.sh_link == 0 || sh.sh_link >= eh->e_shnum)
            return kiln_error(ctx, KILN_ERR_INVALID, "%s: a corrupt dynamic symbol table", f->path);
        st = read_at(ctx, f, eh->e_shoff + (uint64_t)sh.sh_link * sizeof link, &link, sizeof link);
        if (!st)
            st = read_section(ctx, f, &sh, (void **)&d->syms);
        if (!st)
            st = read_section(ctx, f, &link, (void **)&d->strs);
        d->n = sh.sh_size / sizeof(Elf64_Sym);
        d->strs_size = link.sh_size;
        return st;
    }
    return KILN_OK; /* no dynamic symbols: no model either */
}

static const char *sym_name(const dynsym *d, const Elf64_Sym *s)
{
    return s->st_name < d->strs_size ? d->strs + s->st_name : "";
}

/* A defined, exported symbol of this type? */
static bool exported(const Elf64_Sym *s, unsigned type)
{
    unsigned bind = ELF64_ST_BIND(s->st_info);
    return s->st_shndx != SHN_UNDEF && ELF64_ST_TYPE(s->st_info) == type &&
           (bind == STB_GLOBAL || bind == STB_WEAK);
}

static bool has_function(const dynsym *d, const char *prefix, size_t n, const char *suffix)
{
    char want[MAX_NAME + 32];
    snprintf(want, sizeof want, "%.*s%s", (int)n, prefix, suffix);
    for (uint64_t k = 0; k < d->n; k++)
        if (exported(&d->syms[k], STT_FUNC) && strcmp(sym_name(d, &d->syms[k]), want) == 0)
            return true;
    return false;
}

/* Every model in the table: NAME_info data with NAME_run and
 * NAME_workspace_size functions. Names (at most MAX_MODELS) are copied
 * into names; returns how many models there are. */
static int find_models(const dynsym *d, char names[][MAX_NAME + 1], uint64_t *info_bytes)
{
    int found = 0;
    for (uint64_t k = 0; k < d->n; k++) {
        const Elf64_Sym *s = &d->syms[k];
        const char *name = sym_name(d, s);
        size_t n = strlen(name);
        if (!exported(s, STT_OBJECT) || n <= 5 || n - 5 > MAX_NAME ||
            strcmp(name + n - 5, "_info") != 0)
            continue;
        if (!has_function(d, name, n - 5, "_run") ||
            !has_function(d, name, n - 5, "_workspace_size"))
            continue;
        if (found < MAX_MODELS) {
            snprintf(names[found], MAX_NAME + 1, "%.*s", (int)(n - 5), name);
            info_bytes[found] = s->st_size;
        }
        found++;
    }
    return found;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* "a, b, c" sorted (.dynsym is in hash order; messages must not be). */
static void list_names(char names[][MAX_NAME + 1], int n, char *out, size_t size)
{
    char sorted[MAX_MODELS][MAX_NAME + 1];
    size_t at = 0, shown = (size_t)(n < MAX_MODELS ? n : MAX_MODELS);
    out[0] = 0;
    memcpy(sorted, names, shown * sizeof sorted[0]);
    qsort(sorted, shown, sizeof sorted[0], compare_names);
    for (size_t k = 0; k < shown && at < size; k++)
        at += (size_t)snprintf(out + at, size - at, "%s%s", k ? ", " : "", sorted[k]);
    if (n > MAX_MODELS && at < size)
        snprintf(out + at, size - at, ", ...");
}

/* Which model to run: the only one, or the one --name names. */
static kiln_status pick_model(kiln_ctx *ctx, const elf_file *f, const dynsym *d, const char *want,
                              lib_model *m)
{
    char names[MAX_MODELS][MAX_NAME + 1], list[1024];
    uint64_t bytes[MAX_MODELS];
    if (d->absent && want) { /* nothing to check --name against: dlsym will tell */
        snprintf(m->name, sizeof m->name, "%s", want);
        return KILN_OK;
    }
    if (d->absent)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: no section table to find a kiln model in "
                          "(give its name with --name NAME)",
                          f->path);
    int n = find_models(d, names, bytes);
    list_names(names, n, list, sizeof list);
    for (int k = 0; want && k < n && k < MAX_MODELS; k++)
        if (strcmp(names[k], want) == 0) {
            snprintf(m->name, sizeof m->name, "%s", want);
            m->info_bytes = bytes[k];
            return KILN_OK;
        }
    if (want && n)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: no kiln model named '%s' in it (it holds: %s)", f->path, want, list);
    if (n == 0)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: no kiln model in it (a model NAME exports "
                          "NAME_info, NAME_run and NAME_workspace_size)",
                          f->path);
    if (n > 1)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: %d kiln models in it (%s): pick one with "
                          "--name NAME",
                          f->path, n, list);
    snprintf(m->name, sizeof m->name, "%s", names[0]);
    m->info_bytes = bytes[0];
    return KILN_OK;
}

static kiln_status find_model(kiln_ctx *ctx, const char *want, lib_model *m)
{
    elf_file f = {.path = m->path, .fd = open(m->file, O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
    struct stat sb;
    dynsym d = {0};
    if (f.fd < 0)
        return kiln_error(ctx, KILN_ERR_IO, "%s: cannot open: %s", m->path, strerror(errno));
    kiln_status st = KILN_OK;
    if (fstat(f.fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = kiln_error(ctx, KILN_ERR_INVALID, "%s: not a shared library (not a regular file)",
                        m->path);
    else
        f.size = (uint64_t)sb.st_size;
    if (!st)
        st = check_elf_header(ctx, &f);
    if (!st)
        st = read_dynsym(ctx, &f, &d);
    if (!st)
        st = pick_model(ctx, &f, &d, want, m);
    dynsym_free(&d);
    close(f.fd);
    return st;
}

/* ---- loading and checking the descriptor ------------------------------------ */

static void *symbol(lib_model *m, const char *suffix)
{
    char name[MAX_NAME + 32];
    snprintf(name, sizeof name, "%s%s", m->name, suffix);
    return dlsym(m->handle, name);
}

/* dlsym hands out functions as void *; POSIX guarantees the round trip. */
static void (*as_function(void *p))(void)
{
    void (*fn)(void);
    memcpy(&fn, &p, sizeof fn);
    return fn;
}

static kiln_status load(kiln_ctx *ctx, lib_model *m)
{
    char path[4200];
    /* without a '/', dlopen would search the library path, not the directory */
    snprintf(path, sizeof path, "%s%s", strchr(m->file, '/') ? "" : "./", m->file);
    m->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!m->handle)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: cannot load: %s", m->path, dlerror());
    void *info = symbol(m, "_info"), *run = symbol(m, "_run"), *ws = symbol(m, "_workspace_size");
    if (!info || !run || !ws)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: no kiln model named '%s' in it (it lacks "
                          "%s_info, %s_run or %s_workspace_size)",
                          m->path, m->name, m->name, m->name, m->name);
    m->info = info;
    m->run_fn = as_function(run);
    m->ws_fn = as_function(ws);
    void *profile = symbol(m, "_profile"), *run_profiled = symbol(m, "_run_profiled");
    m->profile = profile;
    m->prof_fn = run_profiled ? as_function(run_profiled) : NULL;
    return KILN_OK;
}

static kiln_status check_abi(kiln_ctx *ctx, const lib_model *m)
{
    const kiln_model_info *info = m->info;
    if (m->info_bytes && m->info_bytes < 2 * sizeof(uint32_t))
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: %s_info is %llu bytes, too small for a kiln "
                          "model descriptor",
                          m->path, m->name, (unsigned long long)m->info_bytes);
    if (info->abi_version != KILN_MODEL_ABI_VERSION)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: model '%s' was built for kiln model ABI "
                          "version %u; this kiln runs version %d (compile it again with this kiln)",
                          m->path, m->name, info->abi_version, KILN_MODEL_ABI_VERSION);
    /* a newer build of version 1 may append fields; fewer than ours is broken */
    if (info->size < sizeof *info || (m->info_bytes && m->info_bytes < info->size))
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: %s_info says it is %u bytes; ABI version %d "
                          "needs at least %zu (a broken or mismatched library)",
                          m->path, m->name, info->size, KILN_MODEL_ABI_VERSION, sizeof *info);
    if (!info->name || strcmp(info->name, m->name) != 0)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: %s_info names the model '%s', not '%s' (a "
                          "broken library)",
                          m->path, m->name, info->name ? info->name : "(null)", m->name);
    if (info->n_inputs > RUN_MAX_INPUTS || info->n_outputs > RUN_MAX_OUTPUTS)
        return kiln_error(ctx, KILN_ERR_UNSUPPORTED,
                          "%s: model '%s' has %u inputs and %u outputs; "
                          "kiln run takes at most %d of each",
                          m->path, m->name, info->n_inputs, info->n_outputs, RUN_MAX_INPUTS);
    if ((info->n_inputs && !info->inputs) || (info->n_outputs && !info->outputs))
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: %s_info has no tensor table (a broken "
                          "library)",
                          m->path, m->name);
    return KILN_OK;
}

/* One tensor of the descriptor as a port, checked: known dtype, rank
 * 0..8, no negative dimension, and nbytes what the shape makes. */
static kiln_status tensor_port(kiln_ctx *ctx, const lib_model *m, const char *kind, uint32_t k,
                               const kiln_model_tensor *t, run_port *p)
{
    char where[512];
    int64_t numel = 1;
    snprintf(where, sizeof where, "%s: %s_info: %s %u ('%s')", m->path, m->name, kind, k,
             t->name ? t->name : "(null)");
    if (!t->name)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s has no name", where);
    p->name = t->name;
    p->dtype = dtype_from_model(t->dtype);
    if (p->dtype == KILN_DT_UNDEF)
        return kiln_error(ctx, KILN_ERR_UNSUPPORTED, "%s: dtype %d is not one kiln knows", where,
                          t->dtype);
    if (t->rank < 0 || t->rank > KILN_MODEL_MAX_RANK)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: rank %d (kiln takes 0 to %d)", where, t->rank,
                          KILN_MODEL_MAX_RANK);
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0 || !kiln_mul_size(numel, t->dims[i], &numel))
            return kiln_error(ctx, KILN_ERR_INVALID, "%s: dimension %d is %lld", where, i,
                              (long long)t->dims[i]);
    p->shape = kiln_shape_make(t->rank, t->dims);
    if (!kiln_mul_size(numel, (int64_t)kiln_dtype_size(p->dtype), &numel) ||
        (uint64_t)numel != t->nbytes)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: says %llu bytes; its dtype and shape make %lld", where,
                          (unsigned long long)t->nbytes, (long long)numel);
    return KILN_OK;
}

static kiln_status make_sig(kiln_ctx *ctx, lib_model *m)
{
    const kiln_model_info *info = m->info;
    kiln_status st = KILN_OK;
    for (uint32_t k = 0; !st && k < info->n_inputs; k++)
        st = tensor_port(ctx, m, "input", k, &info->inputs[k], &m->ports[k]);
    for (uint32_t k = 0; !st && k < info->n_outputs; k++)
        st = tensor_port(ctx, m, "output", k, &info->outputs[k], &m->ports[info->n_inputs + k]);
    m->sig = (run_sig){.source = m->path,
                       .n_inputs = info->n_inputs,
                       .n_outputs = info->n_outputs,
                       .inputs = m->ports,
                       .outputs = m->ports + info->n_inputs};
    return st;
}

/* ---- calling through libffi -------------------------------------------------- */

static void *aligned_buffer(size_t nbytes)
{
    void *p = NULL;
    size_t size = nbytes ? (nbytes + ALIGN - 1) / ALIGN * ALIGN : ALIGN;
    if (size < nbytes || posix_memalign(&p, ALIGN, size) != 0)
        return NULL;
    memset(p, 0, size);
    return p;
}

/* The call interfaces: size_t (void) and int (pointer, pointer, pointer). */
static kiln_status prepare_calls(kiln_ctx *ctx, lib_model *m)
{
    ffi_type *size_type = sizeof(size_t) == 8 ? &ffi_type_uint64 : &ffi_type_uint32;
    for (int k = 0; k < 3; k++)
        m->run_args[k] = &ffi_type_pointer;
    ffi_status fs = ffi_prep_cif(&m->ws_cif, FFI_DEFAULT_ABI, 0, size_type, NULL);
    if (fs == FFI_OK)
        fs = ffi_prep_cif(&m->run_cif, FFI_DEFAULT_ABI, 3, &ffi_type_sint, m->run_args);
    if (fs != FFI_OK)
        return kiln_error(ctx, KILN_ERR_UNSUPPORTED,
                          "%s: libffi cannot build the call to %s_run "
                          "(ffi_status %d)",
                          m->path, m->name, (int)fs);
    return KILN_OK;
}

/* NAME_workspace_size(), checked against the descriptor, then the
 * workspace itself, once per session. */
static kiln_status make_workspace(kiln_ctx *ctx, lib_model *m)
{
    ffi_arg size = 0;
    ffi_call(&m->ws_cif, m->ws_fn, &size, NULL);
    if ((uint64_t)size != m->info->workspace_size)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: %s_workspace_size() returns %llu, %s_info "
                          "says %llu (a broken library)",
                          m->path, m->name, (unsigned long long)size, m->name,
                          (unsigned long long)m->info->workspace_size);
    m->workspace = aligned_buffer((size_t)size);
    if (!m->workspace || (uint64_t)(size_t)size != (uint64_t)size)
        return kiln_error(ctx, KILN_ERR_RUNTIME,
                          "%s: cannot allocate the %llu-byte workspace of "
                          "model '%s'",
                          m->path, (unsigned long long)size, m->name);
    return KILN_OK;
}

static kiln_status call_run(kiln_ctx *ctx, lib_model *m, const void *const *ins, void *const *outs)
{
    void *ws = m->workspace;
    void *args[3] = {&ins, &outs, &ws};
    ffi_arg rc = 0;
    ffi_call(&m->run_cif, m->run_fn, &rc, args);
    int code = (int)(ffi_sarg)rc;
    if (code == KILN_RUN_OK)
        return KILN_OK;
    if (code > 0 && (size_t)code < sizeof run_errors / sizeof run_errors[0] &&
        run_errors[code].code)
        return kiln_error(ctx, KILN_ERR_RUNTIME, "%s: %s_run failed: %s (%s)", m->path, m->name,
                          run_errors[code].what, run_errors[code].code);
    return kiln_error(ctx, KILN_ERR_RUNTIME,
                      "%s: %s_run failed with code %d, not a KILN_RUN_* code", m->path, m->name,
                      code);
}

/* ---- --weights file and --threads: the optional entry points ----------------- */

/* The library's optional function NAME<suffix> (or `exact`), or NULL; for
 * a model compiled in this process, what its symbol function finds. */
static void (*optional_fn(const lib_model *m, const char *suffix, const char *exact))(void)
{
    char name[MAX_NAME + 32];
    snprintf(name, sizeof name, "%s%s", exact ? "" : m->name, exact ? exact : suffix);
    if (!m->handle)
        return m->symbol ? m->symbol(m->symbol_arg, name) : NULL;
    void *p = dlsym(m->handle, name);
    return p ? as_function(p) : NULL;
}

/* fn(args) through libffi, as NAME_run is called: the result in *ret (an
 * ffi_arg, or a pointer for &ffi_type_pointer). */
static bool call_ffi(void (*fn)(void), ffi_type *ret_type, void *ret, unsigned n, ffi_type **types,
                     void **args)
{
    ffi_cif cif;
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, n, ret_type, types) != FFI_OK)
        return false;
    ffi_call(&cif, fn, ret, args);
    return true;
}

static int call_int(void (*fn)(void), unsigned n, ffi_type **types, void **args, bool *ok)
{
    ffi_arg rc = 0;
    *ok = call_ffi(fn, &ffi_type_sint, &rc, n, types, args);
    return (int)(ffi_sarg)rc;
}

/* --weights PATH, else NAME.weights beside the library file (where
 * `kiln compile --weights file` put it). */
static void weights_path(const lib_model *m, const run_opts *o, char *out, size_t size)
{
    const char *slash = strrchr(m->file, '/');
    if (o->weights)
        snprintf(out, size, "%s", o->weights);
    else
        snprintf(out, size, "%.*s%s.weights", slash ? (int)(slash - m->file + 1) : 0, m->file,
                 m->name);
}

/* A --weights file model: load and check NAME.weights, bind it to the workspace. */
static kiln_status bind_weights(kiln_ctx *ctx, lib_model *m, const run_opts *o)
{
    void (*set)(void) = optional_fn(m, "_set_weights", NULL);
    void (*load_fn)(void) = optional_fn(m, "_load_weights", NULL);
    void (*size_fn)(void) = optional_fn(m, "_weights_size", NULL);
    ffi_type *pp[2] = {&ffi_type_pointer, &ffi_type_pointer};
    char path[4400];
    if (!set && !o->weights)
        return KILN_OK;
    if (!set)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: model '%s' has its weights compiled in (it was not compiled with "
                          "--weights file): drop --weights %s",
                          m->path, m->name, o->weights);
    if (!load_fn || !size_fn)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: it exports %s_set_weights but not %s_load_weights and "
                          "%s_weights_size (a broken library)",
                          m->path, m->name, m->name, m->name);
    ffi_arg size = 0;
    bool ok = call_ffi(size_fn, sizeof(size_t) == 8 ? &ffi_type_uint64 : &ffi_type_uint32, &size,
                       0, NULL, NULL);
    m->weights = ok ? aligned_buffer((size_t)size) : NULL;
    if (!m->weights)
        return kiln_error(ctx, KILN_ERR_RUNTIME,
                          "%s: cannot allocate %llu bytes for the weights of model '%s'", m->path,
                          (unsigned long long)size, m->name);
    weights_path(m, o, path, sizeof path);
    const char *p = path;
    void *w = m->weights, *ws = m->workspace;
    errno = 0;
    int rc = call_int(load_fn, 2, pp, (void *[]){&p, &w}, &ok);
    int err = errno;
    if (ok && rc == KILN_RUN_OK)
        rc = call_int(set, 2, pp, (void *[]){&ws, &w}, &ok);
    if (!ok)
        return kiln_error(ctx, KILN_ERR_UNSUPPORTED, "%s: libffi cannot build the call to %s_load_weights",
                          m->path, m->name);
    if (rc == KILN_RUN_OK)
        return KILN_OK;
    const char *what = rc > 0 && (size_t)rc < sizeof weights_errors / sizeof weights_errors[0] &&
                               weights_errors[rc]
                           ? weights_errors[rc]
                           : "cannot be used (an unknown result code)";
    return kiln_error(ctx, KILN_ERR_INVALID,
                      "%s: the weights file %s%s%s; pass the %s.weights that kiln compile "
                      "--weights file wrote with %s (--weights PATH), or compile the model again",
                      path, what, rc == KILN_WEIGHTS_EOPEN ? ": " : "",
                      rc == KILN_WEIGHTS_EOPEN ? strerror(err) : "", m->name, m->path);
}

/* A --threads N model: a pool of T threads (--threads T, default N) from
 * the library's krt_pool_create, bound to the workspace; T = 1 binds none. */
static kiln_status bind_pool(kiln_ctx *ctx, lib_model *m, const run_opts *o)
{
    void (*set)(void) = optional_fn(m, "_set_pool", NULL);
    void (*max)(void) = optional_fn(m, "_max_threads", NULL);
    void (*create)(void) = optional_fn(m, NULL, "krt_pool_create");
    ffi_type *pp[2] = {&ffi_type_pointer, &ffi_type_pointer}, *ti[1] = {&ffi_type_sint};
    bool ok = true;
    if (!set && o->threads > 1)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: model '%s' was compiled without --threads: it runs on one thread "
                          "(compile it with --threads %ld to split its kernels)",
                          m->path, m->name, o->threads);
    if (!set)
        return KILN_OK;
    m->pool_destroy = optional_fn(m, NULL, "krt_pool_destroy");
    if (!max || !create || !m->pool_destroy)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: it exports %s_set_pool but not %s_max_threads, krt_pool_create and "
                          "krt_pool_destroy (compile it again with this kiln)",
                          m->path, m->name, m->name);
    int n = call_int(max, 0, NULL, NULL, &ok);
    if (ok && o->threads > n)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: model '%s' was compiled with --threads %d: --threads takes 1 to %d, "
                          "not %ld",
                          m->path, m->name, n, n, o->threads);
    int threads = o->threads ? (int)o->threads : n;
    m->threads = threads > 1 ? threads : 1;
    if (!ok || threads <= 1)
        return ok ? KILN_OK
                  : kiln_error(ctx, KILN_ERR_UNSUPPORTED, "%s: libffi cannot call %s_max_threads",
                               m->path, m->name);
    union { ffi_arg a; void *p; } pool = {0};
    ok = call_ffi(create, &ffi_type_pointer, &pool, 1, ti, (void *[]){&threads});
    m->pool = ok ? pool.p : NULL;
    if (!m->pool)
        return kiln_error(ctx, KILN_ERR_RUNTIME, "%s: cannot start a pool of %d threads", m->path,
                          threads);
    void *ws = m->workspace;
    int rc = call_int(set, 2, pp, (void *[]){&ws, &m->pool}, &ok);
    if (!ok || rc != KILN_RUN_OK)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: %s_set_pool refused a pool of %d threads "
                          "(code %d; %s_max_threads() says %d)", m->path, m->name, threads, rc,
                          m->name, n);
    return KILN_OK;
}

static void unbind(lib_model *m)
{
    ffi_type *tp[1] = {&ffi_type_pointer};
    ffi_arg none;
    if (m->pool)
        call_ffi(m->pool_destroy, &ffi_type_void, &none, 1, tp, (void *[]){&m->pool});
    m->pool = NULL;
    free(m->weights);
    m->weights = NULL;
}

/* ---- a session ------------------------------------------------------------------ */

/* Every input checked against the descriptor and 64-byte aligned (a .pb
 * input is only malloc-aligned; an empty one gets a real buffer). */
static kiln_status prepare_inputs(kiln_ctx *ctx, lib_model *m, kiln_tensor *ins)
{
    for (uint32_t k = 0; k < m->sig.n_inputs; k++) {
        kiln_status st = run_check_input(ctx, &m->sig, k, &ins[k]);
        if (st)
            return st;
        if (ins[k].data && (uintptr_t)ins[k].data % ALIGN == 0)
            continue;
        void *copy = aligned_buffer(ins[k].nbytes);
        if (!copy)
            return kiln_error(ctx, KILN_ERR_RUNTIME, "%s: out of memory", m->path);
        if (ins[k].nbytes)
            memcpy(copy, ins[k].data, ins[k].nbytes);
        free((void *)ins[k].data);
        ins[k].data = copy;
    }
    return KILN_OK;
}

static kiln_status make_outputs(kiln_ctx *ctx, lib_model *m, kiln_tensor *outs)
{
    for (uint32_t k = 0; k < m->sig.n_outputs; k++) {
        const run_port *p = &m->sig.outputs[k];
        outs[k] = (kiln_tensor){
            .dtype = p->dtype, .shape = p->shape, .nbytes = (size_t)m->info->outputs[k].nbytes};
        outs[k].data = aligned_buffer(outs[k].nbytes);
        if (!outs[k].data)
            return kiln_error(ctx, KILN_ERR_RUNTIME,
                              "%s: cannot allocate %zu bytes for output '%s'", m->path,
                              outs[k].nbytes, p->name);
    }
    return KILN_OK;
}

/* --bench N: N more calls on the same buffers and workspace. */
static kiln_status bench(kiln_ctx *ctx, lib_model *m, const void *const *ins, void *const *outs,
                         long n)
{
    double best = 1e30, total = 0, cpu0 = run_cpu_seconds();
    for (long i = 0; i < n; i++) {
        double t0 = run_now_seconds();
        kiln_status st = call_run(ctx, m, ins, outs);
        if (st)
            return st;
        double dt = run_now_seconds() - t0;
        total += dt;
        best = dt < best ? dt : best;
    }
    run_print_bench(m->name, n, total, best, run_cpu_seconds() - cpu0);
    return KILN_OK;
}

/* --profile: NAME_run_profiled through libffi, runs times, then the table. */
static kiln_status profile(kiln_ctx *ctx, lib_model *m, const run_opts *o, const void *const *ins,
                           void *const *outs)
{
    const kiln_model_profile *p = m->profile;
    if (!p || !m->prof_fn)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: model '%s' has no %s_profile and %s_run_profiled "
                          "(compiled by an older kiln): compile it again to profile it",
                          m->path, m->name, m->name, m->name);
    if (p->size < sizeof *p || (p->n_nodes && !p->nodes))
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: %s_profile is broken (size %u, %u nodes)",
                          m->path, m->name, p->size, p->n_nodes);
    long runs = run_profile_runs(o);
    uint32_t n = p->n_nodes;
    uint64_t *ns = calloc((size_t)runs * (n ? n : 1), sizeof *ns), *run_ns = calloc((size_t)runs, sizeof *run_ns);
    ffi_type *pp[4] = {&ffi_type_pointer, &ffi_type_pointer, &ffi_type_pointer, &ffi_type_pointer};
    kiln_status st = ns && run_ns ? KILN_OK
                                  : kiln_error(ctx, KILN_ERR_RUNTIME, "--profile: out of memory for %ld runs", runs);
    for (long r = 0; st == KILN_OK && r < runs; r++) {
        void *ws = m->workspace, *times = ns + (size_t)r * n;
        bool ok;
        uint64_t t0 = krt_profile_now();
        int rc = call_int(m->prof_fn, 4, pp, (void *[]){&ins, &outs, &ws, &times}, &ok);
        run_ns[r] = krt_profile_now() - t0;
        if (!ok || rc != KILN_RUN_OK)
            st = kiln_error(ctx, KILN_ERR_RUNTIME, "%s: %s_run_profiled failed (code %d)", m->path,
                            m->name, ok ? rc : -1);
    }
    char title[512];
    const char *how = !m->handle ? "LLVM JIT" : strcmp(o->backend, "c") == 0 ? "C backend" : "library";
    snprintf(title, sizeof title, "%.200s (%s), %d thread%s%s", m->path, how, m->threads,
             m->threads > 1 ? "s" : "", m->threads > 1 ? "; a node's time is its wall time across them" : "");
    if (st == KILN_OK)
        st = run_print_profile(ctx, title, p, ns, run_ns, runs);
    free(ns), free(run_ns);
    return st;
}

static kiln_status run_session(kiln_ctx *ctx, lib_model *m, const run_opts *o, kiln_tensor *ins,
                               kiln_tensor *outs)
{
    const void *in_ptrs[RUN_MAX_INPUTS + 1] = {0};
    void *out_ptrs[RUN_MAX_OUTPUTS + 1] = {0};
    kiln_status st = o->out_dir ? run_check_output_names(ctx, &m->sig) : KILN_OK;
    if (!st)
        st = run_gather_inputs(ctx, &m->sig, o, ins);
    if (!st)
        st = prepare_inputs(ctx, m, ins);
    if (!st)
        st = make_outputs(ctx, m, outs);
    if (!st)
        st = make_workspace(ctx, m);
    if (!st)
        st = bind_weights(ctx, m, o);
    if (!st)
        st = bind_pool(ctx, m, o);
    for (uint32_t k = 0; k < m->sig.n_inputs; k++)
        in_ptrs[k] = ins[k].data;
    for (uint32_t k = 0; k < m->sig.n_outputs; k++)
        out_ptrs[k] = (void *)outs[k].data;
    if (!st)
        st = call_run(ctx, m, in_ptrs, out_ptrs);
    if (!st && o->out_dir)
        st = run_write_outputs(ctx, &m->sig, o->out_dir, outs);
    else if (!st)
        run_print_summary(&m->sig, outs);
    if (!st && o->bench)
        st = bench(ctx, m, in_ptrs, out_ptrs, o->bench);
    if (!st && o->profile)
        st = profile(ctx, m, o, in_ptrs, out_ptrs);
    return st;
}

/* From a loaded model (st: how loading went) to its outputs; frees m. */
static int run_loaded(kiln_ctx *ctx, lib_model *m, const run_opts *o, kiln_status st)
{
    kiln_tensor ins[RUN_MAX_INPUTS] = {0}, outs[RUN_MAX_OUTPUTS] = {0};
    if (!st)
        st = check_abi(ctx, m);
    if (!st)
        st = make_sig(ctx, m);
    if (!st)
        st = prepare_calls(ctx, m);
    if (!st)
        st = run_session(ctx, m, o, ins, outs);
    for (uint32_t k = 0; k < RUN_MAX_INPUTS; k++)
        free((void *)ins[k].data);
    for (uint32_t k = 0; k < RUN_MAX_OUTPUTS; k++)
        free((void *)outs[k].data);
    unbind(m);
    free(m->workspace);
    if (m->handle)
        dlclose(m->handle);
    free(m);
    return st ? driver_fail(ctx) : EXIT_OK;
}

int run_library(kiln_ctx *ctx, const run_opts *o)
{
    return run_library_file(ctx, o, o->model_path, o->name);
}

int run_library_file(kiln_ctx *ctx, const run_opts *o, const char *file, const char *name)
{
    lib_model *m = kiln_xcalloc(1, sizeof *m);
    m->path = o->model_path;
    m->file = file;
    m->threads = 1;
    kiln_status st = find_model(ctx, name, m);
    if (!st)
        st = load(ctx, m);
    return run_loaded(ctx, m, o, st);
}

int run_compiled(kiln_ctx *ctx, const run_opts *o, const char *name, const run_entry_points *ep)
{
    lib_model *m = kiln_xcalloc(1, sizeof *m);
    m->path = o->model_path;
    snprintf(m->name, sizeof m->name, "%s", name);
    m->info = ep->info;
    m->run_fn = ep->run;
    m->ws_fn = ep->workspace_size;
    m->profile = ep->profile;
    m->prof_fn = ep->run_profiled;
    m->threads = 1;
    m->symbol = ep->find, m->symbol_arg = ep->arg;
    return run_loaded(ctx, m, o, KILN_OK);
}
