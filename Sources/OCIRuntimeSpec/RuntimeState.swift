/// The OCI runtime state document (`state.json`, and the JSON hooks read on stdin).
public struct RuntimeState: Codable, Hashable, Sendable, OCIDocument {
    public enum Status: String, Codable, Hashable, Sendable, CaseIterable {
        case creating, created, running, stopped
    }
    public var ociVersion: String
    public var id: String
    public var status: Status
    public var pid: Int32?
    public var bundle: String
    public var annotations: [String: String]?
    public var unknownFields: JSONValue?

    enum CodingKeys: String, CodingKey {
        case ociVersion, id, status, pid, bundle, annotations
    }

    public init(
        ociVersion: String = Spec.version, id: String, status: Status, pid: Int32? = nil,
        bundle: String, annotations: [String: String]? = nil
    ) {
        self.ociVersion = ociVersion
        self.id = id
        self.status = status
        self.pid = pid
        self.bundle = bundle
        self.annotations = annotations
    }
}
