/* test_attention.c — kiln.Attention (docs/attention.md): its kernel
 * against the unfused graph (Reshape/Transpose or Gather, MatMul, Mul,
 * Add, Trilu mask, Softmax, Einsum + Mul + Add for re-attention, MatMul,
 * Transpose, Reshape) that the interpreter runs with its own kernels, on
 * the same inputs; whole vs split calls byte for byte; the inference
 * errors, each naming the node; the text round trip.
 *
 * Tolerance. Y's element (b, n, h, e) may differ from the unfused result
 * by at most TOL_Y * eps * sum_j |p_nj| |v_je| (eps = 2^-23, p the unfused
 * probabilities): the error a handful of roundings in each term gives, and
 * the scale that makes the bound meaningful when the sum cancels. P may
 * differ by at most TOL_P * eps * (|p| + 1 / Nk) per element (relative,
 * with a floor of one uniform probability for the rows re-attention
 * makes). Both sides run the same f32 expf. NaN must be NaN on both sides
 * (a row whose every key is masked).
 */
#include "cunit_main.h"
#include "ir/infer.h"
#include "ir/interp.h"
#include "ir/text.h"
#include "lower_run.h"
#include "runtime/krt_linalg.h"

#include <math.h>
#include <stdarg.h>

#define TOL_Y 8.0
#define TOL_P 16.0
#define EPS 1.1920928955078125e-07

enum { BIAS_NONE, BIAS_FULL, BIAS_HEADS1, BIAS_QUERY1, BIAS_SWIN };

typedef struct acase {
    int64_t B, H, Nq, Nk, D;
    int bias;            /* BIAS_*; BIAS_SWIN: [Bb, H, Nq, Nk] with Bb = B / 2 */
    int causal, p_in, reattn, p_out;
    int packed;          /* Q, K, V as one [B, N, 3C] input (timm's qkv Linear) */
    int masked_row;      /* a query row whose every key the bias masks (-inf) */
} acase;

/* ---- text building ---------------------------------------------------------------- */

typedef struct text {
    char *s;
    size_t n, cap;
} text;

static void put(text *t, const char *fmt, ...) KILN_PRINTF(2, 3);
static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
        va_end(ap);
        if ((size_t)k < t->cap - t->n) {
            t->n += (size_t)k;
            return;
        }
        t->cap = t->cap * 2 + (size_t)k + 256;
        t->s = realloc(t->s, t->cap);
    }
}

static int64_t C_of(const acase *a) { return a->H * a->D; }
static int64_t bias_batches(const acase *a) { return a->bias == BIAS_SWIN ? a->B / 2 : a->B; }

/* Bias shape [Bb, Hb, Nq', Nk']. */
static void bias_dims(const acase *a, int64_t *dims)
{
    dims[0] = bias_batches(a);
    dims[1] = a->bias == BIAS_HEADS1 ? 1 : a->H;
    dims[2] = a->bias == BIAS_QUERY1 ? 1 : a->Nq;
    dims[3] = a->Nk;
}

/* The graph inputs, the same for both graphs: (q, k, v | qkv | v, p_in),
 * bias?, mix, mix_scale, mix_shift?. */
static void inputs_text(text *t, const acase *a)
{
    int64_t C = C_of(a), bd[4];
    if (a->p_in)
        put(t, "%%v: f32[%lld,%lld,%lld], %%pin: f32[%lld,%lld,%lld,%lld]", (long long)a->B,
            (long long)a->Nk, (long long)C, (long long)a->B, (long long)a->H, (long long)a->Nq,
            (long long)a->Nk);
    else if (a->packed)
        put(t, "%%qkv: f32[%lld,%lld,%lld]", (long long)a->B, (long long)a->Nq, (long long)(3 * C));
    else
        put(t, "%%q: f32[%lld,%lld,%lld], %%k: f32[%lld,%lld,%lld], %%v: f32[%lld,%lld,%lld]",
            (long long)a->B, (long long)a->Nq, (long long)C, (long long)a->B, (long long)a->Nk,
            (long long)C, (long long)a->B, (long long)a->Nk, (long long)C);
    if (a->bias) {
        bias_dims(a, bd);
        put(t, ", %%bias: f32[%lld,%lld,%lld,%lld]", (long long)bd[0], (long long)bd[1],
            (long long)bd[2], (long long)bd[3]);
    }
    if (a->reattn)
        put(t, ", %%mix: f32[%lld,%lld], %%mscale: f32[%lld], %%mshift: f32[%lld]", (long long)a->H,
            (long long)a->H, (long long)a->H, (long long)a->H);
}

static float scale_of(const acase *a) { return 1.0f / sqrtf((float)a->D); }

static char *fused_text(const acase *a)
{
    text t = {0};
    int64_t C = C_of(a), B = a->B, H = a->H, Nq = a->Nq, Nk = a->Nk, D = a->D;
    put(&t, "kiln-ir 1\ngraph @fused (");
    inputs_text(&t, a);
    put(&t, ") -> (%%y%s) {\n  %%y%s = kiln.Attention(", a->p_out ? ", %p" : "", a->p_out ? ", %p" : "");
    if (a->p_in)
        put(&t, "_, _, %%v, _, %%pin");
    else if (a->packed)
        put(&t, "%%qkv, %%qkv, %%qkv, %s", a->bias ? "%bias" : "_");
    else
        put(&t, "%%q, %%k, %%v, %s", a->bias ? "%bias" : "_");
    if (a->reattn)
        put(&t, "%s, %%mix, %%mscale, %%mshift", a->p_in ? "" : ", _");
    put(&t, ") {batch = %lld, heads = %lld, head_dim = %lld, q_tokens = %lld, kv_tokens = %lld, "
        "scale = %.9g, causal = %d, ", (long long)B, (long long)H, (long long)D, (long long)Nq,
        (long long)Nk, (double)scale_of(a), a->causal);
    if (a->packed)
        put(&t, "q_layout = [0, %lld, %lld, %lld], k_layout = [%lld, %lld, %lld, %lld], "
            "v_layout = [%lld, %lld, %lld, %lld], ", (long long)(Nq * 3 * C), (long long)D,
            (long long)(3 * C), (long long)C, (long long)(Nq * 3 * C), (long long)D, (long long)(3 * C),
            (long long)(2 * C), (long long)(Nq * 3 * C), (long long)D, (long long)(3 * C));
    else
        put(&t, "q_layout = [0, %lld, %lld, %lld], k_layout = [0, %lld, %lld, %lld], "
            "v_layout = [0, %lld, %lld, %lld], ", (long long)(Nq * C), (long long)D, (long long)C,
            (long long)(Nk * C), (long long)D, (long long)C, (long long)(Nk * C), (long long)D,
            (long long)C);
    put(&t, "y_shape = [%lld, %lld, %lld], y_layout = [%lld, %lld, %lld]}\n}\n", (long long)B,
        (long long)Nq, (long long)C, (long long)(Nq * C), (long long)D, (long long)C);
    return t.s;
}

/* %<name>4 = the [B, H, N, D] view of q, k or v. */
static void heads_view(text *t, const acase *a, const char *name, int64_t N)
{
    put(t, "  const %%sh_%s: i64[4] = [%lld, %lld, %lld, %lld]\n", name, (long long)a->B, (long long)N,
        (long long)a->H, (long long)a->D);
    put(t, "  %%%s5 = Reshape(%%%s, %%sh_%s)\n", name, name, name);
    put(t, "  %%%s4 = Transpose(%%%s5) {perm = [0, 2, 1, 3]}\n", name, name);
}

static char *unfused_text(const acase *a)
{
    text t = {0};
    int64_t C = C_of(a), B = a->B, H = a->H, Nq = a->Nq, Nk = a->Nk, D = a->D;
    put(&t, "kiln-ir 1\ngraph @unfused (");
    inputs_text(&t, a);
    put(&t, ") -> (%%y, %%p, %%pre) {\n");
    if (a->packed) {
        put(&t, "  const %%sh5: i64[5] = [%lld, %lld, 3, %lld, %lld]\n", (long long)B, (long long)Nq,
            (long long)H, (long long)D);
        put(&t, "  %%x5 = Reshape(%%qkv, %%sh5)\n  %%x = Transpose(%%x5) {perm = [2, 0, 3, 1, 4]}\n");
        for (int i = 0; i < 3; i++)
            put(&t, "  const %%i%d: i64[] = [%d]\n  %%%c4 = Gather(%%x, %%i%d) {axis = 0}\n", i, i,
                "qkv"[i], i);
    } else {
        if (!a->p_in) {
            heads_view(&t, a, "q", Nq);
            heads_view(&t, a, "k", Nk);
        }
        heads_view(&t, a, "v", Nk);
    }
    const char *p = "%pin";
    if (!a->p_in) {
        put(&t, "  %%kt = Transpose(%%k4) {perm = [0, 1, 3, 2]}\n  %%s0 = MatMul(%%q4, %%kt)\n");
        put(&t, "  const %%scale: f32[] = [%.9g]\n  %%s = Mul(%%s0, %%scale)\n", (double)scale_of(a));
        if (a->bias) {
            int64_t Bb = bias_batches(a);
            put(&t, "  const %%sh_sb: i64[5] = [%lld, %lld, %lld, %lld, %lld]\n", (long long)(B / Bb),
                (long long)Bb, (long long)H, (long long)Nq, (long long)Nk);
            put(&t, "  const %%sh_s: i64[4] = [%lld, %lld, %lld, %lld]\n", (long long)B, (long long)H,
                (long long)Nq, (long long)Nk);
            put(&t, "  %%sb5 = Reshape(%%s, %%sh_sb)\n  %%sb6 = Add(%%sb5, %%bias)\n"
                    "  %%sb = Reshape(%%sb6, %%sh_s)\n");
        } else {
            put(&t, "  %%sb = Identity(%%s)\n");
        }
        if (a->causal) {
            put(&t, "  const %%msh: i64[2] = [%lld, %lld]\n", (long long)Nq, (long long)Nk);
            put(&t, "  %%ones = ConstantOfShape(%%msh) {value = f32[1] [1]}\n"
                    "  %%tril = Trilu(%%ones) {upper = 0}\n  %%keep = Cast(%%tril) {to = \"bool\"}\n"
                    "  const %%zero: f32[] = [0]\n  const %%ninf: f32[] = [-inf]\n"
                    "  %%mask = Where(%%keep, %%zero, %%ninf)\n  %%sm = Add(%%sb, %%mask)\n");
        } else {
            put(&t, "  %%sm = Identity(%%sb)\n");
        }
        put(&t, "  %%p0 = Softmax(%%sm) {axis = -1}\n");
        p = "%p0";
    }
    put(&t, "  %%pre = Identity(%s)\n", p);
    if (a->reattn) {
        put(&t, "  %%pm = Einsum(%s, %%mix) {equation = \"bhij,hg->bgij\"}\n", p);
        put(&t, "  const %%sh_h: i64[4] = [1, %lld, 1, 1]\n", (long long)H);
        put(&t, "  %%msr = Reshape(%%mscale, %%sh_h)\n  %%mbr = Reshape(%%mshift, %%sh_h)\n"
                "  %%pa = Mul(%%pm, %%msr)\n  %%p = Add(%%pa, %%mbr)\n");
    } else {
        put(&t, "  %%p = Identity(%s)\n", p);
    }
    put(&t, "  %%o = MatMul(%%p, %%v4)\n  %%ot = Transpose(%%o) {perm = [0, 2, 1, 3]}\n");
    put(&t, "  const %%sh_y: i64[3] = [%lld, %lld, %lld]\n  %%y = Reshape(%%ot, %%sh_y)\n}\n",
        (long long)B, (long long)Nq, (long long)C);
    return t.s;
}

/* ---- data ----------------------------------------------------------------------------- */

typedef struct inputs {
    uint32_t n;
    kiln_tensor t[8];
    float *data[8];
} inputs;

static float *tensor(inputs *in, int rank, const int64_t *dims, float lo, float hi)
{
    kiln_shape s = kiln_shape_make(rank, dims);
    int64_t n;
    kiln_shape_numel(&s, &n);
    float *d = malloc((size_t)n * sizeof *d);
    for (int64_t i = 0; i < n; i++)
        d[i] = lo + (hi - lo) * (frand() + 1) / 2;
    in->data[in->n] = d;
    in->t[in->n++] = (kiln_tensor){.dtype = KILN_DT_F32, .shape = s, .data = d,
                                   .nbytes = (size_t)n * sizeof *d};
    return d;
}

/* Random inputs in the order of inputs_text; *v is V's data, *v_tok its
 * token stride and *v_off its offset (for the tolerance). */
static void make_inputs(const acase *a, inputs *in, const float **v, int64_t *v_off, int64_t *v_tok)
{
    int64_t C = C_of(a), bd[4];
    in->n = 0;
    *v_off = 0, *v_tok = C;
    if (a->p_in) {
        *v = tensor(in, DIMS(a->B, a->Nk, C), -1, 1);
        tensor(in, DIMS(a->B, a->H, a->Nq, a->Nk), 0, 2.0f / (float)a->Nk);
    } else if (a->packed) {
        *v = tensor(in, DIMS(a->B, a->Nq, 3 * C), -1, 1);
        *v_off = 2 * C, *v_tok = 3 * C;
    } else {
        tensor(in, DIMS(a->B, a->Nq, C), -1, 1);
        tensor(in, DIMS(a->B, a->Nk, C), -1, 1);
        *v = tensor(in, DIMS(a->B, a->Nk, C), -1, 1);
    }
    if (a->bias) {
        bias_dims(a, bd);
        float *b = tensor(in, 4, bd, -2, 2);
        for (int64_t i = 0; i < bd[0] * bd[1] * bd[2] * bd[3]; i += 7)
            b[i] = -INFINITY;  /* masked keys, as an attention mask has */
        if (a->masked_row)  /* row 0 of every (batch, head) masks every key: NaN */
            for (int64_t r = 0; r < bd[0] * bd[1]; r++)
                for (int64_t j = 0; j < bd[3]; j++)
                    b[r * bd[2] * bd[3] + j] = -INFINITY;
    }
    if (a->reattn) {
        tensor(in, DIMS(a->H, a->H), -1, 1);
        tensor(in, DIMS(a->H), 0.5f, 1.5f);
        tensor(in, DIMS(a->H), -0.1f, 0.1f);
    }
}

static void free_inputs(inputs *in)
{
    for (uint32_t i = 0; i < in->n; i++)
        free(in->data[i]);
}

static kiln_graph *parse_text(kiln_ctx *c, const char *s)
{
    kiln_graph *gr = NULL;
    kiln_status st = kiln_text_parse(c, s, strlen(s), "t.kir", &gr);
    if (st == KILN_OK)
        st = kiln_graph_infer(c, gr);
    if (st != KILN_OK)
        fprintf(stderr, "\n  %s\n%s", kiln_ctx_message(c), s);
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    return gr;
}

static kiln_status run_text(const char *s, const inputs *in, kiln_tensor *out)
{
    kiln_ctx *c = kiln_ctx_create();
    kiln_graph *gr = parse_text(c, s);
    kiln_status st = kiln_interp_run(c, gr, in->t, in->n, out);
    if (st)
        fprintf(stderr, "\n  %s\n", kiln_ctx_message(c));
    kiln_graph_destroy(gr);
    kiln_ctx_destroy(c);
    return st;
}

/* ---- comparison --------------------------------------------------------------------- */

static double worst_y, worst_p;  /* the largest error seen, in units of its bound's eps factor */

static bool same_nan(float a, float b) { return isnan(a) && isnan(b); }

/* Y (b, n, h*D + e) against the reference, with the bound of the header. */
static int check_y(const acase *a, const float *y, const float *yr, const float *pr, const float *v,
                   int64_t v_off, int64_t v_tok)
{
    int64_t C = C_of(a), bad = 0;
    for (int64_t b = 0; b < a->B; b++)
        for (int64_t n = 0; n < a->Nq; n++)
            for (int64_t h = 0; h < a->H; h++) {
                const float *prow = pr + ((b * a->H + h) * a->Nq + n) * a->Nk;
                for (int64_t e = 0; e < a->D; e++) {
                    int64_t at = (b * a->Nq + n) * C + h * a->D + e;
                    double mag = 0;
                    for (int64_t j = 0; j < a->Nk; j++)
                        mag += fabs((double)prow[j]) *
                               fabs((double)v[v_off + (b * a->Nk + j) * v_tok + h * a->D + e]);
                    if (same_nan(y[at], yr[at]))
                        continue;
                    double err = fabs((double)y[at] - (double)yr[at]), bound = TOL_Y * EPS * mag;
                    if (mag > 0 && err / (EPS * mag) > worst_y)
                        worst_y = err / (EPS * mag);
                    if (!(err <= bound) && bad++ < 3)
                        fprintf(stderr, "\n  y[b=%lld n=%lld h=%lld e=%lld] = %.9g, unfused %.9g (bound %.3g)",
                                (long long)b, (long long)n, (long long)h, (long long)e, (double)y[at],
                                (double)yr[at], bound);
                }
            }
    return (int)bad;
}

/* The size an element of P is computed from: p itself, or with
 * re-attention |mix_scale[g]| sum_h |p_h| |mix[h,g]| + |mix_shift[g]|
 * (pre: the probabilities before the mix; mix, mscale, mshift: inputs). */
static double p_magnitude(const acase *a, const float *pr, const float *pre, const float *const mixes[3],
                          int64_t i)
{
    if (!a->reattn)
        return fabs((double)pr[i]);
    int64_t NN = a->Nq * a->Nk, b = i / (a->H * NN), go = i / NN % a->H, ij = i % NN;
    double m = 0;
    for (int64_t h = 0; h < a->H; h++)
        m += fabs((double)pre[(b * a->H + h) * NN + ij]) * fabs((double)mixes[0][h * a->H + go]);
    return fabs((double)mixes[1][go]) * m + fabs((double)mixes[2][go]);
}

/* P within TOL_P * eps * (its magnitude + 1 / Nk). */
static int check_p(const acase *a, const float *p, const float *pr, const float *pre,
                   const float *const mixes[3])
{
    int64_t n = a->B * a->H * a->Nq * a->Nk, bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (same_nan(p[i], pr[i]))
            continue;
        double err = fabs((double)p[i] - (double)pr[i]);
        double scale = p_magnitude(a, pr, pre, mixes, i) + 1.0 / (double)a->Nk;
        if (err / (EPS * scale) > worst_p)
            worst_p = err / (EPS * scale);
        if (!(err <= TOL_P * EPS * scale) && bad++ < 3)
            fprintf(stderr, "\n  p[%lld] = %.9g, unfused %.9g", (long long)i, (double)p[i], (double)pr[i]);
    }
    return (int)bad;
}

/* The mix, mix_scale and mix_shift inputs (the last three), or NULLs. */
static void mix_inputs(const acase *a, const inputs *in, const float *mixes[3])
{
    for (int k = 0; k < 3; k++)
        mixes[k] = a->reattn ? in->data[in->n - 3 + (uint32_t)k] : NULL;
}

static void describe(const acase *a)
{
    fprintf(stderr, "\n  case B=%lld H=%lld Nq=%lld Nk=%lld D=%lld bias=%d causal=%d p_in=%d reattn=%d "
            "p_out=%d packed=%d masked_row=%d", (long long)a->B, (long long)a->H, (long long)a->Nq,
            (long long)a->Nk, (long long)a->D, a->bias, a->causal, a->p_in, a->reattn, a->p_out,
            a->packed, a->masked_row);
}

/* The fused graph and the unfused one on the same random inputs. */
static void check_case(const acase *a)
{
    char *fused = fused_text(a), *unfused = unfused_text(a);
    inputs in;
    const float *v;
    int64_t v_off, v_tok;
    kiln_tensor fo[2], uo[3];
    const float *mixes[3];
    make_inputs(a, &in, &v, &v_off, &v_tok);
    mix_inputs(a, &in, mixes);
    CU_ASSERT_EQUAL_FATAL(run_text(fused, &in, fo), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(run_text(unfused, &in, uo), KILN_OK);
    int bad = check_y(a, fo[0].data, uo[0].data, uo[1].data, v, v_off, v_tok);
    if (a->p_out)
        bad += check_p(a, fo[1].data, uo[1].data, uo[2].data, mixes);
    if (bad)
        describe(a);
    CU_ASSERT_EQUAL(bad, 0);
    kiln_interp_free_outputs(fo, a->p_out ? 2 : 1);
    kiln_interp_free_outputs(uo, 3);
    free_inputs(&in);
    free(fused);
    free(unfused);
}

/* ---- tests ------------------------------------------------------------------------------ */

static const acase fixed_cases[] = {
    /* B  H  Nq    Nk    D   bias         causal p_in reattn p_out packed masked_row */
    {1, 3, 197, 197, 64, BIAS_NONE, 0, 0, 0, 0, 1, 0},     /* DeiT-Tiny */
    {4, 3, 49, 49, 32, BIAS_SWIN, 0, 0, 0, 0, 0, 0},       /* Swin-T windows, mask per window */
    {1, 1, 1, 1, 8, BIAS_NONE, 0, 0, 0, 0, 0, 0},
    {2, 2, 7, 7, 8, BIAS_FULL, 0, 0, 0, 1, 0, 0},
    {1, 2, 1025, 1025, 16, BIAS_NONE, 0, 0, 0, 0, 1, 0},
    {1, 1, 1025, 1025, 8, BIAS_NONE, 1, 0, 0, 0, 0, 0},
    {1, 16, 33, 20, 128, BIAS_HEADS1, 0, 0, 0, 0, 0, 0},
    {2, 4, 17, 65, 24, BIAS_QUERY1, 0, 0, 0, 1, 0, 0},
    {1, 2, 70, 70, 32, BIAS_NONE, 1, 0, 0, 1, 0, 0},
    {1, 3, 69, 130, 12, BIAS_FULL, 1, 0, 0, 0, 0, 0},      /* D tail, causal with Nq < Nk */
    {2, 2, 40, 40, 100, BIAS_FULL, 0, 0, 0, 0, 0, 1},      /* a fully masked row: NaN */
    {2, 2, 40, 40, 100, BIAS_FULL, 0, 0, 0, 1, 0, 1},
    {2, 3, 10, 12, 16, BIAS_NONE, 0, 1, 0, 0, 0, 0},
    {2, 3, 10, 12, 16, BIAS_NONE, 0, 1, 0, 1, 0, 0},
    {1, 4, 50, 50, 16, BIAS_NONE, 0, 0, 1, 1, 1, 0},       /* DeepViT re-attention */
    {2, 3, 21, 21, 8, BIAS_NONE, 0, 0, 1, 0, 0, 0},
    {1, 3, 9, 9, 8, BIAS_NONE, 0, 1, 1, 1, 0, 0},
    {2, 2, 20, 20, 8, BIAS_FULL, 1, 0, 1, 1, 0, 0},
};

static void test_fixed_cases(void)
{
    for (size_t i = 0; i < sizeof fixed_cases / sizeof fixed_cases[0]; i++)
        check_case(&fixed_cases[i]);
}

static int64_t pick(int64_t lo, int64_t hi)
{
    rng = rng * 1664525u + 1013904223u;
    return lo + (int64_t)((rng >> 8) % (uint32_t)(hi - lo + 1));
}

/* Random shapes and options (fixed seed): tokens 1..300, heads 1..16,
 * head dim 8..128; the work is kept to a few million multiply-adds. */
static void test_random_cases(void)
{
    rng = 2024;
    for (int i = 0; i < 40; i++) {
        acase a = {.B = pick(1, 3), .H = pick(1, 16), .Nq = pick(1, 300), .D = pick(8, 128)};
        a.packed = pick(0, 3) == 0;
        a.Nk = a.packed ? a.Nq : pick(1, 300);
        while (a.B * a.H * a.Nq * a.Nk * a.D > 20000000)
            a.Nq = (a.Nq + 1) / 2, a.Nk = a.packed ? a.Nq : (a.Nk + 1) / 2;
        a.p_in = !a.packed && pick(0, 4) == 0;
        a.bias = a.p_in ? BIAS_NONE : (int)pick(0, 4);
        if (a.bias == BIAS_SWIN && a.B % 2)
            a.bias = BIAS_FULL;
        a.causal = !a.p_in && pick(0, 3) == 0;
        a.reattn = pick(0, 4) == 0;
        a.p_out = pick(0, 2) == 0;
        check_case(&a);
    }
    fprintf(stderr, "\n  worst error: y %.2f eps * sum |p||v| (bound %.0f), p %.2f eps * (|p| + 1/Nk) "
            "(bound %.0f) ", worst_y, TOL_Y, worst_p, TOL_P);
}

/* P as an intermediate the memory plan places in the arena (consumed by a
 * Mul), and P produced but unused: Y and 2 * P still match the unfused
 * graph. (Debug builds check every plan and poison the arena.) */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

static void test_p_in_the_arena_or_unused(void)
{
    acase a = {2, 3, 30, 30, 16, BIAS_FULL, 0, 0, 0, 1, 1, 0};
    char *fused = fused_text(&a), *unfused = unfused_text(&a);
    char *head = replace(fused, "-> (%y, %p)", "-> (%y, %p2)");
    char *twice = replace(head, "\n}\n", "\n  const %two: f32[] = [2]\n  %p2 = Mul(%p, %two)\n}\n");
    char *unused = replace(fused, "-> (%y, %p)", "-> (%y)");
    inputs in;
    const float *v;
    int64_t v_off, v_tok, n = a.B * a.H * a.Nq * a.Nk;
    kiln_tensor fo[2], uo[3], zo[1];
    const float *mixes[3];
    make_inputs(&a, &in, &v, &v_off, &v_tok);
    mix_inputs(&a, &in, mixes);
    CU_ASSERT_EQUAL_FATAL(run_text(unfused, &in, uo), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(run_text(twice, &in, fo), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(run_text(unused, &in, zo), KILN_OK);
    CU_ASSERT_EQUAL(check_y(&a, fo[0].data, uo[0].data, uo[1].data, v, v_off, v_tok), 0);
    CU_ASSERT_EQUAL(memcmp(zo[0].data, fo[0].data, fo[0].nbytes), 0);
    float *half = malloc((size_t)n * sizeof *half);
    for (int64_t i = 0; i < n; i++)
        half[i] = ((const float *)fo[1].data)[i] / 2;  /* exact: a power of two */
    CU_ASSERT_EQUAL(check_p(&a, half, uo[1].data, uo[2].data, mixes), 0);
    free(half);
    kiln_interp_free_outputs(fo, 2);
    kiln_interp_free_outputs(uo, 2);
    kiln_interp_free_outputs(zo, 1);
    kiln_interp_free_outputs(uo + 2, 1);
    free_inputs(&in);
    free(fused), free(unfused), free(head), free(twice), free(unused);
}

/* Whole call vs split into 2, 3 and 5 ranges of units: identical bytes. */
static void split_case(const acase *a)
{
    char *fused = fused_text(a);
    inputs in;
    const float *v;
    int64_t v_off, v_tok;
    kiln_lowered low;
    reset();
    kiln_graph_destroy(g);
    g = NULL;
    CU_ASSERT_EQUAL_FATAL(kiln_text_parse(ctx, fused, strlen(fused), "t.kir", &g), KILN_OK);
    node_id = 1;
    make_inputs(a, &in, &v, &v_off, &v_tok);
    const void *datas[8];
    for (uint32_t i = 0; i < in.n; i++)
        datas[i] = in.data[i];
    CU_ASSERT_EQUAL_FATAL(lower(datas, &low), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(low.n_calls, 1);
    CU_ASSERT_EQUAL(low.calls[0].kernel, KRT_K_ATTENTION);
    run_whole_and_split(&low.calls[0], a->p_out ? 2 : 1);
    free_inputs(&in);
    free(fused);
}

static void test_split_units(void)
{
    static const acase cases[] = {
        {1, 3, 197, 197, 64, BIAS_NONE, 0, 0, 0, 0, 1, 0},
        {4, 3, 49, 49, 32, BIAS_SWIN, 1, 0, 0, 1, 0, 0},
        {2, 2, 70, 33, 24, BIAS_QUERY1, 0, 0, 0, 0, 0, 0},
        {2, 4, 50, 50, 16, BIAS_FULL, 0, 0, 1, 1, 0, 0},
        {3, 3, 40, 12, 16, BIAS_NONE, 0, 1, 0, 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        split_case(&cases[i]);
}

/* Every vector width this build has and this CPU runs (x86-64: the
 * AVX-512 and AVX2 instances dispatched at run time, and the baseline
 * build's own 4-wide one), forced in turn: the fixed and random shapes
 * against the unfused graph within the same f32 bounds, and splits
 * bit-identical. Without forcing, the widest runs: on a CPU with AVX-512
 * that is 16 even in this baseline x86-64 build. */
static void test_every_width(void)
{
    static const int widths[] = {16, 8, 4};
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
        CU_ASSERT_EQUAL(krt_attention_width(), 16);
#endif
    int ran = 0;
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        if (!krt_attention_use_width(widths[w]))
            continue;
        CU_ASSERT_EQUAL(krt_attention_width(), widths[w]);
        ran++;
        test_fixed_cases();
        rng = 77 + (uint32_t)w;
        for (int i = 0; i < 12; i++) {
            acase a = {.B = pick(1, 2), .H = pick(1, 8), .Nq = pick(1, 200), .D = pick(8, 100)};
            a.packed = pick(0, 3) == 0;
            a.Nk = a.packed ? a.Nq : pick(1, 200);
            a.bias = (int)pick(0, 3);
            a.causal = pick(0, 3) == 0;
            a.reattn = pick(0, 4) == 0;
            a.p_out = pick(0, 2) == 0;
            check_case(&a);
        }
        test_split_units();
    }
    CU_ASSERT(ran >= 1);
    CU_ASSERT(krt_attention_use_width(0));
    CU_ASSERT_FALSE(krt_attention_use_width(3));   /* no such instance: back to the widest */
}

/* ---- inference errors ------------------------------------------------------------------- */

/* A kiln.Attention over %qkv [2, 5, 24] (B = 2, N = 5, H = 2, D = 4,
 * packed) with `inputs` and `attrs` replacing the defaults. */
static void expect_error(const char *inputs_, const char *extra_in, const char *y_layout,
                         const char *q_layout, const char *want)
{
    char s[2048];
    snprintf(s, sizeof s,
             "kiln-ir 1\ngraph @g (%%qkv: f32[2,5,24]%s) -> (%%y) {\n"
             "  %%y = kiln.Attention(%s) {batch = 2, heads = 2, head_dim = 4, "
             "q_tokens = 5, kv_tokens = 5, scale = 0.5, q_layout = %s, k_layout = [8, 120, 4, 24], "
             "v_layout = [16, 120, 4, 24], y_shape = [2, 5, 8], y_layout = %s}\n}\n",
             extra_in, inputs_, q_layout, y_layout);
    kiln_ctx *c = kiln_ctx_create();
    kiln_graph *gr = NULL;
    kiln_status st = kiln_text_parse(c, s, strlen(s), "t.kir", &gr);
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    st = kiln_graph_infer(c, gr);
    CU_ASSERT_EQUAL(st, KILN_ERR_INVALID);
    const char *msg = kiln_ctx_message(c);
    if (!strstr(msg, want) || !strstr(msg, "kiln.Attention"))
        fprintf(stderr, "\n  message: %s\n  want: %s", msg, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "kiln.Attention"));  /* the node is named */
    kiln_graph_destroy(gr);
    kiln_ctx_destroy(c);
}

#define QKV "%qkv, %qkv, %qkv"
#define Y_OK "[40, 4, 8]"
#define Q_OK "[0, 120, 4, 24]"

static void test_inference_errors(void)
{
    expect_error(QKV, "", Y_OK, "[0, 120, 4, 30]",
                 "attribute 'q_layout' = [0, 120, 4, 30] addresses elements up to 247, but input 0 "
                 "(Q, 'qkv') has shape [2,5,24] (240 elements)");
    expect_error(QKV, "", Y_OK, "[20, 120, 4, 24]", "addresses elements up to 243");
    expect_error(QKV, "", "[40, 4, 4]", Q_OK,
                 "attribute 'y_layout' = [40, 4, 4] does not cover y_shape exactly once: rows of Y overlap");
    expect_error(QKV, "", "[40, 8, 8]", Q_OK,
                 "attribute 'y_layout' = [40, 8, 8] addresses element 83, but y_shape has 80 elements");
    expect_error(QKV ", %b", ", %b: f32[2,2,5,4]", Y_OK, Q_OK,
                 "input 3 (bias, 'b') has shape [2,2,5,4]; need [Bb, Hb, Nq, Nk]");
    expect_error(QKV ", %b", ", %b: f32[3,1,1,5]", Y_OK, Q_OK, "with Bb dividing the batch 2");
    expect_error(QKV ", %b", ", %b: f32[5,5]", Y_OK, Q_OK, "input 3 ('b') has rank 2, need 4");
    expect_error("_, %qkv, %qkv", "", Y_OK, Q_OK, "input 0 (Q) is required when p_in (input 4) is absent");
    expect_error("%qkv, %qkv, %qkv, _, %p", ", %p: f32[2,2,5,5]", Y_OK, Q_OK,
                 "input 0 (Q) must be absent when p_in (input 4) is given");
    expect_error("_, _, %qkv, _, %p", ", %p: f32[2,2,5,4]", Y_OK, Q_OK,
                 "input 4 ('p') has shape [2,2,5,4], expected [2,2,5,5]");
    expect_error(QKV ", _, _, %m", ", %m: f32[2,2]", Y_OK, Q_OK,
                 "inputs 5-7 (mix, mix_scale, mix_shift) must be all given or all absent");
    expect_error(QKV ", _, _, %m, %s, %s", ", %m: f32[2,3], %s: f32[2]", Y_OK, Q_OK,
                 "input 5 ('m') has shape [2,3], expected [2,2]");
}

/* Attribute errors: a missing one, a wrong y_shape. */
static void test_attribute_errors(void)
{
    const char *s = "kiln-ir 1\ngraph @g (%qkv: f32[2,5,24]) -> (%y) {\n"
                    "  %y = kiln.Attention(%qkv, %qkv, %qkv) {batch = 2, heads = 2, head_dim = 4, "
                    "q_tokens = 5, kv_tokens = 5, q_layout = [0, 120, 4, 24], k_layout = [8, 120, 4, 24], "
                    "v_layout = [16, 120, 4, 24], y_shape = [2, 5, 8], y_layout = [40, 4, 8]}\n}\n";
    kiln_ctx *c = kiln_ctx_create();
    kiln_graph *gr = NULL;
    CU_ASSERT_EQUAL_FATAL(kiln_text_parse(c, s, strlen(s), "t.kir", &gr), KILN_OK);
    CU_ASSERT_EQUAL(kiln_graph_infer(c, gr), KILN_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(c), "kiln.Attention): attribute 'scale' is required"));
    kiln_graph_destroy(gr);
    kiln_ctx_destroy(c);
}

/* The text IR prints and parses kiln.Attention with its optional inputs
 * and second output. */
static void test_text_round_trip(void)
{
    const char *text_ = "kiln-ir 1\n"
                        "graph @g (%v: f32[1,4,8], %p: f32[1,2,4,4]) -> (%y, %q) {\n"
                        "  %y: f32[1,4,8], %q: f32[1,2,4,4] = kiln.Attention(_, _, %v, _, %p) "
                        "{batch = 1, causal = 0, head_dim = 4, heads = 2, k_layout = [0, 0, 0, 0], "
                        "kv_tokens = 4, q_layout = [0, 0, 0, 0], q_tokens = 4, scale = 0.5, "
                        "v_layout = [0, 32, 4, 8], y_layout = [32, 4, 8], y_shape = [1, 4, 8]}\n"
                        "}\n";
    kiln_ctx *c = kiln_ctx_create();
    kiln_graph *gr = parse_text(c, text_);
    char *printed = kiln_text_format(gr);
    CU_ASSERT_STRING_EQUAL(printed, text_);
    free(printed);
    kiln_graph_destroy(gr);
    kiln_ctx_destroy(c);
}

/* ---- a run-time batch (batch = 0: V's leading dimension) -------------------------- */

/* The packed [B, 5, 24] node of expect_error with `batch` and `y_shape`
 * given, and with `mask` a computed bias [B, 1, 1, 5] when true. */
static const char *run_time_graph(char *s, size_t n, const char *in_dim, const char *batch, const char *y_shape,
                                  const char *y_layout, bool mask)
{
    snprintf(s, n,
             "kiln-ir 1\ngraph @g (%%qkv: f32[%s,5,24]%s) -> (%%y) {\n"
             "  %%y = kiln.Attention(%%qkv, %%qkv, %%qkv%s) {batch = %s, heads = 2, head_dim = 4, "
             "q_tokens = 5, kv_tokens = 5, scale = 0.5, q_layout = [0, 120, 4, 24], k_layout = [8, 120, 4, 24], "
             "v_layout = [16, 120, 4, 24], y_shape = %s, y_layout = %s}\n}\n",
             in_dim, mask ? ", %m: f32[" : "", mask ? ", %m" : "", batch, y_shape, y_layout);
    if (mask) {  /* the mask's batch is the same symbol or size */
        char *at = strstr(s, "%m: f32[");
        char tail[1024];
        snprintf(tail, sizeof tail, "%s", at + 8);
        snprintf(at + 8, n - (size_t)(at + 8 - s), "%s,1,1,5]%s", in_dim, tail);
    }
    return s;
}

/* batch = 0 infers Y as [B, 5, 8] with V's symbol, runs at batch 1 and 3
 * with the bytes of the node with the batch written out (with and
 * without a computed mask of B batches), and its errors say what to do. */
static void test_run_time_batch(void)
{
    char dyn[2048], fixed[2048];
    kiln_ctx *c = kiln_ctx_create();
    kiln_graph *gr = parse_text(c, run_time_graph(dyn, sizeof dyn, "B", "0", "[0, 5, 8]", "[40, 4, 8]", false));
    char shape[64];
    kiln_shape_format(gr, &gr->values[gr->outputs[0]].shape, shape, sizeof shape);
    CU_ASSERT_STRING_EQUAL(shape, "[B,5,8]");
    kiln_graph_destroy(gr);
    kiln_ctx_destroy(c);
    for (int mask = 0; mask < 2; mask++) {
        for (int64_t B = 1; B <= 3; B += 2) {
            char bs[16], ys[32];
            snprintf(bs, sizeof bs, "%lld", (long long)B);
            snprintf(ys, sizeof ys, "[%lld, 5, 8]", (long long)B);
            run_time_graph(dyn, sizeof dyn, "B", "0", "[0, 5, 8]", "[40, 4, 8]", mask);
            run_time_graph(fixed, sizeof fixed, bs, bs, ys, "[40, 4, 8]", mask);
            float *x = malloc((size_t)(B * 120) * sizeof *x), *m = malloc((size_t)(B * 5) * sizeof *m);
            for (int64_t i = 0; i < B * 120; i++)
                x[i] = 2.0f * frand();
            for (int64_t i = 0; i < B * 5; i++)
                m[i] = i % 4 == 3 ? -10000.0f : 0.0f;
            kiln_tensor in[2] = {
                {.dtype = KILN_DT_F32, .shape = kiln_shape_make(3, (int64_t[]){B, 5, 24}), .data = x,
                 .nbytes = (size_t)(B * 120) * sizeof *x},
                {.dtype = KILN_DT_F32, .shape = kiln_shape_make(4, (int64_t[]){B, 1, 1, 5}), .data = m,
                 .nbytes = (size_t)(B * 5) * sizeof *m},
            };
            kiln_tensor yd, yf;
            kiln_ctx *c1 = kiln_ctx_create();
            kiln_graph *gd = parse_text(c1, dyn), *gf = parse_text(c1, fixed);
            kiln_status st = kiln_interp_run(c1, gd, in, mask ? 2 : 1, &yd);
            if (st == KILN_OK && (st = kiln_interp_run(c1, gf, in, mask ? 2 : 1, &yf)) == KILN_OK) {
                CU_ASSERT_EQUAL(yd.shape.rank, 3);
                CU_ASSERT_EQUAL(yd.shape.dim[0], B);
                CU_ASSERT(yd.nbytes == yf.nbytes && memcmp(yd.data, yf.data, yd.nbytes) == 0);
                kiln_interp_free_outputs(&yf, 1);
            }
            if (st == KILN_OK)
                kiln_interp_free_outputs(&yd, 1);
            if (st)
                fprintf(stderr, "\n  %s", kiln_ctx_message(c1));
            CU_ASSERT_EQUAL(st, KILN_OK);
            kiln_graph_destroy(gd);
            kiln_graph_destroy(gf);
            kiln_ctx_destroy(c1);
            free(x);
            free(m);
        }
    }
    static const struct {
        const char *y_shape, *y_layout, *want;
    } errors[] = {
        {"[2, 5, 8]", "[40, 4, 8]", "attribute 'batch' is 0 (read at run time), so 'y_shape' needs one 0 for it"},
        {"[0, 5, 0]", "[40, 4, 8]", "has 0 at position 2, need a positive size or one 0 (the batch)"},
        {"[0, 5, 4]", "[40, 4, 8]", "attribute 'y_shape' has 20 elements per batch, need heads * q_tokens"},
        {"[0, 5, 8]", "[4, 8, 16]", "with batch 0 (read at run time) the batch stride must be the largest"},
    };
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        kiln_ctx *ce = kiln_ctx_create();
        kiln_graph *ge = NULL;
        run_time_graph(dyn, sizeof dyn, "B", "0", errors[i].y_shape, errors[i].y_layout, false);
        CU_ASSERT_EQUAL_FATAL(kiln_text_parse(ce, dyn, strlen(dyn), "t.kir", &ge), KILN_OK);
        CU_ASSERT_EQUAL(kiln_graph_infer(ce, ge), KILN_ERR_INVALID);
        if (!strstr(kiln_ctx_message(ce), errors[i].want))
            fprintf(stderr, "\n  message: %s\n  want: %s", kiln_ctx_message(ce), errors[i].want);
        CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ce), errors[i].want));
        kiln_graph_destroy(ge);
        kiln_ctx_destroy(ce);
    }
}

static CU_TestInfo tests[] = {
    {"fixed shapes against the unfused graph", test_fixed_cases},
    {"random shapes against the unfused graph", test_random_cases},
    {"P in the arena, P unused", test_p_in_the_arena_or_unused},
    {"split units give identical bytes", test_split_units},
    {"every vector width (run-time dispatch) against the unfused graph", test_every_width},
    {"inference errors name the node", test_inference_errors},
    {"attribute errors", test_attribute_errors},
    {"text round trip", test_text_round_trip},
    {"a run-time batch (batch = 0)", test_run_time_batch},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"attention", setup, teardown, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
