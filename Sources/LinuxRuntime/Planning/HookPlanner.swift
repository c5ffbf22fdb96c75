import ContainerInit
import Foundation
import LibContainerd
import OCIRuntimeSpec

extension ContainerPlanner {
    /// The spec's hooks, checked: absolute paths that exist (in the runtime's namespace; for
    /// startContainer, in the rootfs) and positive timeouts. Fills the plan's hook lists and
    /// the state JSON they read; returns the poststop hooks, which the daemon runs itself.
    func planHooks(_ spec: Spec, into plan: inout Plan, containerID: String, bundle: String) throws -> [Spec.Hook] {
        let hooks = spec.hooks ?? Spec.Hooks()
        func checked(_ list: [Spec.Hook]?, _ key: String, inRootfs: Bool = false) throws -> [HookStep] {
            try (list ?? []).enumerated().map { index, hook in
                let path = "$.hooks.\(key)[\(index)]"
                guard hook.path.hasPrefix("/") else { throw ContainerError.invalidSpec(path: "\(path).path", reason: "must be an absolute path") }
                let location = inRootfs ? plan.rootfs + hook.path : hook.path
                guard probe(location) == false else {
                    throw ContainerError.invalidSpec(path: "\(path).path", reason: "\(hook.path) does not exist\(inRootfs ? " in the container's root file system" : "") or is a directory")
                }
                // At most 2^31 − 1 s (68 years): beyond that, seconds in nanoseconds overflow.
                if let timeout = hook.timeout, timeout <= 0 || timeout > Int(Int32.max) {
                    throw ContainerError.invalidSpec(path: "\(path).timeout", reason: "must be a positive number of seconds, at most \(Int32.max)")
                }
                return HookStep(path: hook.path, args: hook.args ?? [hook.path], env: hook.env ?? [], timeout: hook.timeout ?? 0, specPath: path)
            }
        }
        plan.createRuntimeHooks = try checked(hooks.prestart, "prestart") + checked(hooks.createRuntime, "createRuntime")
        plan.createContainerHooks = try checked(hooks.createContainer, "createContainer")
        plan.startContainerHooks = try checked(hooks.startContainer, "startContainer", inRootfs: true)
        plan.poststartHooks = try checked(hooks.poststart, "poststart")
        _ = try checked(hooks.poststop, "poststop")
        plan.stateJSONPrefix = Self.statePrefix(spec, containerID: containerID, bundle: bundle)
        return hooks.poststop ?? []
    }

    /// The OCI state document without status and pid and without its closing brace.
    static func statePrefix(_ spec: Spec, containerID: String, bundle: String) -> String {
        struct Fixed: Encodable { let ociVersion: String; let id: String; let bundle: String; let annotations: [String: String]? }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(Fixed(ociVersion: Spec.version, id: containerID, bundle: bundle, annotations: spec.annotations))) ?? Data("{}".utf8)
        return String(String(decoding: data, as: UTF8.self).dropLast())
    }
}

/// Runs poststop hooks in the daemon, after the container is gone: failures are logged, as the
/// runtime spec asks.
enum PoststopHooks {
    static func run(_ hooks: [Spec.Hook], state: String, logger: Logger, containerID: String) {
        for (index, hook) in hooks.enumerated() {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: hook.path)
            process.arguments = Array((hook.args ?? [hook.path]).dropFirst())
            process.environment = Dictionary((hook.env ?? []).map { entry -> (String, String) in
                let parts = entry.split(separator: "=", maxSplits: 1)
                return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
            }, uniquingKeysWith: { $1 })
            let input = Pipe()
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            let done = DispatchSemaphore(value: 0)
            process.terminationHandler = { _ in done.signal() }
            do {
                try process.run()
                input.fileHandleForWriting.write(Data(state.utf8))
                try? input.fileHandleForWriting.close()
                if let timeout = hook.timeout, done.wait(timeout: .now() + .seconds(timeout)) == .timedOut {
                    process.terminate()
                    kill(process.processIdentifier, SIGKILL)
                    done.wait()
                    logger.warning("poststop hook timed out", metadata: ["container": "\(containerID)", "hook": "$.hooks.poststop[\(index)]"])
                    continue
                }
                if hook.timeout == nil { done.wait() }
                if process.terminationStatus != 0 {
                    logger.warning("poststop hook failed with status \(process.terminationStatus)", metadata: ["container": "\(containerID)", "hook": "$.hooks.poststop[\(index)]"])
                }
            } catch {
                logger.warning("poststop hook could not run: \(error)", metadata: ["container": "\(containerID)", "hook": "$.hooks.poststop[\(index)]"])
            }
        }
    }
}

import Glibc
import Logging
