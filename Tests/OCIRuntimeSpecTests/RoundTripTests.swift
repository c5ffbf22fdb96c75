import Foundation
import XCTest
@testable import OCIRuntimeSpec

final class RoundTripTests: XCTestCase {
    private func fixture(_ name: String) throws -> Data {
        let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"), "fixture \(name)")
        return try Data(contentsOf: url)
    }

    private func tree(_ data: Data) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: data) }

    /// decode → encode is semantically the input, and decode → encode → decode is equal.
    private func assertLossless<D: OCIDocument & Equatable>(_ type: D.Type, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> D {
        let input = try fixture(name)
        let first = try OCIJSON.decode(type, from: input)
        let encoded = try OCIJSON.encode(first)
        let second = try OCIJSON.decode(type, from: encoded)
        XCTAssertEqual(first, second, "\(name): decode → encode → decode differs", file: file, line: line)
        let (a, b) = (try tree(input), try tree(encoded))
        XCTAssertTrue(a.semanticallyEquals(b), "\(name): re-encoded JSON differs from the input:\n\(String(decoding: encoded, as: UTF8.self))", file: file, line: line)
        return first
    }

    func testToolGeneratedSpecsRoundTripWithNothingUnknown() throws {
        for name in ["runc-spec", "runc-rootless-spec", "crun-spec", "crun-rootless-spec"] {
            let spec = try assertLossless(Spec.self, name)
            XCTAssertNil(spec.unknownFields, "\(name) has keys the model lacks: \(String(describing: spec.unknownFields))")
            XCTAssertEqual(spec.process?.args, ["sh"], name)
            XCTAssertEqual(spec.root?.path, "rootfs", name)
            XCTAssertTrue(spec.linux?.namespaces?.contains(.init(type: .mount)) ?? false, name)
        }
    }

    func testRootlessSpecsCarryUserNamespaceMappings() throws {
        for name in ["runc-rootless-spec", "crun-rootless-spec"] {
            let spec = try OCIJSON.decode(Spec.self, from: fixture(name))
            XCTAssertTrue(spec.linux?.namespaces?.contains(.init(type: .user)) ?? false, name)
        }
        // runc writes the invoking user's mapping; crun fills it in at run time.
        XCTAssertEqual(try OCIJSON.decode(Spec.self, from: fixture("runc-rootless-spec")).linux?.uidMappings?.first?.size, 1)
    }

    func testEveryFieldIsModelled() throws {
        let spec = try assertLossless(Spec.self, "every-field-spec")
        XCTAssertNil(spec.unknownFields, "unmodelled keys: \(String(describing: spec.unknownFields))")
        let process = try XCTUnwrap(spec.process)
        XCTAssertEqual(process.consoleSize, Spec.Box(height: 25, width: 80))
        XCTAssertEqual(process.user.umask, 18)
        XCTAssertEqual(process.scheduler?.policy, .deadline)
        XCTAssertEqual(process.scheduler?.flags, [.resetOnFork, .reclaim])
        XCTAssertEqual(process.ioPriority?.class, .bestEffort)
        XCTAssertEqual(process.execCPUAffinity?.final, "0-1")
        XCTAssertEqual(process.oomScoreAdj, -500)
        let linux = try XCTUnwrap(spec.linux)
        XCTAssertEqual(linux.namespaces?.map(\.type), Spec.Linux.Namespace.Kind.allCases)
        XCTAssertEqual(linux.resources?.memory?.kernel, -1)
        XCTAssertEqual(linux.resources?.cpu?.burst, 10000)
        XCTAssertEqual(linux.resources?.rdma?["mlx5_1"]?.hcaObjects, 10000)
        XCTAssertEqual(linux.resources?.unified?["memory.high"], "400M")
        XCTAssertEqual(linux.seccomp?.syscalls?.last?.args?.first?.op, .maskedEqual)
        XCTAssertEqual(linux.seccomp?.syscalls?.last?.errnoRet, 38)
        XCTAssertEqual(linux.rootfsPropagation, .slave)
        XCTAssertEqual(linux.netDevices?["eth1"]?.name, "ctr1")
        XCTAssertEqual(linux.timeOffsets?["monotonic"]?.nanosecs, 1)
        XCTAssertEqual(linux.personality?.domain, .linux)
        XCTAssertEqual(linux.devices?.first?.fileMode, 0o666)
        XCTAssertEqual(spec.mounts?.last?.uidMappings?.first?.hostID, 100000)
        XCTAssertEqual(spec.hooks?.poststop?.first?.timeout, 1)
        XCTAssertNotNil(spec.windows)
    }

    func testStateAndFeaturesRoundTrip() throws {
        let state = try assertLossless(RuntimeState.self, "state")
        XCTAssertEqual(state.status, .running)
        XCTAssertEqual(state.pid, 4422)
        let features = try assertLossless(Features.self, "every-field-features")
        XCTAssertNil(features.unknownFields)
        XCTAssertEqual(features.linux?.mountExtensions?.idmap?.enabled, true)
        let runc = try assertLossless(Features.self, "runc-features")
        XCTAssertNil(runc.unknownFields, "unmodelled keys in runc features: \(String(describing: runc.unknownFields))")
        XCTAssertEqual(runc.linux?.cgroup?.v2, true)
    }

    func testUnknownKeysAreKeptAndWrittenBack() throws {
        let spec = try assertLossless(Spec.self, "unknown-keys-spec")
        guard case .object(let extra)? = spec.unknownFields else { return XCTFail("unknown keys were dropped") }
        XCTAssertEqual(Set(extra.keys), ["vendorTopLevel", "process", "mounts", "linux"])
        XCTAssertEqual(spec.mounts?.count, 2)
        // Editing a typed field keeps the unknown keys around it.
        var edited = spec
        edited.process?.cwd = "/work"
        let json = try tree(OCIJSON.encode(edited))
        guard case .object(let root) = json, case .object(let process)? = root["process"] else { return XCTFail() }
        XCTAssertEqual(process["cwd"], .string("/work"))
        XCTAssertEqual(process["newKnob"], .int(7))
        guard case .array(let mounts)? = root["mounts"], case .object(let tmp) = mounts[1] else { return XCTFail() }
        XCTAssertEqual(tmp["futureMountField"], .string("z"))
    }

    func testUnknownKeysCanBeRejectedWithTheirPath() throws {
        XCTAssertThrowsError(try OCIJSON.decode(Spec.self, from: fixture("unknown-keys-spec"), unknownKeys: .reject)) { error in
            XCTAssertEqual(error as? OCIDecodingError, .unknownKey(path: "$.linux.memoryPolicy"))
        }
        let nested = Data(#"{"ociVersion":"1.2.0","mounts":[{"destination":"/a"},{"destination":"/b","bogus":1}]}"#.utf8)
        XCTAssertThrowsError(try OCIJSON.decode(Spec.self, from: nested, unknownKeys: .reject)) { error in
            XCTAssertEqual(error as? OCIDecodingError, .unknownKey(path: "$.mounts[1].bogus"))
        }
        XCTAssertNoThrow(try OCIJSON.decode(Spec.self, from: fixture("runc-spec"), unknownKeys: .reject))
    }

    func testPlainCodableWorksButDropsUnknownKeys() throws {
        let spec = try JSONDecoder().decode(Spec.self, from: fixture("unknown-keys-spec"))
        XCTAssertNil(spec.unknownFields)
        XCTAssertEqual(spec.process?.args, ["sh"])
    }

    func testNilFieldsAreOmitted() throws {
        let json = try tree(OCIJSON.encode(Spec()))
        XCTAssertEqual(json, .object(["ociVersion": .string(Spec.version)]))
        let process = try tree(JSONEncoder().encode(Spec.Process(args: ["true"])))
        XCTAssertEqual(process, .object(["args": .array([.string("true")]), "cwd": .string("/"), "user": .object(["uid": .int(0), "gid": .int(0)])]))
    }

    func testLargeIntegersSurvive() throws {
        let data = Data(#"{"ociVersion":"1","x":18446744073709551615,"y":-9223372036854775808,"z":1.5}"#.utf8)
        let spec = try OCIJSON.decode(Spec.self, from: data)
        XCTAssertEqual(spec.unknownFields, .object(["x": .uint(.max), "y": .int(.min), "z": .double(1.5)]))
        XCTAssertTrue(try tree(data).semanticallyEquals(tree(OCIJSON.encode(spec))))
    }
}
