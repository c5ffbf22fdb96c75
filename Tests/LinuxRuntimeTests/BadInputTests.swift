import Foundation
import Glibc
import LibContainerd
import LibContainerdTesting
import LinuxRuntime
import OCIRuntimeSpec
import XCTest

/// Bad input: a typed error naming what is wrong, and nothing left behind (the base class
/// checks for state directories, cgroups, helper processes and mounts after each test).
final class BadInputTests: ContainerTestCase {
    func testMissingRootfs() async {
        var spec = self.spec(["true"])
        spec.root?.path = "/nonexistent/rootfs"
        await assertCreateFails(spec) { $0 == .invalidSpec(path: "$.root.path", reason: "/nonexistent/rootfs is not an existing directory") }
    }

    func testUnknownMountType() async {
        var spec = self.spec(["true"])
        spec.mounts?.append(.init(destination: "/x", type: "nosuchfs", source: "none"))
        await assertCreateFails(spec) { error in
            guard case .invalidSpec(let path, let reason) = error else { return false }
            return path == "$.mounts[6].type" && reason.contains("nosuchfs")
        }
    }

    func testMissingExecutableIsReportedFromInsideTheContainer() async {
        await assertCreateFails(spec(["no-such-program", "arg"])) { error in
            guard case .invalidSpec(let path, let reason) = error else { return false }
            return path == "$.process.args[0]" && reason.contains("no-such-program")
        }
    }

    func testBadCwdIsReportedFromInsideTheContainer() async {
        var spec = self.spec(["true"])
        spec.process?.cwd = "/does/not/exist"
        await assertCreateFails(spec) { error in
            guard case .invalidSpec(let path, _) = error else { return false }
            return path == "$.process.cwd"
        }
    }

    func testNamespacePathThatDoesNotExist() async {
        var spec = self.spec(["true"])
        spec.linux?.namespaces?[1] = .init(type: .network, path: "/var/run/netns/nonexistent")
        await assertCreateFails(spec) { $0 == .invalidSpec(path: "$.linux.namespaces[1].path", reason: "/var/run/netns/nonexistent does not exist") }
    }

    func testJoiningAnExistingNamespaceByPath() async throws {
        var spec = self.spec(["readlink", "/proc/self/ns/net"])
        spec.linux?.namespaces?[1] = .init(type: .network, path: "/proc/self/ns/net")
        let result = try await run("joined", spec)
        let host = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        XCTAssertEqual(result.stdout, host + "\n", result.stderr)
    }

    func testDuplicateIdWhileRunning() async throws {
        try await client.create(containerID: "dup", spec: spec(["sleep", "100"])) { $0.close() }
        do {
            try await client.create(containerID: "dup", spec: spec(["true"])) { $0.close() }
            XCTFail("duplicate accepted")
        } catch let error as ContainerError {
            XCTAssertEqual(error, .alreadyExists(containerID: "dup"))
        }
        try await client.signal(containerID: "dup", signal: SIGKILL)
        try await backend.wait(for: "dup", state: .exit)
        XCTAssertEqual(backend.states(for: "dup"), [.start, .exit])
    }

    func testLimitForAnAbsentController() async throws {
        var spec = self.spec(["true"])
        spec.linux?.resources = .init(unified: ["nosuchcontroller.max": "1"])
        await assertCreateFails(spec) { $0 == .controllerUnavailable(controller: "nosuchcontroller") }
        let controllers = (try? String(contentsOfFile: "\(cgroupRootPath)/cgroup.controllers", encoding: .utf8)) ?? ""
        guard !controllers.contains("memory") else { return }  // a host with memory: the VM tier tests limits
        spec.linux?.resources = .init(memory: .init(limit: 64 << 20))
        await assertCreateFails(spec) { $0 == .controllerUnavailable(controller: "memory") }
    }

    func testUnknownIdsAndBadIds() async {
        await assertThrows(.notFound(containerID: "ghost")) { try await self.client.signal(containerID: "ghost", signal: SIGTERM) }
        await assertThrows(.notFound(containerID: "ghost")) { try await self.client.pause(containerID: "ghost") }
        await assertThrows(.notFound(containerID: "ghost")) { try await self.client.resume(containerID: "ghost") }
        await assertThrows(.notFound(containerID: "ghost")) { _ = try await self.client.stats(containerID: "ghost") }
        await assertThrows(.notFound(containerID: "ghost")) { _ = try await self.client.pidsForContainer(containerID: "ghost") }
        await assertCreateFails(spec(["true"]), id: "../escape") { error in
            guard case .invalidArgument(let name, _) = error else { return false }
            return name.contains("../escape")
        }
    }

    func testFailingAttachLeavesNothing() async {
        struct AttachFailed: Error {}
        do {
            try await client.create(containerID: "attach", spec: spec(["true"])) { _ in throw AttachFailed() }
            XCTFail("create succeeded")
        } catch {
            XCTAssertTrue(error is AttachFailed, "\(error)")
        }
        XCTAssertEqual(backend.states(for: "attach"), [])
    }

    func testBackendRefusingTheStartEndsTheContainerSilently() async throws {
        struct Refused: Error {}
        let backend = RecordingBackend { _, info in if info.state == .start { throw Refused() } }
        let client = try LinuxClient(backend: backend, options: [.stateDirectory(stateDirectory), .cgroupParent(cgroupParent)])
        do {
            try await client.create(containerID: "refused", spec: spec(["sleep", "100"])) { $0.close() }
            XCTFail("create succeeded")
        } catch {
            XCTAssertTrue(error is Refused, "\(error)")
        }
        XCTAssertEqual(backend.states(for: "refused"), [.start])
        await assertThrows(.notFound(containerID: "refused")) { try await client.signal(containerID: "refused", signal: SIGKILL) }
    }
}

/// A NUL in a string reaches neither the helper nor the kernel, through a real create.
final class NulInjectionTests: ContainerTestCase {
    func testAnEnvValueWithANulIsATypedErrorAndLeavesNothing() async {
        var spec = Spec.linuxContainer(rootfs: rootfs.path, args: ["sh", "-c", "grep Cap /proc/self/status"])
        spec.process?.env?.append("A=x\0lcd-plan-1\0")
        await assertCreateFails(spec, specPath: "$.process.env[2]")
    }
}
