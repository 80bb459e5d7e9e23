#!/usr/bin/env python3
"""Writes the fuzz seed corpus (Tests/Fixtures/fuzz/<target>/): tiny valid inputs, a few hundred
bytes to a few kB each. Re-run from the repository root after changing the store layout:
    python3 Tests/Fixtures/fuzz/make-seeds.py
The store seeds follow VolumeStore.swift's layout (h5py-written, as users' own tools would; one
compact file format, one chunked + gzip + shuffle like PETGAN's writer). FuzzRegressionTests checks
that every seed is read without error."""
import gzip, os, struct
import numpy as np
import nibabel as nib
import h5py

root = os.path.join(os.path.dirname(os.path.abspath(__file__)))
def out(target, name):
    d = os.path.join(root, target); os.makedirs(d, exist_ok=True); return os.path.join(d, name)

# NIfTI: 3x4x2 volumes, several datatypes, scaling, byte orders, NIfTI-1/2, gzip.
aff = np.array([[2, 0, 0, -3], [0, 2, 0, -4], [0, 0, 2.5, -2], [0, 0, 0, 1]], float)
data = np.arange(24, dtype=np.float32).reshape(3, 4, 2) / 7
def save(img, name, gz=False):
    path = out('nifti', name)
    raw = img.to_bytes() if hasattr(img, 'to_bytes') else None
    img.to_filename(path)
    if gz:
        b = open(path, 'rb').read(); os.remove(path)
        open(path + '.gz', 'wb').write(gzip.compress(b, mtime=0))
i1 = nib.Nifti1Image(data, aff); i1.header.set_xyzt_units('mm'); i1.set_sform(aff, 4); i1.set_qform(aff, 1)
save(i1, 'float32.nii')
save(i1, 'float32-gz.nii', gz=True)
i2 = nib.Nifti1Image((data * 100).astype(np.int16), aff); i2.header.set_slope_inter(0.01, 1.5); i2.set_qform(aff, 1); i2.set_sform(None, 0)
save(i2, 'int16-scaled-qform.nii')
i3 = nib.Nifti1Image(data.astype('>f8'), aff); save(i3, 'float64-bigendian.nii')
i4 = nib.Nifti2Image(data.astype(np.uint8), aff); save(i4, 'uint8-nifti2.nii')
i5 = nib.Nifti1Image(np.arange(6, dtype=np.float32).reshape(3, 2, 1), np.diag([1.5, 1.5, 1.5, 1])); save(i5, 'flat-pixdim.nii')

# HDF5 volume stores (N, D, H, W) = (2, 2, 3, 2), compact and chunked layouts.
def store(name, chunked, libver):
    path = out('store', name)
    with h5py.File(path, 'w', libver=libver, meta_block_size=256) as f:
        vol = (np.arange(24, dtype=np.float32).reshape(2, 2, 3, 2) / 12 - 1)
        kw = dict(chunks=(1, 2, 3, 2), maxshape=(None, 2, 3, 2), compression='gzip', shuffle=True) if chunked else {}
        f.create_dataset('volumes', data=vol, **kw)
        l = f.create_dataset('labels', data=np.array([0, 1], np.int32), **({'chunks': (256,), 'maxshape': (None,)} if chunked else {}))
        l.attrs['class_names'] = ['AD', 'NC']
        a = np.stack([np.array([[2, 0, 0, -2], [0, 2, 0, -3], [0, 0, 2, -2], [0, 0, 0, 1]], float)] * 2)
        f.create_dataset('affines', data=a)
        f.create_dataset('intensity', data=np.array([[0.5, -1], [0.25, -1]], float))
        f.attrs['voxel_size'] = [2.0, 2.0, 2.0]
        f.attrs['units'] = 'mm'
        f.attrs['shape_xyz'] = np.array([2, 3, 2], np.int64)
        f.attrs['normalization'] = 'max'
        f.attrs['xform_code'] = np.int64(4)
        f.attrs['source_files'] = ['a.nii', 'b.nii']
store('compact-latest.h5', False, 'latest')
store('chunked-deflate.h5', True, 'earliest')

# A chunked store (2, 2, 4, 2) with its low-resolution copy (LowResolution.swift): 2×2×2 block means.
with h5py.File(out('store', 'low-resolution.h5'), 'w', libver='earliest', meta_block_size=256) as f:
    vol = (np.arange(32, dtype=np.float32).reshape(2, 2, 4, 2) / 16 - 1)
    f.create_dataset('volumes', data=vol, chunks=(1, 2, 4, 2), maxshape=(None, 2, 4, 2), compression='gzip', shuffle=True)
    low = vol.reshape(2, 1, 2, 2, 2, 1, 2).mean(axis=(2, 4, 6)).astype(np.float32)
    d = f.create_dataset('volumes_low_resolution', data=low, chunks=(1, 1, 2, 1), maxshape=(None, 1, 2, 1), compression='gzip', shuffle=True)
    d.attrs['factor'] = np.int64(2)
    l = f.create_dataset('labels', data=np.array([0, 1], np.int32)); l.attrs['class_names'] = ['AD', 'NC']
    f.create_dataset('affines', data=np.stack([np.array([[2, 0, 0, -2], [0, 2, 0, -3], [0, 0, 2, -2], [0, 0, 0, 1]], float)] * 2))
    f.attrs['voxel_size'] = [2.0, 2.0, 2.0]
    f.attrs['shape_xyz'] = np.array([2, 4, 2], np.int64)

# YAML settings.
yaml = {
    'wgangp.yaml': 'model: wgangp3d\ndata: cohort.h5\nlr_g: 2e-4\ng_channels: [32, 16, 8]\nd_channels: [8, 16, 32]\nn_critic: 3\nconditional: true\n',
    'paper2d.yaml': 'preset: paper2d\ndata: "slices.h5"\nclass: AD\nepochs: 500\nseed: 18446744073709551615\n',
    'wgan-block-lists.yaml': 'model: wgan3d\noptimizer: rmsprop\nrms_alpha: 0.95\nclip: 0.02\ng_channels:\n  - 64\n  - 32\nd_channels: "16,32"\nplot_every: 0\nsample_count: 4\n',
    'dcgan3d-all.yaml': 'model: dcgan3d\nout: runs\nbatch: 4\nmax_steps: 10\nthreads: 1\nz_dim: 64\nz_distribution: uniform\ncritic_norm: instance\nlr_d: 0.0002\nbeta1: 0.5\nbeta2: 0.999\ngp_lambda: 0\ninit_std: 0.02\ncheckpoint_every: 5\n',
}
for n, t in yaml.items(): open(out('config', n), 'w').write(t)
