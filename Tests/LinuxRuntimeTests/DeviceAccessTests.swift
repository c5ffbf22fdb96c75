import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import Synchronization
import XCTest

/// A loop device over a temporary file that starts with a marker: a host "disk" a container
/// must not reach unless its spec allows it. Detached and removed by exact path.
final class LoopDevice {
    let file: String
    let device: String
    let major: Int64
    let minor: Int64
    static let marker = "HOST-DISK-SECRET-1234"

    init() throws {
        guard access("/usr/sbin/losetup", X_OK) == 0, access("/dev/loop-control", F_OK) == 0 else {
            throw XCTSkip("losetup or /dev/loop-control is missing")
        }
        file = NSTemporaryDirectory() + "lcd-disk-" + UUID().uuidString.prefix(8)
        var contents = Data(Self.marker.utf8)
        contents.append(Data(count: 1 << 20 - contents.count))
        try contents.write(to: URL(fileURLWithPath: file))
        let setup = Process()
        setup.executableURL = URL(fileURLWithPath: "/usr/sbin/losetup")
        setup.arguments = ["--find", "--show", file]
        let out = Pipe()
        setup.standardOutput = out
        try setup.run()
        setup.waitUntilExit()
        device = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        var info = stat()
        guard setup.terminationStatus == 0, stat(device, &info) == 0 else {
            try? FileManager.default.removeItem(atPath: file)
            throw XCTSkip("no loop device could be set up")
        }
        major = Int64(lcdMajor(info.st_rdev))
        minor = Int64(lcdMinor(info.st_rdev))
    }

    func remove() {
        let detach = Process()
        detach.executableURL = URL(fileURLWithPath: "/usr/sbin/losetup")
        detach.arguments = ["--detach", device]
        try? detach.run()
        detach.waitUntilExit()
        try? FileManager.default.removeItem(atPath: file)
    }

    var hostContents: String { (try? String(contentsOfFile: file, encoding: .isoLatin1)) ?? "" }
}

func lcdMajor(_ dev: dev_t) -> UInt32 { UInt32((dev >> 8) & 0xfff) | UInt32((dev >> 32) & ~0xfff) }
func lcdMinor(_ dev: dev_t) -> UInt32 { UInt32(dev & 0xff) | UInt32((dev >> 12) & ~0xff) }

/// Device access control (a cgroup device program): asserted from inside, with the default
/// spec's capabilities (CAP_MKNOD included, as in Docker).
final class DeviceAccessTests: ContainerTestCase {
    private var disk: LoopDevice?
    private var secondDisk: LoopDevice?

    override func tearDownWithError() throws {
        disk?.remove()
        secondDisk?.remove()
        try super.tearDownWithError()
    }

    private func secureSpec(_ script: String) -> Spec {
        Spec.linuxContainer(rootfs: rootfs.path, args: ["sh", "-c", script], hostname: "devices")
    }

    func testABlockDeviceMadeInsideCannotBeReadOrWritten() async throws {
        let disk = try LoopDevice()
        self.disk = disk
        let result = try await run("blockdev", secureSpec("""
            mknod /dev/disk b \(disk.major) \(disk.minor); echo mknod=$?
            dd if=/dev/disk bs=512 count=1 2>&1 | head -c 100; echo
            echo OVERWRITTEN | dd of=/dev/disk conv=notrunc 2>&1; echo
            """))
        XCTAssertTrue(result.stdout.contains("mknod=0"), "making a node is allowed, as in runc: \(result.stdout)")
        XCTAssertFalse(result.stdout.contains(LoopDevice.marker), "the host disk was read: \(result.stdout)")
        XCTAssertEqual(result.stdout.components(separatedBy: "Operation not permitted").count - 1, 2, result.stdout)
        XCTAssertTrue(disk.hostContents.hasPrefix(LoopDevice.marker), "the host disk was written")
    }

    func testHostKernelLogConsolesAndVirtualisationDevicesAreRefused() async throws {
        var nodes: [(name: String, major: UInt32, minor: UInt32)] = [("kmsg", 1, 11), ("tty0", 4, 0), ("console", 5, 1), ("mem", 1, 1)]
        for host in ["/dev/kvm", "/dev/userfaultfd"] {
            var info = stat()
            if stat(host, &info) == 0 { nodes.append((String(host.dropFirst(5)), lcdMajor(info.st_rdev), lcdMinor(info.st_rdev))) }
        }
        let script = nodes.map { "mknod /tmp/\($0.name) c \($0.major) \($0.minor); true < /tmp/\($0.name); echo \($0.name)=$?" }.joined(separator: "\n")
            + "\necho hello-from-a-container > /tmp/kmsg; echo kmsg-write=$?"
        let result = try await run("hostdevs", secureSpec(script))
        for node in nodes { XCTAssertTrue(result.stdout.contains("\(node.name)=1"), "\(node.name): \(result.stdout) \(result.stderr)") }
        XCTAssertTrue(result.stdout.contains("kmsg-write=1"), result.stdout)
        XCTAssertEqual(result.stderr.components(separatedBy: "Operation not permitted").count - 1, nodes.count + 1, result.stderr)
    }

    func testTheDefaultDevicesWork() async throws {
        let result = try await run("defaultdevs", secureSpec("""
            head -c 4 /dev/zero | wc -c; head -c 4 /dev/urandom | wc -c; head -c 4 /dev/random | wc -c
            echo x > /dev/null && echo null-ok; echo x > /dev/full; echo full=$?
            """))
        XCTAssertEqual(result.stdout, "4\n4\n4\nnull-ok\nfull=1\n", result.stderr)
        XCTAssertTrue(result.stderr.contains("No space left"), result.stderr)
    }

    func testADeviceTheSpecCreatesOrAllowsCanBeUsed() async throws {
        let disk = try LoopDevice(), readOnly = try LoopDevice()
        (self.disk, secondDisk) = (disk, readOnly)
        var spec = secureSpec("""
            head -c \(LoopDevice.marker.count) /dev/given; echo
            mknod /dev/ronly b \(readOnly.major) \(readOnly.minor); head -c \(LoopDevice.marker.count) /dev/ronly; echo
            echo X | dd of=/dev/ronly conv=notrunc 2>&1
            """)
        spec.linux?.devices = [.init(type: "b", path: "/dev/given", major: disk.major, minor: disk.minor)]
        spec.linux?.resources?.devices?.append(.init(allow: true, type: "b", major: readOnly.major, minor: readOnly.minor, access: "r"))
        let result = try await run("allowed", spec)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines.first.map(String.init), LoopDevice.marker, result.stdout + result.stderr)
        XCTAssertEqual(lines.dropFirst().first.map(String.init), LoopDevice.marker, "the allow rule gives read access: \(result.stdout)")
        XCTAssertTrue(result.stdout.contains("Operation not permitted"), "but not write: \(result.stdout)")
        XCTAssertTrue(readOnly.hostContents.hasPrefix(LoopDevice.marker))
    }

    func testUpdateResourcesReplacesTheDeviceRules() async throws {
        let disk = try LoopDevice()
        self.disk = disk
        let spec = secureSpec("""
            mknod /dev/disk b \(disk.major) \(disk.minor)
            head -c 4 /dev/disk >/dev/null 2>&1; echo before=$?
            read line; head -c \(LoopDevice.marker.count) /dev/disk; echo; echo after=$?
            """)
        let pipe = Mutex<IOPipe?>(nil)
        try await client.create(containerID: "update", spec: spec) { io in pipe.withLock { $0 = io } }
        let io = try XCTUnwrap(pipe.withLock { $0 })
        var output = ""
        var chunks = io.stdoutBytes().makeAsyncIterator()
        while !output.contains("before="), let chunk = try await chunks.next() { output += String(decoding: chunk, as: UTF8.self) }
        XCTAssertTrue(output.contains("before=1"), output)
        try await client.updateResources(containerID: "update", resources: Resources(devices: [
            .init(allow: false, access: "rwm"), .init(allow: true, type: "b", major: disk.major, minor: disk.minor, access: "r"),
        ]))
        try io.writeStdin(Array("go\n".utf8))
        io.closeStdin()
        while let chunk = try await chunks.next() { output += String(decoding: chunk, as: UTF8.self) }
        XCTAssertTrue(output.contains(LoopDevice.marker + "\nafter=0"), output)
        _ = try await backend.wait(for: "update", state: .exit, timeout: .seconds(60))
    }
}
