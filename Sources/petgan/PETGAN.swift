import ArgumentParser
import Foundation
import PETTensor

@main
struct PETGAN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "petgan",
        abstract: "Generative adversarial networks for brain PET volumes, on a CPU.",
        version: PETGANVersion.string,
        subcommands: [
            // One line per command; each command lives in its own file.
            BenchCommand.self,
            PhantomCommand.self,
            PrepareCommand.self, InspectCommand.self, MontageCommand.self, VolumesCommand.self,
            EvaluateCommand.self, TuringKitCommand.self, TuringScoreCommand.self,
            TrainCommand.self, GenerateCommand.self, DemoCommand.self,
        ])

    /// A bad option value is one `petgan: error: …` line (naming the option) and exit status 64, like
    /// every other error of the tool; --help and --version print as ArgumentParser prints them.
    static func main() {
        ResidentMemory.useFixedMmapThreshold()
        let command: ParsableCommand
        do { command = try parseAsRoot() } catch { exitReportingParseError(error) }
        do {
            var c = command
            try c.run()
        } catch {
            exit(withError: error)
        }
        exit()
    }

    static func exitReportingParseError(_ error: Error) -> Never {
        let code = exitCode(for: error)
        if code == .success || error is ExitCode { exit(withError: error) }
        let text = message(for: error).split(separator: "\n").joined(separator: " ")
        FileHandle.standardError.write("petgan: error: \(text)\n".data(using: .utf8)!)
        Foundation.exit(code.rawValue)
    }
}

/// Turns thrown errors into one clear line on stderr and a non-zero exit.
func runReportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch {
        FileHandle.standardError.write("petgan: error: \(error)\n".data(using: .utf8)!)
        throw ExitCode(1)
    }
}
