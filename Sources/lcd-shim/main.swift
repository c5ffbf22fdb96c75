// lcd-shim: the per-container helper. Spawned by LinuxClient; see ContainerInit.Supervisor.
// Imports no Foundation: it must start in a few milliseconds and stay small.
import ContainerInit

Supervisor.main()
