#ifndef KENNEL_CBLAS_SHIM_H
#define KENNEL_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface. KennelEngine/GEMM.swift is the single call site of cblas_sgemm.
#include <cblas.h>
#endif
