// swift-tools-version:6.0
// Swift 6 language mode (the tools version's default): strict concurrency checking everywhere.
import PackageDescription

let package = Package(
    name: "LibContainerd",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "OCIRuntimeSpec", targets: ["OCIRuntimeSpec"]),
        .library(name: "LibContainerd", targets: ["LibContainerd"]),
        .library(name: "LibContainerdTesting", targets: ["LibContainerdTesting"]),
        .library(name: "LinuxRuntime", targets: ["LinuxRuntime"]),
        .executable(name: "lcd", targets: ["lcd"]),
        .executable(name: "lcd-shim", targets: ["lcd-shim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Codable mirror of the OCI runtime spec documents. Foundation only.
        .target(name: "OCIRuntimeSpec"),

        // The platform-neutral API: Client, Backend, the value types and errors.
        .target(
            name: "LibContainerd",
            dependencies: [
                "OCIRuntimeSpec",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // FakeClient and RecordingBackend, for daemon authors' test suites.
        .target(name: "LibContainerdTesting", dependencies: ["LibContainerd"]),

        // Syscalls and constants Swift's Glibc module does not export. Wrappers only.
        .target(name: "CLinuxSupport"),
        .systemLibrary(
            name: "CSeccomp", pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(
            name: "CCap", pkgConfig: "libcap",
            providers: [.apt(["libcap-dev"])]),

        // What the helper runs inside the new namespaces. Never imports Foundation, and needs
        // neither libseccomp nor libcap: the daemon compiles the filter and resolves the names.
        .target(name: "ContainerInit", dependencies: ["CLinuxSupport"]),

        // LinuxClient: the Client implementation on the Linux kernel.
        .target(
            name: "LinuxRuntime",
            dependencies: [
                "LibContainerd", "OCIRuntimeSpec", "CLinuxSupport", "ContainerInit", "CSeccomp", "CCap",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // Static Swift runtime in release builds: the helper starts in milliseconds and stays
        // small, with no shared Swift libraries to load for every container.
        .executableTarget(
            name: "lcd-shim", dependencies: ["ContainerInit"],
            linkerSettings: [.unsafeFlags(["-static-executable"], .when(configuration: .release))]),
        .executableTarget(
            name: "lcd",
            dependencies: [
                "LinuxRuntime", "LibContainerd", "ContainerInit", "CLinuxSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // `make bench`: latency and memory against runc and crun.
        .executableTarget(
            name: "lcd-bench", dependencies: ["LinuxRuntime", "LibContainerd", "OCIRuntimeSpec"],
            path: "Benchmarks/lcd-bench"),

        // The daemon the 20-container restore test kills with SIGKILL.
        .executableTarget(
            name: "lcd-restore-drill", dependencies: ["LinuxRuntime", "LibContainerd", "OCIRuntimeSpec"],
            path: "Tests/RestoreDrill"),

        // One case of the malformed-spec corpus per process (MalformedSpecCorpusTests).
        .executableTarget(
            name: "lcd-spec-probe", dependencies: ["LinuxRuntime", "LibContainerd", "OCIRuntimeSpec"],
            path: "Tests/SpecProbe"),

        // An example daemon written against the API, tested with the test kit.
        .target(name: "MiniDaemon", dependencies: ["LibContainerd"], path: "Examples/MiniDaemon"),

        .testTarget(name: "OCIRuntimeSpecTests", dependencies: ["OCIRuntimeSpec"], resources: [.copy("Fixtures")]),
        .testTarget(name: "LibContainerdTests", dependencies: ["LibContainerd", "LibContainerdTesting"]),
        .testTarget(name: "MiniDaemonTests", dependencies: ["MiniDaemon", "LibContainerd", "LibContainerdTesting"]),
        .testTarget(
            name: "LinuxRuntimeTests", dependencies: ["LinuxRuntime", "ContainerInit", "LibContainerd", "LibContainerdTesting"],
            exclude: ["Programs"]),  // C sources the tests compile into container root file systems
    ]
)
