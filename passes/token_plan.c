/* token_plan.c — the token-reduction options turned into a per-block plan
 * (passes/token_plan.h; the rules are TOKEN-REDUCTION.md's).
 *
 * This is a transcription of samples/fmnist-vit/reduce_ref.py's
 * parse_options and validate: the same order of checks, so the first
 * refusal is the same one, and the same message texts, so a test can
 * compare kiln's refusal with the reference's. Where the reference makes a
 * choice the spec leaves open (marked CHOICE there) we make the same one:
 *
 * - KEEP is read as the exact decimal (or fraction) written, num/den, so
 *   ceil(KEEP·(N-1)) is the mathematical ceiling: 0.07 of 100 tokens keeps
 *   7, where double arithmetic gives 8.
 * - With fuse, the fused token is appended only when something is dropped.
 * - Merging ends the grid like pruning: pooling after it is refused.
 *
 * Each option arrives as its own string (kiln_token_options), so the
 * reference's "given twice" and "unknown option" refusals belong to the
 * command line, not here.
 */
#include "passes/token_plan.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

bool kiln_token_options_any(const kiln_token_options *o)
{
    return o && (o->prune || o->pool || o->merge || o->share || o->no_proportional);
}

void kiln_token_plan_free(kiln_token_plan *plan)
{
    if (!plan)
        return;
    free(plan->block);
    memset(plan, 0, sizeof *plan);
}

/* ---- lexical helpers (Python's int() and Fraction() on the texts we take) */

/* One comma-separated item of an option value, copied so it can be cut. */
typedef struct item_buf {
    char text[256];
} item_buf;

/* The next item of *cursor (up to ',' or the end); false when done.
 * Items longer than the buffer are cut: they are refused anyway as not a
 * number (no valid item is that long). */
static bool next_item(const char **cursor, bool *done, item_buf *out)
{
    if (*done)
        return false;
    const char *s = *cursor, *comma = strchr(s, ',');
    size_t n = comma ? (size_t)(comma - s) : strlen(s);
    size_t m = n < sizeof out->text - 1 ? n : sizeof out->text - 1;
    memcpy(out->text, s, m);
    out->text[m] = '\0';
    if (comma)
        *cursor = comma + 1;
    else
        *done = true;
    return true;
}

/* Splits "a<sep>b" at the first sep, like str.partition: *rest is NULL when
 * sep does not occur (then the whole text is the head). */
static char *partition(char *text, char sep, char **rest)
{
    char *at = strchr(text, sep);
    *rest = NULL;
    if (at) {
        *at = '\0';
        *rest = at + 1;
    }
    return text;
}

/* Python int(text) for decimal integers: surrounding whitespace, an
 * optional sign, digits with single underscores between them. *big is set
 * (and the value saturated) when it does not fit int64. */
static bool parse_int(const char *s, int64_t *out, bool *big)
{
    *big = false;
    while (isspace((unsigned char)*s))
        s++;
    bool neg = false;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!isdigit((unsigned char)*s))
        return false;
    uint64_t v = 0;
    for (; isdigit((unsigned char)*s) || (*s == '_' && isdigit((unsigned char)s[1])); s++) {
        if (*s == '_')
            continue;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10 || v * 10 + d > (uint64_t)INT64_MAX) {
            *big = true;
            v = (uint64_t)INT64_MAX;
        } else if (!*big) {
            v = v * 10 + d;
        }
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s)
        return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Digits into *v (times 10 per digit), counting them; false on overflow
 * past 10^18. */
static bool take_digits(const char **s, int64_t *v, int *count)
{
    *count = 0;
    while (isdigit((unsigned char)**s) || (**s == '_' && *count && isdigit((unsigned char)(*s)[1]))) {
        if (**s != '_') {
            if (*v > 100000000000000000LL)
                return false;
            *v = *v * 10 + (**s - '0');
            (*count)++;
        }
        (*s)++;
    }
    return true;
}

typedef enum { FRAC_OK, FRAC_SYNTAX, FRAC_ZERO_DEN, FRAC_TOO_LONG } frac_status;

/* Python Fraction(text): [sign] (digits "/" digits | decimal [e[sign]digits]),
 * surrounded by whitespace; reduced to lowest terms, den > 0. */
static frac_status parse_fraction(const char *s, int64_t *num, int64_t *den)
{
    while (isspace((unsigned char)*s))
        s++;
    bool neg = false;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    int64_t n = 0, d = 1;
    int nd = 0, fd = 0;
    if (!take_digits(&s, &n, &nd))
        return FRAC_TOO_LONG;
    if (nd && *s == '/') {
        s++;
        int64_t q = 0;
        int qd = 0;
        if (!take_digits(&s, &q, &qd))
            return FRAC_TOO_LONG;
        if (!qd)
            return FRAC_SYNTAX;
        d = q;
    } else {
        if (*s == '.') {
            s++;
            if (!take_digits(&s, &n, &fd))
                return FRAC_TOO_LONG;
            for (int i = 0; i < fd; i++) {
                if (d > 100000000000000000LL)
                    return FRAC_TOO_LONG;
                d *= 10;
            }
            /* take_digits appended the fraction's digits to n: n is now the
             * whole decimal without its point, over 10^fd */
        }
        if (!nd && !fd)
            return FRAC_SYNTAX;
        if (*s == 'e' || *s == 'E') {
            s++;
            bool eneg = false;
            if (*s == '+' || *s == '-')
                eneg = *s++ == '-';
            int64_t e = 0;
            int ed = 0;
            if (!take_digits(&s, &e, &ed) || e > 36)
                return ed ? FRAC_TOO_LONG : FRAC_SYNTAX;
            if (!ed)
                return FRAC_SYNTAX;
            for (int64_t i = 0; i < e; i++) {
                int64_t *which = eneg ? &d : &n;
                if (*which > 100000000000000000LL) {
                    if (!eneg && n == 0)
                        break; /* 0e99 is 0 */
                    return FRAC_TOO_LONG;
                }
                *which *= 10;
            }
        }
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s)
        return FRAC_SYNTAX;
    if (d == 0)
        return FRAC_ZERO_DEN;
    int64_t g = gcd64(n, d);
    if (g > 1) {
        n /= g;
        d /= g;
    }
    *num = neg ? -n : n;
    *den = d;
    return FRAC_OK;
}

/* reduce_ref.py's _blocks_arg: a block number that exists. */
static kiln_status block_arg(kiln_ctx *ctx, const char *opt, const char *text, uint32_t depth,
                             int32_t *out)
{
    int64_t l;
    bool big;
    if (!parse_int(text, &l, &big))
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: '%s' is not a block number (blocks are 0..%d)", opt, text,
                          (int)depth - 1);
    if (big || l < 0 || l >= (int64_t)depth) {
        if (big)
            return kiln_error(ctx, KILN_ERR_INVALID,
                              "%s: block %s does not exist (the model has blocks 0..%d)", opt,
                              text, (int)depth - 1);
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: block %lld does not exist (the model has blocks 0..%d)", opt,
                          (long long)l, (int)depth - 1);
    }
    *out = (int32_t)l;
    return KILN_OK;
}

/* reduce_ref.py's _count: a token count >= 0. */
static kiln_status count_arg(kiln_ctx *ctx, const char *opt, const char *text, int64_t *out)
{
    int64_t r;
    bool big;
    if (!parse_int(text, &r, &big))
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: '%s' is not a token count", opt, text);
    if (r < 0 && big)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: token count %s is negative", opt, text);
    if (r < 0)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: token count %lld is negative", opt,
                          (long long)r);
    *out = r;
    return KILN_OK;
}

/* ---- the four options ----------------------------------------------------- */

static kiln_status parse_merge(kiln_ctx *ctx, const char *v, kiln_token_plan *p)
{
    static const char opt[] = "--token-merge";
    if (!strchr(v, '=')) {
        int64_t r;
        kiln_status st = count_arg(ctx, opt, v, &r);
        if (st)
            return st;
        for (uint32_t l = 0; l < p->n_blocks; l++) /* a bare R: R tokens in every block */
            p->block[l].merge_req = r;
        return KILN_OK;
    }
    const char *cur = v;
    bool done = false;
    item_buf it;
    while (next_item(&cur, &done, &it)) {
        char *r_text, *l_text = partition(it.text, '=', &r_text);
        int32_t l;
        int64_t r;
        kiln_status st = block_arg(ctx, opt, l_text, p->n_blocks, &l);
        if (st)
            return st;
        if (p->block[l].merge_req)
            return kiln_error(ctx, KILN_ERR_INVALID, "%s: block %d listed twice", opt, l);
        if ((st = count_arg(ctx, opt, r_text ? r_text : "", &r)))
            return st;
        p->block[l].merge_req = r;
    }
    return KILN_OK;
}

static kiln_status parse_prune(kiln_ctx *ctx, const char *v, kiln_token_plan *p)
{
    static const char opt[] = "--token-prune";
    const char *cur = v;
    bool done = false, any = false;
    item_buf it;
    while (next_item(&cur, &done, &it)) {
        if (!strcmp(it.text, "fuse")) {
            p->fuse = true;
            continue;
        }
        char whole[sizeof it.text];
        memcpy(whole, it.text, sizeof whole);
        char *keep, *l_text = partition(it.text, '=', &keep);
        if (!keep)
            return kiln_error(ctx, KILN_ERR_INVALID, "%s: '%s' is not L=KEEP or fuse", opt, whole);
        int32_t l;
        kiln_status st = block_arg(ctx, opt, l_text, p->n_blocks, &l);
        if (st)
            return st;
        kiln_token_block *b = &p->block[l];
        if (b->prune_den)
            return kiln_error(ctx, KILN_ERR_INVALID, "%s: block %d listed twice", opt, l);
        int64_t num, den;
        switch (parse_fraction(keep, &num, &den)) {
        case FRAC_OK:
            break;
        case FRAC_TOO_LONG:
            return kiln_error(ctx, KILN_ERR_INVALID,
                              "%s: keep ratio '%s' of block %d has too many digits (at most 18)",
                              opt, keep, l);
        default:
            return kiln_error(ctx, KILN_ERR_INVALID, "%s: keep ratio '%s' of block %d is not a number",
                              opt, keep, l);
        }
        if (num <= 0 || num > den)
            return kiln_error(ctx, KILN_ERR_INVALID, "%s: keep ratio %s of block %d is outside (0, 1]",
                              opt, keep, l);
        b->prune_num = num;
        b->prune_den = den;
        any = true;
    }
    if (p->fuse && !any)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: fuse given without any L=KEEP", opt);
    return KILN_OK;
}

static kiln_status parse_pool(kiln_ctx *ctx, const char *v, kiln_token_plan *p)
{
    static const char opt[] = "--token-pool";
    static const struct {
        const char *name;
        kiln_token_pool_kind kind;
    } kinds[] = {{"avg", KILN_TOKEN_POOL_AVG}, {"max", KILN_TOKEN_POOL_MAX}};
    const char *cur = v;
    bool done = false;
    item_buf it;
    while (next_item(&cur, &done, &it)) {
        char *kind, *l_text = partition(it.text, '=', &kind);
        int32_t l;
        kiln_status st = block_arg(ctx, opt, l_text, p->n_blocks, &l);
        if (st)
            return st;
        kiln_token_pool_kind k = KILN_TOKEN_POOL_NONE;
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (kind && !strcmp(kind, kinds[i].name))
                k = kinds[i].kind;
        if (k == KILN_TOKEN_POOL_NONE)
            return kiln_error(ctx, KILN_ERR_INVALID,
                              "%s: pooling kind '%s' after block %d is not avg or max", opt,
                              kind ? kind : "", l);
        if (p->block[l].pool != KILN_TOKEN_POOL_NONE)
            return kiln_error(ctx, KILN_ERR_INVALID, "%s: block %d listed twice", opt, l);
        p->block[l].pool = k;
    }
    return KILN_OK;
}

static kiln_status parse_share(kiln_ctx *ctx, const char *v, kiln_token_plan *p)
{
    static const char opt[] = "--attention-share";
    const char *cur = v;
    bool done = false;
    item_buf it;
    while (next_item(&cur, &done, &it)) {
        char whole[sizeof it.text];
        memcpy(whole, it.text, sizeof whole);
        char *d_text, *s_text = partition(it.text, ':', &d_text);
        if (!d_text)
            return kiln_error(ctx, KILN_ERR_INVALID, "%s: '%s' is not SRC:DST", opt, whole);
        int32_t s, d;
        kiln_status st = block_arg(ctx, opt, s_text, p->n_blocks, &s);
        if (!st)
            st = block_arg(ctx, opt, d_text, p->n_blocks, &d);
        if (st)
            return st;
        if (s >= d)
            return kiln_error(ctx, KILN_ERR_INVALID,
                              "%s: %d:%d: the source must be an earlier block than the destination",
                              opt, s, d);
        if (p->block[d].share_direct >= 0)
            return kiln_error(ctx, KILN_ERR_INVALID, "%s: block %d is given two sources (%d and %d)",
                              opt, d, p->block[d].share_direct, s);
        p->block[d].share_direct = s;
    }
    /* chains resolve transitively; sources are earlier blocks, so this ends */
    for (uint32_t d = 0; d < p->n_blocks; d++) {
        int32_t s = p->block[d].share_direct;
        if (s < 0)
            continue;
        while (p->block[s].share_direct >= 0)
            s = p->block[s].share_direct;
        p->block[d].share_src = s;
    }
    return KILN_OK;
}

kiln_status kiln_token_plan_parse(kiln_ctx *ctx, const kiln_token_options *opts, uint32_t n_blocks,
                                  kiln_token_plan *out)
{
    memset(out, 0, sizeof *out);
    out->n_blocks = n_blocks;
    out->block = kiln_xcalloc(n_blocks ? n_blocks : 1, sizeof *out->block);
    for (uint32_t l = 0; l < n_blocks; l++) {
        out->block[l].share_src = -1;
        out->block[l].share_direct = -1;
    }
    /* the reference's order does not matter: each option is checked on its own */
    kiln_status st = KILN_OK;
    if (opts->merge)
        st = parse_merge(ctx, opts->merge, out);
    if (!st && opts->prune)
        st = parse_prune(ctx, opts->prune, out);
    if (!st && opts->pool)
        st = parse_pool(ctx, opts->pool, out);
    if (!st && opts->share)
        st = parse_share(ctx, opts->share, out);
    if (st) {
        kiln_token_plan_free(out);
        return st;
    }
    for (uint32_t l = 0; l < n_blocks; l++) {
        out->block[l].merge_r = out->block[l].merge_req;
        out->track_sizes |= out->block[l].merge_req > 0;
    }
    out->proportional = out->track_sizes && !opts->no_proportional;
    return KILN_OK;
}

/* ---- validate() ----------------------------------------------------------------- */

/* ceil(num/den · n) clamped to [1, n], exactly (num <= den, both < 2^63). */
static int64_t prune_count(int64_t num, int64_t den, int64_t n)
{
    /* num·n may not fit 64 bits: split n = q·den + rem */
    int64_t q = n / den, rem = n % den;
    /* num·rem/den with num, rem < den: long division in 64-bit halves
     * would be long; the parse bounds num and den by 10^18 and n is a token
     * count, so do it in unsigned 128-bit arithmetic where available */
    __extension__ typedef unsigned __int128 u128;
    u128 t = (u128)num * (u128)rem;
    int64_t k = num * q + (int64_t)(t / (u128)den) + (t % (u128)den ? 1 : 0);
    k = k < 1 ? 1 : k;
    return k > n ? n : k; /* min(max(k, 1), n) as the reference: 0 when n is 0 */
}

static const char *pool_name(kiln_token_pool_kind k)
{
    return k == KILN_TOKEN_POOL_AVG ? "avg" : "max";
}

static int64_t isqrt64(int64_t v)
{
    int64_t g = 0;
    while ((g + 1) * (g + 1) <= v)
        g++;
    return g;
}

kiln_status kiln_token_plan_resolve(kiln_ctx *ctx, kiln_token_plan *plan, int64_t n_tokens0)
{
    if (n_tokens0 < 1)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "token reduction: the blocks are entered by %lld tokens (a class token "
                          "and patch tokens are needed)",
                          (long long)n_tokens0);
    int64_t n = n_tokens0;
    bool grid_alive = true; /* are tokens 1.. still the row-major G x G grid? */
    uint32_t depth = plan->n_blocks;
    for (uint32_t l = 0; l < depth; l++) {
        kiln_token_block *b = &plan->block[l];
        bool prunes = b->prune_den != 0, merges = b->merge_req > 0;
        b->n_attn = n;
        b->prune_kept = 0;
        b->prune_fused = false;
        b->merge_r = 0;
        b->grid = 0;
        if (prunes && merges)
            return kiln_error(ctx, KILN_ERR_INVALID,
                              "block %u: pruning and merging in the same block is refused", l);
        if (b->share_src >= 0 && merges)
            return kiln_error(ctx, KILN_ERR_INVALID,
                              "block %u: --token-merge and --attention-share into the same block "
                              "(a block that reuses block %d's map has no keys to merge with)",
                              l, b->share_src);
        if (prunes) {
            int64_t k = prune_count(b->prune_num, b->prune_den, n - 1);
            b->prune_kept = k;
            /* CHOICE (reduce_ref.py): the fused token only when something is dropped */
            b->prune_fused = plan->fuse && k < n - 1;
            n = 1 + k + (b->prune_fused ? 1 : 0);
            grid_alive = false;
        }
        if (merges) {
            int64_t cap = (n - 1) / 2;
            b->merge_r = b->merge_req < cap ? b->merge_req : cap;
            n -= b->merge_r;
            grid_alive = false; /* CHOICE (reduce_ref.py): merging reorders, the grid is gone */
        }
        b->n_mlp = n;
        if (b->pool != KILN_TOKEN_POOL_NONE) {
            const char *kind = pool_name(b->pool);
            if (l == depth - 1)
                return kiln_error(ctx, KILN_ERR_INVALID,
                                  "--token-pool %u=%s: pooling after the last block is refused, "
                                  "it cannot change the output",
                                  l, kind);
            if (!grid_alive)
                return kiln_error(ctx, KILN_ERR_INVALID,
                                  "--token-pool %u=%s: pooling after pruning or merging is refused "
                                  "(the grid is gone)",
                                  l, kind);
            int64_t g = n >= 1 ? isqrt64(n - 1) : -1;
            if (g < 0 || g * g != n - 1)
                return kiln_error(ctx, KILN_ERR_INVALID,
                                  "--token-pool %u=%s: block %u ends with %lld patch tokens, not a "
                                  "square grid",
                                  l, kind, l, (long long)(n - 1));
            b->grid = g;
            n = 1 + ((g + 1) / 2) * ((g + 1) / 2);
        }
        b->n_out = n;
    }
    /* sharing: same count at SRC and DST, nothing reduces tokens in SRC..DST-1
     * (pairs as written, in DST order as the reference's sorted(direct)) */
    for (uint32_t d = 0; d < depth; d++) {
        int32_t s = plan->block[d].share_direct;
        if (s < 0)
            continue;
        for (int32_t l = s; l < (int32_t)d; l++) {
            const kiln_token_block *b = &plan->block[l];
            const char *what = b->prune_den ? "pruning"
                               : b->merge_req > 0 ? "merging"
                               : b->pool != KILN_TOKEN_POOL_NONE ? "pooling"
                                                                 : NULL;
            if (what)
                return kiln_error(ctx, KILN_ERR_INVALID,
                                  "--attention-share %d:%u: %s in block %d (blocks %d..%u must keep "
                                  "every token)",
                                  s, d, what, l, s, d - 1);
        }
        if (plan->block[s].n_attn != plan->block[d].n_attn)
            return kiln_error(ctx, KILN_ERR_INVALID,
                              "--attention-share %d:%u: %lld tokens at block %d but %lld at block %u", s,
                              d, (long long)plan->block[s].n_attn, s,
                              (long long)plan->block[d].n_attn, d);
    }
    return KILN_OK;
}
