// lcd-bench: create → exit latency of a `/bin/true` busybox container through LinuxClient,
// against `crun run` and `runc run` of the same bundle, in the same run; and the memory of
// the supervisor of an idle container against conmon's. Run through `make bench`, which puts
// it in a private mount namespace with cgroup2 at /sys/fs/cgroup (so runc and crun work on
// hybrid hosts too).
import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import Synchronization

let iterations = Int(ProcessInfo.processInfo.environment["LCD_BENCH_ITERATIONS"] ?? "") ?? 200
let work = NSTemporaryDirectory() + "lcd-bench-\(getpid())"
let bundle = work + "/bundle"
let stateDirectory = work + "/state"
defer { try? FileManager.default.removeItem(atPath: work) }

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("lcd-bench: \(message)\n".utf8))
    try? FileManager.default.removeItem(atPath: work)
    exit(1)
}

func makeBundle() throws {
    guard let busybox = ["/bin/busybox", "/usr/bin/busybox"].first(where: { (path: String) in access(path, X_OK) == 0 }) else {
        fail("busybox-static is not installed (make deps)")
    }
    let fm = FileManager.default
    for dir in ["rootfs/bin", "rootfs/proc", "rootfs/dev", "rootfs/sys", "rootfs/tmp"] {
        try fm.createDirectory(atPath: bundle + "/" + dir, withIntermediateDirectories: true)
    }
    try fm.copyItem(atPath: busybox, toPath: bundle + "/rootfs/bin/busybox")
    for applet in ["sh", "true", "sleep"] { try fm.createSymbolicLink(atPath: bundle + "/rootfs/bin/" + applet, withDestinationPath: "busybox") }
    // The same spec for all three; no linux.resources (crun would need CAP_SYS_RESOURCE for its defaults here).
    var spec = Spec.linuxContainer(rootfs: bundle + "/rootfs", args: ["/bin/true"], hostname: "bench")
    // crun raises RLIMIT_MEMLOCK for a device program, which this host refuses: no device
    // rules in the bundle (LinuxClient attaches its deny-by-default program all the same).
    spec.linux?.resources = nil
    spec.ociVersion = "1.0.2"
    try OCIJSON.encode(spec).write(to: URL(fileURLWithPath: bundle + "/config.json"))
}

func median(_ samples: [Double]) -> Double {
    let sorted = samples.sorted()
    return sorted[sorted.count / 2]
}

func percentile(_ samples: [Double], _ p: Double) -> Double {
    let sorted = samples.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

/// Runs `argv` with stdio on /dev/null (posix_spawn + waitpid: no Foundation overhead on
/// the measured runtimes); returns wall seconds, or nil if it failed.
func timeCommand(_ argv: [String]) -> Double? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for fd: Int32 in 0...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
    let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    let start = ContinuousClock.now
    var pid: pid_t = 0
    guard posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ) == 0 else { return nil }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let elapsed = ContinuousClock.now - start
    guard status == 0 else { return nil }
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// Waits for the exit of a container's init or of one of its execs.
final class ExitWaiter: Backend {
    private let state = Mutex<(done: Set<String>, waiters: [String: CheckedContinuation<Void, Never>])>(([], [:]))

    func stateChanged(containerID: String, state info: StateInfo) async throws {
        guard info.state == .exitProcess || info.state == .exit else { return }
        let key = containerID + "/" + info.processID
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiters.removeValue(forKey: key) { return w }
            s.done.insert(key)
            return nil
        }
        waiter?.resume()
    }

    func wait(_ containerID: String, process: String = initFriendlyName) async {
        let key = containerID + "/" + process
        await withCheckedContinuation { continuation in
            let finished = state.withLock { s -> Bool in
                if s.done.remove(key) != nil { return true }
                s.waiters[key] = continuation
                return false
            }
            if finished { continuation.resume() }
        }
    }
}

func benchLinuxClient(_ spec: Spec) async throws -> [Double] {
    let backend = ExitWaiter()
    let client = try LinuxClient(backend: backend, options: [.stateDirectory(stateDirectory), .cgroupParent("lcd-bench-\(getpid())")])
    var samples: [Double] = []
    for i in 0..<(iterations + 5) {
        let id = "b\(i)"
        let start = ContinuousClock.now
        try await client.create(containerID: id, spec: spec) { $0.close() }
        await backend.wait(id)
        let elapsed = ContinuousClock.now - start
        if i >= 5 { samples.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) }
    }
    return samples
}

func benchRuntime(_ path: String) -> [Double]? {
    guard access(path, X_OK) == 0 else { return nil }
    var samples: [Double] = []
    let root = work + "/" + (path as NSString).lastPathComponent + "-root"
    for i in 0..<(iterations + 5) {
        guard let seconds = timeCommand([path, "--root", root, "run", "--bundle", bundle, "r\(i)"]) else {
            FileHandle.standardError.write(Data("lcd-bench: \(path) run failed; skipping it\n".utf8))
            return nil
        }
        if i >= 5 { samples.append(seconds) }
    }
    return samples
}

/// Resident memory (VmRSS, KiB) of a process.
func rss(_ pid: Int32) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(whereSeparator: \.isWhitespace)[1])
    }
    return nil
}

func parent(of pid: Int32) -> Int32? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
    return Int32(stat[stat.index(after: close)...].split(separator: " ")[1])
}

func supervisorRSS(_ spec: Spec) async throws -> Int? {
    var idle = spec
    idle.process?.args = ["/bin/sleep", "100"]
    let backend = ExitWaiter()
    let client = try LinuxClient(backend: backend, options: [.stateDirectory(stateDirectory), .cgroupParent("lcd-bench-\(getpid())")])
    try await client.create(containerID: "idle", spec: idle) { $0.close() }
    try await Task.sleep(for: .milliseconds(200))
    let pid = try await client.pidsForContainer(containerID: "idle")[0]
    let value = parent(of: pid).flatMap(rss)
    try await client.signal(containerID: "idle", signal: SIGKILL)
    await backend.wait("idle")
    return value
}

/// A bundle whose process idles (for exec and supervisor measurements).
func makeIdleBundle() -> String {
    var idle = try! OCIJSON.decode(Spec.self, from: Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json")))
    idle.process?.args = ["/bin/sleep", "1000"]
    let idleBundle = work + "/idle-bundle"
    try? FileManager.default.createDirectory(atPath: idleBundle, withIntermediateDirectories: true)
    try? OCIJSON.encode(idle).write(to: URL(fileURLWithPath: idleBundle + "/config.json"))
    return idleBundle
}

func benchExecLinuxClient(_ spec: Spec) async throws -> [Double] {
    var idle = spec
    idle.process?.args = ["/bin/sleep", "1000"]
    let backend = ExitWaiter()
    let client = try LinuxClient(backend: backend, options: [.stateDirectory(stateDirectory), .cgroupParent("lcd-bench-\(getpid())")])
    try await client.create(containerID: "execs", spec: idle) { $0.close() }
    var samples: [Double] = []
    for i in 0..<(iterations + 5) {
        let start = ContinuousClock.now
        _ = try await client.addProcess(containerID: "execs", processFriendlyName: "e\(i)", process: ExecProcess(args: ["/bin/true"])) { $0.close() }
        await backend.wait("execs", process: "e\(i)")
        let elapsed = ContinuousClock.now - start
        if i >= 5 { samples.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) }
    }
    try await client.signal(containerID: "execs", signal: SIGKILL)
    await backend.wait("execs")
    return samples
}

func benchExecRuntime(_ path: String) -> [Double]? {
    guard access(path, X_OK) == 0 else { return nil }
    let root = work + "/" + (path as NSString).lastPathComponent + "-exec-root"
    guard timeCommand([path, "--root", root, "run", "--detach", "--bundle", makeIdleBundle(), "execs"]) != nil else {
        FileHandle.standardError.write(Data("lcd-bench: \(path) run --detach failed; skipping its exec\n".utf8))
        return nil
    }
    defer {
        _ = timeCommand([path, "--root", root, "kill", "execs", "KILL"])
        usleep(100_000)
        _ = timeCommand([path, "--root", root, "delete", "--force", "execs"])
    }
    var samples: [Double] = []
    for i in 0..<(iterations + 5) {
        guard let seconds = timeCommand([path, "--root", root, "exec", "execs", "/bin/true"]) else { return nil }
        if i >= 5 { samples.append(seconds) }
    }
    return samples
}


func conmonRSS() -> String {
    guard access("/usr/bin/conmon", X_OK) == 0, access("/usr/sbin/runc", X_OK) == 0 else { return "not installed" }
    let idleBundle = makeIdleBundle()
    let pidFile = work + "/conmon.pid"
    let runcRoot = "--root=\(work)/conmon-runc"
    // conmon runs `runc create` and daemonizes; the caller then starts the container.
    guard timeCommand(["/usr/bin/conmon", "--cid", "conmonidle", "--cuuid", "conmonidle", "--name", "conmonidle",
                       "--runtime", "/usr/sbin/runc", "--runtime-arg", runcRoot, "--bundle", idleBundle,
                       "--conmon-pidfile", pidFile, "--container-pidfile", work + "/ctr.pid", "--exit-dir", work,
                       "--log-path", work + "/ctr.log", "--socket-dir-path", work]) != nil else { return "could not start" }
    defer {
        _ = timeCommand(["/usr/sbin/runc", runcRoot, "delete", "-f", "conmonidle"])
        usleep(200_000)
    }
    // conmon returns before its `runc create` has finished: wait for the state to appear.
    for _ in 0..<50 where timeCommand(["/usr/sbin/runc", runcRoot, "state", "conmonidle"]) == nil { usleep(20_000) }
    guard timeCommand(["/usr/sbin/runc", runcRoot, "start", "conmonidle"]) != nil else { return "runc start failed" }
    usleep(300_000)
    guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
          let kib = rss(pid) else { return "did not start a container here" }
    return "\(kib) KiB"
}

guard getuid() == 0 else { fail("needs root: it runs containers") }
try makeBundle()
let spec = try OCIJSON.decode(Spec.self, from: Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json")))
print("lcd-bench: \(iterations) runs of /bin/true in a busybox container (after 5 warm-up runs)")
let ours = try await benchLinuxClient(spec)
let crun = benchRuntime("/usr/bin/crun")
let runc = benchRuntime("/usr/sbin/runc")
func row(_ name: String, _ samples: [Double]?) {
    guard let samples else { return print(String(format: "  %-26@ not available", name as NSString)) }
    print(String(format: "  %-26@ median %7.2f ms   p90 %7.2f ms", name as NSString, median(samples) * 1000, percentile(samples, 0.9) * 1000))
}
print("create → exit latency")
row("LinuxClient", ours)
row("crun run", crun)
row("runc run", runc)
if let crun { print(String(format: "  ratio LinuxClient / crun: %.2f  (goal ≤ 0.80)", median(ours) / median(crun))) }
if let runc { print(String(format: "  ratio LinuxClient / runc: %.2f", median(ours) / median(runc))) }
let execOurs = try await benchExecLinuxClient(spec)
let execCrun = benchExecRuntime("/usr/bin/crun")
let execRunc = benchExecRuntime("/usr/sbin/runc")
print("exec latency (`true` in a running container, to its exit)")
row("LinuxClient addProcess", execOurs)
row("crun exec", execCrun)
row("runc exec", execRunc)
if let execCrun { print(String(format: "  ratio LinuxClient / crun: %.2f  (goal ≤ 0.80)", median(execOurs) / median(execCrun))) }
if let execRunc { print(String(format: "  ratio LinuxClient / runc: %.2f", median(execOurs) / median(execRunc))) }
print("supervisor of an idle container (VmRSS)")
let kib = try await supervisorRSS(spec)
print("  lcd-shim: \(kib.map { "\($0) KiB" } ?? "unknown")  (goal ≤ 3072 KiB)")
print("  conmon:   \(conmonRSS())")
