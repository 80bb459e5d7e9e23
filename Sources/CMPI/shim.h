// Open MPI for PETDistributed's ProcessGroup (the only Swift file that calls these). MPI_COMM_WORLD,
// MPI_FLOAT, MPI_SUM … are macros over Open MPI's internal structs that Swift cannot import, so every
// call goes through a function here. The job's communicator (a duplicate of MPI_COMM_WORLD whose
// errors return codes instead of aborting, so the caller can name the rank and the reason before it
// ends the job) is an opaque handle that ProcessGroup keeps private. (Not a static in this header:
// functions inlined into another Swift module would see that module's own, never initialised, copy.)
#include <mpi.h>
#include <stdint.h>

static inline int petgan_mpi_is_initialized(void) { int f = 0; MPI_Initialized(&f); return f; }
static inline int petgan_mpi_is_finalized(void) { int f = 0; MPI_Finalized(&f); return f; }

/// MPI_Init_thread (funneled: only the main thread calls MPI; the worker pool never does) and the
/// job communicator. Returns an MPI error code; *provided gets the thread level granted.
static inline int petgan_mpi_init(int *provided, MPI_Comm *job) {
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, provided);
    if (rc != MPI_SUCCESS) return rc;
    rc = MPI_Comm_dup(MPI_COMM_WORLD, job);
    if (rc != MPI_SUCCESS) return rc;
    return MPI_Comm_set_errhandler(*job, MPI_ERRORS_RETURN);
}
static inline int petgan_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int petgan_mpi_rank(MPI_Comm job) { int r = -1; MPI_Comm_rank(job, &r); return r; }
static inline int petgan_mpi_size(MPI_Comm job) { int s = 0; MPI_Comm_size(job, &s); return s; }
static inline int petgan_mpi_finalize(MPI_Comm job) {
    MPI_Comm_free(&job);
    return MPI_Finalize();
}
/// Ends every rank of the job (mpirun kills the others); never returns.
static inline void petgan_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
static inline double petgan_mpi_wtime(void) { return MPI_Wtime(); }
static inline int petgan_mpi_barrier(MPI_Comm job) { return MPI_Barrier(job); }

static inline int petgan_mpi_allreduce_sum_float(MPI_Comm job, float *buffer, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, job);
}
static inline int petgan_mpi_allreduce_sum_double(MPI_Comm job, double *buffer, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_DOUBLE, MPI_SUM, job);
}
// One value in, the reduced value out (separate buffers: no MPI_IN_PLACE for these small calls).
static inline int petgan_mpi_allreduce_min_scalar(MPI_Comm job, double value, double *result) {
    return MPI_Allreduce(&value, result, 1, MPI_DOUBLE, MPI_MIN, job);
}
static inline int petgan_mpi_allreduce_max_scalar(MPI_Comm job, double value, double *result) {
    return MPI_Allreduce(&value, result, 1, MPI_DOUBLE, MPI_MAX, job);
}
static inline int petgan_mpi_bcast_bytes(MPI_Comm job, void *buffer, int count, int root) {
    return MPI_Bcast(buffer, count, MPI_BYTE, root, job);
}
/// The text of an MPI error code (buffer of at least MPI_MAX_ERROR_STRING bytes).
static inline int petgan_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline void petgan_mpi_error_string(int code, char *buffer) {
    int len = 0;
    if (MPI_Error_string(code, buffer, &len) != MPI_SUCCESS) { buffer[0] = 0; return; }
    buffer[len] = 0;
}
