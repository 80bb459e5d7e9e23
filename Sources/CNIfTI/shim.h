// libnifti (nifti2_io reads and writes both NIfTI-1 and NIfTI-2). Its headers live in
// /usr/include/nifti and include each other with angle brackets: build with -Xcc -I/usr/include/nifti
// (the Makefile and Package.swift pass it).
#include <nifti/nifti2_io.h>
#include <nifti/znzlib.h>
