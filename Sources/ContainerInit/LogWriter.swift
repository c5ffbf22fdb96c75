import Glibc

/// Writes a container's output into a size-capped log with rotation, as Docker's `local`
/// driver does: `<path>` is the newest file, `<path>.1` the one before, up to
/// `<path>.<maxFiles - 1>`; no file grows past `maxSize` bytes, so the whole log never takes
/// more than `maxSize * maxFiles`. The helper owns the file: the container only has a pipe.
public struct LogWriter {
    public let path: String
    public let maxSize: UInt64
    public let maxFiles: Int
    private var fd: Int32
    private var size: UInt64

    /// The files of a log, oldest first: what a reader concatenates.
    public static func files(of path: String, maxFiles: Int) -> [String] {
        (1..<max(maxFiles, 1)).reversed().map { "\(path).\($0)" } + [path]
    }

    /// Opens (appends to) `path`; nil with errno set if it cannot.
    public init?(path: String, maxSize: UInt64, maxFiles: Int) {
        self.path = path
        self.maxSize = max(maxSize, 1)
        self.maxFiles = max(maxFiles, 1)
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return nil }
        var info = stat()
        size = fstat(fd, &info) == 0 ? UInt64(info.st_size) : 0
    }

    /// Appends `bytes`, starting a new file whenever the current one would pass the cap.
    /// False if the disk refused a write (the output is then dropped, never blocked on).
    @discardableResult
    public mutating func write(_ bytes: ArraySlice<UInt8>) -> Bool {
        var rest = bytes
        while !rest.isEmpty {
            if size >= maxSize && !rotate() { return false }
            let room = Int(min(UInt64(rest.count), maxSize - size))
            let chunk = rest.prefix(room)
            guard writeAll(fd, Array(chunk)) else { return false }
            size += UInt64(chunk.count)
            rest = rest.dropFirst(room)
        }
        return true
    }

    /// `<path>.k` → `<path>.k+1` (the oldest falls off), `<path>` → `<path>.1`, a new `<path>`.
    private mutating func rotate() -> Bool {
        if maxFiles > 1 {
            unlink("\(path).\(maxFiles - 1)")
            for index in stride(from: maxFiles - 2, through: 1, by: -1) { rename("\(path).\(index)", "\(path).\(index + 1)") }
            rename(path, "\(path).1")
            Glibc.close(fd)
            fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        } else if ftruncate(fd, 0) != 0 {
            return false
        }
        size = 0
        return fd >= 0
    }

    public func close() { if fd >= 0 { Glibc.close(fd) } }
}
