import CLinuxSupport
import Dispatch
import Foundation
import Glibc
import LibContainerd
import Synchronization

/// Copies a process's stdout and stderr to ours and our stdin to its, on threads.
final class OutputCopies: Sendable {
    private let copying = DispatchGroup()

    func attach(_ io: IOPipe) {
        for (fd, target) in [(io.takeStdout(), Int32(1)), (io.takeStderr(), Int32(2))] {
            guard let fd else { continue }
            copying.enter()
            Thread { [copying] in
                copy(from: fd.rawValue, to: target)
                close(fd.rawValue)
                copying.leave()
            }.start()
        }
        if let stdin = io.takeStdin() {
            // Not waited for: our stdin may never end.
            Thread {
                copy(from: 0, to: stdin.rawValue)
                close(stdin.rawValue)
                io.closeStdin()
            }.start()
        }
    }

    /// Until the process's output has reached EOF (every writer gone).
    func waitUntilDone() { copying.wait() }
}

func copy(from source: Int32, to target: Int32) {
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        var offset = 0
        while offset < n {
            let w = buffer[offset..<n].withUnsafeBytes { write(target, $0.baseAddress, $0.count) }
            if w < 0 && errno == EINTR { continue }
            if w <= 0 { return }
            offset += w
        }
    }
}

func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Columns padded to their widest cell; the last one is not padded.
func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        let cells = row.enumerated().map { column, cell in
            column == row.count - 1 ? cell : cell.padding(toLength: widths[column] + 2, withPad: " ", startingAt: 0)
        }
        print(cells.joined())
    }
}

/// "5 seconds ago", "3 minutes ago", …
func ago(_ date: Date) -> String {
    let seconds = max(0, Int(Date().timeIntervalSince(date)))
    for (unit, size) in [("day", 86400), ("hour", 3600), ("minute", 60)] where seconds >= size {
        let n = seconds / size
        return "\(n) \(unit)\(n == 1 ? "" : "s") ago"
    }
    return "\(seconds) second\(seconds == 1 ? "" : "s") ago"
}

func bytes(_ count: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(count), unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(count)B" : String(format: "%.1f%@", value, units[unit])
}

/// "64m" → 67108864; plain numbers are bytes.
func byteCount(_ text: String) -> Int64? {
    let multipliers: [Character: Int64] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
    let lower = text.lowercased()
    if let last = lower.last, let multiplier = multipliers[last] {
        return Int64(lower.dropLast()).flatMap { $0.multipliedReportingOverflow(by: multiplier).overflow ? nil : $0 * multiplier }
    }
    return Int64(lower)
}

/// "TERM", "SIGTERM", "term" or "15" → 15.
func signalNumber(_ text: String) -> Int32? {
    if let number = Int32(text) { return (1...64).contains(number) ? number : nil }
    let names: [String: Int32] = [
        "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "KILL": SIGKILL, "USR1": SIGUSR1, "USR2": SIGUSR2,
        "TERM": SIGTERM, "STOP": SIGSTOP, "CONT": SIGCONT, "ALRM": SIGALRM, "WINCH": SIGWINCH,
    ]
    let upper = text.uppercased()
    return names[upper.hasPrefix("SIG") ? String(upper.dropFirst(3)) : upper]
}

/// Our terminal in raw mode while an exec with a terminal runs: keys go to the container as typed.
final class RawTerminal: Sendable {
    private let saved: Mutex<termios?>

    init() {
        var original = termios()
        guard tcgetattr(0, &original) == 0 else { saved = Mutex(nil); return }
        var raw = original
        cfmakeraw(&raw)
        tcsetattr(0, TCSANOW, &raw)
        saved = Mutex(original)
    }

    /// Rows and columns of our terminal.
    func size() -> (UInt16, UInt16)? {
        var rows: UInt16 = 0, columns: UInt16 = 0
        return lcd_get_window_size(0, &rows, &columns) == 0 ? (rows, columns) : nil
    }

    func restore() {
        saved.withLock { original in
            if var terminal = original { tcsetattr(0, TCSANOW, &terminal) }
            original = nil
        }
    }
}
