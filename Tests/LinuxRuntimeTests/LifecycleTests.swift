import Foundation
import Glibc
import LibContainerd
import LinuxRuntime
import OCIRuntimeSpec
import XCTest

final class LifecycleTests: ContainerTestCase {
    func testRunsAProcessAndReportsItsExit() async throws {
        let result = try await run("hello", spec(["sh", "-c", "echo out; echo err >&2; exit 7"]))
        XCTAssertEqual(result.stdout, "out\n")
        XCTAssertEqual(result.stderr, "err\n")
        XCTAssertEqual(result.exit.exitCode, 7)
        XCTAssertEqual(backend.states(for: "hello"), [.start, .exit])
    }
}
