/* The border scan of hashcore/borders.py (_numpy_depths), line by line in C.
 *
 * Why: the numpy scan costs ~0.35 ms of every picture, nearly all of it numpy's per-call
 * overhead on a few small arrays per side (a picture without a border is decided on its first
 * line), about 4% of hashing a 1 MP JPEG. Here it costs microseconds.
 *
 * Exactness: the same samples (every step-th pixel of a line, step = ceil(length / samples)),
 * the border colour as numpy's median of the outermost line per channel rounded half to even
 * (rint), the same integer deviations and luma sums, and the same float64 comparisons
 * (within >= min_fraction * n; sum / n <= deviation * 1000), so each depth is the numpy scan's;
 * tests/test_borders.py compares the two on random and photographic pictures.
 *
 * One entry point, depths(pixels, height, width, side, deviations, tolerance, min_fraction,
 * samples): `pixels` is H x W x 3 bytes (C order), `side` 0-3 for top, bottom, left, right,
 * `deviations` a tuple of the readings' mean luma deviations; returns a list of depths, one
 * per reading (the line count when every line is border).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_READINGS 8
#define TOP 0
#define BOTTOM 1
#define LEFT 2
#define RIGHT 3

/* Where line `depth` from `side` inwards starts, and the distance between its samples. */
static inline void line_layout(int side, Py_ssize_t depth, Py_ssize_t step, Py_ssize_t height, Py_ssize_t width,
                               Py_ssize_t *start, Py_ssize_t *stride) {
    switch (side) {
    case TOP:
        *start = depth * width * 3;
        *stride = step * 3;
        break;
    case BOTTOM:
        *start = (height - 1 - depth) * width * 3;
        *stride = step * 3;
        break;
    case LEFT:
        *start = depth * 3;
        *stride = step * width * 3;
        break;
    default:
        *start = (width - 1 - depth) * 3;
        *stride = step * width * 3;
        break;
    }
}

/* numpy.median of `count` bytes, rounded half to even as numpy's round(). */
static int median_rounded(const unsigned char *values, Py_ssize_t count) {
    Py_ssize_t histogram[256] = {0};
    for (Py_ssize_t i = 0; i < count; i++) {
        histogram[values[i]]++;
    }
    Py_ssize_t high_rank = count / 2, low_rank = (count - 1) / 2; /* equal when count is odd */
    int low = -1, high = -1;
    Py_ssize_t seen = 0;
    for (int value = 0; value < 256 && high < 0; value++) {
        seen += histogram[value];
        if (low < 0 && seen > low_rank) {
            low = value;
        }
        if (seen > high_rank) {
            high = value;
        }
    }
    return (int)rint(((double)low + (double)high) / 2.0);
}

static void scan(const unsigned char *pixels, Py_ssize_t height, Py_ssize_t width, int side, const double *deviations,
                 int readings, int tolerance, double min_fraction, Py_ssize_t samples, unsigned char *channel,
                 Py_ssize_t *found) {
    int rows = side == TOP || side == BOTTOM;
    Py_ssize_t length = rows ? height : width;
    Py_ssize_t line = rows ? width : height;
    Py_ssize_t step = (line + samples - 1) / samples;
    Py_ssize_t count = (line + step - 1) / step;
    Py_ssize_t start, stride, previous = -1;
    int colour[3];
    line_layout(side, 0, step, height, width, &start, &stride);
    for (int c = 0; c < 3; c++) {
        for (Py_ssize_t s = 0; s < count; s++) {
            channel[s] = pixels[start + s * stride + c];
        }
        colour[c] = median_rounded(channel, count);
    }
    int left = readings;
    for (int k = 0; k < readings; k++) {
        found[k] = -1;
    }
    int uniform = 0;
    double mean = 0.0;
    for (Py_ssize_t depth = 0; depth < length && left > 0; depth++) {
        line_layout(side, depth, step, height, width, &start, &stride);
        /* A row equal to the one before (a flat bar, a one-colour picture) reads the same. */
        if (!(rows && previous >= 0 && memcmp(pixels + start, pixels + previous, (size_t)width * 3) == 0)) {
            Py_ssize_t within = 0;
            int64_t luma = 0;
            const unsigned char *p = pixels + start;
            for (Py_ssize_t s = 0; s < count; s++, p += stride) {
                int red = p[0] - colour[0], green = p[1] - colour[1], blue = p[2] - colour[2];
                int deviation = abs(red);
                deviation = abs(green) > deviation ? abs(green) : deviation;
                deviation = abs(blue) > deviation ? abs(blue) : deviation;
                within += deviation <= tolerance;
                luma += abs(299 * red + 587 * green + 114 * blue);
            }
            uniform = (double)within >= min_fraction * (double)count;
            mean = (double)luma / (double)count;
        }
        previous = start;
        for (int k = 0; k < readings; k++) {
            if (found[k] < 0 && !(uniform && mean <= deviations[k] * 1000.0)) {
                found[k] = depth;
                left--;
            }
        }
    }
    for (int k = 0; k < readings; k++) {
        if (found[k] < 0) {
            found[k] = length;
        }
    }
}

static PyObject *depths(PyObject *self, PyObject *args) {
    Py_buffer pixels;
    Py_ssize_t height, width, samples;
    int side, tolerance;
    double min_fraction;
    PyObject *deviation_tuple;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nniO!idn", &pixels, &height, &width, &side, &PyTuple_Type, &deviation_tuple,
                          &tolerance, &min_fraction, &samples)) {
        return NULL;
    }
    Py_ssize_t readings = PyTuple_GET_SIZE(deviation_tuple);
    double deviations[MAX_READINGS];
    Py_ssize_t found[MAX_READINGS];
    if (height < 1 || width < 1 || side < TOP || side > RIGHT || samples < 1 || readings < 1 ||
        readings > MAX_READINGS || pixels.len != height * width * 3 || !PyBuffer_IsContiguous(&pixels, 'C')) {
        PyBuffer_Release(&pixels);
        PyErr_SetString(PyExc_ValueError, "depths: bad sizes, side or readings");
        return NULL;
    }
    for (Py_ssize_t k = 0; k < readings; k++) {
        deviations[k] = PyFloat_AsDouble(PyTuple_GET_ITEM(deviation_tuple, k));
        if (deviations[k] == -1.0 && PyErr_Occurred()) {
            PyBuffer_Release(&pixels);
            return NULL;
        }
    }
    unsigned char *channel = malloc((size_t)(height > width ? height : width));
    if (channel == NULL) {
        PyBuffer_Release(&pixels);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    scan((const unsigned char *)pixels.buf, height, width, side, deviations, (int)readings, tolerance, min_fraction,
         samples, channel, found);
    Py_END_ALLOW_THREADS
    free(channel);
    PyBuffer_Release(&pixels);
    PyObject *result = PyList_New(readings);
    for (Py_ssize_t k = 0; result != NULL && k < readings; k++) {
        PyObject *depth = PyLong_FromSsize_t(found[k]);
        if (depth == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, k, depth);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"depths", depths, METH_VARARGS,
     "depths(pixels, height, width, side, deviations, tolerance, min_fraction, samples): each "
     "reading's border depth on one side of H x W x 3 bytes (hashcore.borders)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_borders", NULL, -1, methods};

PyMODINIT_FUNC PyInit__borders(void) { return PyModule_Create(&module); }
