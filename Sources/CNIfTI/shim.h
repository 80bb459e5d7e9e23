// libnifti (nifti2_io reads and writes both NIfTI-1 and NIfTI-2). Its headers live in
// /usr/include/nifti and include each other with angle brackets: build with -Xcc -I/usr/include/nifti
// (the Makefile and Package.swift pass it).
// HAVE_ZLIB as libnifti was built: znzFile then shows its gzFile, so that a reader can ask zlib
// (gzerror) whether a stream ended cleanly (CRC and length checked) or was cut short.
#ifndef HAVE_ZLIB
#define HAVE_ZLIB 1
#endif
#include <zlib.h>
#include <nifti/nifti2_io.h>
#include <nifti/znzlib.h>
