// PETModels
