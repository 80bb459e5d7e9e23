// OpenBLAS's cblas.h (pkg-config openblas adds its include directory).
#include <cblas.h>
