import Foundation
import XCTest
import LibContainerd
import SystemPackage

final class TypesTests: XCTestCase {
    func testStateRawValuesAreTheGoConstants() {
        XCTAssertEqual(State.start.rawValue, "start-container")
        XCTAssertEqual(State.pause.rawValue, "pause")
        XCTAssertEqual(State.resume.rawValue, "resume")
        XCTAssertEqual(State.exit.rawValue, "exit")
        XCTAssertEqual(State.restore.rawValue, "restore")
        XCTAssertEqual(State.exitProcess.rawValue, "exit-process")
        XCTAssertEqual(State.oom.rawValue, "oom")
        XCTAssertEqual(State.allCases.count, 7)
    }

    func testStateInfoDefaultsAndCoding() throws {
        let info = StateInfo(state: .exit, pid: 42, exitCode: 137, oomKilled: true)
        XCTAssertEqual(info.processID, "init")
        XCTAssertEqual(initFriendlyName, "init")
        let decoded = try JSONDecoder().decode(StateInfo.self, from: JSONEncoder().encode(info))
        XCTAssertEqual(decoded, info)
        XCTAssertEqual(exitStatus(forSignal: 9), 137)
        XCTAssertEqual(exitStatus(forSignal: 15), 143)
    }

    func testErrorsNameWhatWentWrong() {
        let cases: [(ContainerError, [String])] = [
            (.notFound(containerID: "web"), ["web", "not found"]),
            (.alreadyExists(containerID: "web"), ["web", "already exists"]),
            (.alreadyExists(containerID: "web", processFriendlyName: "e1"), ["web", "e1"]),
            (.invalidState(containerID: "web", state: "paused", operation: "exec"), ["web", "paused", "exec"]),
            (.invalidSpec(path: "$.process.cwd", reason: "must be absolute"), ["$.process.cwd", "absolute"]),
            (.invalidArgument(name: "width", reason: "must be positive"), ["width", "positive"]),
            (.controllerUnavailable(controller: "memory"), ["memory", "not available"]),
            (.processNotFound(containerID: "web", processFriendlyName: "e1"), ["web", "e1"]),
            (.timeout(operation: "pause web", seconds: 10), ["pause web", "10"]),
            (.systemCallFailed(operation: "mount /proc", errno: .permissionDenied), ["mount /proc", "errno 13"]),
            (.unsupported(feature: "checkpoint", reason: "criu check failed"), ["checkpoint", "criu check failed"]),
        ]
        for (error, words) in cases {
            for word in words {
                XCTAssertTrue(error.description.contains(word), "\(error.description) lacks \(word)")
            }
        }
    }

    func testCreateOptionsApplyInOrderOverDefaults() {
        let defaults = CreateOptions()
        XCTAssertEqual(defaults.stateDirectory, "/run/libcontainerd")
        XCTAssertEqual(defaults.cgroupParent, "libcontainerd")
        XCTAssertTrue(defaults.liveRestore)
        XCTAssertNil(defaults.helperPath)
        XCTAssertEqual(defaults.stateChangeTimeout, .seconds(10))
        let set = CreateOptions([.stateDirectory("/a"), .stateDirectory("/b"), .liveRestore(false), .helperPath("/x/lcd-shim"), .cgroupParent("ci"), .stateChangeTimeout(.seconds(1))])
        XCTAssertEqual(set.stateDirectory, "/b")
        XCTAssertFalse(set.liveRestore)
        XCTAssertEqual(set.helperPath, "/x/lcd-shim")
        XCTAssertEqual(set.cgroupParent, "ci")
        XCTAssertEqual(set.stateChangeTimeout, .seconds(1))
        let overridden = set.applying([.cgroupParent("other")])
        XCTAssertEqual(overridden.cgroupParent, "other")
        XCTAssertEqual(overridden.stateDirectory, "/b")
        XCTAssertEqual(set.cgroupParent, "ci")
    }

    func testServerVersion() throws {
        XCTAssertEqual(libraryVersion.version, "0.1.0")
        let version = ServerVersion(major: 1, minor: 2, patch: 3, revision: "abc", kernel: "6.1", cgroupMode: .hybrid, controllers: ["cpu"])
        XCTAssertEqual(version.version, "1.2.3")
        XCTAssertEqual(try JSONDecoder().decode(ServerVersion.self, from: JSONEncoder().encode(version)), version)
        XCTAssertEqual(CgroupMode(rawValue: "unified"), .unified)
    }

    func testResources() throws {
        XCTAssertTrue(Resources().isEmpty)
        let resources = Resources(
            blkioWeight: 500, blkioWeightDevice: [.init(major: 8, minor: 0, weight: 100)],
            blkioThrottleReadBpsDevice: [.init(major: 8, minor: 0, rate: 1 << 20)],
            cpuShares: 512, cpuPeriod: 100_000, cpuQuota: 50_000, memoryLimit: 1 << 30, pidsLimit: 64,
            unified: ["memory.high": "512M"])
        XCTAssertFalse(resources.isEmpty)
        XCTAssertEqual(try JSONDecoder().decode(Resources.self, from: JSONEncoder().encode(resources)), resources)
    }

    func testCheckpointNamesFollowDockersRule() throws {
        for good in ["ab", "c1", "cp-1.2_x", "A0"] {
            XCTAssertNoThrow(try Checkpoint.validate(name: good), good)
        }
        for bad in ["", "a", "-ab", ".ab", "a b", "a/b", "é1", "ab$"] {
            XCTAssertThrowsError(try Checkpoint.validate(name: bad), bad) { error in
                guard case .invalidArgument(let name, _)? = error as? ContainerError else { return XCTFail("\(error)") }
                XCTAssertTrue(name.contains("\"\(bad)\""), name)
            }
        }
        let checkpoint = Checkpoint(name: "cp1", exit: true)
        XCTAssertEqual(checkpoint.emptyNS, ["network"])
        XCTAssertTrue(checkpoint.tcp && checkpoint.unixSockets && !checkpoint.shell)
    }

    func testStatsAndSummaryCoding() throws {
        let stats = Stats(
            timestamp: Date(timeIntervalSince1970: 1000),
            cpu: .init(usageUsec: 10, userUsec: 6, systemUsec: 4, periods: 1, throttledPeriods: 0, throttledUsec: 0),
            memory: .init(usage: 4096, limit: nil, swapUsage: 0, stat: ["anon": 1], events: ["oom_kill": 0]),
            pids: .init(current: 2, limit: 10),
            io: [.init(major: 8, minor: 0, readBytes: 1, writeBytes: 2, readIOs: 3, writeIOs: 4)],
            network: [.init(name: "lo", rxBytes: 5, txBytes: 5)])
        XCTAssertEqual(try JSONDecoder().decode(Stats.self, from: JSONEncoder().encode(stats)), stats)
        let row = Summary(pid: 10, ppid: 1, uid: 0, state: "S", command: "sh -c sleep")
        XCTAssertEqual(try JSONDecoder().decode(Summary.self, from: JSONEncoder().encode(row)), row)
    }

    func testExecProcessDefaults() {
        let process = ExecProcess(args: ["ls"])
        XCTAssertFalse(process.terminal)
        XCTAssertNil(process.user)
        XCTAssertNil(process.env)
        XCTAssertNil(process.cwd)
        XCTAssertEqual(User(uid: 1, gid: 2).additionalGids, nil)
    }
}
