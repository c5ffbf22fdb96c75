import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import XCTest

/// The root of a container with no image, and read-only trees: asserted from inside.
final class ZeroSetupRootTests: ContainerTestCase {
    private var scratch: [String] = []
    private var hostMounts: [String] = []

    override func tearDownWithError() throws {
        for mount in hostMounts.reversed() { umount2(mount, 0) }
        for path in scratch { try? FileManager.default.removeItem(atPath: path) }
        try super.tearDownWithError()
    }

    private func temporaryDirectory(_ name: String, create: Bool = true) throws -> String {
        let path = NSTemporaryDirectory() + "lcd-\(name)-" + UUID().uuidString.prefix(8)
        if create { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        scratch.append(path)
        return path
    }

    func testTheZeroSetupRootHasAGeneratedEtcAndNoHostSecrets() async throws {
        let empty = try temporaryDirectory("empty"), etc = try temporaryDirectory("etc", create: false)
        try ZeroSetupEtc.write(to: etc, hostname: "zero")
        let spec = Spec.linuxContainer(rootfs: nil, emptyRoot: empty, etc: etc, args: ["sh", "-c", """
            cat /etc/shadow 2>/dev/null; echo shadow=$?; cat /etc/gshadow 2>/dev/null; echo gshadow=$?
            test -e /etc/ssh || echo no-ssh; cat /etc/hostname; grep -c . /etc/passwd
            /usr/bin/ls /usr/bin/ls; /usr/bin/id -un; /usr/bin/sort -r /etc/group | head -1
            touch /etc/x 2>/dev/null; echo etc-write=$?
            """], hostname: "zero")
        let binds = (spec.mounts ?? []).filter { $0.type == "bind" }
        XCTAssertEqual(Set(binds.map(\.destination)).isSuperset(of: ["/usr", "/etc"]), true)
        XCTAssertTrue(binds.allSatisfy { ($0.options ?? []).contains("rro") }, "every host tree is read-only with its submounts")
        XCTAssertFalse(binds.contains { $0.source == "/etc" }, "the host's /etc is never bound")
        let result = try await run("zero", spec)
        XCTAssertEqual(result.stdout, "shadow=1\ngshadow=1\nno-ssh\nzero\n2\n/usr/bin/ls\nroot\nroot:x:0:\netc-write=1\n", result.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: empty), [], "nothing was written to the mount point")
    }

    func testRecursiveReadOnlyBindMakesSubmountsReadOnly() async throws {
        let tree = try temporaryDirectory("tree")
        try FileManager.default.createDirectory(atPath: tree + "/sub", withIntermediateDirectories: true)
        guard mount("tmpfs", tree + "/sub", "tmpfs", 0, "size=1m") == 0 else { throw XCTSkip("cannot mount a tmpfs: \(errno)") }
        hostMounts.append(tree + "/sub")
        var spec = self.spec(["sh", "-c", "touch /rro/sub/a; echo rro=$?; touch /rro/b; echo rro-top=$?; touch /ro/sub/c; echo ro=$?"])
        spec.mounts? += [
            .init(destination: "/rro", type: "bind", source: tree, options: ["rbind", "rro"]),
            // Kernel semantics: ro reaches the top mount only (what the zero-setup root had before).
            .init(destination: "/ro", type: "bind", source: tree, options: ["rbind", "ro"]),
        ]
        let result = try await run("rro", spec)
        XCTAssertEqual(result.stdout, "rro=1\nrro-top=1\nro=0\n", result.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tree + "/sub"), ["c"])
    }
}
