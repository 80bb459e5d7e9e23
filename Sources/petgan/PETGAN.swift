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
            PrepareCommand.self, InspectCommand.self, MontageCommand.self,
            EvaluateCommand.self, TuringKitCommand.self, TuringScoreCommand.self,
            TrainCommand.self, GenerateCommand.self, DemoCommand.self,
        ])
}

/// Turns thrown errors into one clear line on stderr and a non-zero exit.
func runReportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch {
        FileHandle.standardError.write("petgan: error: \(error)\n".data(using: .utf8)!)
        throw ExitCode(1)
    }
}
