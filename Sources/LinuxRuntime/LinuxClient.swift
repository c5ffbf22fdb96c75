import CLinuxSupport
import ContainerInit
import Dispatch
import Foundation
import Glibc
import LibContainerd
import Logging
import OCIRuntimeSpec
import Synchronization
import SystemPackage

/// ``LibContainerd/Client`` on the Linux kernel: each container is run by an `lcd-shim`
/// helper that the daemon plans for, spawns, and then watches through a pidfd.
///
/// ```swift
/// let client = try LinuxClient(backend: myDaemon, options: [.stateDirectory("/run/mydaemon")])
/// try await client.create(containerID: "job-1", spec: spec) { io in … }
/// ```
public final class LinuxClient: Client {
    private let options: CreateOptions
    private let dispatcher: EventDispatcher
    private let host: CgroupHost
    private let planner: ContainerPlanner
    private let containers = Mutex<[String: Entry]>([:])
    /// Exit handlers running now, and whether `detach` stopped new ones from starting.
    private let handling = Mutex<(detached: Bool, running: Int)>((false, 0))
    /// Concurrent: an init's exit handler waits for its execs' handlers.
    private let monitorQueue = DispatchQueue(label: "libcontainerd.monitor", attributes: .concurrent)
    /// `lcd-shim` next to the executable or on PATH, looked up once.
    private let defaultHelper: Result<String, any Error> = Result { try Helper.locate(nil) }
    private var logger: Logger { options.logger }

    private enum Entry {
        /// The id is taken while `create` runs.
        case creating
        case running(Container)
    }

    /// What the daemon holds for a running container.
    private struct Container: Sendable {
        /// What is on disk for a later daemon (record.json), and the source of the container's
        /// fixed facts.
        var record: ContainerRecord
        let cgroup: Cgroup?
        let initPidFD: Int32
        let watch: ExitWatch
        /// The sealed copy of the helper that execs run from.
        let helperPath: String
        var spec: Spec { record.spec }
        var stateDirectory: String { record.stateDirectory }
        var initPid: pid_t { record.initPid }
        /// CLONE_NEW* flags of every namespace the container has (created or joined): an exec joins them all.
        var namespaceFlags: Int32 { record.namespaceFlags }
        /// Run by the daemon once the container is gone, with `stateDocument` on stdin.
        var poststop: [Spec.Hook] { record.poststop }
        var stateDocument: String { record.stateDocument }
        var execs: [String: Exec] = [:]
        var paused = false
        /// Set when `create` itself ends the container (its backend refused the start).
        var silentExit = false
        /// Set once the exit handler starts cleaning up: the record is no longer written.
        var exiting = false
    }

    /// A process started by `addProcess`.
    private struct Exec: Sendable {
        /// nil while the exec is starting (its name is taken).
        var pid: pid_t?
        var terminal = false
        var pidfd: Int32 = -1
        var watch: ExitWatch?
    }

    /// - Parameters:
    ///   - backend: told about every state change.
    ///   - options: defaults for every container; `create` and `restore` can override them.
    ///
    /// Sets SIGPIPE to be ignored in the process: a write to a pipe whose reader went away (a
    /// helper that died, a container's FIFO) must fail with EPIPE, not kill the daemon.
    public init(backend: any Backend, options: [CreateOption] = []) throws {
        Glibc.signal(SIGPIPE, SIG_IGN)
        self.options = CreateOptions(options)
        self.dispatcher = EventDispatcher(backend: backend, logger: self.options.logger)
        self.host = try CgroupHost.detect()
        self.planner = ContainerPlanner(knownFilesystems: ContainerPlanner.hostFilesystems())
    }

    /// Every event, after the backend handled it.
    public var events: AsyncStream<ContainerEvent> { dispatcher.events() }

    // MARK: - Create

    public func create(
        containerID id: String, checkpoint: String?, checkpointDir: String?, spec: Spec,
        attachStdio: @escaping StdioCallback, options callOptions: [CreateOption]
    ) async throws {
        try Self.validate(id)
        guard geteuid() == 0 else {
            throw ContainerError.unsupported(
                feature: "rootless containers",
                reason: "the daemon runs as uid \(geteuid()); creating containers needs root (rootless mode — a user namespace, no cgroup writes, delegated subuid ranges — is not implemented)")
        }
        let options = self.options.applying(callOptions)
        var checkpointDirectory: String?
        if let checkpoint {
            try Checkpoint.validate(name: checkpoint)
            let directory = CRIU.directory(checkpointDir, stateDirectory: options.stateDirectory, containerID: id)
            guard FileManager.default.fileExists(atPath: "\(directory)/\(checkpoint)/\(CRIU.CheckpointRecord.fileName)") else {
                throw ContainerError.invalidArgument(name: "checkpoint", reason: "no checkpoint \(checkpoint) in \(directory)")
            }
            checkpointDirectory = "\(directory)/\(checkpoint)"
        }
        try containers.withLock { map in
            guard map[id] == nil else { throw ContainerError.alreadyExists(containerID: id) }
            map[id] = .creating
        }
        var cleanup = Cleanup()
        do {
            // 1. Everything that can be checked, before anything exists.
            let stateDirectory = options.stateDirectory + "/" + id
            let relativeCgroup = spec.linux?.cgroupsPath ?? "\(options.cgroupParent)/\(id)"
            let files = try spec.linux?.resources.map { try CgroupFiles.from($0) } ?? CgroupFiles()
            try host.check(files)
            let deviceRules = try DeviceFilter.rules(spec)
            let helperExecutable = try options.helperPath.map { try Helper.locate($0) } ?? defaultHelper.get()
            let helperPath = try Helper.sealedCopy(of: helperExecutable)
            var plan = try planner.plan(spec, containerID: id, stateDirectory: stateDirectory, cgroupPath: "")
            if let logFile = options.logFile {
                guard !plan.terminal else {
                    throw ContainerError.invalidArgument(name: "logFile \(logFile)", reason: "a container with a terminal (process.terminal) cannot log to a file; attach its stdio instead")
                }
                guard logFile.hasPrefix("/") else { throw ContainerError.invalidArgument(name: "logFile \(logFile)", reason: "must be an absolute path") }
                guard options.logMaxSize > 0, (1...1000).contains(options.logMaxFiles) else {
                    throw ContainerError.invalidArgument(name: "logRotation", reason: "maxSize must be positive and maxFiles between 1 and 1000")
                }
                plan.logPath = logFile
                plan.logMaxSize = options.logMaxSize
                plan.logMaxFiles = options.logMaxFiles
            }
            let poststop = try planner.planHooks(spec, into: &plan, containerID: id, bundle: stateDirectory)
            if FileManager.default.fileExists(atPath: stateDirectory) {
                throw ContainerError.alreadyExists(containerID: id)  // a record of an earlier daemon: restore or remove it
            }

            // 2. The state directory with the stdio and control FIFOs.
            try Self.makeDirectory(options.stateDirectory, mode: 0o711)
            try Self.makeDirectory(stateDirectory, mode: 0o700)
            cleanup.add { Self.removeStateDirectory(stateDirectory) }
            for path in plan.fifoPaths where mkfifo(path, 0o600) != 0 {
                throw ContainerError.systemCallFailed(operation: "mkfifo \(path)", errno: .init(rawValue: errno))
            }

            // 3. The cgroup, limited before the process joins it.
            let cgroup = try Cgroup.create(host: host, relative: relativeCgroup, files: files, devices: deviceRules)
            Cgroup.rememberAncestors(cgroup.createdAncestors, stateDirectory: options.stateDirectory)
            cleanup.add { [base = options.stateDirectory] in
                cgroup.remove()
                Cgroup.removeUnusedAncestors(stateDirectory: base)
            }
            plan.cgroupPath = cgroup.path
            if let checkpointDirectory {
                // Restore instead of create: the helper runs criu with the new stdio.
                let relative = cgroup.path.hasPrefix(host.root) ? String(cgroup.path.dropFirst(host.root.count)) : nil
                plan.criuRestore = try CRIU.restoreCommand(checkpoint: checkpointDirectory, rootfs: plan.rootfs, cgroup: relative, stateDirectory: stateDirectory)
            }

            // 4. The helper, detached and holding the FIFOs; then our ends, for the caller.
            let helper = try Helper(executable: helperPath, plan: plan)
            cleanup.add { helper.abandon() }
            // From here a failure still ends the lifecycle properly: poststop hooks run.
            let stateDocument = plan.stateJSONPrefix + ",\"status\":\"stopped\"}"
            cleanup.addLast { [logger] in PoststopHooks.run(poststop, state: stateDocument, logger: logger, containerID: id) }
            let io = try Self.openStdio(plan)
            try await attachStdio(io)

            // 5. The process. The helper reaps nothing until acknowledged, so the pid is ours.
            let (initPid, warnings) = try helper.start()
            for warning in warnings { logger.warning("\(warning)", metadata: ["container": "\(id)"]) }
            let initPidFD = lcd_pidfd_open(initPid, 0)
            let helperPidFD = lcd_pidfd_open(helper.pid, 0)
            guard helperPidFD >= 0 else {
                if initPidFD >= 0 { close(initPidFD) }
                throw ContainerError.systemCallFailed(operation: "pidfd_open lcd-shim \(helper.pid)", errno: .init(rawValue: errno))
            }
            let watch = ExitWatch(pidfd: helperPidFD, queue: monitorQueue)
            let namespaceFlags = plan.createNamespaces | plan.joinNamespaces.reduce(0) { $0 | $1.type }
            let record = ContainerRecord(
                id: id, spec: spec, stateDirectory: stateDirectory, cgroupPath: cgroup.path, cgroupCreated: cgroup.created,
                cgroupAncestors: cgroup.createdAncestors, initPid: initPid, initStartTime: processStartTime(initPid) ?? 0,
                helperPid: helper.pid, helperStartTime: processStartTime(helper.pid) ?? 0, helperExecutable: helperExecutable,
                namespaceFlags: namespaceFlags, poststop: poststop, stateDocument: stateDocument, logPath: options.logFile)
            try record.write()
            containers.withLock {
                $0[id] = .running(Container(record: record, cgroup: cgroup, initPidFD: initPidFD, watch: watch, helperPath: helperPath))
            }
            cleanup.cancel()
            helper.acknowledge()

            // 6. start-container is queued before the exit can be, and delivered before we return.
            let started = dispatcher.post(id, StateInfo(state: .start, pid: initPid), awaited: true)
            watch.start { [weak self] in self?.exited(id) }
            do {
                try await started.wait()
            } catch {
                // The backend refused the container: end it without an exit event, then report.
                containers.withLock { map in
                    if case .running(var container)? = map[id] { container.silentExit = true; map[id] = .running(container) }
                }
                _ = lcd_pidfd_send_signal(initPidFD, SIGKILL, 0)
                try? await watch.finished.wait()
                throw error
            }
        } catch {
            cleanup.run()
            containers.withLock { map in
                if case .creating? = map[id] { map.removeValue(forKey: id) }
            }
            throw error
        }
    }

    /// The helper exited: read the recorded status, clean up, report.
    private func exited(_ id: String) {
        guard case .running(let container)? = containers.withLock({ $0[id] }) else { return }
        guard beginHandling() else { container.watch.finish(); return }
        defer { endHandling() }
        let status = recordedStatus(id, initFriendlyName, in: container.stateDirectory, claimed: Self.claimedPath(container.record))
        // Exec exits come before the init's: end what is left (a pid namespace already did),
        // then let every exec's handler report before this one does.
        container.cgroup?.kill()
        let execWatches = containers.withLock { map -> [ExitWatch] in
            guard case .running(let current)? = map[id] else { return [] }
            return current.execs.values.compactMap(\.watch)
        }
        for watch in execWatches { _ = watch.finished.waitBlocking(timeout: .seconds(5)) }
        containers.withLock { map in
            if case .running(var current)? = map[id] { current.exiting = true; map[id] = .running(current) }
        }
        let oomKilled = removeLeftovers(container.record, cgroup: container.cgroup)
        if container.initPidFD >= 0 { close(container.initPidFD) }
        // Read under the lock: `create` may have marked it silent since we looked.
        let silent = containers.withLock { map -> Bool in
            defer { map.removeValue(forKey: id) }
            if case .running(let current)? = map[id] { return current.silentExit }
            return false
        }
        if !silent {
            if oomKilled { dispatcher.post(id, StateInfo(state: .oom, pid: container.initPid)) }
            dispatcher.post(id, StateInfo(state: .exit, pid: container.initPid, exitCode: status, oomKilled: oomKilled))
        }
        container.watch.finish()
    }

    private func beginHandling() -> Bool {
        handling.withLock { state in
            if state.detached { return false }
            state.running += 1
            return true
        }
    }

    private func endHandling() { handling.withLock { $0.running -= 1 } }

    /// Lets go of every container without ending any: exit handling already under way
    /// finishes and its events reach the backend (up to `stateChangeTimeout`), none starts
    /// after, and the containers stay on disk for a later `restore`.
    /// Call it before a process with live-restored containers exits, so that no container
    /// is left half cleaned up. The client cannot be used afterwards.
    public func detach() async {
        handling.withLock { $0.detached = true }
        while handling.withLock({ $0.running }) > 0 { try? await Task.sleep(for: .milliseconds(2)) }
        // And their events reach the backend (an `exit` a handler just posted), within reason.
        let deadline = ContinuousClock.now + options.stateChangeTimeout
        while dispatcher.activeQueues > 0 && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(2)) }
        let detached = containers.withLock { map -> [Container] in
            defer { map.removeAll() }
            return map.values.compactMap { if case .running(let container) = $0 { container } else { nil } }
        }
        for container in detached where container.initPidFD >= 0 { close(container.initPidFD) }
    }

    // MARK: - Signals, pause

    public func signal(containerID id: String, signal: Int32) async throws {
        let container = try running(id)
        if lcd_pidfd_send_signal(container.initPidFD, signal, 0) != 0 && errno != ESRCH {
            throw ContainerError.systemCallFailed(operation: "signal \(signal) to \(id)", errno: .init(rawValue: errno))
        }
    }

    public func signalProcess(containerID id: String, processFriendlyName name: String, signal: Int32) async throws {
        let container = try running(id)
        if name == initFriendlyName { return try await self.signal(containerID: id, signal: signal) }
        guard let exec = container.execs[name], exec.pidfd >= 0 else {
            throw ContainerError.processNotFound(containerID: id, processFriendlyName: name)
        }
        if lcd_pidfd_send_signal(exec.pidfd, signal, 0) != 0 && errno != ESRCH {
            throw ContainerError.systemCallFailed(operation: "signal \(signal) to \(name) in \(id)", errno: .init(rawValue: errno))
        }
    }

    public func pause(containerID id: String) async throws { try await setPaused(id, true) }
    public func resume(containerID id: String) async throws { try await setPaused(id, false) }

    private func setPaused(_ id: String, _ paused: Bool) async throws {
        let container = try running(id)
        guard container.paused != paused else {
            throw ContainerError.invalidState(containerID: id, state: paused ? "paused" : "running", operation: paused ? "pause" : "resume")
        }
        guard let cgroup = container.cgroup else {
            throw ContainerError.unsupported(feature: "pause", reason: "the container has no cgroup")
        }
        try cgroup.freeze(paused, timeout: options.stateChangeTimeout)
        containers.withLock { map in
            if case .running(var c)? = map[id] { c.paused = paused; map[id] = .running(c) }
        }
        try await dispatcher.deliver(id, StateInfo(state: paused ? .pause : .resume, pid: container.initPid), timeout: options.stateChangeTimeout)
    }

    // MARK: - Not yet implemented here

    public func addProcess(containerID id: String, processFriendlyName name: String, process: ExecProcess, attachStdio: @escaping StdioCallback) async throws -> Int32 {
        try Self.validate(name, what: "process name")
        let container = try containers.withLock { map -> Container in
            guard case .running(var container)? = map[id] else { throw ContainerError.notFound(containerID: id) }
            if container.paused { throw ContainerError.invalidState(containerID: id, state: "paused", operation: "exec") }
            guard name != initFriendlyName, container.execs[name] == nil else {
                throw ContainerError.alreadyExists(containerID: id, processFriendlyName: name)
            }
            container.execs[name] = Exec()
            map[id] = .running(container)
            return container
        }
        var cleanup = Cleanup()
        cleanup.add { [self] in self.forgetExec(id, name) }
        do {
            var plan = try planner.execPlan(process, container: container.spec, containerID: id, name: name, stateDirectory: container.stateDirectory)
            plan.cgroupPath = container.cgroup?.path ?? ""
            plan.joinPid = container.initPid
            plan.joinFlags = container.namespaceFlags
            for path in plan.fifoPaths {
                guard mkfifo(path, 0o600) == 0 else {
                    throw ContainerError.systemCallFailed(operation: "mkfifo \(path)", errno: .init(rawValue: errno))
                }
                cleanup.add { unlink(path) }
            }
            let helper = try Helper(executable: container.helperPath, plan: plan)
            cleanup.add { helper.abandon() }
            let io = try Self.openStdio(plan)
            let (pid, _) = try helper.start()
            let pidfd = lcd_pidfd_open(pid, 0)
            let helperPidFD = lcd_pidfd_open(helper.pid, 0)
            guard helperPidFD >= 0 else {
                if pidfd >= 0 { close(pidfd) }
                throw ContainerError.systemCallFailed(operation: "pidfd_open lcd-shim \(helper.pid)", errno: .init(rawValue: errno))
            }
            let watch = ExitWatch(pidfd: helperPidFD, queue: monitorQueue)
            let execRecord = ContainerRecord.ExecRecord(
                pid: pid, startTime: processStartTime(pid) ?? 0, helperPid: helper.pid,
                helperStartTime: processStartTime(helper.pid) ?? 0, terminal: plan.terminal)
            containers.withLock { map in
                guard case .running(var current)? = map[id] else { return }
                current.execs[name] = Exec(pid: pid, terminal: plan.terminal, pidfd: pidfd, watch: watch)
                // Under the lock, so no write can land while the exit handler removes the directory.
                if !current.exiting {
                    try? ContainerRecord.writeExec(execRecord, name: name, stateDirectory: current.stateDirectory)
                }
                map[id] = .running(current)
            }
            cleanup.cancel()
            helper.acknowledge()
            let finalPlan = plan
            watch.start { [weak self] in self?.execExited(id, name, pid: pid, plan: finalPlan) }
            // As in the original: stdio is attached after the start (the FIFOs hold the output
            // meanwhile); an attach error is returned, and the process keeps running.
            try await attachStdio(io)
            return pid
        } catch {
            cleanup.run()
            throw error
        }
    }

    private func forgetExec(_ id: String, _ name: String) {
        containers.withLock { map in
            if case .running(var container)? = map[id] {
                container.execs.removeValue(forKey: name)
                map[id] = .running(container)
            }
        }
    }

    /// An exec's helper exited: report its status, remove its files, free its name.
    private func execExited(_ id: String, _ name: String, pid: pid_t, plan: Plan) {
        guard beginHandling() else {
            containers.withLock { map -> ExitWatch? in
                guard case .running(let container)? = map[id] else { return nil }
                return container.execs[name]?.watch
            }?.finish()
            return
        }
        defer { endHandling() }
        let status = recordedStatus(id, name, in: plan.stateDirectory)
        for path in Plan.processFiles(name, in: plan.stateDirectory) { unlink(path) }
        // Removed and reported in one step under the lock: the init's exit handler either
        // still finds this exec (and waits for it) or finds its exit-process already queued.
        let exec = containers.withLock { map -> Exec? in
            dispatcher.post(id, StateInfo(state: .exitProcess, pid: pid, exitCode: status, processID: name))
            guard case .running(var container)? = map[id] else { return nil }
            defer { map[id] = .running(container) }
            if !container.exiting {
                ContainerRecord.removeExec(name, stateDirectory: container.stateDirectory)
            }
            return container.execs.removeValue(forKey: name)
        }
        if let exec, exec.pidfd >= 0 { close(exec.pidfd) }
        exec?.watch?.finish()
    }

    public func resize(containerID id: String, processFriendlyName name: String, width: Int, height: Int) async throws {
        guard (1...Int(UInt16.max)).contains(width), (1...Int(UInt16.max)).contains(height) else {
            throw ContainerError.invalidArgument(name: "terminal size \(width)x\(height)", reason: "must be 1...65535 in each dimension")
        }
        let container = try running(id)
        let hasTerminal: Bool
        if name == initFriendlyName {
            hasTerminal = container.spec.process?.terminal ?? false
        } else if let exec = container.execs[name] {
            hasTerminal = exec.terminal
        } else {
            throw ContainerError.processNotFound(containerID: id, processFriendlyName: name)
        }
        guard hasTerminal else { throw ContainerError.invalidState(containerID: id, state: "without a terminal", operation: "resize \(name)") }
        guard let columns = UInt16(exactly: width), let rows = UInt16(exactly: height) else {
            throw ContainerError.invalidArgument(name: "width/height", reason: "\(width)x\(height): each must be 0 to 65535")
        }
        try Self.control(container.stateDirectory + "/\(name)-control", .resize(columns: columns, rows: rows))
    }

    /// Sends one request to a process's helper over its control FIFO.
    static func control(_ path: String, _ request: ControlRequest) throws {
        let fd = Glibc.open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw ContainerError.systemCallFailed(operation: "open \(path)", errno: .init(rawValue: errno)) }
        defer { Glibc.close(fd) }
        let bytes = request.framed()
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw ContainerError.systemCallFailed(operation: "write to \(path)", errno: .init(rawValue: errno))
        }
    }

    public func restore(containerID id: String, attachStdio: @escaping StdioCallback, options callOptions: [CreateOption]) async throws {
        try Self.validate(id)
        let options = self.options.applying(callOptions)
        let stateDirectory = options.stateDirectory + "/" + id
        try containers.withLock { map in
            if map[id] != nil { throw ContainerError.invalidState(containerID: id, state: "already attached", operation: "restore") }
            map[id] = .creating
        }
        var restored = false
        defer { if !restored { containers.withLock { map in if case .creating? = map[id] { map.removeValue(forKey: id) } } } }
        guard let record = try ContainerRecord.read(stateDirectory: stateDirectory) else { throw ContainerError.notFound(containerID: id) }
        let cgroup = record.cgroupPath.map { Cgroup.restored(path: $0, created: record.cgroupCreated, createdAncestors: record.cgroupAncestors) }

        // Still running? The helper with the recorded start time, not a process that reused its pid.
        guard let helperPidFD = Self.openProcess(record.helperPid, startTime: record.helperStartTime) else {
            // It exited while no daemon watched: report what its helper recorded, then clean up.
            try await reportExitWhileAway(record, cgroup: cgroup)
            return
        }
        let initPidFD = Self.openProcess(record.initPid, startTime: record.initStartTime) ?? -1
        var plan = Plan(containerID: id, rootfs: record.spec.root?.path ?? "/", args: ["-"], stateDirectory: stateDirectory)
        plan.terminal = record.spec.process?.terminal ?? false
        plan.logPath = record.logPath ?? ""
        let io = try Self.openStdio(plan)
        let helperPath = try (try? Helper.sealedCopy(of: record.helperExecutable)) ?? Helper.sealedCopy(of: defaultHelper.get())
        let watch = ExitWatch(pidfd: helperPidFD, queue: monitorQueue)
        var container = Container(record: record, cgroup: cgroup, initPidFD: initPidFD, watch: watch, helperPath: helperPath)
        container.paused = cgroup?.isFrozen ?? false  // from the kernel, not a guess
        let paused = container.paused

        // Execs: watched again if running; reported if they exited meanwhile.
        var finishedExecs: [(String, ContainerRecord.ExecRecord)] = []
        for (name, exec) in record.execs.sorted(by: { $0.key < $1.key }) {
            if let execHelper = Self.openProcess(exec.helperPid, startTime: exec.helperStartTime) {
                let execWatch = ExitWatch(pidfd: execHelper, queue: monitorQueue)
                let pidfd = Self.openProcess(exec.pid, startTime: exec.startTime) ?? -1
                container.execs[name] = Exec(pid: exec.pid, terminal: exec.terminal, pidfd: pidfd, watch: execWatch)
            } else {
                finishedExecs.append((name, exec))
            }
        }
        containers.withLock { $0[id] = .running(container) }
        restored = true
        for (name, exec) in finishedExecs {
            execExited(id, name, pid: exec.pid, plan: Plan(containerID: id, rootfs: "/", args: ["-"], stateDirectory: stateDirectory, processName: name))
        }
        for (name, exec) in container.execs {
            let execPlan = Plan(containerID: id, rootfs: "/", args: ["-"], stateDirectory: stateDirectory, processName: name)
            let pid = exec.pid ?? 0
            exec.watch?.start { [weak self] in self?.execExited(id, name, pid: pid, plan: execPlan) }
        }
        do {
            try await attachStdio(io)
        } catch {
            logger.error("attachStdio failed on restore: \(error)", metadata: ["container": "\(id)"])
        }
        let started = dispatcher.post(id, StateInfo(state: .restore, pid: record.initPid), awaited: true)
        if paused { dispatcher.post(id, StateInfo(state: .pause, pid: record.initPid)) }
        watch.start { [weak self] in self?.exited(id) }
        try await started.wait()

        guard options.liveRestore else {
            // Live restore off: stop it, as the original did (TERM, a grace period, KILL).
            if paused { try? await resume(containerID: id) }
            try? await signal(containerID: id, signal: SIGTERM)
            let stopped = (try? await watch.finished.wait(timeout: options.stateChangeTimeout)) ?? false
            if !stopped { try? await signal(containerID: id, signal: SIGKILL) }
            return
        }
    }

    /// A container whose helper is gone: exec exits, then the init's exit, with the statuses on
    /// disk (255 only if there is none, which is logged); then the cleanup a watching daemon does.
    private func reportExitWhileAway(_ record: ContainerRecord, cgroup: Cgroup?) async throws {
        let id = record.id
        cgroup?.kill()
        for (name, exec) in record.execs.sorted(by: { $0.key < $1.key }) {
            execExited(id, name, pid: exec.pid, plan: Plan(containerID: id, rootfs: "/", args: ["-"], stateDirectory: record.stateDirectory, processName: name))
        }
        let status = recordedStatus(id, initFriendlyName, in: record.stateDirectory, claimed: Self.claimedPath(record))
        let oomKilled = removeLeftovers(record, cgroup: cgroup)
        containers.withLock { map in if case .creating? = map[id] { map.removeValue(forKey: id) } }
        if oomKilled { dispatcher.post(id, StateInfo(state: .oom, pid: record.initPid)) }
        try await dispatcher.deliver(id, StateInfo(state: .exit, pid: record.initPid, exitCode: status, oomKilled: oomKilled))
    }

    /// The status a process's helper recorded; 255 when there is none (logged: that is the only
    /// case where the truth is not on disk).
    private func recordedStatus(_ id: String, _ process: String, in stateDirectory: String, claimed: String? = nil) -> UInt32 {
        for directory in [stateDirectory] + (claimed.map { [$0] } ?? []) {
            if let status = Self.exitStatus(process, in: directory) { return status }
        }
        logger.error("no exit status recorded for \(process); reporting 255", metadata: ["container": "\(id)"])
        return 255
    }

    /// `<process>-exit` as its helper wrote it, nil if there is none.
    static func exitStatus(_ process: String, in stateDirectory: String) -> UInt32? {
        let text = try? String(contentsOfFile: "\(stateDirectory)/\(process)-exit", encoding: .utf8)
        return text.flatMap { UInt32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// What every end of a container does once its processes are gone: note an OOM kill,
    /// remove the cgroup, the state directory and unused ancestors, run the poststop hooks.
    /// Two daemons may watch one container (`lcd exec` running while `lcd kill` restores it):
    /// the one that renames the state directory away does the cleanup, the other only reports.
    private func removeLeftovers(_ record: ContainerRecord, cgroup: Cgroup?) -> Bool {
        let oomKilled = (cgroup?.keyedValues("memory.events")?["oom_kill"] ?? 0) > 0
        let claimed = Self.claimedPath(record)
        guard rename(record.stateDirectory, claimed) == 0 else { return oomKilled }
        cgroup?.remove()
        Self.removeStateDirectory(claimed)
        Cgroup.removeUnusedAncestors(stateDirectory: (record.stateDirectory as NSString).deletingLastPathComponent)
        PoststopHooks.run(record.poststop, state: record.stateDocument, logger: logger, containerID: record.id)
        return oomKilled
    }

    /// Where the daemon cleaning up a container moves its state directory: hidden, and named
    /// after this run of the container so another daemon can still read the exit status there.
    static func claimedPath(_ record: ContainerRecord) -> String {
        (record.stateDirectory as NSString).deletingLastPathComponent + "/.\(record.id).exited-\(record.helperStartTime)"
    }

    /// A pidfd for `pid` if it is still the process started at `startTime`. Opened first and
    /// checked after, so a pid reused in between is caught.
    static func openProcess(_ pid: pid_t, startTime: UInt64) -> Int32? {
        let pidfd = lcd_pidfd_open(pid, 0)
        guard pidfd >= 0 else { return nil }
        guard processStartTime(pid) == startTime else { close(pidfd); return nil }
        return pidfd
    }

    /// Ids of the containers recorded in the state directory that this client is not attached
    /// to: what a restarted daemon can `restore`.
    public func containers(options callOptions: [CreateOption] = []) -> [String] {
        let directory = options.applying(callOptions).stateDirectory
        let attached = containers.withLock { Set($0.keys) }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.filter { !$0.hasPrefix(".") && !attached.contains($0) && FileManager.default.fileExists(atPath: ContainerRecord.path(in: directory + "/" + $0)) }.sorted()
    }

    /// The recorded container `id` and what the kernel says of it now, without attaching.
    /// Throws ``LibContainerd/ContainerError/notFound(containerID:)`` if there is no record.
    public func inspect(containerID id: String, options callOptions: [CreateOption] = []) throws -> RecordedContainer {
        try Self.validate(id)
        let stateDirectory = options.applying(callOptions).stateDirectory + "/" + id
        guard let record = try ContainerRecord.read(stateDirectory: stateDirectory) else { throw ContainerError.notFound(containerID: id) }
        func alive(_ pid: Int32, _ startTime: UInt64) -> Bool {
            guard let pidfd = Self.openProcess(pid, startTime: startTime) else { return false }
            close(pidfd)
            return true
        }
        let status: RecordedContainer.Status
        if alive(record.helperPid, record.helperStartTime) {
            let cgroup = record.cgroupPath.map { Cgroup.restored(path: $0, created: record.cgroupCreated, createdAncestors: record.cgroupAncestors) }
            status = cgroup?.isFrozen == true ? .paused : .running
        } else {
            status = .exited(code: Self.exitStatus(initFriendlyName, in: stateDirectory))
        }
        // Execs outlive no init: only a live container's are looked up.
        let processes = status == .running || status == .paused ? record.execs.filter { alive($0.value.helperPid, $0.value.helperStartTime) }.keys.sorted() : []
        return RecordedContainer(id: id, pid: record.initPid, status: status, processes: processes, logFile: record.logPath, spec: record.spec)
    }

    public func createCheckpoint(containerID id: String, checkpointID: String, checkpointDir: String?, exit: Bool) async throws {
        let container = try running(id)
        try Checkpoint.validate(name: checkpointID)
        if container.spec.process?.terminal == true {
            throw ContainerError.unsupported(feature: "checkpoint", reason: "a container with a terminal cannot be checkpointed yet")
        }
        let base = CRIU.directory(checkpointDir, stateDirectory: (container.stateDirectory as NSString).deletingLastPathComponent, containerID: id)
        let directory = "\(base)/\(checkpointID)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard mkdir(directory, 0o700) == 0 else {
            if errno == EEXIST { throw ContainerError.alreadyExists(containerID: id, processFriendlyName: "checkpoint \(checkpointID)") }
            throw ContainerError.systemCallFailed(operation: "mkdir \(directory)", errno: .init(rawValue: errno))
        }
        do {
            try CRIU.dump(pid: container.initPid, rootfs: container.spec.root?.path ?? "/", name: checkpointID, exit: exit, into: directory)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    public func deleteCheckpoint(containerID id: String, checkpointID: String, checkpointDir: String?) async throws {
        try Self.validate(id)
        try Checkpoint.validate(name: checkpointID)
        let directory = "\(CRIU.directory(checkpointDir, stateDirectory: options.stateDirectory, containerID: id))/\(checkpointID)"
        guard FileManager.default.fileExists(atPath: "\(directory)/\(CRIU.CheckpointRecord.fileName)") else {
            throw ContainerError.invalidArgument(name: "checkpoint", reason: "no checkpoint \(checkpointID) in \((directory as NSString).deletingLastPathComponent)")
        }
        try FileManager.default.removeItem(atPath: directory)
        if checkpointDir == nil {  // the default directories go with their last checkpoint
            let base = (directory as NSString).deletingLastPathComponent
            if rmdir(base) == 0 { rmdir((base as NSString).deletingLastPathComponent) }
        }
    }

    public func listCheckpoints(containerID id: String, checkpointDir: String?) async throws -> Checkpoints {
        try Self.validate(id)
        let directory = CRIU.directory(checkpointDir, stateDirectory: options.stateDirectory, containerID: id)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.sorted().compactMap { name in
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(name)/\(CRIU.CheckpointRecord.fileName)"),
                  let record = try? JSONDecoder().decode(CRIU.CheckpointRecord.self, from: data) else { return nil }
            return Checkpoint(name: record.name, exit: record.exit)
        }
    }

    // MARK: - Inspection and limits

    public func serverVersion() async throws -> ServerVersion {
        var version = libraryVersion
        version.kernel = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        version.cgroupMode = host.mode
        version.controllers = host.controllers.sorted()
        return version
    }

    public func stats(containerID id: String) async throws -> Stats {
        let container = try running(id)
        return StatsReader(cgroup: container.cgroup, initPid: container.initPid).stats()
    }

    public func pidsForContainer(containerID id: String) async throws -> [Int32] {
        let container = try running(id)
        return container.cgroup?.pids() ?? [container.initPid]
    }

    public func summary(containerID id: String) async throws -> [Summary] {
        StatsReader.summary(of: try await pidsForContainer(containerID: id))
    }

    public func updateResources(containerID id: String, resources: Resources) async throws {
        let container = try running(id)
        let files = try CgroupFiles.from(resources)
        try host.check(files)
        let deviceRules = try resources.devices.map {
            try DeviceFilter.rules($0, path: "resources.devices", created: container.spec.linux?.devices ?? [])
        }
        guard let cgroup = container.cgroup else { throw ContainerError.unsupported(feature: "updateResources", reason: "the container has no cgroup") }
        try cgroup.apply(files)
        if let deviceRules { try cgroup.allowDevices(deviceRules) }
    }

    // MARK: - Helpers

    private func running(_ id: String) throws -> Container {
        guard case .running(let container)? = containers.withLock({ $0[id] }) else { throw ContainerError.notFound(containerID: id) }
        return container
    }

    /// Container ids and process names become file and cgroup names: no slashes, no dot-dot.
    static func validate(_ id: String, what: String = "container id") throws {
        let allowed = id.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 45 || c == 46
        }
        guard !id.isEmpty, id.utf8.count <= 128, allowed, id.first != ".", id.first != "-" else {
            throw ContainerError.invalidArgument(name: "\(what) \"\(id)\"", reason: "use 1 to 128 of A-Z a-z 0-9 _ . -, not starting with . or -")
        }
    }

    /// The files a container's state directory holds, then the directory: cheaper than a
    /// recursive removal on every exit. Anything unexpected falls back to the recursive one.
    static func removeStateDirectory(_ path: String) {
        for file in Plan.processFiles(initFriendlyName, in: path) + [ContainerRecord.path(in: path)] { unlink(file) }
        if rmdir(path) != 0 { try? FileManager.default.removeItem(atPath: path) }
    }

    private static func makeDirectory(_ path: String, mode: mode_t) throws {
        if mkdir(path, mode) != 0 && errno != EEXIST {
            if errno == ENOENT {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
                return
            }
            throw ContainerError.systemCallFailed(operation: "mkdir \(path)", errno: .init(rawValue: errno))
        }
    }

    /// The daemon's ends of the FIFOs. The helper holds every FIFO open, so no open blocks.
    private static func openStdio(_ plan: Plan) throws -> IOPipe {
        func open(_ path: String, _ mode: FileDescriptor.AccessMode) throws -> FileDescriptor {
            do {
                return try FileDescriptor.open(path, mode, options: [.closeOnExec])
            } catch let error as Errno {
                throw ContainerError.systemCallFailed(operation: "open \(path)", errno: error)
            }
        }
        let stdin = try open(plan.stdinPath, .writeOnly)
        // Logged output never reaches the FIFOs. With a terminal, stdout carries everything.
        let stdout = plan.logPath.isEmpty ? try open(plan.stdoutPath, .readOnly) : nil
        let stderr = plan.terminal || !plan.logPath.isEmpty ? nil : try open(plan.stderrPath, .readOnly)
        let control = plan.controlPath
        return IOPipe(stdin: stdin, stdout: stdout, stderr: stderr, terminal: plan.terminal) {
            // The helper holds stdin's FIFO open too: ask it to let go, so the process reads EOF
            // (with a terminal: the EOF character).
            try? Self.control(control, .closeStdin)
        }
    }
}

/// Undo steps for a failed create, run in reverse.
struct Cleanup {
    private var steps: [() -> Void] = []
    mutating func add(_ step: @escaping () -> Void) { steps.append(step) }
    /// A step that runs after all the others.
    mutating func addLast(_ step: @escaping () -> Void) { steps.insert(step, at: 0) }
    mutating func cancel() { steps = [] }
    func run() { for step in steps.reversed() { step() } }
}

/// Watches one helper's pidfd: it becomes readable when the helper exits.
final class ExitWatch: @unchecked Sendable {
    // Only touched on `queue` after `start`, and `finished` is itself thread-safe.
    private let source: DispatchSourceRead
    private let pidfd: Int32
    let finished = Completion()

    init(pidfd: Int32, queue: DispatchQueue) {
        self.pidfd = pidfd
        self.source = DispatchSource.makeReadSource(fileDescriptor: pidfd, queue: queue)
    }

    func start(_ handler: @escaping @Sendable () -> Void) {
        let pidfd = self.pidfd
        source.setEventHandler { [source] in
            source.cancel()
            handler()
        }
        source.setCancelHandler { close(pidfd) }
        source.resume()
    }

    func finish() { finished.complete() }
}
