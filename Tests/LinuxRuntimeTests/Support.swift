import Foundation
import Glibc
import LibContainerd
import LibContainerdTesting
import LinuxRuntime
import OCIRuntimeSpec
import Synchronization
import XCTest

/// A busybox root filesystem in a temporary directory, from the `busybox-static` package.
final class BusyboxRootfs {
    let path: String

    /// Removes the directory (XCTest keeps test cases alive for the whole run, so tests call
    /// this from tearDown rather than relying on deinit).
    func remove() { try? FileManager.default.removeItem(atPath: path) }

    init() throws {
        let busybox = ["/bin/busybox", "/usr/bin/busybox"].first { (path: String) in access(path, X_OK) == 0 }
        guard let busybox else { throw XCTSkip("busybox-static is not installed (make deps)") }
        path = NSTemporaryDirectory() + "lcd-rootfs-" + UUID().uuidString.prefix(8)
        let fm = FileManager.default
        for dir in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"] {
            try fm.createDirectory(atPath: "\(path)/\(dir)", withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: busybox, toPath: "\(path)/bin/busybox")
        let list = Process()
        list.executableURL = URL(fileURLWithPath: busybox)
        list.arguments = ["--list"]
        let out = Pipe()
        list.standardOutput = out
        try list.run()
        let applets = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        list.waitUntilExit()
        for applet in applets.split(separator: "\n") where applet != "busybox" {
            try? fm.createSymbolicLink(atPath: "\(path)/bin/\(applet)", withDestinationPath: "busybox")
        }
        try "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n".write(toFile: "\(path)/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\nnogroup:x:65534:\n".write(toFile: "\(path)/etc/group", atomically: true, encoding: .utf8)
    }

    deinit { remove() }
}

/// A typical container spec: all namespaces but user, the usual mounts, busybox on the PATH.
func containerSpec(rootfs: String, _ args: [String], env: [String] = []) -> Spec {
    Spec(
        process: .init(user: .init(uid: 0, gid: 0), args: args, env: ["PATH=/bin"] + env, cwd: "/"),
        root: .init(path: rootfs),
        hostname: "box",
        mounts: [
            .init(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            .init(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            .init(destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
            .init(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            .init(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            .init(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
        ],
        linux: .init(namespaces: [.init(type: .pid), .init(type: .network), .init(type: .ipc), .init(type: .uts), .init(type: .mount), .init(type: .cgroup)]))
}

/// Base for tests that run real containers: root only; a private state directory and cgroup
/// parent per test, and checks that nothing is left behind.
class ContainerTestCase: XCTestCase {
    var rootfs: BusyboxRootfs!
    var stateDirectory: String!
    var cgroupParent: String!
    var backend: RecordingBackend!
    var client: LinuxClient!

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("integration tests run real containers and need root") }
        rootfs = try BusyboxRootfs()
        let tag = UUID().uuidString.prefix(8).lowercased()
        stateDirectory = NSTemporaryDirectory() + "lcd-state-" + tag
        cgroupParent = "lcd-test-" + tag
        backend = RecordingBackend()
        client = try LinuxClient(backend: backend, options: [.stateDirectory(stateDirectory), .cgroupParent(cgroupParent)])
    }

    override func tearDownWithError() throws {
        defer { rootfs?.remove(); rootfs = nil }
        guard let stateDirectory else { return }
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory)) ?? []
        try? FileManager.default.removeItem(atPath: stateDirectory)
        let cgroupRoot = cgroupRootPath
        Self.killContainers(under: "\(cgroupRoot)/\(cgroupParent!)")
        let leftoverCgroups = (try? FileManager.default.contentsOfDirectory(atPath: "\(cgroupRoot)/\(cgroupParent!)"))?.filter { !$0.contains(".") } ?? []
        rmdir("\(cgroupRoot)/\(cgroupParent!)")
        client = nil
        XCTAssertEqual(Self.liveHelpers(), [], "lcd-shim processes left running")
        let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        XCTAssertFalse(mounts.contains(rootfs.path), "mounts left in the host's namespace")
        XCTAssertEqual(Self.liveHelpers(), [], "lcd-shim processes left running")
        XCTAssertEqual(leftovers, [], "state directories left behind")
        XCTAssertEqual(leftoverCgroups, [], "cgroups left behind")
    }

    /// A failed test may leave containers running: end them by this test's own cgroup parent
    /// (exact path), so that one failure does not leak processes into the next tests. The
    /// checks that follow still report the leak.
    static func killContainers(under parent: String) {
        for child in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where !child.contains(".") {
            let cgroup = parent + "/" + child
            guard let procs = try? String(contentsOfFile: cgroup + "/cgroup.procs", encoding: .utf8), !procs.isEmpty else { continue }
            try? "1".write(toFile: cgroup + "/cgroup.kill", atomically: false, encoding: .utf8)
            for _ in 0..<200 where ((try? String(contentsOfFile: cgroup + "/cgroup.procs", encoding: .utf8)) ?? "").isEmpty == false { usleep(10_000) }
            usleep(100_000)  // the helpers record the exit and go
        }
    }

    /// Pids of running lcd-shim processes (tests run one at a time, so any is a leak).
    static func liveHelpers() -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            // The helper runs from a sealed memfd ("/memfd:lcd-shim (deleted)") or the file.
            return exe.contains("lcd-shim") && !stat.contains(") Z ")
        }
    }

    var cgroupRootPath: String {
        var isCgroup2 = false
        if let mounts = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) {
            isCgroup2 = mounts.split(separator: "\n").contains { $0.contains(" /sys/fs/cgroup ") && $0.contains(" - cgroup2 ") }
        }
        return isCgroup2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified"
    }

    /// The cgroup v2 directory of `pid`, from its `0::` line in /proc/<pid>/cgroup.
    func cgroupDirectory(of pid: Int32) throws -> String {
        let line = try XCTUnwrap(String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("0::") })
        return cgroupRootPath + line.dropFirst(3)
    }

    func spec(_ args: [String], env: [String] = []) -> Spec { containerSpec(rootfs: rootfs.path, args, env: env) }

    /// `create` must fail with an error `check` accepts, deliver no event and leave no state directory.
    func assertCreateFails(_ spec: Spec, id: String = "bad", file: StaticString = #filePath, line: UInt = #line, _ check: (ContainerError) -> Bool) async {
        do {
            try await client.create(containerID: id, spec: spec) { $0.close() }
            XCTFail("create succeeded", file: file, line: line)
        } catch let error as ContainerError {
            XCTAssertTrue(check(error), "unexpected error: \(error)", file: file, line: line)
        } catch {
            XCTFail("not a ContainerError: \(error)", file: file, line: line)
        }
        XCTAssertEqual(backend.states(for: id), [], "no event for a failed create", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(stateDirectory!)/\(id)"), file: file, line: line)
    }

    /// `create` must fail with `invalidSpec` at `specPath`, as above.
    func assertCreateFails(_ spec: Spec, id: String = "bad", specPath: String, file: StaticString = #filePath, line: UInt = #line) async {
        await assertCreateFails(spec, id: id, file: file, line: line) { error in
            if case .invalidSpec(specPath, _) = error { return true }
            return false
        }
    }

    /// Runs a container to its end; returns stdout, stderr and the exit event.
    func run(_ id: String, _ spec: Spec, stdin: String? = nil) async throws -> (stdout: String, stderr: String, exit: StateInfo) {
        let earlierRuns = backend.states(for: id).filter { $0 == .exit }.count
        let streams = Mutex<(AsyncThrowingStream<[UInt8], any Error>, AsyncThrowingStream<[UInt8], any Error>)?>(nil)
        try await client.create(containerID: id, spec: spec) { io in
            if let stdin { try io.writeStdin(Array(stdin.utf8)) }
            io.closeStdin()
            streams.withLock { $0 = (io.stdoutBytes(), io.stderrBytes()) }
        }
        let (out, err) = try XCTUnwrap(streams.withLock { $0 })
        let stdout = try await out.collect()
        let stderr = try await err.collect()
        let exit = try await backend.wait(for: id, state: .exit, occurrence: earlierRuns + 1, timeout: .seconds(60))
        return (String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self), exit)
    }
}

/// Whether `pid` has a handler for `signal` (its shell has run `trap`): a pid namespace's init
/// drops a signal it has no handler for, so tests wait for this before they signal.
func catchesSignal(_ signal: Int32, pid: Int32) -> Bool {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let caught = status.split(separator: "\n").first { $0.hasPrefix("SigCgt:") }.flatMap { UInt64($0.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) } ?? 0
    return caught & (1 << (UInt64(signal) - 1)) != 0
}

/// Builds `Programs/<name>.c` as a static program at `<rootfs>/bin/<name>`; in the VM tier
/// (no gcc) copies the one `make test-vm` built on the host (`$LCD_TEST_PROGRAMS`).
func compileProgram(_ name: String, into rootfs: String, file: StaticString = #filePath, line: UInt = #line) throws {
    if let prebuilt = ProcessInfo.processInfo.environment["LCD_TEST_PROGRAMS"].map({ "\($0)/\(name)" }), access(prebuilt, X_OK) == 0 {
        try FileManager.default.copyItem(atPath: prebuilt, toPath: rootfs + "/bin/" + name)
        return
    }
    guard access("/usr/bin/gcc", X_OK) == 0 else { throw XCTSkip("gcc is needed to build \(name).c") }
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Programs/\(name).c").path
    let compile = Process()
    compile.executableURL = URL(fileURLWithPath: "/usr/bin/gcc")
    compile.arguments = ["-static", "-O1", "-o", rootfs + "/bin/" + name, source]
    try compile.run()
    compile.waitUntilExit()
    guard compile.terminationStatus == 0 else { throw XCTSkip("gcc could not build \(name).c") }
}
