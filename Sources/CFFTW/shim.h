// Single-precision FFTW (fftw3f).
#include <fftw3.h>
