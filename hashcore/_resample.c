/* Pillow's resampling of 8-bit pictures, bit for bit, read straight from an H x W x C array.
 *
 * Why: pHash's 32x32 Lanczos picture and the standard crops' 512 px working copy cost ~5.8 and
 * ~6.1 ms of a 1 MP photo in Pillow (scalar loops over its 4-byte RGBX pixels), more than PDQ
 * (1.7 ms). The same arithmetic here runs on the array PDQ already reads, the wide Lanczos sums
 * vectorised (see hashcore/resample.py for the figures).
 *
 * Exactness: the steps are Pillow's (src/libImaging/Resample.c, Convert.c): the same filters
 * and coefficient computation in double precision, the same rounding to 22-bit fixed point,
 * integer sums (which cannot overflow: 255 times the weights' absolute sum, under 2 for
 * Lanczos, times 2^22 stays under 2^31, Pillow's own "two extra bits"), the same clipping, the horizontal pass first and its rows limited to those the
 * vertical pass reads. Integer sums are exact, so summing in another order (vectorised) gives
 * the same values. The caller (resample.py) leaves to Pillow the cases this file does not
 * cover: Pillow >= 11 runs the vertical pass first when the height shrinks more than twice as
 * much as the width.
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
CLONED static void grey_of(const unsigned char *rgb, unsigned char *grey, size_t pixels) {
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

static void horizontal_3(const unsigned char *in, int in_width, unsigned char *out, int out_width, int rows,
                         int ksize, const int *bounds, const int32_t *kk) {
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
        grey_of(pixels, grey_pixels, (size_t)height * width);
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
            horizontal_1(rows, width, target, out_width, last - first, ksize_h, bounds_h, kk_h);
        } else {
            horizontal_3(rows, width, target, out_width, last - first, ksize_h, bounds_h, kk_h);
        }
        source = between;
    }
    if (need_vertical) {
        sums = malloc(sizeof(int32_t) * (size_t)out_width * channels);
        if (!sums) {
            goto done;
        }
        vertical(source, out, out_width * channels, out_height, ksize_v, bounds_v, kk_v, sums);
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

static PyMethodDef methods[] = {
    {"resample", resample, METH_VARARGS,
     "resample(pixels, height, width, channels, grey, out_width, out_height, filter, out): "
     "Pillow's BILINEAR (0) or LANCZOS (1) resize of H x W x channels bytes, bit for bit."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_resample", NULL, -1, methods};

PyMODINIT_FUNC PyInit__resample(void) { return PyModule_Create(&module); }
