import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import XCTest

/// OCI hooks: order, namespaces, state on stdin, failure rules and timeouts.
final class HookTests: ContainerTestCase {
    private var hookDirectory: String!

    override func setUpWithError() throws {
        try super.setUpWithError()
        hookDirectory = NSTemporaryDirectory() + "lcd-hooks-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: hookDirectory, withIntermediateDirectories: true)
        // A host hook: logs its name, its mount namespace and the state it read.
        try """
        #!/bin/sh
        echo "$1 $(readlink /proc/self/ns/mnt) $(cat)" >> \(hookDirectory!)/log
        [ "$1" = fail ] && { echo "hook says no" >&2; exit 3; }
        [ "$1" = slow ] && sleep 10
        exit 0
        """.write(toFile: hookDirectory + "/hook", atomically: true, encoding: .utf8)
        chmod(hookDirectory + "/hook", 0o755)
        // A hook inside the container (startContainer resolves there).
        try "#!/bin/sh\necho \"startContainer $(cat)\" > /tmp/started\n".write(toFile: rootfs.path + "/bin/start-hook", atomically: true, encoding: .utf8)
        chmod(rootfs.path + "/bin/start-hook", 0o755)
    }

    override func tearDownWithError() throws {
        if let hookDirectory { try? FileManager.default.removeItem(atPath: hookDirectory) }
        try super.tearDownWithError()
    }

    private func hook(_ name: String, timeout: Int? = nil) -> Spec.Hook {
        .init(path: hookDirectory + "/hook", args: ["hook", name], timeout: timeout)
    }

    private var log: [String] { ((try? String(contentsOfFile: hookDirectory + "/log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

    func testHooksRunInOrderWithTheirStateAndNamespaces() async throws {
        var spec = self.spec(["cat", "/tmp/started"])
        spec.annotations = ["org.example": "yes"]
        spec.hooks = .init(prestart: [hook("prestart")], createRuntime: [hook("createRuntime")], createContainer: [hook("createContainer")],
                           startContainer: [.init(path: "/bin/start-hook")], poststart: [hook("poststart")], poststop: [hook("poststop")])
        let result = try await run("hooked", spec)
        XCTAssertTrue(result.stdout.hasPrefix("startContainer {"), "startContainer ran inside the container, after pivot_root: \(result.stdout) \(result.stderr)")
        XCTAssertTrue(result.stdout.contains("\"status\":\"created\""), result.stdout)
        let entries = log
        XCTAssertEqual(entries.map { String($0.split(separator: " ")[0]) }, ["prestart", "createRuntime", "createContainer", "poststart", "poststop"])
        let hostMnt = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")
        func namespace(_ entry: String) -> String { String(entry.split(separator: " ")[1]) }
        XCTAssertEqual(namespace(entries[1]), hostMnt, "createRuntime runs in the runtime's namespace")
        XCTAssertNotEqual(namespace(entries[2]), hostMnt, "createContainer runs in the container's namespace")
        XCTAssertEqual(namespace(entries[3]), hostMnt)
        for (entry, status) in zip(entries, ["creating", "creating", "creating", "running", "stopped"]) {
            XCTAssertTrue(entry.contains("\"status\":\"\(status)\""), entry)
            XCTAssertTrue(entry.contains("\"id\":\"hooked\""), entry)
            XCTAssertTrue(entry.contains("\"org.example\":\"yes\""), entry)
        }
        XCTAssertTrue(entries[1].contains("\"pid\":\(result.exit.pid)"), "the state names the container's host pid: \(entries[1])")
    }

    func testFailingCreateHookFailsCreateAndStillRunsPoststop() async throws {
        var spec = self.spec(["true"])
        spec.hooks = .init(createRuntime: [hook("fail")], poststop: [hook("poststop")])
        do {
            try await client.create(containerID: "failhook", spec: spec) { $0.close() }
            XCTFail("create succeeded")
        } catch ContainerError.invalidSpec(let path, let reason) {
            XCTAssertEqual(path, "$.hooks.createRuntime[0]")
            XCTAssertTrue(reason.contains("status 3") && reason.contains("hook says no"), reason)
        }
        XCTAssertEqual(log.map { String($0.split(separator: " ")[0]) }, ["fail", "poststop"])
        XCTAssertEqual(backend.states(for: "failhook"), [])
    }

    func testHookTimeoutAndFailingPoststartOnlyWarns() async throws {
        var spec = self.spec(["true"])
        spec.hooks = .init(createContainer: [hook("slow", timeout: 1)])
        let started = ContinuousClock.now
        do {
            try await client.create(containerID: "slow", spec: spec) { $0.close() }
            XCTFail("create succeeded")
        } catch ContainerError.invalidSpec(let path, let reason) {
            XCTAssertEqual(path, "$.hooks.createContainer[0]")
            XCTAssertTrue(reason.contains("timed out"), reason)
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
        spec.hooks = .init(poststart: [hook("fail")])
        let result = try await run("warned", spec)
        XCTAssertEqual(result.exit.exitCode, 0, "a failing poststart hook does not stop the container")
    }

    func testMissingHookBinaryIsATypedError() async {
        var spec = self.spec(["true"])
        spec.hooks = .init(prestart: [.init(path: "/nonexistent/hook")])
        do {
            try await client.create(containerID: "nohook", spec: spec) { $0.close() }
            XCTFail("create succeeded")
        } catch ContainerError.invalidSpec(let path, _) {
            XCTAssertEqual(path, "$.hooks.prestart[0].path")
        } catch {
            XCTFail("\(error)")
        }
        spec.hooks = .init(startContainer: [.init(path: "/bin/not-in-the-rootfs")])
        await assertThrows(.invalidSpec(path: "$.hooks.startContainer[0].path", reason: "/bin/not-in-the-rootfs does not exist in the container's root file system or is a directory")) {
            try await self.client.create(containerID: "nohook", spec: spec) { $0.close() }
        }
    }
}
