/* malformed_run.c — runs kiln on every model of the malformed corpus
 * (gen_malformed's DIR/manifest.tsv) and checks that each run ends well.
 *
 *   malformed_run [--kiln KILN] --dir DIR [--jobs N] [--timeout S]
 *                 [--mem-mb M] [--min N] [--every K] [--leak-every L]
 *                 [--filter SUBSTR] [--verbose]
 *
 * For each model: `kiln info M`, `kiln dump M` and `kiln run M -i IN...
 * -o OUT` (the inputs gen_malformed wrote from what the model declares),
 * each in DIR, bounded by S seconds (default 5) and, when M > 0, an
 * address-space limit of M MiB (not under ASan, which reserves terabytes of
 * shadow; there max_allocation_size_mb does it). A run passes when it
 *   - exits 0, or exits 1 with exactly one line on stderr that starts with
 *     "kiln: " and names the model or one of its input files;
 *   - is not killed by a signal, does not time out, prints no sanitizer
 *     report and no "internal error";
 *   - leaves no file behind: OUT holds nothing after a failed run, and DIR
 *     holds the same files at the end as at the start.
 * Without --kiln, each run is a forked child calling the driver's main()
 * (linked in: tests/malformed/kiln_main.c) with the same argv; that skips
 * the dynamic loader per run, which costs more than most runs (libLLVM).
 * With --kiln, each run execs that binary.
 * --every K runs every K-th model only; under ASan, --leak-every L runs
 * LeakSanitizer's check (which scans libLLVM's data and costs more than
 * the run) after every L-th model's runs only.
 * N workers (default 2) each take every N-th model. Prints the outcome
 * counts per command and per damage class, and every failure; exit 1 when
 * any run failed.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { CMD_INFO, CMD_DUMP, CMD_RUN, N_CMDS };
static const char *const cmd_names[N_CMDS] = {"info", "dump", "run"};

typedef struct entry {
    char *file, *cls, *seed;
    char *inputs[16];
    int n_inputs;
} entry;

int kiln_tool_main(int argc, char **argv);

#if defined(__SANITIZE_ADDRESS__)
#define KILN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_ASAN 1
#endif
#endif
#ifdef KILN_ASAN
void __lsan_do_leak_check(void);
static void leak_check(bool now)
{
    if (now)
        __lsan_do_leak_check();
}
#else
static void leak_check(bool now) { (void)now; }
#endif

static const char *kiln, *dir;
static int timeout_s = 5, mem_mb = 0, jobs = 2;
static int leak_every = 1; /* LeakSanitizer's check after every N-th model (ASan builds) */
static bool verbose;

static void on_alarm(int sig) { (void)sig; }

static int count_files(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[4096];
        if (snprintf(p, sizeof p, "%s/%s", path, e->d_name) < (int)sizeof p)
            unlink(p);
    }
    closedir(d);
    rmdir(path);
}

static char *slurp(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, max + 1);
    if (!buf)
        exit(2);
    if (f) {
        size_t n = fread(buf, 1, max, f);
        buf[n] = 0;
        fclose(f);
    }
    return buf;
}

/* Runs argv in DIR with stderr to err_path; the exit status as waitpid
 * gives it, or -1 on timeout (the process group is killed). */
static int run_bounded(char **argv, const char *err_path, bool check_leaks, double *seconds)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fflush(NULL); /* or the child's exit() writes our buffers a second time */
    pid_t pid = fork();
    if (pid < 0) {
        perror("malformed_run: fork");
        exit(2);
    }
    if (pid == 0) {
        setpgid(0, 0);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_RDWR);
        if (err < 0 || null < 0 || chdir(dir) != 0)
            _exit(125);
        dup2(null, 0);
        dup2(null, 1);
        dup2(err, 2);
        if (mem_mb > 0) {
            struct rlimit lim = {(rlim_t)mem_mb << 20, (rlim_t)mem_mb << 20};
            setrlimit(RLIMIT_AS, &lim);
        }
        if (!kiln) {
            int argc = 0;
            while (argv[argc])
                argc++;
            int rc = kiln_tool_main(argc, argv);
            /* not exit(): libLLVM's thousands of static destructors would
             * cost more than the run; LeakSanitizer's check is called here */
            fflush(NULL);
            leak_check(check_leaks);
            _exit(rc);
        }
        execv(argv[0], argv);
        _exit(126);
    }
    setpgid(pid, pid);
    alarm((unsigned)timeout_s);
    int status;
    if (waitpid(pid, &status, 0) < 0 && errno == EINTR) { /* SIGALRM: time is up */
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        *seconds = timeout_s;
        return -1;
    }
    alarm(0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    return status;
}

/* "" when the run passes, else what is wrong (static buffer). */
static const char *judge(const entry *e, int status, const char *err, const char *out_dir)
{
    static char why[256];
    if (status == -1) {
        snprintf(why, sizeof why, "timed out after %d s", timeout_s);
        return why;
    }
    if (WIFSIGNALED(status)) {
        snprintf(why, sizeof why, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        return why;
    }
    int rc = WEXITSTATUS(status);
    if (strstr(err, "Sanitizer") || strstr(err, "runtime error:"))
        return "a sanitizer report";
    if (strstr(err, "internal error"))
        return "an internal error";
    if (rc != 0 && rc != 1) {
        snprintf(why, sizeof why, "exit status %d (only 0 and 1 are right for a model)", rc);
        return why;
    }
    if (rc == 0)
        return "";
    size_t len = strlen(err);
    const char *nl = strchr(err, '\n');
    if (len == 0)
        return "exit 1 with no message";
    if (!nl || nl[1] != 0)
        return "the message is not exactly one line";
    if (strncmp(err, "kiln: ", 6) != 0)
        return "the message does not start with 'kiln: '";
    bool named = strstr(err, e->file) != NULL;
    for (int i = 0; i < e->n_inputs && !named; i++)
        named = strstr(err, e->inputs[i]) != NULL;
    if (!named)
        return "the message names neither the model nor an input file";
    if (out_dir && count_files(out_dir) > 0)
        return "a failed run left files in the output directory";
    return "";
}

static int parse_manifest(entry **out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "malformed_run: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    int n = 0, cap = 0;
    entry *es = NULL;
    char *line = NULL;
    size_t line_cap = 0;
    while (getline(&line, &line_cap, f) > 0) {
        line[strcspn(line, "\n")] = 0;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            es = realloc(es, (size_t)cap * sizeof *es);
            if (!es)
                exit(2);
        }
        entry *e = &es[n];
        memset(e, 0, sizeof *e);
        char *save, *tok = strtok_r(line, "\t", &save);
        e->file = strdup(tok ? tok : "");
        e->cls = strdup((tok = strtok_r(NULL, "\t", &save)) ? tok : "?");
        e->seed = strdup((tok = strtok_r(NULL, "\t", &save)) ? tok : "?");
        char *ins = strtok_r(NULL, "\t", &save);
        for (char *s2, *in = ins ? strtok_r(ins, " ", &s2) : NULL; in && e->n_inputs < 16; in = strtok_r(NULL, " ", &s2))
            e->inputs[e->n_inputs++] = strdup(in);
        n++;
    }
    free(line);
    fclose(f);
    *out = es;
    return n;
}

/* One worker: every jobs-th entry from `first`; one line per run to
 * `results`: model, class, command, exit code (or -1/-signal), seconds,
 * problem; the message of a failed run follows on lines starting "| ". */
static void worker(entry *es, int n, int first, const char *results)
{
    FILE *res = fopen(results, "w");
    if (!res)
        exit(2);
    char err_path[300], out_dir[300]; /* results is a short /tmp path */
    snprintf(err_path, sizeof err_path, "%s.stderr", results);
    snprintf(out_dir, sizeof out_dir, "%s.out", results);
    for (int i = first; i < n; i += jobs) {
        entry *e = &es[i];
        for (int c = 0; c < N_CMDS; c++) {
            char *argv[64];
            int a = 0;
            argv[a++] = (char *)(kiln ? kiln : "kiln");
            argv[a++] = (char *)cmd_names[c];
            argv[a++] = e->file;
            if (c == CMD_RUN) {
                for (int k = 0; k < e->n_inputs; k++) {
                    argv[a++] = "-i";
                    argv[a++] = e->inputs[k];
                }
                argv[a++] = "-o";
                argv[a++] = out_dir;
            }
            argv[a] = NULL;
            double secs;
            int status = run_bounded(argv, err_path, i % leak_every == 0, &secs);
            char *err = slurp(err_path, 1 << 16);
            const char *problem = judge(e, status, err, c == CMD_RUN ? out_dir : NULL);
            int code = status == -1 ? -1000 : WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
            fprintf(res, "%s\t%s\t%s\t%d\t%.3f\t%s\n", e->file, e->cls, cmd_names[c], code, secs, problem);
            if (problem[0] || verbose) {
                int lines = 0;
                for (char *p = err, *q; *p && lines < 12; p = q + 1, lines++) {
                    q = strchr(p, '\n');
                    if (!q)
                        q = p + strlen(p) - 1;
                    fprintf(res, "| %.*s\n", (int)(q - p > 300 ? 300 : q - p + (q[0] != '\n')), p);
                }
            }
            free(err);
            if (c == CMD_RUN)
                remove_tree(out_dir);
        }
    }
    unlink(err_path);
    fclose(res);
}

typedef struct tally { char cls[64]; int rc[N_CMDS][3]; } tally; /* 0, 1, failed */

int main(int argc, char **argv)
{
    const char *filter = NULL;
    int min_models = 0, every = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--kiln") == 0 && i + 1 < argc)
            kiln = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc)
            jobs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout_s = atoi(argv[++i]);
        else if (strcmp(argv[i], "--mem-mb") == 0 && i + 1 < argc)
            mem_mb = atoi(argv[++i]);
        else if (strcmp(argv[i], "--every") == 0 && i + 1 < argc)
            every = atoi(argv[++i]);
        else if (strcmp(argv[i], "--leak-every") == 0 && i + 1 < argc)
            leak_every = atoi(argv[++i]);
        else if (strcmp(argv[i], "--min") == 0 && i + 1 < argc)
            min_models = atoi(argv[++i]);
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
            filter = argv[++i];
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else {
            fprintf(stderr, "usage: malformed_run [--kiln KILN] --dir DIR [--jobs N] [--timeout S] "
                            "[--mem-mb M] [--min N] [--every K] [--leak-every L] [--filter SUBSTR] [--verbose]\n");
            return 2;
        }
    }
    if (!dir || jobs < 1 || timeout_s < 1 || every < 1 || leak_every < 1)
        return fprintf(stderr, "malformed_run: --dir is required\n"), 2;
    /* the sanitizers' findings must fail the run, and a huge allocation be
     * refused (then kiln's out-of-memory abort is the finding) */
    setenv("ASAN_OPTIONS", "detect_leaks=1:allocator_may_return_null=1:max_allocation_size_mb=2048:exitcode=86", 0);
    setenv("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=87", 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: waitpid returns EINTR */
    sigaction(SIGALRM, &sa, NULL);

    entry *es;
    int n = parse_manifest(&es);
    int n_all = n;
    entry *all = es;
    es = calloc((size_t)n + 1, sizeof *es);
    n = 0;
    for (int i = 0; i < n_all; i++)
        if (i % every == 0 && (!filter || strstr(all[i].file, filter) || strstr(all[i].cls, filter) ||
                               strstr(all[i].seed, filter)))
            es[n++] = all[i];
    int files_before = count_files(dir);
    char tmpl[] = "/tmp/kiln-malformed-XXXXXX";
    if (!mkdtemp(tmpl))
        return perror("malformed_run: mkdtemp"), 2;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t *pids = calloc((size_t)jobs, sizeof *pids);
    for (int w = 0; w < jobs; w++) {
        char results[256];
        snprintf(results, sizeof results, "%s/worker%d", tmpl, w);
        fflush(NULL);
        if ((pids[w] = fork()) == 0) {
            worker(es, n, w, results);
            _exit(0);
        }
    }
    for (int w = 0; w < jobs; w++) {
        int st;
        while (waitpid(pids[w], &st, 0) < 0 && errno == EINTR) {
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);

    /* merge */
    tally tallies[64];
    int n_tallies = 0, failures = 0, runs = 0;
    int totals[N_CMDS][3] = {{0}};
    double slowest = 0;
    char slowest_what[1100] = "";
    for (int w = 0; w < jobs; w++) {
        char results[4096];
        snprintf(results, sizeof results, "%s/worker%d", tmpl, w);
        FILE *f = fopen(results, "r");
        char line[8192];
        bool show = false;
        while (f && fgets(line, sizeof line, f)) {
            if (line[0] == '|') {
                if (show)
                    printf("    %s", line + 2);
                continue;
            }
            char file[1024], cls[64], cmd[16], problem[512] = "";
            int code;
            double secs;
            if (sscanf(line, "%1023[^\t]\t%63[^\t]\t%15[^\t]\t%d\t%lf\t%511[^\n]", file, cls, cmd, &code, &secs, problem) < 5)
                continue;
            runs++;
            int c = strcmp(cmd, "info") == 0 ? CMD_INFO : strcmp(cmd, "dump") == 0 ? CMD_DUMP : CMD_RUN;
            int outcome = problem[0] ? 2 : code == 0 ? 0 : 1;
            totals[c][outcome]++;
            int t = 0;
            while (t < n_tallies && strcmp(tallies[t].cls, cls) != 0)
                t++;
            if (t == n_tallies && n_tallies < 64) {
                memset(&tallies[t], 0, sizeof tallies[t]);
                snprintf(tallies[t].cls, sizeof tallies[t].cls, "%s", cls);
                n_tallies++;
            }
            if (t < n_tallies)
                tallies[t].rc[c][outcome]++;
            if (secs > slowest) {
                slowest = secs;
                snprintf(slowest_what, sizeof slowest_what, "kiln %s %s", cmd, file);
            }
            show = problem[0] || verbose;
            if (problem[0]) {
                failures++;
                printf("FAIL kiln %s %s (%s): %s\n", cmd, file, cls, problem);
            } else if (verbose) {
                printf("ok   kiln %s %s (%s): exit %d, %.3f s\n", cmd, file, cls, code, secs);
            }
        }
        if (f)
            fclose(f);
        unlink(results);
    }
    rmdir(tmpl);
    int files_after = count_files(dir);

    printf("\n%-14s %17s %17s %17s\n", "class", "info 0/1/FAIL", "dump 0/1/FAIL", "run 0/1/FAIL");
    for (int t = 0; t < n_tallies; t++) {
        printf("%-14s", tallies[t].cls);
        for (int c = 0; c < N_CMDS; c++)
            printf("  %5d/%4d/%4d", tallies[t].rc[c][0], tallies[t].rc[c][1], tallies[t].rc[c][2]);
        printf("\n");
    }
    printf("%-14s", "total");
    for (int c = 0; c < N_CMDS; c++)
        printf("  %5d/%4d/%4d", totals[c][0], totals[c][1], totals[c][2]);
    printf("\n\nmalformed: %d models, %d runs in %.1f s (%d jobs), slowest %.2f s (%s); %d failed\n", n, runs,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9, jobs, slowest,
           slowest_what, failures);
    if (n < min_models) {
        printf("FAIL: the corpus has %d models, fewer than the %d expected\n", n, min_models);
        failures++;
    }
    if (files_after != files_before) {
        printf("FAIL: %s held %d files before the runs and %d after (a run left a file behind)\n", dir,
               files_before, files_after);
        failures++;
    }
    for (int i = 0; i < n_all; i++) {
        free(all[i].file);
        free(all[i].cls);
        free(all[i].seed);
        for (int k = 0; k < all[i].n_inputs; k++)
            free(all[i].inputs[k]);
    }
    free(all);
    free(es);
    free(pids);
    return failures ? 1 : 0;
}
