import CLinuxSupport
import Glibc

/// A failed system call: which operation, on what, and errno.
public struct SyscallError: Error, Equatable, CustomStringConvertible {
    public var operation: String
    public var errno: Int32
    public init(_ operation: String, errno: Int32 = Glibc.errno) {
        self.operation = operation
        self.errno = errno
    }
    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}

/// The system calls that build a container's filesystem, behind a protocol so that the order
/// and arguments can be checked without root (see ``RecordingKernel``).
public protocol Kernel {
    func mount(source: String?, target: String, type: String?, flags: UInt, data: String?) throws(SyscallError)
    func unmount(_ target: String, flags: Int32) throws(SyscallError)
    /// nil if nothing is there; true for a directory.
    func isDirectory(_ path: String) -> Bool?
    func makeDirectories(_ path: String) throws(SyscallError)
    func createFile(_ path: String) throws(SyscallError)
    func symlink(_ target: String, at path: String) throws(SyscallError)
    func makeNode(_ path: String, mode: UInt32, major: UInt32, minor: UInt32) throws(SyscallError)
    func changeOwner(_ path: String, uid: UInt32, gid: UInt32) throws(SyscallError)
    /// Makes `newRoot` the root and detaches the old one.
    func pivotRoot(_ newRoot: String) throws(SyscallError)
}

/// The real system calls.
public struct LinuxKernel: Kernel {
    public init() {}

    public func mount(source: String?, target: String, type: String?, flags: UInt, data: String?) throws(SyscallError) {
        let rc = withOptionalCString(source) { src in
            withOptionalCString(type) { fstype in
                withOptionalCString(data) { d in lcd_mount(src, target, fstype, flags, d) }
            }
        }
        if rc != 0 { throw SyscallError("mount \(source ?? "none") on \(target)") }
    }

    public func unmount(_ target: String, flags: Int32) throws(SyscallError) {
        if lcd_umount2(target, flags) != 0 { throw SyscallError("umount \(target)") }
    }

    public func isDirectory(_ path: String) -> Bool? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & S_IFMT == S_IFDIR
    }

    public func makeDirectories(_ path: String) throws(SyscallError) {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && Glibc.errno != EEXIST { throw SyscallError("mkdir \(prefix)") }
        }
    }

    public func createFile(_ path: String) throws(SyscallError) {
        let fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
        if fd < 0 { throw SyscallError("create \(path)") }
        close(fd)
    }

    public func symlink(_ target: String, at path: String) throws(SyscallError) {
        if Glibc.symlink(target, path) != 0 && Glibc.errno != EEXIST { throw SyscallError("symlink \(path)") }
    }

    public func makeNode(_ path: String, mode: UInt32, major: UInt32, minor: UInt32) throws(SyscallError) {
        if lcd_mknod(path, mode, lcd_makedev(major, minor)) != 0 { throw SyscallError("mknod \(path)") }
    }

    public func changeOwner(_ path: String, uid: UInt32, gid: UInt32) throws(SyscallError) {
        if chown(path, uid, gid) != 0 { throw SyscallError("chown \(path)") }
    }

    public func pivotRoot(_ newRoot: String) throws(SyscallError) {
        // pivot_root(".", ".") stacks the old root under the new one; detaching "." then
        // removes it without needing a directory for it inside the container.
        if chdir(newRoot) != 0 { throw SyscallError("chdir \(newRoot)") }
        if lcd_pivot_root(".", ".") != 0 { throw SyscallError("pivot_root \(newRoot)") }
        if lcd_umount2(".", Int32(MNT_DETACH)) != 0 { throw SyscallError("detach old root") }
        if chdir("/") != 0 { throw SyscallError("chdir /") }
    }
}

func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
}
