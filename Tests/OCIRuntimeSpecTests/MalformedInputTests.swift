import Foundation
import XCTest
import OCIRuntimeSpec

final class MalformedInputTests: XCTestCase {
    private func decodeError(_ json: String) -> OCIDecodingError? {
        do {
            _ = try OCIJSON.decode(Spec.self, from: Data(json.utf8))
            XCTFail("decoded without error: \(json)")
            return nil
        } catch let error as OCIDecodingError {
            return error
        } catch {
            XCTFail("not an OCIDecodingError: \(error)")
            return nil
        }
    }

    func testWrongTypeNamesThePath() {
        let error = decodeError(#"{"ociVersion":"1.2.0","process":{"cwd":"/","user":{"uid":"zero","gid":0}}}"#)
        XCTAssertEqual(error?.path, "$.process.user.uid")
        XCTAssertTrue(error?.description.contains("integer") ?? false, error?.description ?? "")
    }

    func testBadEnumValueNamesThePath() {
        let error = decodeError(#"{"ociVersion":"1.2.0","linux":{"namespaces":[{"type":"pid"},{"type":"pdi"}]}}"#)
        XCTAssertEqual(error?.path, "$.linux.namespaces[1].type")
        let seccomp = decodeError(#"{"ociVersion":"1.2.0","linux":{"seccomp":{"defaultAction":"SCMP_ACT_MAYBE"}}}"#)
        XCTAssertEqual(seccomp?.path, "$.linux.seccomp.defaultAction")
    }

    func testMissingRequiredKeyNamesThePath() {
        let error = decodeError(#"{"ociVersion":"1.2.0","process":{"user":{"uid":0,"gid":0}}}"#)
        XCTAssertEqual(error, .invalidValue(path: "$.process.cwd", reason: "required key is missing"))
        XCTAssertEqual(decodeError(#"{"process":{"cwd":"/","user":{"uid":0,"gid":0}}}"#)?.path, "$.ociVersion")
    }

    func testOutOfRangeNumbersAndNulls() {
        // Foundation reports no path for an out-of-range number; the reason says what it is.
        let negative = decodeError(#"{"ociVersion":"1","linux":{"uidMappings":[{"containerID":0,"hostID":-1,"size":1}]}}"#)
        XCTAssertTrue(negative?.description.contains("does not fit") ?? false, negative?.description ?? "")
        XCTAssertEqual(decodeError(#"{"ociVersion":"1","root":{"path":null}}"#)?.path, "$.root.path")
    }

    func testMalformedJSON() {
        guard case .malformedJSON? = decodeError(#"{"ociVersion": "1.2.0", "#) else { return XCTFail("expected malformedJSON") }
        guard case .malformedJSON? = decodeError("") else { return XCTFail("expected malformedJSON") }
        XCTAssertNotNil(decodeError("[1, 2]"))
    }
}
