/* Pillow's resampling of 8-bit pictures, bit for bit, read straight from an H x W x C array.
 *
 * Why: pHash's 32x32 Lanczos picture and the standard crops' 512 px working copy cost ~5.8 and
 * ~6.1 ms of a 1 MP photo in Pillow (scalar loops over its 4-byte RGBX pixels), more than PDQ
 * (1.7 ms). The same arithmetic here runs on the array PDQ already reads, vectorised: the wide
 * Lanczos sums along the row (with AVX2, 16 products an instruction on coefficients split in two
 * 16-bit halves), the narrow BILINEAR ones across 8 rows at a time (AVX2), and the vertical pass
 * 16 values and two taps at a time (AVX2, split coefficients), ~1.5 and ~1.2 ms (see
 * hashcore/resample.py).
 *
 * Exactness: the steps are Pillow's (src/libImaging/Resample.c, Convert.c): the same filters
 * and coefficient computation in double precision, the same rounding to 22-bit fixed point,
 * integer sums (which cannot overflow: 255 times the weights' absolute sum, under 2 for
 * Lanczos, times 2^22 stays under 2^31, Pillow's own "two extra bits"), the same clipping, the
 * horizontal pass first and its rows limited to those the vertical pass reads. Integer sums are
 * exact, so summing in another order or several rows at once (vectorised) gives the same
 * values. The caller (resample.py) leaves to Pillow the cases this file does not cover:
 * Pillow >= 11 runs the vertical pass first when the height shrinks more than twice as much as
 * the width.
 *
 * One entry point, resample(pixels, height, width, channels, grey, out_width, out_height,
 * filter, out): `pixels` is H x W x channels bytes (C order, channels 1 or 3); with `grey` an
 * RGB picture is first converted to L as Pillow's convert("L") does; `filter` 0 is BILINEAR, 1
 * LANCZOS; `out` a writable buffer of out_height x out_width x (grey ? 1 : channels) bytes.
 * Only the buffer protocol is used. The GIL is released while it computes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#if defined(__x86_64__) && defined(__GNUC__)
/* The sums twice: for AVX2 (8 products a vector) and for any x86-64; chosen at load. */
#define CLONED __attribute__((target_clones("avx2", "default")))
#else
#define CLONED
#endif

#define PRECISION_BITS (32 - 8 - 2)
#define BILINEAR 0
#define LANCZOS 1

static double bilinear_filter(double x) {
    if (x < 0.0) {
        x = -x;
    }
    if (x < 1.0) {
        return 1.0 - x;
    }
    return 0.0;
}

static double sinc_filter(double x) {
    if (x == 0.0) {
        return 1.0;
    }
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos_filter(double x) {
    if (-3.0 <= x && x < 3.0) {
        return sinc_filter(x) * sinc_filter(x / 3);
    }
    return 0.0;
}

static inline unsigned char clip8(int32_t in) {
    int32_t value = in >> PRECISION_BITS;
    return (unsigned char)(value < 0 ? 0 : value > 255 ? 255 : value);
}

/* precompute_coeffs and normalize_coeffs_8bpc: for each output position its first input
 * position, its count of inputs, and `ksize` fixed-point weights. Returns ksize, 0 when out of
 * memory. */
static int coefficients(int in_size, int out_size, int filter, int **bounds_out, int32_t **kk_out) {
    double (*weight)(double) = filter == LANCZOS ? lanczos_filter : bilinear_filter;
    double base_support = filter == LANCZOS ? 3.0 : 1.0;
    float in0 = 0.0f, in1 = (float)in_size;
    double scale, filterscale;
    filterscale = scale = (double)(in1 - in0) / out_size;
    if (filterscale < 1.0) {
        filterscale = 1.0;
    }
    double support = base_support * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *kk = malloc(sizeof(double) * (size_t)out_size * ksize);
    int32_t *fixed = malloc(sizeof(int32_t) * (size_t)out_size * ksize);
    int *bounds = malloc(sizeof(int) * 2 * (size_t)out_size);
    if (!kk || !fixed || !bounds) {
        free(kk);
        free(fixed);
        free(bounds);
        return 0;
    }
    double inv_filterscale = 1.0 / filterscale;
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) {
            xmin = 0;
        }
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) {
            xmax = in_size;
        }
        xmax -= xmin;
        double *k = &kk[(size_t)xx * ksize];
        int x;
        for (x = 0; x < xmax; x++) {
            double w = weight((x + xmin - center + 0.5) * inv_filterscale);
            k[x] = w;
            ww += w;
        }
        if (ww != 0.0) {
            for (x = 0; x < xmax; x++) {
                k[x] /= ww;
            }
        }
        for (; x < ksize; x++) {
            k[x] = 0;
        }
        bounds[xx * 2 + 0] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * ksize; i++) {
        if (kk[i] < 0) {
            fixed[i] = (int)(-0.5 + kk[i] * (1 << PRECISION_BITS));
        } else {
            fixed[i] = (int)(0.5 + kk[i] * (1 << PRECISION_BITS));
        }
    }
    free(kk);
    *bounds_out = bounds;
    *kk_out = fixed;
    return ksize;
}

/* Convert.c's rgb2l: L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16. */
static void grey_of(const unsigned char *rgb, unsigned char *grey, size_t pixels) {
    for (size_t i = 0; i < pixels; i++) {
        grey[i] = (unsigned char)((rgb[3 * i] * 19595 + rgb[3 * i + 1] * 38470 + rgb[3 * i + 2] * 7471 +
                                   0x8000) >> 16);
    }
}

/* One band: the long Lanczos windows vectorise here. */
CLONED static void horizontal_1(const unsigned char *in, int in_width, unsigned char *out, int out_width,
                                int rows, int ksize, const int *bounds, const int32_t *kk) {
    for (int yy = 0; yy < rows; yy++) {
        const unsigned char *line = in + (size_t)yy * in_width;
        unsigned char *target = out + (size_t)yy * out_width;
        for (int xx = 0; xx < out_width; xx++) {
            int xmin = bounds[xx * 2], count = bounds[xx * 2 + 1];
            const int32_t *k = kk + (size_t)xx * ksize;
            int32_t ss = 1 << (PRECISION_BITS - 1);
            for (int x = 0; x < count; x++) {
                ss += line[x + xmin] * k[x];
            }
            target[xx] = clip8(ss);
        }
    }
}

/* Three bands, row by row: the fallback for the rows left over by horizontal_3. */
static void rows_3(const unsigned char *in, int in_width, unsigned char *out, int out_width, int rows, int ksize,
                   const int *bounds, const int32_t *kk) {
    for (int yy = 0; yy < rows; yy++) {
        const unsigned char *line = in + (size_t)yy * in_width * 3;
        unsigned char *target = out + (size_t)yy * out_width * 3;
        for (int xx = 0; xx < out_width; xx++) {
            int xmin = bounds[xx * 2], count = bounds[xx * 2 + 1];
            const int32_t *k = kk + (size_t)xx * ksize;
            const unsigned char *p = line + (size_t)xmin * 3;
            int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < count; x++) {
                s0 += p[3 * x] * k[x];
                s1 += p[3 * x + 1] * k[x];
                s2 += p[3 * x + 2] * k[x];
            }
            target[3 * xx] = clip8(s0);
            target[3 * xx + 1] = clip8(s1);
            target[3 * xx + 2] = clip8(s2);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ROWS_AT_ONCE 8

/* 8 bytes as 8 int32 lanes. */
__attribute__((target("avx2"))) static inline __m256i widened(const unsigned char *p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

/* The 8 rows of `values` bytes interleaved in `turned` (byte j of row r at j * 8 + r) written
 * back as rows: 8x8 byte transposes by unpacking, the few last bytes one by one. */
__attribute__((target("avx2"))) static void put_back(const unsigned char *turned, unsigned char *target,
                                                    size_t values) {
    size_t j = 0;
    for (; j + 8 <= values; j += 8) {
        const unsigned char *t = turned + j * ROWS_AT_ONCE;
        __m128i a0 = _mm_loadu_si128((const __m128i *)t), a1 = _mm_loadu_si128((const __m128i *)(t + 16));
        __m128i a2 = _mm_loadu_si128((const __m128i *)(t + 32)), a3 = _mm_loadu_si128((const __m128i *)(t + 48));
        __m128i t0 = _mm_unpacklo_epi8(a0, _mm_srli_si128(a0, 8));
        __m128i t1 = _mm_unpacklo_epi8(a1, _mm_srli_si128(a1, 8));
        __m128i t2 = _mm_unpacklo_epi8(a2, _mm_srli_si128(a2, 8));
        __m128i t3 = _mm_unpacklo_epi8(a3, _mm_srli_si128(a3, 8));
        __m128i u0 = _mm_unpacklo_epi16(t0, t1), u1 = _mm_unpackhi_epi16(t0, t1);
        __m128i u2 = _mm_unpacklo_epi16(t2, t3), u3 = _mm_unpackhi_epi16(t2, t3);
        __m128i rows01 = _mm_unpacklo_epi32(u0, u2), rows23 = _mm_unpackhi_epi32(u0, u2);
        __m128i rows45 = _mm_unpacklo_epi32(u1, u3), rows67 = _mm_unpackhi_epi32(u1, u3);
        _mm_storel_epi64((__m128i *)(target + j), rows01);
        _mm_storel_epi64((__m128i *)(target + values + j), _mm_srli_si128(rows01, 8));
        _mm_storel_epi64((__m128i *)(target + 2 * values + j), rows23);
        _mm_storel_epi64((__m128i *)(target + 3 * values + j), _mm_srli_si128(rows23, 8));
        _mm_storel_epi64((__m128i *)(target + 4 * values + j), rows45);
        _mm_storel_epi64((__m128i *)(target + 5 * values + j), _mm_srli_si128(rows45, 8));
        _mm_storel_epi64((__m128i *)(target + 6 * values + j), rows67);
        _mm_storel_epi64((__m128i *)(target + 7 * values + j), _mm_srli_si128(rows67, 8));
    }
    for (; j < values; j++) {
        for (int r = 0; r < ROWS_AT_ONCE; r++) {
            target[r * values + j] = turned[j * ROWS_AT_ONCE + r];
        }
    }
}

/* Three bands, 8 rows at a time, for AVX2: the rows' bytes are interleaved first (each byte of
 * the row followed by the same byte of the 7 next rows), so a tap's weight multiplies 8
 * contiguous bytes of each band: 24 products in three vector steps, where row by row a tap is
 * three scalar ones. The clipped results are interleaved the same way, then put back in rows.
 * Same sums, same order per value as rows_3 (integers: exact). Returns the rows it did (a
 * multiple of 8): rows_3 does the rest. `block` holds (in_width + out_width) * 24 bytes. */
__attribute__((target("avx2"))) static int blocks_3(const unsigned char *in, int in_width, unsigned char *out,
                                                    int out_width, int rows, int ksize, const int *bounds,
                                                    const int32_t *kk, unsigned char *block) {
    size_t values = (size_t)in_width * 3, out_values = (size_t)out_width * 3;
    unsigned char *turned = block + values * ROWS_AT_ONCE;
    int yy = 0;
    for (; yy + ROWS_AT_ONCE <= rows; yy += ROWS_AT_ONCE) {
        const unsigned char *lines = in + (size_t)yy * values;
        for (size_t j = 0; j < values; j++) {
            for (int r = 0; r < ROWS_AT_ONCE; r++) {
                block[j * ROWS_AT_ONCE + r] = lines[r * values + j];
            }
        }
        for (int xx = 0; xx < out_width; xx++) {
            int xmin = bounds[xx * 2], count = bounds[xx * 2 + 1];
            const int32_t *k = kk + (size_t)xx * ksize;
            __m256i red = _mm256_set1_epi32(1 << (PRECISION_BITS - 1)), green = red, blue = red;
            for (int x = 0; x < count; x++) {
                const unsigned char *p = block + (size_t)(xmin + x) * 3 * ROWS_AT_ONCE;
                __m256i weight = _mm256_set1_epi32(k[x]);
                red = _mm256_add_epi32(red, _mm256_mullo_epi32(widened(p), weight));
                green = _mm256_add_epi32(green, _mm256_mullo_epi32(widened(p + 8), weight));
                blue = _mm256_add_epi32(blue, _mm256_mullo_epi32(widened(p + 16), weight));
            }
            /* clip8: the top bits, saturated to 0..255 by the two packs */
            red = _mm256_srai_epi32(red, PRECISION_BITS);
            green = _mm256_srai_epi32(green, PRECISION_BITS);
            blue = _mm256_srai_epi32(blue, PRECISION_BITS);
            __m128i red16 = _mm_packs_epi32(_mm256_castsi256_si128(red), _mm256_extracti128_si256(red, 1));
            __m128i green16 = _mm_packs_epi32(_mm256_castsi256_si128(green), _mm256_extracti128_si256(green, 1));
            __m128i blue16 = _mm_packs_epi32(_mm256_castsi256_si128(blue), _mm256_extracti128_si256(blue, 1));
            unsigned char *t = turned + (size_t)xx * 3 * ROWS_AT_ONCE;
            _mm_storeu_si128((__m128i *)t, _mm_packus_epi16(red16, green16));
            _mm_storel_epi64((__m128i *)(t + 16), _mm_packus_epi16(blue16, blue16));
        }
        put_back(turned, out + (size_t)yy * out_values, out_values);
    }
    return yy;
}

/* grey_of, 8 pixels a step: their 24 bytes sorted into red, green and blue by two shuffles
 * each, widened to int32, the same products and sums; the last few pixels by grey_of. */
__attribute__((target("avx2"))) static void grey_avx2(const unsigned char *rgb, unsigned char *grey,
                                                     size_t pixels) {
    const __m128i low_red = _mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i high_red = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 2, 5, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i low_green = _mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i high_green = _mm_setr_epi8(-1, -1, -1, -1, -1, 0, 3, 6, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i low_blue = _mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i high_blue = _mm_setr_epi8(-1, -1, -1, -1, -1, 1, 4, 7, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i red_weight = _mm256_set1_epi32(19595), green_weight = _mm256_set1_epi32(38470);
    const __m256i blue_weight = _mm256_set1_epi32(7471), half = _mm256_set1_epi32(0x8000);
    size_t i = 0;
    for (; i + 8 <= pixels; i += 8) {
        const unsigned char *p = rgb + 3 * i;
        __m128i low = _mm_loadu_si128((const __m128i *)p), high = _mm_loadl_epi64((const __m128i *)(p + 16));
        __m128i red = _mm_or_si128(_mm_shuffle_epi8(low, low_red), _mm_shuffle_epi8(high, high_red));
        __m128i green = _mm_or_si128(_mm_shuffle_epi8(low, low_green), _mm_shuffle_epi8(high, high_green));
        __m128i blue = _mm_or_si128(_mm_shuffle_epi8(low, low_blue), _mm_shuffle_epi8(high, high_blue));
        __m256i sum = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_cvtepu8_epi32(red), red_weight), half);
        sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(green), green_weight));
        sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(blue), blue_weight));
        sum = _mm256_srli_epi32(sum, 16); /* 0..255: the packs below keep every value */
        __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        _mm_storel_epi64((__m128i *)(grey + i), _mm_packus_epi16(words, words));
    }
    grey_of(rgb + 3 * i, grey + i, pixels - i);
}
#define HAS_BLOCKS 1
#endif

/* RGB to L: 8 pixels a step where the CPU has AVX2. */
static void grey_picture(const unsigned char *rgb, unsigned char *grey, size_t pixels) {
#ifdef HAS_BLOCKS
    if (__builtin_cpu_supports("avx2")) {
        grey_avx2(rgb, grey, pixels);
        return;
    }
#endif
    grey_of(rgb, grey, pixels);
}

#ifdef HAS_BLOCKS
/* A 22-bit coefficient as hi * 2^11 + lo, both int16 (lo in 0..2047; the shift is arithmetic, so
 * negative lobes split too): what lets AVX2's 16-bit multiply-add sum the products exactly. */
static inline int16_t high_half(int32_t k) { return (int16_t)(k >> 11); }
static inline int16_t low_half(int32_t k) { return (int16_t)(k & 0x7ff); }

/* The wide Lanczos sums of one band with AVX2's 16-bit multiply-add (16 products an
 * instruction instead of 8): each 22-bit coefficient is split as hi * 2^11 + lo (lo in 0..2047,
 * both int16), and sum(p * k) = 2^11 * sum(p * hi) + sum(p * lo). The vector sums wrap, which
 * leaves the result exact: the true total fits int32 (the bound in the header) and wrapping
 * arithmetic is exact modulo 2^32. `hi` and `lo` have `stride` (ksize rounded up to 16) taps an
 * output, zero past its count, so the last 16 may read pixels past the window (times zero): within
 * the row, or the next one, except at the end of the last row, where they are copied out first. */
__attribute__((target("avx2"))) static void horizontal_1_split(const unsigned char *in, int in_width,
                                                               unsigned char *out, int out_width, int rows,
                                                               const int *bounds, const int16_t *hi,
                                                               const int16_t *lo, int stride) {
    unsigned char edge[16];
    for (int yy = 0; yy < rows; yy++) {
        const unsigned char *line = in + (size_t)yy * in_width;
        unsigned char *target = out + (size_t)yy * out_width;
        for (int xx = 0; xx < out_width; xx++) {
            int xmin = bounds[xx * 2], count = bounds[xx * 2 + 1];
            const unsigned char *p = line + xmin;
            const int16_t *h = hi + (size_t)xx * stride, *l = lo + (size_t)xx * stride;
            __m256i high = _mm256_setzero_si256(), low = _mm256_setzero_si256();
            for (int x = 0; x < count; x += 16) {
                const unsigned char *at = p + x;
                if (yy == rows - 1 && xmin + x + 16 > in_width) { /* past the end of the pixels */
                    memset(edge, 0, sizeof(edge));
                    memcpy(edge, at, (size_t)(in_width - xmin - x));
                    at = edge;
                }
                __m256i pixels = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)at));
                __m256i upper = _mm256_loadu_si256((const __m256i *)(h + x));
                __m256i lower = _mm256_loadu_si256((const __m256i *)(l + x));
                high = _mm256_add_epi32(high, _mm256_madd_epi16(pixels, upper));
                low = _mm256_add_epi32(low, _mm256_madd_epi16(pixels, lower));
            }
            __m256i both = _mm256_add_epi32(_mm256_slli_epi32(high, 11), low);
            __m128i half = _mm_add_epi32(_mm256_castsi256_si128(both), _mm256_extracti128_si256(both, 1));
            half = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0x4e));
            half = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0xb1));
            uint32_t ss = (uint32_t)(1 << (PRECISION_BITS - 1)) + (uint32_t)_mm_cvtsi128_si32(half);
            target[xx] = clip8((int32_t)ss);
        }
    }
}
#endif

/* One band: the split 16-bit sums where the CPU has AVX2 and the windows are long enough,
 * else the plain int32 loop (which the compiler vectorises 8 products at a time). 0, or -1
 * when out of memory. */
static int horizontal_band(const unsigned char *in, int in_width, unsigned char *out, int out_width, int rows,
                           int ksize, const int *bounds, const int32_t *kk) {
#ifdef HAS_BLOCKS
    if (ksize >= 32 && __builtin_cpu_supports("avx2")) {
        int stride = (ksize + 15) & ~15;
        size_t taps = (size_t)out_width * stride;
        int16_t *hi = calloc(taps, sizeof(int16_t)), *lo = calloc(taps, sizeof(int16_t));
        if (!hi || !lo) {
            free(hi);
            free(lo);
            return -1;
        }
        for (int xx = 0; xx < out_width; xx++) {
            for (int x = 0; x < bounds[xx * 2 + 1]; x++) {
                int32_t k = kk[(size_t)xx * ksize + x];
                hi[(size_t)xx * stride + x] = high_half(k);
                lo[(size_t)xx * stride + x] = low_half(k);
            }
        }
        horizontal_1_split(in, in_width, out, out_width, rows, bounds, hi, lo, stride);
        free(hi);
        free(lo);
        return 0;
    }
#endif
    horizontal_1(in, in_width, out, out_width, rows, ksize, bounds, kk);
    return 0;
}

/* Three bands: 8 rows at a time where the CPU has AVX2, the rest row by row. 0, or -1 when
 * out of memory. */
static int horizontal_3(const unsigned char *in, int in_width, unsigned char *out, int out_width, int rows,
                        int ksize, const int *bounds, const int32_t *kk) {
    int done = 0;
#ifdef HAS_BLOCKS
    if (__builtin_cpu_supports("avx2") && rows >= ROWS_AT_ONCE) {
        unsigned char *block = malloc((size_t)(in_width + out_width) * 3 * ROWS_AT_ONCE);
        if (!block) {
            return -1;
        }
        done = blocks_3(in, in_width, out, out_width, rows, ksize, bounds, kk, block);
        free(block);
    }
#endif
    rows_3(in + (size_t)done * in_width * 3, in_width, out + (size_t)done * out_width * 3, out_width, rows - done,
           ksize, bounds, kk);
    return 0;
}

/* Every band of a row at once (the same weights): a row of sums, vectorised across it. */
CLONED static void vertical(const unsigned char *in, unsigned char *out, int values, int out_height, int ksize,
                            const int *bounds, const int32_t *kk, int32_t *sums) {
    for (int yy = 0; yy < out_height; yy++) {
        int ymin = bounds[yy * 2], count = bounds[yy * 2 + 1];
        const int32_t *k = kk + (size_t)yy * ksize;
        for (int i = 0; i < values; i++) {
            sums[i] = 1 << (PRECISION_BITS - 1);
        }
        for (int y = 0; y < count; y++) {
            const unsigned char *line = in + (size_t)(y + ymin) * values;
            int32_t weight = k[y];
            for (int i = 0; i < values; i++) {
                sums[i] += line[i] * weight;
            }
        }
        unsigned char *target = out + (size_t)yy * values;
        for (int i = 0; i < values; i++) {
            target[i] = clip8(sums[i]);
        }
    }
}

#ifdef HAS_BLOCKS
/* The vertical pass with AVX2: 16 values at a time held in registers through all their taps,
 * two taps an instruction (vpmaddwd on the two rows' pixels interleaved) with each coefficient
 * split as hi * 2^11 + lo, as horizontal_1_split does (exact in wrapping int32 arithmetic); an odd
 * last tap is paired with a zero. Pillow's clip is the arithmetic shift and two saturating packs.
 * The values past the last whole 16 go through the plain loop. */
__attribute__((target("avx2"))) static void vertical_split(const unsigned char *in, unsigned char *out,
                                                           int values, int out_height, int ksize,
                                                           const int *bounds, const int32_t *kk,
                                                           int32_t *pairs) { /* ksize + 1 of them */
    int whole = values / 16 * 16;
    for (int yy = 0; yy < out_height; yy++) {
        int ymin = bounds[yy * 2], count = bounds[yy * 2 + 1];
        const int32_t *k = kk + (size_t)yy * ksize;
        unsigned char *target = out + (size_t)yy * values;
        for (int y = 0; y < count; y += 2) { /* each two taps' halves, as vpmaddwd pairs them */
            int32_t k1 = y + 1 < count ? k[y + 1] : 0;
            pairs[y] = (int32_t)(((uint32_t)(uint16_t)high_half(k1) << 16) | (uint16_t)high_half(k[y]));
            pairs[y + 1] = (int32_t)(((uint32_t)(uint16_t)low_half(k1) << 16) | (uint16_t)low_half(k[y]));
        }
        for (int i = 0; i < whole; i += 16) {
            __m256i high0 = _mm256_setzero_si256(), high1 = _mm256_setzero_si256();
            __m256i low0 = _mm256_setzero_si256(), low1 = _mm256_setzero_si256();
            for (int y = 0; y < count; y += 2) {
                const unsigned char *first = in + (size_t)(ymin + y) * values + i;
                const unsigned char *second = y + 1 < count ? first + values : first;
                __m256i a = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)first));
                __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)second));
                __m256i pairs0 = _mm256_unpacklo_epi16(a, b), pairs1 = _mm256_unpackhi_epi16(a, b);
                __m256i upper = _mm256_set1_epi32(pairs[y]), lower = _mm256_set1_epi32(pairs[y + 1]);
                high0 = _mm256_add_epi32(high0, _mm256_madd_epi16(pairs0, upper));
                high1 = _mm256_add_epi32(high1, _mm256_madd_epi16(pairs1, upper));
                low0 = _mm256_add_epi32(low0, _mm256_madd_epi16(pairs0, lower));
                low1 = _mm256_add_epi32(low1, _mm256_madd_epi16(pairs1, lower));
            }
            __m256i half = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
            __m256i sums0 = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(high0, 11), low0), half);
            __m256i sums1 = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(high1, 11), low1), half);
            __m256i words = _mm256_packus_epi32(_mm256_srai_epi32(sums0, PRECISION_BITS),
                                                _mm256_srai_epi32(sums1, PRECISION_BITS));
            __m256i bytes = _mm256_permute4x64_epi64(_mm256_packus_epi16(words, words), 0x08);
            _mm_storeu_si128((__m128i *)(target + i), _mm256_castsi256_si128(bytes));
        }
        for (int i = whole; i < values; i++) {
            int32_t ss = 1 << (PRECISION_BITS - 1);
            for (int y = 0; y < count; y++) {
                ss += in[(size_t)(ymin + y) * values + i] * k[y];
            }
            target[i] = clip8(ss);
        }
    }
}
#endif

/* ImagingResampleInner, horizontal pass first; 0, or -1 when out of memory. */
static int resample_picture(const unsigned char *pixels, int height, int width, int channels, int grey,
                            int out_width, int out_height, int filter, unsigned char *out) {
    unsigned char *grey_pixels = NULL, *between = NULL;
    int *bounds_h = NULL, *bounds_v = NULL;
    int32_t *kk_h = NULL, *kk_v = NULL, *sums = NULL;
    int status = -1;
    const unsigned char *source = pixels;
    if (grey && channels == 3) {
        grey_pixels = malloc((size_t)height * width);
        if (!grey_pixels) {
            goto done;
        }
        grey_picture(pixels, grey_pixels, (size_t)height * width);
        source = grey_pixels;
        channels = 1;
    }
    int need_horizontal = out_width != width, need_vertical = out_height != height;
    int ksize_v = 0, ksize_h = 0, first = 0, last = height;
    if (need_vertical) {
        ksize_v = coefficients(height, out_height, filter, &bounds_v, &kk_v);
        if (!ksize_v) {
            goto done;
        }
    }
    if (need_horizontal) {
        if (need_vertical) {
            first = bounds_v[0];
            last = bounds_v[out_height * 2 - 2] + bounds_v[out_height * 2 - 1];
            for (int i = 0; i < out_height; i++) {
                bounds_v[i * 2] -= first;
            }
        }
        ksize_h = coefficients(width, out_width, filter, &bounds_h, &kk_h);
        if (!ksize_h) {
            goto done;
        }
        unsigned char *target = out;
        if (need_vertical) {
            between = malloc((size_t)(last - first) * out_width * channels);
            if (!between) {
                goto done;
            }
            target = between;
        }
        const unsigned char *rows = source + (size_t)first * width * channels;
        if (channels == 1) {
            int failed = horizontal_band(rows, width, target, out_width, last - first, ksize_h, bounds_h, kk_h);
            if (failed) {
                goto done;
            }
        } else {
            if (horizontal_3(rows, width, target, out_width, last - first, ksize_h, bounds_h, kk_h) != 0) {
                goto done;
            }
        }
        source = between;
    }
    if (need_vertical) {
        /* the plain pass's sums of a row, or the AVX2 pass's coefficient pairs of an output row */
        size_t room = (size_t)out_width * channels > (size_t)ksize_v + 1 ? (size_t)out_width * channels
                                                                          : (size_t)ksize_v + 1;
        sums = malloc(sizeof(int32_t) * room);
        if (!sums) {
            goto done;
        }
#ifdef HAS_BLOCKS
        if (__builtin_cpu_supports("avx2")) {
            vertical_split(source, out, out_width * channels, out_height, ksize_v, bounds_v, kk_v, sums);
        } else
#endif
        {
            vertical(source, out, out_width * channels, out_height, ksize_v, bounds_v, kk_v, sums);
        }
    } else if (!need_horizontal) {
        memcpy(out, source, (size_t)height * width * channels);
    }
    status = 0;
done:
    free(grey_pixels);
    free(between);
    free(bounds_h);
    free(bounds_v);
    free(kk_h);
    free(kk_v);
    free(sums);
    return status;
}

static PyObject *resample(PyObject *self, PyObject *args) {
    Py_buffer pixels, out;
    int height, width, channels, grey, out_width, out_height, filter, status;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*iiipiiiw*", &pixels, &height, &width, &channels, &grey, &out_width,
                          &out_height, &filter, &out)) {
        return NULL;
    }
    int out_channels = grey ? 1 : channels;
    if (height < 1 || width < 1 || out_width < 1 || out_height < 1 || (channels != 1 && channels != 3) ||
        (filter != BILINEAR && filter != LANCZOS) ||
        pixels.len != (Py_ssize_t)height * width * channels || !PyBuffer_IsContiguous(&pixels, 'C') ||
        out.len != (Py_ssize_t)out_height * out_width * out_channels || !PyBuffer_IsContiguous(&out, 'C')) {
        PyBuffer_Release(&pixels);
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "resample: sizes of pixels and out disagree");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = resample_picture((const unsigned char *)pixels.buf, height, width, channels, grey, out_width,
                              out_height, filter, (unsigned char *)out.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&pixels);
    PyBuffer_Release(&out);
    if (status != 0) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

/* Arrow's C data interface (https://arrow.apache.org/docs/format/CDataInterface.html), which
 * Pillow >= 11.2 exports an image through without copying: an RGB image is a fixed-size list of
 * 4 bytes a pixel (R, G, B, padding) over its own memory. */
struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

/* The RGBX bytes of an exported image, or NULL when the export is not 4 bytes a pixel over
 * `pixels` pixels in one buffer. */
static const unsigned char *rgbx_bytes(const struct ArrowSchema *schema, const struct ArrowArray *array,
                                       Py_ssize_t pixels) {
    if (schema->release == NULL || array->release == NULL || schema->format == NULL ||
        strcmp(schema->format, "+w:4") != 0 || schema->n_children != 1 || schema->children[0]->format == NULL ||
        strcmp(schema->children[0]->format, "C") != 0 || array->n_children != 1 || array->offset != 0 ||
        array->length != pixels || array->null_count > 0) {
        return NULL;
    }
    const struct ArrowArray *bytes = array->children[0];
    if (bytes->n_buffers != 2 || bytes->offset != 0 || bytes->length != 4 * pixels || bytes->null_count > 0 ||
        bytes->buffers[1] == NULL) {
        return NULL;
    }
    return (const unsigned char *)bytes->buffers[1];
}

CLONED static void pack_rgb(const unsigned char *restrict rgbx, unsigned char *restrict rgb, Py_ssize_t pixels) {
    for (Py_ssize_t i = 0; i < pixels; i++) {
        rgb[3 * i] = rgbx[4 * i];
        rgb[3 * i + 1] = rgbx[4 * i + 1];
        rgb[3 * i + 2] = rgbx[4 * i + 2];
    }
}

/* rgb_from_arrow(schema, array, out): an RGB image's pixels, exported by Pillow as Arrow
 * capsules (Image.__arrow_c_array__()), packed into `out`, a writable buffer of 3 bytes a
 * pixel: what numpy.asarray(image) gives, without Pillow's tobytes() (a packed copy per strip,
 * then one more to join them). */
static PyObject *rgb_from_arrow(PyObject *self, PyObject *args) {
    PyObject *schema_capsule, *array_capsule;
    Py_buffer out;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOw*", &schema_capsule, &array_capsule, &out)) {
        return NULL;
    }
    const struct ArrowSchema *schema = PyCapsule_GetPointer(schema_capsule, "arrow_schema");
    const struct ArrowArray *array = schema ? PyCapsule_GetPointer(array_capsule, "arrow_array") : NULL;
    if (array == NULL) {
        PyBuffer_Release(&out);
        return NULL;
    }
    Py_ssize_t pixels = out.len / 3;
    const unsigned char *rgbx = rgbx_bytes(schema, array, pixels);
    if (rgbx == NULL || out.len % 3 != 0 || !PyBuffer_IsContiguous(&out, 'C')) {
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "rgb_from_arrow: not 4 bytes a pixel over as many pixels as out");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    pack_rgb(rgbx, (unsigned char *)out.buf, pixels);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"rgb_from_arrow", rgb_from_arrow, METH_VARARGS,
     "rgb_from_arrow(schema, array, out): an RGB image's Arrow export (4 bytes a pixel) packed "
     "into out (3 bytes a pixel)."},
    {"resample", resample, METH_VARARGS,
     "resample(pixels, height, width, channels, grey, out_width, out_height, filter, out): "
     "Pillow's BILINEAR (0) or LANCZOS (1) resize of H x W x channels bytes, bit for bit."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_resample", NULL, -1, methods};

PyMODINIT_FUNC PyInit__resample(void) { return PyModule_Create(&module); }
