// glibc's allocator controls (mallopt, mallinfo2): PETTensor's ResidentMemory is their one user.
#include <malloc.h>
