// lcd-spec-probe: one malformed-spec case of MalformedSpecCorpusTests, in its own process so
// that a trap in the library is a failed case, not a crashed test run.
//
//   lcd-spec-probe STATE_DIR CGROUP_PARENT CONFIG_JSON
//
// Decodes the document with OCIJSON and creates it with LinuxClient; prints one line:
//   decode-error\t<path>\t<error>     create-error\t<path or ->\t<error>     created\t<exit code>
// A created container is killed and its exit awaited before the probe returns.
import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import Synchronization

final class ExitWaiter: Backend {
    private let code = Mutex<UInt32?>(nil)
    func stateChanged(containerID: String, state: StateInfo) async throws {
        if state.state == .exit { code.withLock { $0 = state.exitCode } }
    }
    func waitForExit() -> UInt32? {
        for _ in 0..<1000 {
            if let exit = code.withLock({ $0 }) { return exit }
            usleep(5000)
        }
        return nil
    }
}

func say(_ fields: String...) {
    let line = fields.map { $0.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " ") }.joined(separator: "\t")
    FileHandle.standardOutput.write(Data((String(line.prefix(600)) + "\n").utf8))
}

let arguments = CommandLine.arguments
guard arguments.count == 4, let data = FileManager.default.contents(atPath: arguments[3]) else {
    FileHandle.standardError.write(Data("usage: lcd-spec-probe STATE_DIR CGROUP_PARENT CONFIG_JSON\n".utf8))
    exit(2)
}
let spec: Spec
do {
    spec = try OCIJSON.decode(Spec.self, from: data)
} catch let error as OCIDecodingError {
    say("decode-error", error.path, "\(error)")
    exit(0)
}

/// The JSON path an error names, if any.
func path(of error: any Error) -> String {
    switch error as? ContainerError {
    case .invalidSpec(let path, _)?: return path
    case .unsupported(let feature, _)? where feature.hasPrefix("$"): return String(feature.prefix { $0 != " " })
    default: return "-"
    }
}

let backend = ExitWaiter()
do {
    let client = try LinuxClient(backend: backend, options: [.stateDirectory(arguments[1]), .cgroupParent(arguments[2])])
    do {
        try await client.create(containerID: "case", spec: spec) { $0.close() }
    } catch {
        say("create-error", path(of: error), "\(error)")
        exit(0)
    }
    try? await client.signal(containerID: "case", signal: SIGKILL)
    say("created", backend.waitForExit().map { "\($0)" } ?? "no-exit")
} catch {
    say("client-error", "-", "\(error)")
}
