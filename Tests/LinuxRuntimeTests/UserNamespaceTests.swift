import Foundation
import Glibc
import LibContainerd
import LibContainerdTesting
import LinuxRuntime
import OCIRuntimeSpec
import XCTest

/// User namespaces with id mappings written by the helper, asserted from inside the container.
final class UserNamespaceTests: ContainerTestCase {
    private func mappedSpec(_ args: [String]) -> Spec {
        var spec = self.spec(args)
        spec.linux?.namespaces?.append(.init(type: .user))
        spec.linux?.uidMappings = [.init(containerID: 0, hostID: 200_000, size: 65536)]
        spec.linux?.gidMappings = [.init(containerID: 0, hostID: 200_000, size: 65536)]
        return spec
    }

    func testMappingsAreSeenInsideAndTheProcessIsUnprivilegedOutside() async throws {
        try await client.create(containerID: "mapped", spec: mappedSpec(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; hostname; sleep 1000"])) { $0.close() }
        let pid = try await client.pidsForContainer(containerID: "mapped")[0]
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        XCTAssertTrue(status.contains("Uid:\t200000\t200000\t200000\t200000"), "on the host the container's root is uid 200000:\n\(status)")
        let exec = try await client.addProcess(containerID: "mapped", processFriendlyName: "id", process: ExecProcess(args: ["cat", "/proc/self/uid_map"])) { $0.close() }
        XCTAssertGreaterThan(exec, 0)
        let execExit = try await backend.wait(for: "mapped", state: .exitProcess, processID: "id")
        XCTAssertEqual(execExit.exitCode, 0, "an exec joins the user namespace too")
        try await client.signal(containerID: "mapped", signal: SIGKILL)
        try await backend.wait(for: "mapped", state: .exit)
        let result = try await run("mapped2", mappedSpec(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; hostname"]))
        let lines = result.stdout.split(separator: "\n").map { $0.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        XCTAssertEqual(lines, ["0 200000 65536", "0 200000 65536", "0", "box"], result.stderr)
    }

    func testBadMappingsAreTypedErrors() async {
        func expect(_ path: String, _ change: (inout Spec) -> Void, file: StaticString = #filePath, line: UInt = #line) async {
            var spec = mappedSpec(["true"])
            change(&spec)
            await assertCreateFails(spec, id: "badmap", specPath: path, file: file, line: line)
        }
        await expect("$.linux.uidMappings[1]") { $0.linux?.uidMappings?.append(.init(containerID: 1000, hostID: 300_000, size: 10)) }
        await expect("$.linux.gidMappings[1]") { $0.linux?.gidMappings?.append(.init(containerID: 70000, hostID: 200_010, size: 10)) }
        await expect("$.linux.uidMappings") { $0.linux?.uidMappings = [] }
        await expect("$.linux.uidMappings[0].size") { $0.linux?.uidMappings = [.init(containerID: 0, hostID: 1, size: 0)] }
        await expect("$.linux.uidMappings") { spec in
            spec.linux?.namespaces?.removeAll { $0.type == .user }
        }
        XCTAssertEqual(backend.states(for: "badmap"), [])
    }
}

/// A daemon that is not root gets an error saying exactly what is missing, and nothing is made.
final class RootlessTests: XCTestCase {
    func testNonRootDaemonIsRefusedWithTheReason() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to drop to an unprivileged user") }
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let lcd = (exe as NSString).deletingLastPathComponent + "/lcd"
        guard access(lcd, X_OK) == 0, access("/usr/bin/setpriv", X_OK) == 0 else { throw XCTSkip("needs lcd and setpriv") }
        let state = NSTemporaryDirectory() + "lcd-rootless-" + UUID().uuidString.prefix(8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", lcd, "run", "--state", state, "--", "true"]
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 125)
        XCTAssertTrue(message.contains("rootless containers") && message.contains("uid 65534") && message.contains("needs root"), message)
        XCTAssertFalse(FileManager.default.fileExists(atPath: state), "nothing was created")
    }
}
