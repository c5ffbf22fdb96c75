import Foundation
import LibContainerd

/// Parsers for the kernel's text files behind `stats` and `summary`. Pure functions of the
/// file contents, so they are tested on captured text.
enum KernelText {
    /// `io.stat`: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0` per line.
    static func ioStat(_ text: String) -> [Stats.IODevice] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard let device = fields.first?.split(separator: ":"), device.count == 2,
                  let major = UInt64(device[0]), let minor = UInt64(device[1]) else { return nil }
            var values: [String: UInt64] = [:]
            for field in fields.dropFirst() {
                let pair = field.split(separator: "=")
                if pair.count == 2, let value = UInt64(pair[1]) { values[String(pair[0])] = value }
            }
            return Stats.IODevice(major: major, minor: minor, readBytes: values["rbytes"] ?? 0, writeBytes: values["wbytes"] ?? 0,
                                  readIOs: values["rios"] ?? 0, writeIOs: values["wios"] ?? 0)
        }
    }

    /// `/proc/<pid>/net/dev`: two header lines, then `name: rx×8 tx×8`.
    static func netDev(_ text: String) -> [Stats.NetworkInterface] {
        text.split(separator: "\n").dropFirst(2).compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let n = line[line.index(after: colon)...].split(separator: " ").compactMap { UInt64($0) }
            guard n.count >= 16 else { return nil }
            return Stats.NetworkInterface(name: name, rxBytes: n[0], rxPackets: n[1], rxErrors: n[2], rxDropped: n[3],
                                          txBytes: n[8], txPackets: n[9], txErrors: n[10], txDropped: n[11])
        }
    }

    /// A limit file: a number, or `max` (nil).
    static func limit(_ text: String?) -> UInt64? {
        guard let value = text?.trimmingCharacters(in: .whitespacesAndNewlines), value != "max" else { return nil }
        return UInt64(value)
    }

    /// `/proc/<pid>/stat` → (state letter, ppid). The command name may hold spaces and
    /// parentheses, so fields are counted from the last `)`.
    static func procStat(_ text: String) -> (state: String, ppid: Int32, command: String)? {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count >= 2, let ppid = Int32(fields[1]) else { return nil }
        return (String(fields[0]), ppid, String(text[text.index(after: open)..<close]))
    }

    /// The real uid from `/proc/<pid>/status`.
    static func realUID(_ status: String) -> UInt32? {
        for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
            return line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap { UInt32($0) }
        }
        return nil
    }

    /// `/proc/<pid>/cmdline` (NUL-separated) as one line; nil if empty (kernel threads, zombies).
    static func commandLine(_ data: Data) -> String? {
        let parts = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        let line = (parts.last == "" ? parts.dropLast() : parts[...]).joined(separator: " ")
        return line.isEmpty ? nil : line
    }
}

/// Reads one container's figures.
struct StatsReader {
    let cgroup: Cgroup?
    let initPid: Int32

    func stats() -> Stats {
        var stats = Stats()
        if let cgroup {
            if let cpu = cgroup.keyedValues("cpu.stat") {
                stats.cpu = .init(usageUsec: cpu["usage_usec"] ?? 0, userUsec: cpu["user_usec"] ?? 0, systemUsec: cpu["system_usec"] ?? 0,
                                  periods: cpu["nr_periods"], throttledPeriods: cpu["nr_throttled"], throttledUsec: cpu["throttled_usec"])
            }
            if let current = cgroup.read("memory.current").flatMap({ UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                stats.memory = .init(usage: current, limit: KernelText.limit(cgroup.read("memory.max")),
                                     swapUsage: KernelText.limit(cgroup.read("memory.swap.current")),
                                     stat: cgroup.keyedValues("memory.stat") ?? [:], events: cgroup.keyedValues("memory.events") ?? [:])
            }
            if let current = KernelText.limit(cgroup.read("pids.current")) {
                stats.pids = .init(current: current, limit: KernelText.limit(cgroup.read("pids.max")))
            }
            stats.io = cgroup.read("io.stat").map(KernelText.ioStat)
        }
        stats.network = (try? String(contentsOfFile: "/proc/\(initPid)/net/dev", encoding: .utf8)).map(KernelText.netDev)
        return stats
    }

    static func summary(of pids: [Int32]) -> [Summary] {
        pids.compactMap { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let parsed = KernelText.procStat(stat) else { return nil }  // gone meanwhile
            let uid = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)).flatMap(KernelText.realUID) ?? 0
            let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").flatMap(KernelText.commandLine) ?? "[\(parsed.command)]"
            return Summary(pid: pid, ppid: parsed.ppid, uid: uid, state: parsed.state, command: command)
        }
    }
}
