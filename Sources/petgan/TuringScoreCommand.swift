import ArgumentParser
import Foundation
import PETMetrics

/// `petgan turing-score`: scores readers' answers of a visual Turing test kit.
struct TuringScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "turing-score",
        abstract: "Score visual Turing test answers: accuracy and the real/synthetic confusion matrix (Han et al. 2018, Table 1 layout).")

    @Argument(help: "The kit folder written by petgan turing-kit.")
    var kit: String
    @Argument(help: "Answer files saved by the kit's form.html (one per reader).")
    var answers: [String]
    @Option(help: "Also write the scores as JSON to this file.")
    var json: String?

    func validate() throws {
        guard !answers.isEmpty else { throw ValidationError("give at least one answers JSON file") }
    }

    func run() throws {
        try runReportingErrors {
            let scores = try TuringKit.score(kit: kit, answers: answers)
            print(TuringKit.table(scores))
            if let j = json {
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys]
                e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                try e.encode(scores).write(to: URL(fileURLWithPath: j), options: .atomic)
            }
        }
    }
}
