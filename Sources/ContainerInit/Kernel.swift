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
    /// Sets and clears MOUNT_ATTR_* on the mount at `target` and every mount below it.
    func setAttributesRecursively(_ target: String, set: UInt64, clear: UInt64) throws(SyscallError)
    /// Resolves `path` inside `root` as if `root` were "/" (symlinks cannot lead out), creating
    /// what is missing (directories; a file last if `file`), and returns a path that names the
    /// result without being resolved again: `/proc/self/fd/N` of an O_PATH descriptor, to be
    /// released with ``release(_:)``. With `noSymlinks`, any symlink on the way is an error.
    func resolve(_ path: String, inRoot root: String, file: Bool, noSymlinks: Bool) throws(SyscallError) -> String
    func release(_ resolved: String)
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

    public func setAttributesRecursively(_ target: String, set: UInt64, clear: UInt64) throws(SyscallError) {
        let recursive: UInt32 = 0x8000  // AT_RECURSIVE
        if lcd_mount_setattr(AT_FDCWD, target, recursive, set, clear) != 0 { throw SyscallError("mount_setattr \(target)") }
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

extension LinuxKernel {
    public func resolve(_ path: String, inRoot root: String, file: Bool, noSymlinks: Bool) throws(SyscallError) -> String {
        let rootFD = lcd_openat2_path(AT_FDCWD, root, 0)
        guard rootFD >= 0 else { throw SyscallError("open \(root)") }
        defer { close(rootFD) }
        var path = path
        // A dangling symlink on the way is followed by rewriting the path (bounded, as the
        // kernel bounds symlink chains); what it names is then created inside the root.
        for _ in 0..<40 {
            switch try walk(path, rootFD: rootFD, file: file, noSymlinks: noSymlinks) {
            case .resolved(let fd): return "/proc/self/fd/\(fd)"
            case .followLink(let rewritten): path = rewritten
            }
        }
        throw SyscallError("resolve \(path) in the container", errno: ELOOP)
    }

    private enum Walk { case resolved(Int32), followLink(String) }

    private func walk(_ path: String, rootFD: Int32, file: Bool, noSymlinks: Bool) throws(SyscallError) -> Walk {
        let resolve = LCD_RESOLVE_IN_ROOT | LCD_RESOLVE_NO_MAGICLINKS | (noSymlinks ? LCD_RESOLVE_NO_SYMLINKS : 0)
        let components = path.split(separator: "/").map(String.init)
        var parent = lcd_openat2_path(rootFD, ".", resolve)
        guard parent >= 0 else { throw SyscallError("open the container's root") }
        for (index, component) in components.enumerated() {
            let partial = components[...index].joined(separator: "/")
            var next = lcd_openat2_path(rootFD, partial, resolve)
            if next < 0 && errno == ENOENT {
                var link = [CChar](repeating: 0, count: 4096)
                let length = readlinkat(parent, component, &link, link.count - 1)
                if length > 0 && !noSymlinks {
                    close(parent)
                    let target = String(decoding: link[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    let base = target.hasPrefix("/") ? "" : components[..<index].joined(separator: "/") + "/"
                    return .followLink(([base + target] + components[(index + 1)...]).joined(separator: "/"))
                }
                // Created in the resolved parent: wherever symlinks pointed, it is inside root.
                let isLast = index == components.count - 1
                if isLast && file {
                    let fd = openat(parent, component, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o644)
                    if fd >= 0 { close(fd) } else if errno != EEXIST { close(parent); throw SyscallError("create \(partial) in the container") }
                } else if mkdirat(parent, component, 0o755) != 0 && errno != EEXIST {
                    close(parent)
                    throw SyscallError("mkdir \(partial) in the container")
                }
                next = lcd_openat2_path(rootFD, partial, resolve)
            }
            close(parent)
            guard next >= 0 else {
                throw SyscallError(errno == ELOOP && noSymlinks ? "\(path) must not be or pass through a symlink" : "resolve \(partial) in the container")
            }
            parent = next
        }
        return .resolved(parent)
    }

    public func release(_ resolved: String) {
        if let fd = Int32(resolved.dropFirst("/proc/self/fd/".count)) { close(fd) }
    }
}

func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
}
