import Logging
import Synchronization
import XCTest
@testable import LibContainerd
import LibContainerdTesting

final class EventDispatcherTests: XCTestCase {
    struct Refused: Error {}

    func testEventsOfOneContainerArriveInOrder() async throws {
        let backend = RecordingBackend { _, _ in try await Task.sleep(for: .milliseconds(1)) }
        let dispatcher = EventDispatcher(backend: backend, logger: Logger(label: "test"))
        for code in 0..<50 { dispatcher.post("a", StateInfo(state: .exitProcess, exitCode: UInt32(code), processID: "e\(code)")) }
        try await dispatcher.deliver("a", StateInfo(state: .exit))
        XCTAssertEqual(backend.events(for: "a").map(\.exitCode), Array(0..<50).map(UInt32.init) + [0])
        XCTAssertEqual(backend.states(for: "a").last, .exit)
        XCTAssertEqual(dispatcher.activeQueues, 0, "a queue with nothing in flight is dropped")
    }

    func testSlowBackendForOneContainerDoesNotDelayAnother() async throws {
        let gate = Completion()
        let backend = RecordingBackend { id, _ in if id == "slow" { try await gate.wait() } }
        let dispatcher = EventDispatcher(backend: backend, logger: Logger(label: "test"))
        dispatcher.post("slow", StateInfo(state: .pause))
        try await dispatcher.deliver("fast", StateInfo(state: .pause), timeout: .seconds(5))
        XCTAssertEqual(backend.states(for: "fast"), [.pause])
        XCTAssertEqual(backend.states(for: "slow"), [.pause], "recorded, but its handler is still blocked")
        gate.complete()
        try await backend.wait(for: "slow", state: .pause)
    }

    func testDeliverRethrowsTheBackendErrorAndPostLogsIt() async throws {
        let backend = RecordingBackend { _, info in if info.state == .start { throw Refused() } }
        let dispatcher = EventDispatcher(backend: backend, logger: Logger(label: "test"))
        do {
            try await dispatcher.deliver("a", StateInfo(state: .start))
            XCTFail("expected the backend's error")
        } catch is Refused {}
        let done = dispatcher.post("a", StateInfo(state: .start))
        try await done.wait()  // posted events never surface the error
    }

    func testDeliverWithTimeoutReturnsWhenBackendIsStuck() async throws {
        let gate = Completion()
        let backend = RecordingBackend { _, _ in try await gate.wait() }
        let dispatcher = EventDispatcher(backend: backend, logger: Logger(label: "test"))
        let start = ContinuousClock.now
        try await dispatcher.deliver("a", StateInfo(state: .pause), timeout: .milliseconds(100))
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
        gate.complete()
    }

    func testSubscribersSeeEventsAfterTheBackend() async throws {
        let backend = RecordingBackend()
        let dispatcher = EventDispatcher(backend: backend, logger: Logger(label: "test"))
        let stream = dispatcher.events()
        dispatcher.post("a", StateInfo(state: .start, pid: 7))
        dispatcher.post("a", StateInfo(state: .exit, pid: 7, exitCode: 3))
        var seen: [ContainerEvent] = []
        for await event in stream {
            XCTAssertTrue(backend.events.contains(event))
            seen.append(event)
            if seen.count == 2 { break }
        }
        XCTAssertEqual(seen.map(\.info.state), [.start, .exit])
    }

    func testCompletionWaitIsCancellable() async throws {
        let completion = Completion()
        let waiter = Task { try await completion.wait() }
        waiter.cancel()
        do {
            try await waiter.value
            XCTFail("expected cancellation")
        } catch is CancellationError {}
        XCTAssertFalse(completion.isComplete)
        let early = try await completion.wait(timeout: .milliseconds(10))
        XCTAssertFalse(early)
        completion.complete()
        let late = try await completion.wait(timeout: .milliseconds(10))
        XCTAssertTrue(late)
    }
}
