import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import XCTest

/// The built-in allow-list profile, asserted from inside by a static probe (Programs/syscall-probe.c).
final class SeccompProfileTests: ContainerTestCase {
    private func probe(capabilities: [String] = Spec.Capabilities.containerDefault) async throws -> [String: String] {
        try compileProgram("syscall-probe", into: rootfs.path)
        var spec = Spec.linuxContainer(rootfs: rootfs.path, args: ["/bin/syscall-probe"])
        spec.process?.capabilities = .init(bounding: capabilities, effective: capabilities, permitted: capabilities)
        spec.linux?.seccomp = .containerDefault(capabilities: capabilities)
        let result = try await run("probe", spec)
        XCTAssertEqual(result.exit.exitCode, 0, result.stderr)
        var outcomes: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            if parts.count == 2 { outcomes[parts[0]] = parts[1] }
        }
        return outcomes
    }

    func testTheDefaultProfileIsAnAllowList() async throws {
        let outcomes = try await probe()
        XCTAssertEqual(outcomes["vsock"], "EPERM", "AF_VSOCK reaches the host whatever the network namespace")
        XCTAssertEqual(outcomes["alg"], "EPERM")
        XCTAssertEqual(outcomes["unix"], "ok")
        XCTAssertEqual(outcomes["io_uring_setup"], "EPERM", "not on the allow list")
        XCTAssertEqual(outcomes["userfaultfd"], "EPERM")
        XCTAssertEqual(outcomes["keyctl"], "EPERM")
        XCTAssertEqual(outcomes["future_syscall"], "EPERM", "a call the list does not name is refused, not passed to the kernel")
        XCTAssertEqual(outcomes["clone3"], "ENOSYS", "so that libcs fall back to clone")
        XCTAssertEqual(outcomes["unshare_uts"], "EPERM")
        XCTAssertEqual(outcomes["personality_query"], "ok")
        XCTAssertEqual(outcomes["personality_read_implies_exec"], "EPERM")
        XCTAssertEqual(outcomes["fork"], "ok")
    }

    func testCapabilityGatedCallsFollowTheCapabilities() async throws {
        let outcomes = try await probe(capabilities: Spec.Capabilities.containerDefault + ["CAP_SYS_ADMIN"])
        XCTAssertEqual(outcomes["unshare_uts"], "ok", "CAP_SYS_ADMIN allows unshare")
        XCTAssertEqual(outcomes["clone3"], "EINVAL", "clone3 reaches the kernel, which refuses the null argument")
        XCTAssertEqual(outcomes["io_uring_setup"], "EPERM", "never allowed")
        XCTAssertEqual(outcomes["vsock"], "EPERM")
    }

    func testBusyboxRunsUnchangedUnderTheProfile() async throws {
        let result = try await run("busybox", Spec.linuxContainer(rootfs: rootfs.path, args: ["sh", "-c", """
            echo a > /tmp/f && cat /tmp/f && ls / >/dev/null && ps >/dev/null && sleep 0.01 && date >/dev/null \
            && (echo sub) && wc -c < /tmp/f && id -u && hostname && mkdir -p /tmp/x/y && rm -r /tmp/x && echo done
            """], hostname: "profiled"))
        XCTAssertEqual(result.stdout, "a\nsub\n2\n0\nprofiled\ndone\n", result.stderr)
    }
}
