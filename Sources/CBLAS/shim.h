#ifndef VLS_CBLAS_SHIM_H
#define VLS_CBLAS_SHIM_H
#include <cblas.h>
/* OpenBLAS control (declared in openblas_config / cblas-openblas.h on Debian). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
/* LAPACK (OpenBLAS bundles it): symmetric positive definite solve, for ridge probes. */
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void spotrs_(const char *uplo, const int *n, const int *nrhs, const float *a, const int *lda,
             float *b, const int *ldb, int *info);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
             double *b, const int *ldb, int *info);
#endif
