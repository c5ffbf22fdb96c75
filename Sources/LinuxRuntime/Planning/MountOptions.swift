import ContainerInit

/// fstab-style mount options split into mount(2) flags, propagation and filesystem data.
struct MountOptions: Equatable {
    var flags: UInt = 0
    var propagation: UInt = 0
    var data: [String] = []
    /// MOUNT_ATTR_* set and cleared on the whole tree (`rro`, `rnosuid`, …), as runc does.
    var recursiveSet: UInt64 = 0
    var recursiveClear: UInt64 = 0

    /// `r`-prefixed options: attribute, and whether the option sets or clears it.
    private static let recursive: [String: (attribute: UInt64, set: Bool)] = [
        "rro": (MountAttributes.readonly, true), "rrw": (MountAttributes.readonly, false),
        "rnosuid": (MountAttributes.nosuid, true), "rsuid": (MountAttributes.nosuid, false),
        "rnodev": (MountAttributes.nodev, true), "rdev": (MountAttributes.nodev, false),
        "rnoexec": (MountAttributes.noexec, true), "rexec": (MountAttributes.noexec, false),
        "rnodiratime": (MountAttributes.nodiratime, true), "rdiratime": (MountAttributes.nodiratime, false),
        "rnosymfollow": (MountAttributes.nosymfollow, true), "rsymfollow": (MountAttributes.nosymfollow, false),
    ]
    /// The access-time options replace one another (MOUNT_ATTR__ATIME is cleared first).
    private static let recursiveAtime: [String: UInt64] = [
        "rrelatime": MountAttributes.relatime, "rnoatime": MountAttributes.noatime, "rstrictatime": MountAttributes.strictatime,
    ]

    private static let setting: [String: UInt] = [
        "ro": MountFlags.readonly, "nosuid": MountFlags.nosuid, "nodev": MountFlags.nodev,
        "noexec": MountFlags.noexec, "sync": MountFlags.synchronous, "remount": MountFlags.remount,
        "mand": MountFlags.mandlock, "dirsync": MountFlags.dirsync, "nosymfollow": MountFlags.nosymfollow,
        "noatime": MountFlags.noatime, "nodiratime": MountFlags.nodiratime, "bind": MountFlags.bind,
        "rbind": MountFlags.bind | MountFlags.recursive, "relatime": MountFlags.relatime,
        "strictatime": MountFlags.strictatime, "silent": MountFlags.silent,
    ]
    private static let clearing: [String: UInt] = [
        "rw": MountFlags.readonly, "suid": MountFlags.nosuid, "dev": MountFlags.nodev,
        "exec": MountFlags.noexec, "async": MountFlags.synchronous, "nomand": MountFlags.mandlock,
        "atime": MountFlags.noatime, "diratime": MountFlags.nodiratime, "norelatime": MountFlags.relatime,
        "nostrictatime": MountFlags.strictatime, "loud": MountFlags.silent, "symfollow": MountFlags.nosymfollow,
    ]
    private static let propagations: [String: UInt] = [
        "private": MountFlags.private, "rprivate": MountFlags.private | MountFlags.recursive,
        "shared": MountFlags.shared, "rshared": MountFlags.shared | MountFlags.recursive,
        "slave": MountFlags.slave, "rslave": MountFlags.slave | MountFlags.recursive,
        "unbindable": MountFlags.unbindable, "runbindable": MountFlags.unbindable | MountFlags.recursive,
    ]

    init(_ options: [String]) {
        for option in options {
            if let flag = Self.setting[option] {
                flags |= flag
            } else if let flag = Self.clearing[option] {
                flags &= ~flag
            } else if let (attribute, set) = Self.recursive[option] {
                if set { recursiveSet |= attribute; recursiveClear &= ~attribute } else { recursiveClear |= attribute; recursiveSet &= ~attribute }
            } else if let atime = Self.recursiveAtime[option] {
                recursiveSet = recursiveSet & ~MountAttributes.atimeMask | atime
                recursiveClear |= MountAttributes.atimeMask
            } else if let propagation = Self.propagations[option] {
                self.propagation = propagation
            } else if option != "defaults" {
                data.append(option)
            }
        }
    }
}
