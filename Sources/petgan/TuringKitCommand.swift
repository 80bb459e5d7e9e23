import ArgumentParser
import Foundation
import PETMetrics

/// `petgan turing-kit`: a blinded visual Turing test kit.
struct TuringKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "turing-kit",
        abstract: "Write a visual Turing test kit: shuffled blinded PNG views of real and synthetic volumes, a sealed answer key and a self-contained HTML form.",
        discussion: """
        Give readers KIT/form.html only: it shows every item and saves the reader's answers as JSON. \
        The key (KIT/sealed/answer-key.json) is sealed by its SHA-256 in KIT/kit.json. Score with \
        `petgan turing-score KIT answers.json ...`.
        """)

    @Option(help: "Real volumes: an HDF5 volume store (.h5) or a folder of NIfTI files.")
    var real: String
    @Option(help: "Synthetic volumes: an HDF5 volume store (.h5) or a folder of NIfTI files.")
    var synthetic: String
    @Option(help: "Items in the kit (half real, half synthetic).")
    var count: Int = 50
    @Option(name: .customLong("class"), help: "Only these classes (comma-separated).")
    var classes: String?
    @Option(help: "Kit folder to write (replaced if it exists).")
    var out: String
    @Option(help: "Seed of the selection and the shuffle (recorded in kit.json).")
    var seed: UInt64 = 1
    @Option(help: "Pixels per smallest voxel edge in the views.")
    var zoom: Int = 2

    func validate() throws {
        guard count >= 2 else { throw ValidationError("--count must be at least 2") }
        guard (1...8).contains(zoom) else { throw ValidationError("--zoom must be 1…8") }
    }

    func run() throws {
        try runReportingErrors {
            var o = TuringKitOptions(real: real, synthetic: synthetic, out: out)
            o.count = count; o.seed = seed; o.zoom = zoom
            o.classes = (classes ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let s = try TuringKit.make(o)
            print("kit \(s.kitID): \(s.items) items (\(s.real) real, \(s.synthetic) synthetic)")
            print("form for readers: \(s.form)")
            print("sealed key (keep private): \(s.key)  sha256 \(s.keySHA256)")
        }
    }
}
