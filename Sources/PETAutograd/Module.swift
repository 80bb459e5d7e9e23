// PETAutograd: reverse-mode autograd, layers, optimizers (issue 3).
