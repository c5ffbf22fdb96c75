import LibContainerd
import OCIRuntimeSpec
import XCTest
@testable import LinuxRuntime

/// The generated device program, run by an interpreter of the eight instructions it uses and
/// compared with the rules' meaning (the last matching rule decides; none matching: deny).
final class DeviceFilterTests: XCTestCase {
    /// Runs `program` on (type, access, major, minor); returns r0.
    private func run(_ program: [DeviceFilter.Instruction], type: UInt32, access: UInt32, major: UInt32, minor: UInt32) -> UInt32 {
        var r = [UInt64](repeating: 0, count: 11)
        let context: [UInt32] = [access << 16 | type, major, minor]
        var pc = 0
        for _ in 0..<10_000 {
            let i = program[pc]
            pc += 1
            let dst = Int(i.dst), src = Int(i.src), imm = UInt64(UInt32(bitPattern: i.imm))
            switch i.code {
            case 0x61: r[dst] = UInt64(context[Int(i.offset) / 4])               // load word from the context
            case 0x54: r[dst] = UInt64(UInt32(truncatingIfNeeded: r[dst]) & UInt32(imm))
            case 0x74: r[dst] = UInt64(UInt32(truncatingIfNeeded: r[dst]) >> UInt32(imm))
            case 0xbc: r[dst] = UInt64(UInt32(truncatingIfNeeded: r[src]))
            case 0xb4: r[dst] = imm
            case 0x56: if UInt32(truncatingIfNeeded: r[dst]) != UInt32(imm) { pc += Int(i.offset) }
            case 0x5e: if UInt32(truncatingIfNeeded: r[dst]) != UInt32(truncatingIfNeeded: r[src]) { pc += Int(i.offset) }
            case 0x95: return UInt32(truncatingIfNeeded: r[0])
            default: XCTFail("unexpected opcode \(i.code)"); return 99
            }
        }
        XCTFail("no exit")
        return 99
    }

    private func expected(_ rules: [DeviceRule], type: UInt32, access: UInt32, major: UInt32, minor: UInt32) -> UInt32 {
        let match = rules.last { rule in
            (rule.kind == .all || (rule.kind == .block ? 1 : 2) == type)
                && access & ~rule.access == 0 && (rule.major ?? major) == major && (rule.minor ?? minor) == minor
        }
        return match?.allow == true ? 1 : 0
    }

    func testTheProgramDecidesAsTheRulesSay() throws {
        var spec = Spec.linuxContainer(rootfs: "/", args: ["true"])
        spec.linux?.resources?.devices? += [
            .init(allow: true, type: "b", major: 7, minor: nil, access: "r"),
            .init(allow: false, type: "c", major: 1, minor: 3, access: "w"),  // overridden by the implicit null rule after it
            .init(allow: true, type: "c", major: 10, minor: 232, access: "rw"),
        ]
        spec.linux?.devices = [.init(type: "b", path: "/dev/given", major: 8, minor: 1)]
        let rules = try DeviceFilter.rules(spec)
        let program = DeviceFilter.program(rules)
        var checked = 0
        for type: UInt32 in [1, 2] {
            for access: UInt32 in 1...7 {
                for (major, minor): (UInt32, UInt32) in [(1, 3), (1, 11), (5, 0), (5, 1), (5, 2), (136, 4), (10, 200), (10, 232), (7, 0), (7, 9), (8, 1), (8, 2), (4, 0)] {
                    XCTAssertEqual(run(program, type: type, access: access, major: major, minor: minor),
                                   expected(rules, type: type, access: access, major: major, minor: minor),
                                   "type \(type) access \(access) \(major):\(minor)")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 182)
        XCTAssertEqual(run(program, type: 1, access: DeviceRule.read, major: 7, minor: 3), 1, "the loop rule gives read")
        XCTAssertEqual(run(program, type: 1, access: DeviceRule.write, major: 7, minor: 3), 0, "and not write")
        XCTAssertEqual(run(program, type: 2, access: DeviceRule.read, major: 1, minor: 11), 0, "/dev/kmsg is refused")
        XCTAssertEqual(run(program, type: 2, access: DeviceRule.mknod, major: 1, minor: 11), 1, "but its node may be made, as in runc")
    }

    func testAnAllowAllRuleEndsTheProgram() {
        let rules = [DeviceRule(allow: true, kind: .all, major: nil, minor: nil, access: DeviceRule.rwm)]
        XCTAssertEqual(DeviceFilter.program(rules).count, 6 + 2, "loads, then allow: nothing unreachable for the verifier")
    }

    func testBadRulesNameTheirPath() {
        for (rule, key) in [(Spec.Linux.Resources.DeviceRule(allow: true, type: "x"), "type"), (.init(allow: true, access: "rwx"), "access"),
                            (.init(allow: true, major: 1 << 33), "major")] {
            XCTAssertThrowsError(try DeviceFilter.rules([rule], path: "$.linux.resources.devices", created: [])) { error in
                guard case .invalidSpec("$.linux.resources.devices[0].\(key)", _)? = error as? ContainerError else { return XCTFail("\(error)") }
            }
        }
    }
}
