// PETMetrics
