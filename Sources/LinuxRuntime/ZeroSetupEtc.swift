import Foundation
import LibContainerd

/// The `/etc` of a container with no image (`Spec.linuxContainer(rootfs: nil, …)`): written
/// fresh, never the host's, so that no host secret (shadow, gshadow, ssh keys, credentials
/// of services) is in reach. It holds what programs from the host's `/usr` expect:
/// passwd and group (root and nobody), hostname, hosts, resolv.conf (the host's, as Docker
/// copies it), nsswitch.conf (files, then dns), the dynamic linker's cache and configuration,
/// the alternatives links, localtime and os-release.
public enum ZeroSetupEtc {
    /// Writes the files into `directory` (created, mode 0755; it must not exist yet).
    public static func write(to directory: String, hostname: String) throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        } catch {
            throw ContainerError.invalidArgument(name: "etc directory \(directory)", reason: "cannot be created: \(error.localizedDescription)")
        }
        func file(_ name: String, _ text: String) throws {
            try Data(text.utf8).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
            try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: "\(directory)/\(name)")
        }
        try file("passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
        try file("group", "root:x:0:\nnogroup:x:65534:\n")
        try file("hostname", hostname + "\n")
        try file("hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t\(hostname)\n")
        try file("nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n")
        try file("resolv.conf", (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? "")
        // Copies of what the dynamic linker reads; links as the host has them.
        for name in ["ld.so.cache", "ld.so.conf"] where fm.isReadableFile(atPath: "/etc/\(name)") {
            try? fm.copyItem(atPath: "/etc/\(name)", toPath: "\(directory)/\(name)")
        }
        try copyDirectory("ld.so.conf.d", into: directory, onlyLinks: false)
        try copyDirectory("alternatives", into: directory, onlyLinks: true)
        for name in ["localtime", "os-release"] {
            if let target = try? fm.destinationOfSymbolicLink(atPath: "/etc/\(name)") {
                try? fm.createSymbolicLink(atPath: "\(directory)/\(name)", withDestinationPath: target)
            }
        }
    }

    /// `/etc/<name>`'s entries: regular files copied, symlinks recreated (with `onlyLinks`,
    /// nothing but symlinks: the alternatives are links into /usr).
    private static func copyDirectory(_ name: String, into directory: String, onlyLinks: Bool) throws {
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: "/etc/\(name)") else { return }
        try fm.createDirectory(atPath: "\(directory)/\(name)", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        for entry in entries {
            let source = "/etc/\(name)/\(entry)", target = "\(directory)/\(name)/\(entry)"
            if let link = try? fm.destinationOfSymbolicLink(atPath: source) {
                try? fm.createSymbolicLink(atPath: target, withDestinationPath: link)
            } else if !onlyLinks, entry.hasSuffix(".conf") {
                try? fm.copyItem(atPath: source, toPath: target)
            }
        }
    }
}
