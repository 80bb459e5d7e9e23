// swift-tools-version:6.0
// PETGAN: generative adversarial networks for brain PET volumes on a CPU.
//
// Layers (each module depends only on those below it):
//   C shims (CNIfTI, CHDF5, CFFTW, COpenBLAS, CPNG, CMalloc), CPeak (the peak probe's kernels) and
//   CConvKernels (the implicit-GEMM convolution's micro-kernels)
//   → PETTensor   (tensors, RNG, parallel loops, memory accounting, convolution kernels)
//   → PETAutograd (reverse-mode autograd with double backward, layers, optimizers)
//   → PETVolumes  (NIfTI, HDF5 volume store, geometry and resampling, preprocessing, PNG, progress, SHA-256)
//   → PETCohort   (the built-in FDG-PET phantom cohort)
//   → PETTiling   (tiled execution of convolution stacks within a memory budget)
//   → PETDistributed (the MPI job: ranks and collectives over Open MPI, CMPI)
//   → PETModels   (GAN models, trainer, training checkpoints, generation)
//   → PETMetrics  (evaluation)
//   → PETWorkflows (multi-module jobs of the commands: phantom cohort, training run, demo)
//   → PETBenchmarks (Benchmarks/PETBenchmarks: the `petgan bench` suites and their Codable rows)
//   → petgan (the command-line tool: option parsing only)
import PackageDescription

// libnifti's headers include each other with angle brackets from /usr/include/nifti.
let niftiInclude: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-I/usr/include/nifti"])]
// Numeric loops: no bounds checks or exclusivity checks in release builds (tests compare every fast
// path with a plain reference, which is what catches indexing bugs).
let fast: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "PETGAN",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "petgan", targets: ["petgan"]),
        .library(name: "PETTensor", targets: ["PETTensor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
    ],
    targets: [
        .systemLibrary(name: "CNIfTI", path: "Sources/CNIfTI"),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CFFTW", path: "Sources/CFFTW", pkgConfig: "fftw3f",
                       providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        // glibc's allocator controls (mallopt's mmap threshold); only PETTensor's ResidentMemory calls them.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        // Open MPI (data-parallel training); only PETDistributed/ProcessGroup.swift calls it.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        // The peak probe's register-resident FMA / vdpbf16ps kernels (C with intrinsics, one function
        // per ISA picked at run time); -O2 in debug builds too, or the accumulators live in memory.
        .target(name: "CPeak", path: "Sources/CPeak", cSettings: [.unsafeFlags(["-O2"])]),
        // The implicit-GEMM convolution's micro-kernels (AVX-512, AVX2+FMA, plain C; picked at run
        // time, as in CPeak) and its channels-last layout changes; -O2 in debug builds too.
        .target(name: "CConvKernels", path: "Sources/CConvKernels", cSettings: [.unsafeFlags(["-O2"])]),

        .target(name: "PETTensor", dependencies: ["COpenBLAS", "CFFTW", "CConvKernels", "CMalloc"],
                swiftSettings: fast + [.swiftLanguageMode(.v5)]),

        .target(name: "PETAutograd", dependencies: ["PETTensor"],
                swiftSettings: fast + [.swiftLanguageMode(.v5)]),

        .target(name: "PETVolumes", dependencies: ["PETTensor", "CNIfTI", "CHDF5", "CPNG"],
                swiftSettings: fast + niftiInclude + [.swiftLanguageMode(.v5)]),

        .target(name: "PETCohort", dependencies: ["PETTensor", "PETVolumes"],
                swiftSettings: fast + niftiInclude + [.swiftLanguageMode(.v5)]),

        .target(name: "PETTiling", dependencies: ["PETTensor", "PETAutograd", "PETVolumes"],
                swiftSettings: fast + niftiInclude + [.swiftLanguageMode(.v5)]),

        // The MPI job (ranks, collectives, abort) behind one Swift type, `ProcessGroup`.
        .target(name: "PETDistributed", dependencies: ["CMPI"], swiftSettings: [.swiftLanguageMode(.v5)]),

        .target(name: "PETModels",
                dependencies: ["PETTensor", "PETAutograd", "PETVolumes", "PETTiling", "PETDistributed",
                               .product(name: "Yams", package: "Yams")],
                swiftSettings: fast + niftiInclude + [.swiftLanguageMode(.v5)]),

        .target(name: "PETMetrics", dependencies: ["PETTensor", "PETAutograd", "PETVolumes", "PETCohort", "PETTiling", "PETModels"],
                swiftSettings: fast + niftiInclude + [.swiftLanguageMode(.v5)]),

        .target(name: "PETBenchmarks", dependencies: ["CPeak", "PETTensor", "PETAutograd", "PETVolumes", "PETCohort", "PETTiling", "PETDistributed", "PETModels", "PETMetrics"],
                path: "Benchmarks/PETBenchmarks",
                swiftSettings: fast + niftiInclude + [.swiftLanguageMode(.v5)]),

        // Jobs that drive several modules for one command (phantom cohort + montage, training with its
        // progress bar and learning curve, the phantom report, the demo pipeline); the commands only parse options and call one of them.
        .target(name: "PETWorkflows", dependencies: ["PETTensor", "PETVolumes", "PETCohort", "PETModels", "PETMetrics"],
                swiftSettings: niftiInclude + [.swiftLanguageMode(.v5)]),

        .executableTarget(
            name: "petgan",
            dependencies: [
                "PETTensor", "PETAutograd", "PETVolumes", "PETCohort", "PETTiling", "PETDistributed", "PETModels", "PETMetrics", "PETWorkflows", "PETBenchmarks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: niftiInclude + [.swiftLanguageMode(.v5)]),

        // Helpers shared by the test targets (temporary folders, repository and template paths, the petgan
        // binary, subprocesses, python3); Foundation only.
        .target(name: "PETTestSupport", path: "Tests/PETTestSupport", swiftSettings: [.swiftLanguageMode(.v5)]),
        // Phantom and evaluation fixtures shared by PETMetricsTests and PETGANCLITests.
        .target(name: "PETTestFixtures", dependencies: ["PETTestSupport", "PETMetrics", "PETCohort", "PETVolumes", "PETTensor"],
                path: "Tests/PETTestFixtures", swiftSettings: niftiInclude + [.swiftLanguageMode(.v5)]),
        .testTarget(name: "PETTensorTests", dependencies: ["PETTensor"],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "PETAutogradTests", dependencies: ["PETAutograd", "PETTensor"],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "PETCohortTests", dependencies: ["PETCohort", "PETVolumes", "PETTensor", "PETTestSupport"],
                    swiftSettings: niftiInclude + [.swiftLanguageMode(.v5)]),
        .testTarget(name: "PETTilingTests", dependencies: ["PETTiling", "PETAutograd", "PETVolumes", "PETTensor", "PETTestSupport"],
                    swiftSettings: niftiInclude + [.swiftLanguageMode(.v5)]),
        .testTarget(name: "PETModelsTests", dependencies: ["PETModels", "PETTiling", "PETAutograd", "PETVolumes", "PETCohort", "PETTensor", "PETTestSupport"],
                    swiftSettings: niftiInclude + [.swiftLanguageMode(.v5)]),
        .testTarget(name: "PETMetricsTests", dependencies: ["PETMetrics", "PETModels", "PETVolumes", "PETCohort", "PETTensor", "PETTestSupport", "PETTestFixtures"],
                    swiftSettings: niftiInclude + [.swiftLanguageMode(.v5)]),
        .testTarget(name: "PETVolumesTests", dependencies: ["PETVolumes", "PETTensor", "PETTestSupport"],
                    swiftSettings: niftiInclude + [.swiftLanguageMode(.v5)]),

        // Tests that run the petgan binary (built beside them by `swift build --build-tests`).
        .testTarget(name: "PETGANCLITests", dependencies: ["PETBenchmarks", "PETMetrics", "PETModels", "PETCohort", "PETVolumes", "PETTensor", "PETTestSupport", "PETTestFixtures"],
                    swiftSettings: niftiInclude + [.swiftLanguageMode(.v5)]),

        // The fuzz targets' bodies (Fuzz/PETFuzzing), built and regression-tested with everything else.
        .target(name: "PETFuzzing", dependencies: ["CNIfTI", "PETTensor", "PETVolumes", "PETModels", "PETMetrics"],
                path: "Fuzz/PETFuzzing", swiftSettings: niftiInclude + [.swiftLanguageMode(.v5)]),
        .testTarget(name: "PETFuzzingTests", dependencies: ["PETFuzzing", "PETModels", "PETVolumes", "PETTensor", "PETTestSupport"],
                    swiftSettings: niftiInclude + [.swiftLanguageMode(.v5)]),
    ]
)

// libFuzzer executables (`make fuzz`, `make fuzz-smoke`): only in the manifest with PETGAN_FUZZ=1,
// because they have no main of their own (libFuzzer's comes with -sanitize=fuzzer) and must be built
// with the sanitizer flags, in their own build folder (.build-fuzz).
if Context.environment["PETGAN_FUZZ"] == "1" {
    package.targets.append(.systemLibrary(name: "CLibFuzzer", path: "Fuzz/CLibFuzzer"))
    for name in ["FuzzNIfTI", "FuzzStore", "FuzzConfig"] {
        package.targets.append(.executableTarget(name: name, dependencies: ["PETFuzzing", "CLibFuzzer"], path: "Fuzz/\(name)",
                                                 swiftSettings: [.swiftLanguageMode(.v5)]))
        package.products.append(.executable(name: name, targets: [name]))
    }
}
