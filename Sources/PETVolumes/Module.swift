// PETVolumes: NIfTI, HDF5 volume store, preprocessing, PNG (issue 4).
