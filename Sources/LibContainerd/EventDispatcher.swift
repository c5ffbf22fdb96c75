#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// Delivers state changes to a backend: one ordered queue per container, queues running
/// concurrently, so a slow backend for one container never delays another's events.
///
/// Shared by every client implementation in this package. A queue exists only while it has
/// events in flight (the Go original leaked one per container id).
package final class EventDispatcher: Sendable {
    private let backend: any Backend
    private let logger: Logger
    private let state = Mutex(Queues())

    private struct Queues {
        var byContainer: [String: Queue] = [:]
        var subscribers: [Int: AsyncStream<ContainerEvent>.Continuation] = [:]
        var nextSubscriber = 0
    }

    private struct Queue {
        let input: AsyncStream<Item>.Continuation
        var pending: Int
    }

    private struct Item: Sendable {
        let info: StateInfo
        let done: Completion
        /// Whether a caller waits for `done` and gets the backend's error from it.
        let awaited: Bool
    }

    package init(backend: any Backend, logger: Logger) {
        self.backend = backend
        self.logger = logger
    }

    /// Queues `info` behind the container's earlier events and returns at once. The returned
    /// completion fires after the backend handled it. With `awaited`, the completion carries
    /// the backend's error; without, the error is logged.
    @discardableResult
    package func post(_ containerID: String, _ info: StateInfo, awaited: Bool = false) -> Completion {
        let done = Completion()
        enqueue(containerID, Item(info: info, done: done, awaited: awaited))
        return done
    }

    /// Queues `info` and waits until the backend has handled it, rethrowing the backend's error.
    ///
    /// With a `timeout`, stops waiting after it and logs (the event is still delivered later);
    /// the call then returns normally, since what the event reports has already happened.
    package func deliver(_ containerID: String, _ info: StateInfo, timeout: Duration? = nil) async throws {
        let done = post(containerID, info, awaited: true)
        guard let timeout else { return try await done.wait() }
        let finished = try await done.wait(timeout: timeout)
        if !finished {
            logger.warning("backend has not acknowledged \(info.state.rawValue) after \(timeout)", metadata: ["container": "\(containerID)"])
        }
    }

    /// Every event after the backend handled it, for as long as the stream is iterated.
    package func events() -> AsyncStream<ContainerEvent> {
        let (stream, continuation) = AsyncStream<ContainerEvent>.makeStream(bufferingPolicy: .unbounded)
        let id = state.withLock { s in
            defer { s.nextSubscriber += 1 }
            s.subscribers[s.nextSubscriber] = continuation
            return s.nextSubscriber
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    private func enqueue(_ containerID: String, _ item: Item) {
        let newQueue: AsyncStream<Item>? = state.withLock { s in
            if s.byContainer[containerID] != nil {
                s.byContainer[containerID]!.pending += 1
                s.byContainer[containerID]!.input.yield(item)
                return nil
            }
            let (stream, input) = AsyncStream<Item>.makeStream(bufferingPolicy: .unbounded)
            input.yield(item)
            s.byContainer[containerID] = Queue(input: input, pending: 1)
            return stream
        }
        guard let newQueue else { return }
        Task { await self.drain(containerID, newQueue) }
    }

    private func drain(_ containerID: String, _ queue: AsyncStream<Item>) async {
        for await item in queue {
            var failure: (any Error)?
            do {
                try await backend.stateChanged(containerID: containerID, state: item.info)
            } catch {
                failure = error
                if !item.awaited {
                    logger.error("backend failed on \(item.info.state.rawValue): \(error)", metadata: ["container": "\(containerID)"])
                }
            }
            // Drop the queue before completing, so that when a caller resumes nothing is left
            // in flight; subscribers hear of the event before its caller does.
            let subscribers = state.withLock { s -> [AsyncStream<ContainerEvent>.Continuation] in
                s.byContainer[containerID]!.pending -= 1
                if s.byContainer[containerID]!.pending == 0 {
                    s.byContainer.removeValue(forKey: containerID)?.input.finish()
                }
                return Array(s.subscribers.values)
            }
            let event = ContainerEvent(containerID: containerID, info: item.info)
            for subscriber in subscribers { subscriber.yield(event) }
            item.done.complete(item.awaited ? failure : nil)
        }
    }

    /// Number of containers with events in flight (for tests: queues must not leak).
    package var activeQueues: Int { state.withLock { $0.byContainer.count } }
}

/// A one-shot result that any number of tasks can wait for, with cancellation and timeouts.
package final class Completion: Sendable {
    private let state = Mutex(Waiting())

    private struct Waiting {
        var result: Result<Void, any Error>?
        var waiters: [Int: CheckedContinuation<Void, any Error>] = [:]
        var nextWaiter = 0
    }

    package init() {}

    /// Completes with `error`, or successfully if it is `nil`. Later calls do nothing.
    package func complete(_ error: (any Error)? = nil) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            guard s.result == nil else { return [] }
            s.result = error.map { .failure($0) } ?? .success(())
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters {
            if let error { waiter.resume(throwing: error) } else { waiter.resume() }
        }
    }

    package var isComplete: Bool { state.withLock { $0.result != nil } }

    /// Waits for completion; throws `CancellationError` if the waiting task is cancelled.
    package func wait() async throws {
        let id = state.withLock { s in defer { s.nextWaiter += 1 }; return s.nextWaiter }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
                let ready = state.withLock { s -> Result<Void, any Error>? in
                    if let result = s.result { return result }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    s.waiters[id] = waiter
                    return nil
                }
                if let ready { waiter.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Blocks the calling thread (not a task) until completion or `timeout`; `true` if completed.
    /// For Dispatch handlers, which must not suspend.
    package func waitBlocking(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isComplete {
            guard ContinuousClock.now < deadline else { return false }
            usleep(1000)
        }
        return true
    }

    /// Waits at most `timeout`: `true` if completed (rethrowing its error), `false` if the time ran out.
    package func wait(timeout: Duration) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { try await self.wait(); return true }
            group.addTask { try? await Task.sleep(for: timeout); return false }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
    }
}
