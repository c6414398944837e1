/* test_llvm_errors.c — LLVM's errors never abort kiln:
 *
 * - the verifier check (kiln_llvm_verify, backends/llvm/llvm_compile.c),
 *   the one kiln_llvm_build runs on every module before and after
 *   optimization: a module LLVM's verifier rejects becomes one "internal
 *   error" naming the function. kiln emits only valid IR, so the broken
 *   modules are built here by hand, one per kind of fault: a block without
 *   a terminator, a return of the wrong type, a value used above its
 *   definition, and a fault in no function (appending linkage on a scalar);
 * - LLVM's fatal errors (report_fatal_error, which would abort with a stack
 *   dump): kiln's handler (llvm_target.c) prints one line naming the model
 *   and exits 1. Provoked in a child process by an AVX-512 intrinsic
 *   compiled for --cpu x86-64, which instruction selection cannot lower. */
#include "../unit/cunit_main.h"
#include "backends/llvm/llvm_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct fixture {
    LLVMContextRef c;
    LLVMModuleRef m;
    LLVMBuilderRef b;
    LLVMTypeRef i32, fn_void, fn_i32;
} fixture;

static fixture open_fixture(void)
{
    fixture f;
    f.c = LLVMContextCreate();
    f.m = LLVMModuleCreateWithNameInContext("verify_test", f.c);
    f.b = LLVMCreateBuilderInContext(f.c);
    f.i32 = LLVMInt32TypeInContext(f.c);
    f.fn_void = LLVMFunctionType(LLVMVoidTypeInContext(f.c), NULL, 0, 0);
    f.fn_i32 = LLVMFunctionType(f.i32, &f.i32, 1, 0);
    return f;
}

static void close_fixture(fixture *f)
{
    LLVMDisposeBuilder(f->b);
    LLVMDisposeModule(f->m);
    LLVMContextDispose(f->c);
}

/* A valid function `name` (ret void), so the broken one is not the first. */
static void add_good(fixture *f, const char *name)
{
    LLVMValueRef fn = LLVMAddFunction(f->m, name, f->fn_void);
    LLVMPositionBuilderAtEnd(f->b, LLVMAppendBasicBlockInContext(f->c, fn, "entry"));
    LLVMBuildRetVoid(f->b);
}

/* kiln_llvm_verify on f's module: the status, and the message checked to
 * be one line that names `function` (NULL: the module) and the stage as
 * an internal error. */
static void expect_rejected(fixture *f, const char *function)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_status st = kiln_llvm_verify(ctx, f->m, "before optimization");
    const char *msg = kiln_ctx_message(ctx);
    char want[200];
    if (function)
        snprintf(want, sizeof want, "rejects function '%s' before optimization: ", function);
    else
        snprintf(want, sizeof want, "rejects the module (outside any function) before optimization: ");
    CU_ASSERT_EQUAL(st, KILN_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "internal error: LLVM's verifier rejects "));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "(please report it with the model)"));
    CU_ASSERT_PTR_NULL(strchr(msg, '\n'));
    if (!strstr(msg, want) || getenv("KILN_TEST_VERBOSE"))
        fprintf(stderr, "\n  message: %s", msg);
    kiln_ctx_destroy(ctx);
}

static void test_valid_module_passes(void)
{
    fixture f = open_fixture();
    add_good(&f, "good");
    kiln_ctx *ctx = kiln_ctx_create();
    CU_ASSERT_EQUAL(kiln_llvm_verify(ctx, f.m, "before optimization"), KILN_OK);
    CU_ASSERT_STRING_EQUAL(kiln_ctx_message(ctx), "");
    kiln_ctx_destroy(ctx);
    close_fixture(&f);
}

static void test_block_without_terminator(void)
{
    fixture f = open_fixture();
    add_good(&f, "good");
    LLVMValueRef fn = LLVMAddFunction(f.m, "fused_ew.7", f.fn_void);
    LLVMPositionBuilderAtEnd(f.b, LLVMAppendBasicBlockInContext(f.c, fn, "entry"));
    LLVMBuildAlloca(f.b, f.i32, "x");  /* and no ret */
    add_good(&f, "after");
    expect_rejected(&f, "fused_ew.7");
    close_fixture(&f);
}

static void test_return_of_wrong_type(void)
{
    fixture f = open_fixture();
    add_good(&f, "good");
    LLVMValueRef fn = LLVMAddFunction(f.m, "model_run", f.fn_void);
    LLVMPositionBuilderAtEnd(f.b, LLVMAppendBasicBlockInContext(f.c, fn, "entry"));
    LLVMBuildRet(f.b, LLVMConstInt(f.i32, 1, 0));  /* an i32 from a void function */
    expect_rejected(&f, "model_run");
    close_fixture(&f);
}

static void test_use_before_definition(void)
{
    fixture f = open_fixture();
    add_good(&f, "good");
    LLVMValueRef fn = LLVMAddFunction(f.m, "caller", f.fn_i32);
    LLVMPositionBuilderAtEnd(f.b, LLVMAppendBasicBlockInContext(f.c, fn, "entry"));
    LLVMValueRef one = LLVMConstInt(f.i32, 1, 0);
    LLVMValueRef y = LLVMBuildAdd(f.b, LLVMGetParam(fn, 0), one, "y");
    LLVMBuildRet(f.b, y);
    LLVMPositionBuilderBefore(f.b, y);
    LLVMValueRef x = LLVMBuildAdd(f.b, LLVMGetParam(fn, 0), one, "x");
    LLVMSetOperand(x, 0, y);  /* x = y + 1, above y */
    expect_rejected(&f, "caller");
    close_fixture(&f);
}

/* A fault outside every function: the message names the module. */
static void test_module_level_fault(void)
{
    fixture f = open_fixture();
    add_good(&f, "good");
    LLVMValueRef gv = LLVMAddGlobal(f.m, f.i32, "table");
    LLVMSetInitializer(gv, LLVMConstInt(f.i32, 0, 0));
    LLVMSetLinkage(gv, LLVMAppendingLinkage);  /* only arrays may append */
    expect_rejected(&f, NULL);
    close_fixture(&f);
}

/* The child: kiln's target machine for --cpu x86-64 (which installs the
 * handler), then code generation of <16 x float> rsqrt14, an AVX-512
 * intrinsic; returning from it at all is the failure (status 3). */
static void fatal_child(int err_fd)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_llvm_target t;
    kiln_llvm_opts o = {.name = "m", .target = "x86_64", .cpu = "x86-64", .opt_level = 2};
    dup2(err_fd, 2);
    if (kiln_llvm_target_open(ctx, &o, &t) != KILN_OK)
        _exit(4);
    kiln_llvm_fatal_context("broken.onnx");
    fixture f = open_fixture();
    LLVMSetTarget(f.m, t.triple);
    LLVMTypeRef v16 = LLVMVectorType(LLVMFloatTypeInContext(f.c), 16), i16 = LLVMInt16TypeInContext(f.c);
    LLVMTypeRef ps[] = {v16, v16, i16};
    LLVMTypeRef rt = LLVMFunctionType(v16, ps, 3, 0);
    LLVMValueRef rsqrt = LLVMAddFunction(f.m, "llvm.x86.avx512.rsqrt14.ps.512", rt);
    LLVMValueRef fn = LLVMAddFunction(f.m, "f", LLVMFunctionType(v16, &v16, 1, 0));
    LLVMPositionBuilderAtEnd(f.b, LLVMAppendBasicBlockInContext(f.c, fn, "entry"));
    LLVMValueRef args[] = {LLVMGetParam(fn, 0), LLVMGetParam(fn, 0), LLVMConstInt(i16, 0xffff, 0)};
    LLVMBuildRet(f.b, LLVMBuildCall2(f.b, rt, rsqrt, args, 3, ""));
    char *err = NULL;
    LLVMMemoryBufferRef buf = NULL;
    LLVMTargetMachineEmitToMemoryBuffer(t.tm, f.m, LLVMObjectFile, &err, &buf);
    _exit(3);
}

static void test_fatal_error_is_one_line_and_exit_1(void)
{
    int fds[2];
    char out[4096];
    CU_ASSERT_FATAL(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        fatal_child(fds[1]);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t got;
    while (n < sizeof out - 1 && (got = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)got;
    out[n] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    const char *want = "kiln: broken.onnx: internal error in LLVM: ";
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 1);  /* not SIGABRT, not status 3 */
    CU_ASSERT_EQUAL(strncmp(out, want, strlen(want)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "(please report it with the model)\n"));
    CU_ASSERT_PTR_NOT_NULL(strchr(out, '\n'));
    CU_ASSERT(strchr(out, '\n') == out + n - 1);  /* one line: no stack dump */
    if (strncmp(out, want, strlen(want)) != 0 || getenv("KILN_TEST_VERBOSE"))
        fprintf(stderr, "\n  status %d, stderr (%zu bytes): %s", status, n, out);
}

static CU_TestInfo fatal_tests[] = {
    {"a fatal error is one line and exit status 1", test_fatal_error_is_one_line_and_exit_1},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo verify_tests[] = {
    {"a valid module passes, no message", test_valid_module_passes},
    {"a block without a terminator names its function", test_block_without_terminator},
    {"a return of the wrong type names its function", test_return_of_wrong_type},
    {"a use above its definition names its function", test_use_before_definition},
    {"a fault in no function names the module", test_module_level_fault},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"llvm verify", NULL, NULL, NULL, NULL, verify_tests},
    {"llvm fatal errors", NULL, NULL, NULL, NULL, fatal_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
