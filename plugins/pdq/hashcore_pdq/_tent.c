/* PDQ's image-domain steps in C: luma, Jarosz filter and 64x64 decimation, as one tent of
 * weights per sample (see kernel.py for the why and the exactness argument).
 *
 * Compiled when the plugin is installed, so a process loads it in microseconds: the numba
 * version it replaces cost ~0.45 s of every process start (numba's import and its cache),
 * most of a `hashcore hash` of a few large photos.
 *
 * One entry point, fill(pixels, height, width, mirrors, out): `pixels` is H x 3W interleaved
 * RGB bytes (C order), `out` a writable C-order float64 buffer of mirrors^2 * 64 * 64 values
 * ([rows mirrored][columns mirrored][64][64]). Only the buffer protocol is used: no numpy
 * headers, nothing to match at build time. The GIL is released while it computes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SIDE 64

#if defined(__x86_64__) && defined(__GNUC__)
/* The kernel twice: for AVX2 (4 doubles a vector: as fast as numba's code for this CPU) and
 * for any x86-64 (SSE2: ~1.8x slower); the loader picks one per machine (ifunc). */
#define CLONED __attribute__((target_clones("avx2", "default")))
#else
#define CLONED
#endif

static inline Py_ssize_t window_of(Py_ssize_t length) {
    /* computeJaroszFilterWindowSize: ceil(length / 128) */
    return (length + 2 * SIDE - 1) / (2 * SIDE);
}

static inline Py_ssize_t span_of(Py_ssize_t length) { return 2 * window_of(length) - 1; }

static Py_ssize_t max_of(Py_ssize_t a, Py_ssize_t b) { return a > b ? a : b; }
static Py_ssize_t min_of(Py_ssize_t a, Py_ssize_t b) { return a < b ? a : b; }

/* Where each of the 64 samples along a line of `length` starts reading, and the weight of each
 * pixel from there (SIDE rows of `span`): box1DFloat twice, then decimateFloat's sample. */
static void taps(Py_ssize_t length, int mirrored, Py_ssize_t *starts, double *weights) {
    Py_ssize_t window = window_of(length), span = span_of(length);
    Py_ssize_t after = (window + 2) / 2 - 1;
    Py_ssize_t before = window - 1 - after;
    if (mirrored) {
        Py_ssize_t swap = before;
        before = after;
        after = swap;
    }
    memset(weights, 0, sizeof(double) * SIDE * span);
    for (Py_ssize_t i = 0; i < SIDE; i++) {
        Py_ssize_t line;
        if (mirrored) {
            line = length - 1 - (Py_ssize_t)(((double)(SIDE - 1 - i) + 0.5) * (double)length / SIDE);
        } else {
            line = (Py_ssize_t)(((double)i + 0.5) * (double)length / SIDE);
        }
        Py_ssize_t low = max_of(line - before, 0);
        Py_ssize_t high = min_of(line + after, length - 1);
        Py_ssize_t start = max_of(low - before, 0);
        starts[i] = start;
        for (Py_ssize_t k = low; k <= high; k++) { /* the second pass averages the first's */
            Py_ssize_t first = max_of(k - before, 0);
            Py_ssize_t last = min_of(k + after, length - 1);
            double share = 1.0 / (double)(last - first + 1) / (double)(high - low + 1);
            for (Py_ssize_t pixel = first; pixel <= last; pixel++) {
                weights[i * span + pixel - start] += share;
            }
        }
    }
}

/* The 64 samples of one line (`values`, zero-padded past its end) into out[i * stride], in
 * reverse for the mirrored alignment. The sum may be vectorised (reassociated): that moves a
 * sample by ~1e-16 of its value, far below the float32 PDQ computes in. */
static inline void sampled(const double *values, const Py_ssize_t *starts, const double *weights,
                    Py_ssize_t span, double *out, Py_ssize_t stride, int mirrored) {
    for (Py_ssize_t i = 0; i < SIDE; i++) {
        const double *w = weights + i * span;
        const double *v = values + starts[i];
        double total = 0.0;
#pragma omp simd reduction(+ : total)
        for (Py_ssize_t t = 0; t < span; t++) {
            total += w[t] * v[t];
        }
        out[(mirrored ? SIDE - 1 - i : i) * stride] = total;
    }
}

/* PDQ's luma of one row of interleaved RGB as pdqhash computes it: r*0.299 + g*0.587 + b*0.114
 * summed in float64, stored as float32. That float32 is the one nearest (299r + 587g + 114b) /
 * 1000: the float64 sum is within 1e-15 of that quotient, never near enough to a float32
 * rounding boundary to cross it. IEEE division of the integer sum gives that float32 exactly,
 * so this is the same value for all 2^24 colours (tests/test_pdq_luma.py checks every one), from
 * integer sums and one float32 division, 8 pixels a vector step, instead of 3 conversions and 3
 * float64 products for every 4. */
static inline void luma_line(const unsigned char *line, double *luma, Py_ssize_t width) {
    for (Py_ssize_t col = 0; col < width; col++) {
        int weighted = 299 * line[3 * col] + 587 * line[3 * col + 1] + 114 * line[3 * col + 2];
        luma[col] = (double)((float)weighted / 1000.0f);
    }
}

/* Fill `out` (see the top); 0, or -1 when out of memory. */
CLONED static int buffers(const unsigned char *pixels, Py_ssize_t height, Py_ssize_t width, int mirrors,
                   double *out) {
    Py_ssize_t column_span = span_of(width), row_span = span_of(height);
    Py_ssize_t column_starts[2][SIDE], row_starts[2][SIDE];
    double *column_weights = malloc(sizeof(double) * 2 * SIDE * column_span);
    double *row_weights = malloc(sizeof(double) * 2 * SIDE * row_span);
    double *across = malloc(sizeof(double) * mirrors * SIDE * height);
    double *luma = calloc(width + column_span, sizeof(double)); /* the padding stays zero */
    double *column = calloc(height + row_span, sizeof(double));
    int status = 0;
    if (!column_weights || !row_weights || !across || !luma || !column) {
        status = -1;
        goto done;
    }
    for (int m = 0; m < mirrors; m++) {
        taps(width, m == 1, column_starts[m], column_weights + m * SIDE * column_span);
        taps(height, m == 1, row_starts[m], row_weights + m * SIDE * row_span);
    }
    for (Py_ssize_t row = 0; row < height; row++) {
        luma_line(pixels + row * 3 * width, luma, width);
        for (int m = 0; m < mirrors; m++) {
            sampled(luma, column_starts[m], column_weights + m * SIDE * column_span, column_span,
                    across + m * SIDE * height + row, height, m == 1);
        }
    }
    for (int columns_mirrored = 0; columns_mirrored < mirrors; columns_mirrored++) {
        for (Py_ssize_t col = 0; col < SIDE; col++) {
            memcpy(column, across + (columns_mirrored * SIDE + col) * height, sizeof(double) * height);
            for (int rows_mirrored = 0; rows_mirrored < mirrors; rows_mirrored++) {
                double *target = out + (rows_mirrored * mirrors + columns_mirrored) * SIDE * SIDE;
                sampled(column, row_starts[rows_mirrored], row_weights + rows_mirrored * SIDE * row_span,
                        row_span, target + col, SIDE, rows_mirrored == 1);
            }
        }
    }
done:
    free(column_weights);
    free(row_weights);
    free(across);
    free(luma);
    free(column);
    return status;
}

static PyObject *fill(PyObject *self, PyObject *args) {
    Py_buffer pixels, out;
    Py_ssize_t height, width;
    int mirrors, status;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nniw*", &pixels, &height, &width, &mirrors, &out)) {
        return NULL;
    }
    if (height < 1 || width < 1 || (mirrors != 1 && mirrors != 2) ||
        pixels.len != height * width * 3 || !PyBuffer_IsContiguous(&pixels, 'C') ||
        out.len != (Py_ssize_t)sizeof(double) * mirrors * mirrors * SIDE * SIDE ||
        !PyBuffer_IsContiguous(&out, 'C')) {
        PyBuffer_Release(&pixels);
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "fill: sizes of pixels and out disagree");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = buffers((const unsigned char *)pixels.buf, height, width, mirrors, (double *)out.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&pixels);
    PyBuffer_Release(&out);
    if (status != 0) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

/* pdqImageDomainQualityMetric's sum for one 64x64 buffer, as kernel.py's numpy version computes it:
 * the buffer as float32 (PDQ's type), each vertical and horizontal step ((a - b) * 100 / 255 in
 * float32, in that order) truncated, their absolute values summed. The same IEEE float32
 * operations, so the same numbers; the sum is of whole numbers under 2^24 in all (at most 100
 * for each of 8,064 steps), exact in float32 in any order. GCC vectorises the float32 steps only
 * when told no floating-point trap is watched (no-trapping-math changes no value). */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_TRAPS __attribute__((optimize("no-trapping-math")))
#else
#define NO_TRAPS
#endif
CLONED NO_TRAPS static int quality_total(const double *values) {
    float v[SIDE * SIDE];
    for (int i = 0; i < SIDE * SIDE; i++) {
        v[i] = (float)values[i];
    }
    float total = 0.0f;
    for (int i = 0; i < SIDE - 1; i++) {
#pragma omp simd reduction(+ : total)
        for (int j = 0; j < SIDE; j++) {
            float step = ((v[i * SIDE + j] - v[(i + 1) * SIDE + j]) * 100.0f) / 255.0f;
            total += fabsf(truncf(step));
        }
    }
    for (int i = 0; i < SIDE; i++) {
#pragma omp simd reduction(+ : total)
        for (int j = 0; j < SIDE - 1; j++) {
            float step = ((v[i * SIDE + j] - v[i * SIDE + j + 1]) * 100.0f) / 255.0f;
            total += fabsf(truncf(step));
        }
    }
    return (int)total;
}

/* quality(buffer): the metric, over 90, at most 100 (~30 us of numpy calls a hash before). */
static PyObject *quality(PyObject *self, PyObject *args) {
    Py_buffer buffer;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &buffer)) {
        return NULL;
    }
    if (buffer.len != (Py_ssize_t)sizeof(double) * SIDE * SIDE) {
        PyBuffer_Release(&buffer);
        PyErr_SetString(PyExc_ValueError, "quality: the buffer must be 64x64 float64");
        return NULL;
    }
    int metric = quality_total((const double *)buffer.buf) / 90;
    PyBuffer_Release(&buffer);
    return PyLong_FromLong(metric > 100 ? 100 : metric);
}

static PyMethodDef methods[] = {
    {"fill", fill, METH_VARARGS,
     "fill(pixels, height, width, mirrors, out): PDQ's 64x64 buffers of H x 3W RGB bytes."},
    {"quality", quality, METH_VARARGS, "quality(buffer): PDQ's quality of a 64x64 float64 buffer."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tent", NULL, -1, methods};

PyMODINIT_FUNC PyInit__tent(void) { return PyModule_Create(&module); }
