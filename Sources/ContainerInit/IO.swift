import Glibc

/// Writes all of `bytes`, retrying on EINTR and short writes. False on failure.
@discardableResult
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return false
        }
        offset += n
    }
    return true
}

@discardableResult
func writeAll(_ fd: Int32, _ text: String) -> Bool { writeAll(fd, Array(text.utf8)) }

/// Reads exactly `count` bytes, or nil at EOF or error.
func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: count)
    var offset = 0
    while offset < count {
        let n = buffer[offset...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return nil }
        offset += n
    }
    return buffer
}

/// One read: what is there (empty at EOF or on error).
func readSome(_ fd: Int32) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        return n > 0 ? Array(buffer[..<n]) : []
    }
}

/// Reads until EOF.
func readToEnd(_ fd: Int32) -> [UInt8] {
    var all: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return all }
        all += buffer[..<n]
    }
}

/// Writes `content` to `path` atomically: a temporary file renamed over it.
func writeFileAtomically(_ path: String, _ content: String) -> Bool {
    let temporary = path + ".tmp"
    let fd = open(temporary, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return false }
    let written = writeAll(fd, content)
    close(fd)
    return written && rename(temporary, path) == 0
}

func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }
