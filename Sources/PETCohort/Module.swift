// PETCohort: built-in FDG-PET-like NC/MCI/AD cohort from the MNI ICBM152 templates (issue 5).
