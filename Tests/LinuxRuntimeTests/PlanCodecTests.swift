import ContainerInit
import XCTest

/// The plan the daemon sends the helper: no string can shift a field, and the decoder takes
/// exactly one whole plan.
final class PlanCodecTests: XCTestCase {
    /// Deterministic: the same strings every run (xorshift), with the bytes that broke the old
    /// NUL-separated codec over-represented.
    private struct Strings {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        mutating func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
        mutating func string() -> String {
            let special: [UInt8] = [0, 0, 10, 9, 58, 48, 49, 255, 0xC3, 32]
            let length = Int(next() % 3 == 0 ? next() % 5000 : next() % 24)
            var bytes: [UInt8] = []
            for _ in 0..<length { bytes.append(next() % 3 == 0 ? special[Int(next() % UInt64(special.count))] : UInt8(next() % 128)) }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private func plan(_ s: inout Strings) -> Plan {
        var plan = Plan(
            containerID: s.string(), cgroupPath: s.string(), joinNamespaces: [NamespaceJoin(type: 0x20000, path: s.string(), specPath: s.string())],
            rootfs: s.string(), mounts: [MountStep(source: s.string(), destination: s.string(), type: s.string(), flags: 1, data: s.string(), specPath: s.string())],
            devices: [DeviceStep(path: s.string(), mode: 0o20666, major: 1, minor: 3)], hostname: s.string(), domainname: nil,
            additionalGids: [1, 2, UInt32.max], cwd: s.string(), args: [s.string(), s.string()], env: [s.string(), "A=x\0lcd-plan-1\0"],
            searchPath: [s.string()], stateDirectory: s.string(), processName: s.string())
        plan.sysctls = [Sysctl(key: s.string(), value: s.string())]
        plan.readonlyPaths = [s.string()]
        plan.maskedPaths = [s.string(), ""]
        plan.rlimits = [ResourceLimit(resource: 7, soft: 1, hard: UInt64.max)]
        plan.capabilities = CapabilitySets(bounding: 1, effective: 2, permitted: 3, inheritable: 0, ambient: 0, lastCapability: 40)
        plan.noNewPrivileges = true
        plan.createRuntimeHooks = [HookStep(path: s.string(), args: [s.string()], env: [s.string()], timeout: 3, specPath: s.string())]
        plan.stateJSONPrefix = s.string()
        plan.logPath = s.string()
        plan.criuRestore = [s.string()]
        plan.seccomp = SeccompProgram(instructions: [0, 1, 255], flags: 2)
        return plan
    }

    func testAdversarialStringsRoundTrip() throws {
        var strings = Strings()
        for _ in 0..<300 {
            let original = plan(&strings)
            XCTAssertEqual(try Plan(decoding: original.encoded()), original)
        }
    }

    func testAStringCannotForgeTheFieldsAfterIt() throws {
        var plan = Plan(containerID: "c", rootfs: "/r", args: ["sh"], env: ["A=x"], stateDirectory: "/s")
        plan.noNewPrivileges = true
        // What the old codec let through: an env value carrying the separator and the tokens
        // of the fields that follow it.
        plan.env = ["A=x\0" + "1\0" + "/evil"]
        let decoded = try Plan(decoding: plan.encoded())
        XCTAssertEqual(decoded.env, plan.env)
        XCTAssertEqual(decoded, plan)
    }

    func testTruncatedOrTrailingBytesAreRefused() {
        let bytes = Plan(containerID: "c", rootfs: "/r", args: ["sh"], stateDirectory: "/s").encoded()
        for cut in [1, 2, bytes.count / 2, bytes.count - 1] {
            XCTAssertThrowsError(try Plan(decoding: Array(bytes.prefix(cut))), "cut at \(cut)")
        }
        XCTAssertThrowsError(try Plan(decoding: bytes + [0]), "a trailing byte")
        XCTAssertThrowsError(try Plan(decoding: bytes + Plan(containerID: "d", rootfs: "/r", args: ["x"], stateDirectory: "/s").encoded()), "two plans")
    }
}

/// Every message of every channel, encoded and decoded, with strings that would have broken
/// a line protocol; and streams cut at every byte.
final class MessageCodecTests: XCTestCase {
    private let nasty = ["", "plain", "tab\there", "new\nline", "nul\0byte", "\0failed\0spec", String(repeating: "x", count: 70_000), "ready 1\n", "é∂"]

    private func roundTrip<M: FramedMessage>(_ message: M, file: StaticString = #filePath, line: UInt = #line) throws {
        let frame = message.framed()
        var reader = FrameReader()
        reader.append(frame.prefix(frame.count - 1))
        XCTAssertNil(try reader.next(), "an incomplete frame is not a message", file: file, line: line)
        reader.append(frame.suffix(1))
        let payload = try XCTUnwrap(try reader.next(), file: file, line: line)
        XCTAssertEqual(try M(payload: payload), message, file: file, line: line)
        XCTAssertThrowsError(try M(payload: payload + [0x31]), "trailing bytes", file: file, line: line)
    }

    func testEveryCaseOfEveryChannelRoundTrips() throws {
        let plan = Plan(containerID: "c\0x", rootfs: "/r", args: ["sh", "-c", "\0"], env: ["A=\n"], stateDirectory: "/s")
        for text in nasty {
            let failure = StartFailure(kind: text, location: text, errno: Int32.max, message: text)
            for message in [DaemonMessage.plan(plan), .start, .acknowledge] { try roundTrip(message) }
            for message in [HelperMessage.ready(pid: 1), .warning(text), .started(pid: Int32.max), .failed(failure)] { try roundTrip(message) }
            for message in [ProcessMessage.runHooks, .failed(failure)] { try roundTrip(message) }
        }
        for message in [ControlRequest.closeStdin, .resize(columns: 0, rows: 0), .resize(columns: .max, rows: 80)] { try roundTrip(message) }
    }

    func testFramesInOneStreamSplitAnywhereComeOutInOrder() throws {
        let messages: [HelperMessage] = [.ready(pid: 7), .warning("a\nb"), .warning("\0"), .started(pid: 9)]
        let stream = messages.flatMap { $0.framed() }
        for cut in 0...stream.count {
            var reader = FrameReader(), decoded: [HelperMessage] = []
            for part in [stream.prefix(cut), stream.dropFirst(cut)] {
                reader.append(part)
                while let payload = try reader.next() { decoded.append(try HelperMessage(payload: payload)) }
            }
            XCTAssertEqual(decoded, messages, "cut at \(cut)")
        }
    }

    func testMalformedMessagesAreErrors() {
        var unknown = TokenWriter()
        unknown.put("format-disk")
        XCTAssertThrowsError(try HelperMessage(payload: unknown.bytes))
        var badPid = TokenWriter()
        badPid.put("started"); badPid.put(-1)
        XCTAssertThrowsError(try HelperMessage(payload: badPid.bytes))
        var huge = FrameReader()
        huge.append([0xff, 0xff, 0xff, 0x7f])
        XCTAssertThrowsError(try huge.next(), "a frame above the maximum")
        var resize = TokenWriter()
        resize.put("resize"); resize.put(70_000); resize.put(1)
        XCTAssertThrowsError(try ControlRequest(payload: resize.bytes))
    }
}

