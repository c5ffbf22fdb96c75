import ContainerInit
import LibContainerd
import OCIRuntimeSpec

extension ContainerPlanner {
    /// The plan of a process started in a running container: the container's `process`
    /// section, with what the `ExecProcess` sets laid over it — args and terminal always;
    /// env, cwd, user, capabilities, rlimits and no_new_privs when set. The seccomp filter is
    /// always the container's.
    ///
    /// Capabilities given by name go to the bounding, effective and permitted sets; unlike the
    /// Go original, not to the inheritable set (CVE-2022-24769).
    func execPlan(_ process: ExecProcess, container spec: Spec, containerID: String, name: String, stateDirectory: String) throws -> Plan {
        try StringCheck.rejectNUL(in: process)
        try SpecLimits.check(process)
        guard let base = spec.process else { throw ContainerError.invalidSpec(path: "$.process", reason: "the container has no process section") }
        guard let program = process.args.first, !program.isEmpty else {
            throw ContainerError.invalidArgument(name: "process.args", reason: "must name the program to run")
        }
        let cwd = process.cwd ?? base.cwd
        guard cwd.hasPrefix("/"), cwd != "/proc", !cwd.hasPrefix("/proc/") else {
            throw ContainerError.invalidArgument(name: "process.cwd", reason: "must be an absolute path outside /proc, not \"\(cwd)\"")
        }
        let user = process.user ?? base.user
        let env = process.env ?? base.env ?? []
        let pathVariable = env.last(where: { $0.hasPrefix("PATH=") }).map { String($0.dropFirst(5)) } ?? Self.defaultPath
        var plan = Plan(
            containerID: containerID, rootfs: spec.root?.path ?? "/", uid: user.uid, gid: user.gid,
            additionalGids: user.additionalGids ?? [], cwd: cwd, args: process.args, env: env,
            searchPath: pathVariable.split(separator: ":").map(String.init), stateDirectory: stateDirectory, processName: name)
        plan.rlimits = try SecurityPlanner.rlimits(process.rlimits ?? base.rlimits ?? [])
        let capabilities = process.capabilities.map { Spec.Capabilities(bounding: $0, effective: $0, permitted: $0) } ?? base.capabilities
        plan.capabilities = try capabilities.map(SecurityPlanner.capabilities)
        plan.noNewPrivileges = process.noNewPrivileges ?? base.noNewPrivileges ?? false
        plan.seccomp = try spec.linux?.seccomp.map(SeccompCompiler.compile)
        plan.terminal = process.terminal
        return plan
    }
}
