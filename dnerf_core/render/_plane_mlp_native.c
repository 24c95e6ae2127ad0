/* The fused CPU kernel of dnerf_core/render/plane_mlp.py: per point, the summed bilinear
 * tri-plane features (12 taps), y = softplus(features @ w_in + b_in) @ w_out + b_out, and from
 * column sigmoid_from on, sigmoid(y) * scale + shift instead of y. The fields' eager code (the
 * table lookup of plane_taps.py, then the decoders' own layers) is the answer key: the same
 * numbers up to float rounding (tests/render/test_plane_mlp.py).
 *
 * Why a kernel: in eager PyTorch each step is a pass over memory and softplus costs ~2 ns an
 * element on this machine kind; here a tile of 8 points stays in L1 from the taps to the output,
 * the layers are register-blocked FMA loops and softplus is a vectorized polynomial.
 * Threads: OpenMP, linked against the libgomp torch has already loaded (same soname), so the
 * kernel runs on torch's own worker threads and honours torch.set_num_threads. */
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const float *table;      /* [rows, c] texel table, rows = subjects * 3 * h * w */
    int64_t c;               /* feature channels (multiple of 8, <= DN_MAX_WIDTH) */
    int64_t h, w;            /* plane size in texels */
    int64_t axes[6];         /* the (width axis, height axis) of each of the 3 planes */
    float scale_w, offset_w; /* texel coordinate along the width: t * scale_w + offset_w */
    float scale_h, offset_h;
    int64_t points_per_subject;
    const float *w_in;       /* [c, hidden] or NULL: the features are the pre-activation */
    const float *b_in;       /* [hidden] */
    int64_t hidden;          /* multiple of 8, <= DN_MAX_WIDTH; == c without w_in */
    const float *w_out;      /* [hidden, out_pad] */
    const float *b_out;      /* [out_pad] */
    int64_t out, out_pad;    /* out_pad = out rounded up to 8, <= DN_MAX_WIDTH */
    int64_t sigmoid_from;    /* first column given sigmoid(y) * scale + shift (>= out: none) */
    float sigmoid_scale, sigmoid_shift;
} dn_plane_mlp;

#define DN_MAX_WIDTH 128
#define DN_TILE 8

#if defined(__x86_64__) && defined(__GNUC__)

int dn_plane_mlp_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include <immintrin.h>

/* exp(a) for a in [-87, 0]: a = n ln2 + r, |r| <= ln2 / 2, degree-7 Taylor of exp(r), times 2^n. */
static inline __m256 exp_nonpositive(__m256 a) {
    a = _mm256_max_ps(a, _mm256_set1_ps(-87.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(a, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), a);  /* ln2 in two parts */
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* softplus(x) = max(x, 0) + log1p(exp(-|x|)), x itself above 20 (torch's threshold).
 * log1p(e) = 2 atanh(s), s = e / (2 + e) in (0, 1/3]: no cancellation for small e; the series
 * in s^2 <= 1/9 to s^13 is within 2e-8 relative. 1 / (2 + e) by rcp and one Newton step. */
static inline __m256 softplus8(__m256 x) {
    const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x)));
    const __m256 d = _mm256_add_ps(e, _mm256_set1_ps(2.0f));
    __m256 inv = _mm256_rcp_ps(d);
    inv = _mm256_mul_ps(inv, _mm256_fnmadd_ps(d, inv, _mm256_set1_ps(2.0f)));
    const __m256 s = _mm256_mul_ps(e, inv);
    const __m256 z = _mm256_mul_ps(s, s);
    __m256 q = _mm256_set1_ps(1.0f / 13.0f);
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(1.0f / 11.0f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(1.0f / 9.0f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(1.0f / 7.0f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(1.0f / 5.0f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(1.0f / 3.0f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(1.0f));
    const __m256 y = _mm256_fmadd_ps(_mm256_add_ps(s, s), q, _mm256_max_ps(x, _mm256_setzero_ps()));
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, _mm256_set1_ps(20.0f), _CMP_GT_OQ));
}

/* sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) below, e = exp(-|x|). */
static inline __m256 sigmoid8(__m256 x) {
    const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x)));
    const __m256 d = _mm256_add_ps(e, _mm256_set1_ps(1.0f));
    __m256 inv = _mm256_rcp_ps(d);
    inv = _mm256_mul_ps(inv, _mm256_fnmadd_ps(d, inv, _mm256_set1_ps(2.0f)));
    return _mm256_blendv_ps(inv, _mm256_mul_ps(e, inv), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}

/* Texel coordinates t [8 points] along an axis of `size` texels -> lower / upper texel and
 * weights, as grid_sample (align_corners=False, zero padding): a tap outside weighs 0 at a
 * clamped texel; NaN reads nothing. Product then sum, unfused, as the reference rounds them. */
static inline void axis_taps8(__m256 t, float scale, float offset, int64_t size,
                              __m256i *lo, __m256i *hi, __m256 *w_lo, __m256 *w_hi) {
    const __m256 fsize = _mm256_set1_ps((float)size);
    __m256 f = _mm256_add_ps(_mm256_mul_ps(t, _mm256_set1_ps(scale)), _mm256_set1_ps(offset));
    f = _mm256_blendv_ps(f, _mm256_set1_ps(-1.0f), _mm256_cmp_ps(f, f, _CMP_UNORD_Q));
    f = _mm256_min_ps(_mm256_max_ps(f, _mm256_set1_ps(-1.0f)), fsize);
    const __m256 l = _mm256_floor_ps(f);
    const __m256 frac = _mm256_sub_ps(f, l);
    const __m256 outside = _mm256_or_ps(_mm256_cmp_ps(f, _mm256_setzero_ps(), _CMP_LT_OQ),
                                        _mm256_cmp_ps(f, fsize, _CMP_GE_OQ));
    *w_lo = _mm256_andnot_ps(outside, _mm256_sub_ps(_mm256_set1_ps(1.0f), frac));
    *w_hi = _mm256_andnot_ps(_mm256_cmp_ps(f, _mm256_set1_ps((float)(size - 1)), _CMP_GE_OQ), frac);
    const __m256i li = _mm256_cvtps_epi32(l);
    const __m256i top = _mm256_set1_epi32((int)(size - 1));
    *lo = _mm256_min_epi32(_mm256_max_epi32(li, _mm256_setzero_si256()), top);
    *hi = _mm256_min_epi32(_mm256_add_epi32(li, _mm256_set1_epi32(1)), top);
}

/* acc[c] = sum over 12 taps of weight * row[c], for NV vectors of 8 channels held in registers. */
#define DEFINE_GATHER(NV)                                                                        \
    static inline void gather_##NV(const float *table, const int64_t *off, const float *wt,     \
                                   float *dst) {                                                 \
        __m256 acc[NV];                                                                          \
        for (int v = 0; v < NV; ++v) acc[v] = _mm256_setzero_ps();                               \
        for (int t = 0; t < 12; ++t) {                                                           \
            const __m256 wv = _mm256_set1_ps(wt[t * DN_TILE]);                                   \
            const float *row = table + off[t * DN_TILE];                                         \
            for (int v = 0; v < NV; ++v) acc[v] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(row + 8 * v), acc[v]); \
        }                                                                                        \
        for (int v = 0; v < NV; ++v) _mm256_store_ps(dst + 8 * v, acc[v]);                       \
    }
DEFINE_GATHER(4)
DEFINE_GATHER(8)

static inline void gather_any(const float *table, const int64_t *off, const float *wt, float *dst, int64_t c) {
    for (int64_t q = 0; q < c; q += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int t = 0; t < 12; ++t)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(wt[t * DN_TILE]), _mm256_loadu_ps(table + off[t * DN_TILE] + q), acc);
        _mm256_store_ps(dst + q, acc);
    }
}

/* dst[p][0:cols] = bias + src[p][0:k] @ weight[k, cols] (weight row stride ld) for the tile's
 * DN_TILE points: blocks of 4 points x 16 columns in registers (constant trip counts, so the
 * accumulators stay in registers), then an 8-column remainder. */
static inline void dense(const float *src, int64_t src_stride, const float *weight, int64_t ld,
                         const float *bias, int64_t k, int64_t cols, float *dst, int64_t dst_stride) {
    for (int p0 = 0; p0 < DN_TILE; p0 += 4) {
        const float *s = src + p0 * src_stride;
        float *d = dst + p0 * dst_stride;
        int64_t q0 = 0;
        for (; q0 + 16 <= cols; q0 += 16) {
            __m256 a[4][2];
            const __m256 b0 = _mm256_loadu_ps(bias + q0), b1 = _mm256_loadu_ps(bias + q0 + 8);
            for (int p = 0; p < 4; ++p) { a[p][0] = b0; a[p][1] = b1; }
            for (int64_t i = 0; i < k; ++i) {
                const __m256 w0 = _mm256_loadu_ps(weight + i * ld + q0), w1 = _mm256_loadu_ps(weight + i * ld + q0 + 8);
                for (int p = 0; p < 4; ++p) {
                    const __m256 x = _mm256_broadcast_ss(s + p * src_stride + i);
                    a[p][0] = _mm256_fmadd_ps(x, w0, a[p][0]);
                    a[p][1] = _mm256_fmadd_ps(x, w1, a[p][1]);
                }
            }
            for (int p = 0; p < 4; ++p) {
                _mm256_store_ps(d + p * dst_stride + q0, a[p][0]);
                _mm256_store_ps(d + p * dst_stride + q0 + 8, a[p][1]);
            }
        }
        if (q0 < cols) {  /* cols is a multiple of 8: one 8-column block left */
            __m256 a[4];
            const __m256 b0 = _mm256_loadu_ps(bias + q0);
            for (int p = 0; p < 4; ++p) a[p] = b0;
            for (int64_t i = 0; i < k; ++i) {
                const __m256 w0 = _mm256_loadu_ps(weight + i * ld + q0);
                for (int p = 0; p < 4; ++p) a[p] = _mm256_fmadd_ps(_mm256_broadcast_ss(s + p * src_stride + i), w0, a[p]);
            }
            for (int p = 0; p < 4; ++p) _mm256_store_ps(d + p * dst_stride + q0, a[p]);
        }
    }
}

static void run_tile(const dn_plane_mlp *f, const float *points, int64_t base, int np, float *out) {
    float feat[DN_TILE][DN_MAX_WIDTH] __attribute__((aligned(32)));
    float hid[DN_TILE][DN_MAX_WIDTH] __attribute__((aligned(32)));
    float res[DN_TILE][DN_MAX_WIDTH] __attribute__((aligned(32)));
    int64_t off[12 * DN_TILE];
    float wt[12 * DN_TILE] __attribute__((aligned(32)));
    const int64_t hw = f->h * f->w, c = f->c;

    /* coordinates, one lane per point (missing lanes repeat the last point) */
    float xyz[3][DN_TILE] __attribute__((aligned(32)));
    int64_t subject_row[DN_TILE];
    int64_t s = base / f->points_per_subject, next = (s + 1) * f->points_per_subject;
    for (int p = 0; p < DN_TILE; ++p) {
        const int64_t i = base + (p < np ? p : np - 1);
        for (int a = 0; a < 3; ++a) xyz[a][p] = points[3 * i + a];
        while (i >= next) { ++s; next += f->points_per_subject; }
        subject_row[p] = s * 3 * hw;
    }
    __m256i lo[2][3], hi[2][3];
    __m256 wlo[2][3], whi[2][3];
    for (int a = 0; a < 3; ++a) {
        const __m256 t = _mm256_load_ps(xyz[a]);
        axis_taps8(t, f->scale_w, f->offset_w, f->w, &lo[0][a], &hi[0][a], &wlo[0][a], &whi[0][a]);
        if (f->h == f->w && f->scale_h == f->scale_w && f->offset_h == f->offset_w) {
            lo[1][a] = lo[0][a]; hi[1][a] = hi[0][a]; wlo[1][a] = wlo[0][a]; whi[1][a] = whi[0][a];
        } else {
            axis_taps8(t, f->scale_h, f->offset_h, f->h, &lo[1][a], &hi[1][a], &wlo[1][a], &whi[1][a]);
        }
    }
    for (int k = 0; k < 3; ++k) {
        const int ax = (int)f->axes[2 * k], ay = (int)f->axes[2 * k + 1];
        const __m256i wv = _mm256_set1_epi32((int)f->w);
        const __m256i row_lo = _mm256_mullo_epi32(lo[1][ay], wv), row_hi = _mm256_mullo_epi32(hi[1][ay], wv);
        int32_t idx[4][DN_TILE] __attribute__((aligned(32)));
        _mm256_store_si256((__m256i *)idx[0], _mm256_add_epi32(row_lo, lo[0][ax]));
        _mm256_store_si256((__m256i *)idx[1], _mm256_add_epi32(row_lo, hi[0][ax]));
        _mm256_store_si256((__m256i *)idx[2], _mm256_add_epi32(row_hi, lo[0][ax]));
        _mm256_store_si256((__m256i *)idx[3], _mm256_add_epi32(row_hi, hi[0][ax]));
        _mm256_store_ps(wt + (4 * k + 0) * DN_TILE, _mm256_mul_ps(wlo[1][ay], wlo[0][ax]));
        _mm256_store_ps(wt + (4 * k + 1) * DN_TILE, _mm256_mul_ps(wlo[1][ay], whi[0][ax]));
        _mm256_store_ps(wt + (4 * k + 2) * DN_TILE, _mm256_mul_ps(whi[1][ay], wlo[0][ax]));
        _mm256_store_ps(wt + (4 * k + 3) * DN_TILE, _mm256_mul_ps(whi[1][ay], whi[0][ax]));
        for (int t = 0; t < 4; ++t)
            for (int p = 0; p < DN_TILE; ++p)
                off[(4 * k + t) * DN_TILE + p] = (subject_row[p] + k * hw + idx[t][p]) * c;
    }
    for (int p = 0; p < DN_TILE; ++p) {  /* missing points repeat the last one: constant trips */
        if (c == 32) gather_4(f->table, off + p, wt + p, feat[p]);
        else if (c == 64) gather_8(f->table, off + p, wt + p, feat[p]);
        else gather_any(f->table, off + p, wt + p, feat[p], c);
    }
    const int64_t nh = f->hidden;
    if (f->w_in) {
        dense(&feat[0][0], DN_MAX_WIDTH, f->w_in, nh, f->b_in, c, nh, &hid[0][0], DN_MAX_WIDTH);
        for (int p = 0; p < DN_TILE; ++p)
            for (int64_t q = 0; q < nh; q += 8) _mm256_store_ps(hid[p] + q, softplus8(_mm256_load_ps(hid[p] + q)));
    } else {
        for (int p = 0; p < DN_TILE; ++p)
            for (int64_t q = 0; q < nh; q += 8)
                _mm256_store_ps(hid[p] + q, softplus8(_mm256_add_ps(_mm256_load_ps(feat[p] + q), _mm256_loadu_ps(f->b_in + q))));
    }
    dense(&hid[0][0], DN_MAX_WIDTH, f->w_out, f->out_pad, f->b_out, nh, f->out_pad, &res[0][0], DN_MAX_WIDTH);
    for (int64_t q = f->sigmoid_from / 8 * 8; f->sigmoid_from < f->out && q < f->out; q += 8) {
        /* the block's columns below sigmoid_from keep y */
        const __m256 keep = _mm256_cmp_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7),
                                          _mm256_set1_ps((float)(f->sigmoid_from - q)), _CMP_LT_OQ);
        const __m256 scale = _mm256_set1_ps(f->sigmoid_scale), shift = _mm256_set1_ps(f->sigmoid_shift);
        for (int p = 0; p < DN_TILE; ++p) {
            const __m256 y = _mm256_load_ps(res[p] + q);
            _mm256_store_ps(res[p] + q, _mm256_blendv_ps(_mm256_fmadd_ps(sigmoid8(y), scale, shift), y, keep));
        }
    }
    for (int p = 0; p < np; ++p) memcpy(out + (base + p) * f->out, res[p], (size_t)f->out * sizeof(float));
}

static int shape_ok(const dn_plane_mlp *f) {
    for (int a = 0; a < 6; ++a)
        if (f->axes[a] < 0 || f->axes[a] > 2) return 0;
    return f->c > 0 && f->c % 8 == 0 && f->c <= DN_MAX_WIDTH && f->hidden > 0 && f->hidden % 8 == 0
        && f->hidden <= DN_MAX_WIDTH && (f->w_in || f->hidden == f->c) && f->out > 0
        && f->out_pad == (f->out + 7) / 8 * 8 && f->out_pad <= DN_MAX_WIDTH && f->points_per_subject > 0
        && f->sigmoid_from >= 0 && f->h > 0 && f->w > 0 && f->h * f->w * 3 < ((int64_t)1 << 31);
}

/* points [m, 3] -> out [m, f->out]. Returns 0, or -1 for a shape the kernel does not take. */
int dn_plane_mlp_run(const dn_plane_mlp *f, const float *points, int64_t m, float *out) {
    if (!shape_ok(f)) return -1;
    const int64_t tiles = (m + DN_TILE - 1) / DN_TILE;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < tiles; ++t) {
        const int64_t base = t * DN_TILE;
        run_tile(f, points, base, (int)(m - base < DN_TILE ? m - base : DN_TILE), out);
    }
    return 0;
}
#pragma GCC pop_options

#else  /* not x86-64 GCC/Clang: the reference path runs */
int dn_plane_mlp_supported(void) { return 0; }
int dn_plane_mlp_run(const dn_plane_mlp *f, const float *points, int64_t m, float *out) {
    (void)f; (void)points; (void)m; (void)out;
    return -1;
}
#endif

/* An importable module, so the build places it like any extension; plane_mlp.py loads the
 * two functions above through ctypes (which releases the GIL while they run). */
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, .m_name = "_plane_mlp_native", .m_size = -1};
PyMODINIT_FUNC PyInit__plane_mlp_native(void) { return PyModule_Create(&module); }
