// PETTiling
