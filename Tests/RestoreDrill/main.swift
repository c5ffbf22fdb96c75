// lcd-restore-drill: the daemon that RestoreDrillTests kills with SIGKILL.
//
//   lcd-restore-drill STATE_DIR CGROUP_PARENT ROOTFS
//
// Creates 20 containers drill-00 … drill-19, five of each kind (by index % 5):
//   0 writer   numbered lines with the uptime, every 10 ms; their stdout is held, never read
//   1 paused   a sleep loop, then paused
//   2 execs    a sleep loop with two execs: `long` (runs on) and `short` (exits 5 on SIGUSR1)
//   3 exiter   exits with 20 + index on SIGUSR1
//   4 idle     a sleep loop
// and prints `container ID PID`, `exec ID NAME PID`, then `ready`, and waits to be killed.
import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import Synchronization

final class QuietBackend: Backend {
    func stateChanged(containerID: String, state: StateInfo) async throws {}
}

let arguments = CommandLine.arguments
guard arguments.count == 4 else {
    FileHandle.standardError.write(Data("usage: lcd-restore-drill STATE_DIR CGROUP_PARENT ROOTFS\n".utf8))
    exit(2)
}
let (state, cgroupParent, rootfs) = (arguments[1], arguments[2], arguments[3])
let client = try LinuxClient(backend: QuietBackend(), options: [.stateDirectory(state), .cgroupParent(cgroupParent)])
let held = Mutex<[IOPipe]>([])  // stdio kept open and unread, as a busy daemon's would be
let loop = "while :; do sleep 0.05; done"

/// One unbuffered line for the test.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func spec(_ script: String) -> Spec {
    var spec = Spec.linuxContainer(rootfs: rootfs, args: ["sh", "-c", script], hostname: "drill")
    spec.process?.env = ["PATH=/bin"]
    return spec
}

for index in 0..<20 {
    let id = String(format: "drill-%02d", index)
    let script: String
    switch index % 5 {
    case 0: script = "i=0; while :; do read up idle < /proc/uptime; echo \"$i $up\"; i=$((i+1)); sleep 0.01; done"
    case 3: script = "trap 'exit \(20 + index)' USR1; \(loop)"
    default: script = loop
    }
    try await client.create(containerID: id, spec: spec(script)) { io in held.withLock { $0.append(io) } }
    say("container \(id) \(try await client.pidsForContainer(containerID: id).min() ?? 0)")
    if index % 5 == 1 { try await client.pause(containerID: id) }
    if index % 5 == 2 {
        for (name, script) in [("long", loop), ("short", "trap 'exit 5' USR1; \(loop)")] {
            let pid = try await client.addProcess(containerID: id, processFriendlyName: name, process: ExecProcess(args: ["sh", "-c", script])) { io in
                held.withLock { $0.append(io) }
            }
            say("exec \(id) \(name) \(pid)")
        }
    }
}
say("ready")
while true { sleep(1000) }
