import Foundation
import XCTest

/// The helper must start fast and stay small: it links no Foundation.
final class HelperBinaryTests: XCTestCase {
    func testHelperLinksNoFoundation() throws {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let helper = (exe as NSString).deletingLastPathComponent + "/lcd-shim"
        guard FileManager.default.isExecutableFile(atPath: helper) else { throw XCTSkip("lcd-shim is not built next to the tests") }
        let ldd = Process()
        ldd.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        ldd.arguments = [helper]
        let output = Pipe()
        ldd.standardOutput = output
        try ldd.run()
        let libraries = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        ldd.waitUntilExit()
        XCTAssertFalse(libraries.contains("Foundation"), libraries)
        XCTAssertFalse(libraries.contains("libicu"), libraries)
    }
}
