import ArgumentParser
import Foundation
import PETBenchmarks

struct BenchSummary: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "The one table of a Benchmarks/run-with-torch.sh sitting: every layer and training step beside PyTorch in fp32 and bf16, speed ratios, % of peak, the layer set's sum, and issue 16's targets met or not.")

    @Option(help: "The sitting's folder (run-with-torch.sh's OUT: conv.json, conv_bf16.json, train.json, train_bf16.json, peak.json, machine.txt, torch_*_rows.json).")
    var dir: String = "bench-results"

    @Option(help: "Also write the table (Markdown) to this file.")
    var out: String?

    func run() throws {
        try runReportingErrors {
            let text = try SittingSummary.read(directory: dir).markdown()
            print(text, terminator: "")
            if let out {
                let url = URL(fileURLWithPath: out)
                let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
                do {
                    try Data(text.utf8).write(to: tmp)
                    guard rename(tmp.path, url.path) == 0 else { throw BenchmarkError("\(out): cannot write the summary (rename failed)") }
                } catch let e as BenchmarkError { try? FileManager.default.removeItem(at: tmp); throw e } catch {
                    try? FileManager.default.removeItem(at: tmp)
                    throw BenchmarkError("\(out): cannot write the summary (\(error.localizedDescription))")
                }
                print("wrote \(out)")
            }
        }
    }
}
