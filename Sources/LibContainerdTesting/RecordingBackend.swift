import LibContainerd
import Synchronization

/// A ``Backend`` that records every state change and lets a test wait for one.
///
/// ```swift
/// let backend = RecordingBackend()
/// let client = FakeClient(backend: backend)
/// try await client.create(containerID: "web", spec: spec) { _ in }
/// try await client.exit(containerID: "web", code: 3)
/// let exit = try await backend.wait(for: "web", state: .exit)
/// XCTAssertEqual(exit.exitCode, 3)
/// ```
public final class RecordingBackend: Backend {
    /// Runs for each event after it is recorded; what it throws is the backend's error.
    public typealias Handler = @Sendable (_ containerID: String, _ state: StateInfo) async throws -> Void

    private let handler: Handler?
    private let state = Mutex(Recorded())

    private struct Recorded {
        var events: [ContainerEvent] = []
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
    }

    private struct Waiter {
        let matches: @Sendable (ContainerEvent) -> Bool
        let continuation: CheckedContinuation<StateInfo, any Error>
    }

    public init(handler: Handler? = nil) {
        self.handler = handler
    }

    public func stateChanged(containerID: String, state info: StateInfo) async throws {
        let event = ContainerEvent(containerID: containerID, info: info)
        let ready = state.withLock { s -> [CheckedContinuation<StateInfo, any Error>] in
            s.events.append(event)
            let matched = s.waiters.filter { $0.value.matches(event) }
            for key in matched.keys { s.waiters.removeValue(forKey: key) }
            return matched.values.map(\.continuation)
        }
        for continuation in ready { continuation.resume(returning: info) }
        try await handler?(containerID, info)
    }

    /// Everything recorded so far, in the order the backend saw it.
    public var events: [ContainerEvent] { state.withLock { $0.events } }

    /// The state changes of one container, in order.
    public func events(for containerID: String) -> [StateInfo] {
        events.filter { $0.containerID == containerID }.map(\.info)
    }

    /// Just the kinds of state change of one container, in order.
    public func states(for containerID: String) -> [State] {
        events(for: containerID).map(\.state)
    }

    /// The `occurrence`-th (first by default) recorded event of `containerID` in `state` (and of
    /// `processID`, if given), waiting up to `timeout` for it. Throws ``ContainerError/timeout(operation:seconds:)``.
    @discardableResult
    public func wait(
        for containerID: String, state wanted: State, processID: String? = nil,
        occurrence: Int = 1, timeout: Duration = .seconds(10)
    ) async throws -> StateInfo {
        let seen = Mutex(0)
        let matches: @Sendable (ContainerEvent) -> Bool = { event in
            guard event.containerID == containerID && event.info.state == wanted
                && (processID == nil || event.info.processID == processID) else { return false }
            return seen.withLock { count in
                count += 1
                return count == occurrence
            }
        }
        let id = state.withLock { s in defer { s.nextWaiter += 1 }; return s.nextWaiter }
        return try await withThrowingTaskGroup(of: StateInfo?.self) { group in
            group.addTask {
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { continuation in
                        let found = self.state.withLock { s -> StateInfo? in
                            if let event = s.events.first(where: matches) { return event.info }
                            if Task.isCancelled { return nil }
                            s.waiters[id] = Waiter(matches: matches, continuation: continuation)
                            return nil
                        }
                        if let found { continuation.resume(returning: found) }
                        else if Task.isCancelled { continuation.resume(throwing: CancellationError()) }
                    }
                } onCancel: {
                    let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
                    waiter?.continuation.resume(throwing: CancellationError())
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            if let info = try await group.next() ?? nil { return info }
            let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
            throw ContainerError.timeout(operation: "waiting for \(wanted.rawValue) of \(containerID)", seconds: seconds)
        }
    }
}
