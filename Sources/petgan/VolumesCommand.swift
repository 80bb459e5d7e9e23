// `petgan volumes …`: changes to an existing volume store (PETVolumes).
import ArgumentParser
import Foundation
import PETTensor
import PETVolumes

struct VolumesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volumes",
        abstract: "Change an existing HDF5 volume store (written by prepare or phantom).",
        subcommands: [AddLowResolutionCommand.self])
}

/// `petgan volumes add-low-res STORE --factor F`: the store's low-resolution copy, added afterwards.
struct AddLowResolutionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-low-res",
        abstract: "Add a low-resolution copy to a volume store: each volume's mean over non-overlapping F×F×F blocks (PyTorch avg_pool3d, kernel = stride = F).",
        discussion: """
        The copy is the dataset /volumes_low_resolution (N, D/F, H/F, W/F) with the attribute factor = F, \
        read by hierarchical models (a low-resolution whole and a full-resolution slab per step). The store \
        is changed in a temporary copy beside it that replaces it only when every volume is pooled (read F \
        axial planes at a time), so an interrupted run leaves the store as it was. phantom and prepare \
        write the copy while they write the volumes with --low-res-copy F.
        """)

    @Argument(help: "The volume store (.h5).")
    var store: String
    @Option(help: "Pooling factor F (2…64); every side of the store's grid must be divisible by it.")
    var factor: Int
    @OptionGroup var runtime: RuntimeOptions<PrepareBudget>

    func validate() throws {
        guard LowResolution.factorRange.contains(factor) else {
            throw ValidationError("--factor must be \(LowResolution.factorRange.lowerBound)…\(LowResolution.factorRange.upperBound) (got \(factor))")
        }
    }

    func run() throws {
        try runReportingErrors {
            runtime.apply()
            if let b = runtime.memoryBudget { MemoryAccountant.shared.budgetBytes = b.bytes }
            let bar = ProgressReporter(label: "add-low-res", total: max(1, try VolumeStore.open(store).count), rateUnit: " volumes/s")
            let start = Date()
            let c = try LowResolution.addCopy(to: store, factor: factor, memoryBudget: runtime.memoryBudget?.bytes) { done, _ in
                bar.update(done)
            }
            bar.finish()
            print(String(format: "wrote %@: /%@ (factor %d, %@ x×y×z) in %.1f s", store, LowResolution.datasetName, c.factor,
                         GridShape(arrayShape: c.shape).description, Date().timeIntervalSince(start)))
        }
    }
}
