import SystemPackage

/// Everything a ``Client`` throws. Each case names what went wrong.
public enum ContainerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No container with this id is known to the client.
    case notFound(containerID: String)
    /// A container with this id (or a process with this name) already exists.
    case alreadyExists(containerID: String, processFriendlyName: String? = nil)
    /// The operation cannot be done in the container's current state.
    case invalidState(containerID: String, state: String, operation: String)
    /// The spec (or another input document) is invalid at `path`, a JSON path such as `$.process.cwd`.
    case invalidSpec(path: String, reason: String)
    /// An argument that is not part of the spec is invalid (a checkpoint name, a terminal size, …).
    case invalidArgument(name: String, reason: String)
    /// A resource limit needs a cgroup controller the host does not offer.
    case controllerUnavailable(controller: String)
    /// The container has no process with this friendly name.
    case processNotFound(containerID: String, processFriendlyName: String)
    /// A bounded wait ran out.
    case timeout(operation: String, seconds: Double)
    /// A system call failed.
    case systemCallFailed(operation: String, errno: Errno)
    /// The feature cannot work on this host; `reason` says what is missing.
    case unsupported(feature: String, reason: String)

    public var description: String {
        switch self {
        case .notFound(let id):
            return "container \(id): not found"
        case .alreadyExists(let id, nil):
            return "container \(id): already exists"
        case .alreadyExists(let id, let name?):
            return "container \(id): a process named \(name) already exists"
        case .invalidState(let id, let state, let operation):
            return "container \(id): cannot \(operation) while \(state)"
        case .invalidSpec(let path, let reason):
            return "invalid spec at \(path): \(reason)"
        case .invalidArgument(let name, let reason):
            return "invalid \(name): \(reason)"
        case .controllerUnavailable(let controller):
            return "cgroup controller \(controller) is not available on this host"
        case .processNotFound(let id, let name):
            return "container \(id): no process named \(name)"
        case .timeout(let operation, let seconds):
            return "\(operation): timed out after \(seconds)s"
        case .systemCallFailed(let operation, let errno):
            return "\(operation): \(errno) (errno \(errno.rawValue))"
        case .unsupported(let feature, let reason):
            return "\(feature) is not supported here: \(reason)"
        }
    }
}
