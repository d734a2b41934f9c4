// swift-tools-version:6.1
import PackageDescription

// Two neighbourhoods. The product: the plugin (`kubectl-kftray`), the libraries it is built from, and the
// relay that runs in its pods. It stays lean: Foundation, ArgumentParser, Yams and two system libraries
// (swift-crypto's SHA-1 for the WebSocket handshake is the one exception, see PortForwardCodecs).
// The sandbox (`Sources/Sandbox`, `Tests/Sandbox`): a local cluster that stands in for a real one in tests,
// benchmarks and the demo. It may use SwiftNIO and anything else; the product never depends on it.
// MARK: - The product

let product: [Target] = [
  // libcurl with typed shims for its variadic calls: every byte the plugin sends to an API server.
  .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
  // System zlib for the SPDY/3 header-block compression (deflate/inflate with a preset dictionary).
  .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
  // <sys/epoll.h>, which Swift's Glibc module leaves out: the forwarder loop waits on its sockets with it.
  .systemLibrary(name: "CEpoll"),
  // Kubeconfig loading and merging as client-go does it, credentials (certificates, tokens, exec plugins),
  // the libcurl transport (requests, watches, log streams, upgrades) and typed API calls.
  .target(name: "KubeClient", dependencies: ["CCurl", .product(name: "Yams", package: "Yams")]),
  // The port-forward wire codecs: SPDY/3 frames and header blocks, RFC 6455 framing, the WebSocket
  // handshake. Bytes in, frames out; no I/O, so the sandbox's kubelet and API server use them too.
  // swift-crypto only for Insecure.SHA1 (Sec-WebSocket-Accept): Foundation on Linux has no digest API.
  .target(name: "PortForwardCodecs", dependencies: ["CZlib", .product(name: "Crypto", package: "swift-crypto")]),
  // The port-forward engine: sessions over libcurl upgrades (WebSocket tunnel, SPDY), the local
  // forwarder, the session pool (sharding, reconnects, pod swap) and `PortForwarder`.
  .target(name: "PortForward", dependencies: ["PortForwardCodecs", "KubeClient", "CEpoll"]),
  // The domain the subcommands share: kubectl's connection flags, proxy targets and kftray files, the
  // relay pod, the proxy supervisor (create, wait, forward, recover, delete), cleanup and doctor.
  .target(
    name: "KFTray",
    dependencies: [
      "PortForward", "KubeClient", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      "KFTrayRelay",  // proxy --socks: the dynamic mode's header and allow-list, and its splice
    ]),
  // The plugin: parses flags, prints, maps errors to exit codes. Everything else is in KFTray.
  .executableTarget(
    name: "kubectl-kftray",
    dependencies: [
      "KFTray", "KubeClient", "KFTrayRelay", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      .product(name: "Yams", package: "Yams"),  // -o yaml
    ]),
  // The relay inside the relay pod (kftray-server's env and wire contract). POSIX sockets and threads
  // only: no NIO, no Foundation, so the static binary in the image stays small.
  .target(name: "KFTrayRelay"),
  .executableTarget(name: "kftray-relay", dependencies: ["KFTrayRelay"], exclude: ["Containerfile"]),
]

// MARK: - The sandbox cluster (Sources/Sandbox)

let sandbox: [Target] = [
  // posix_spawn with a clean signal state, for everything in the sandbox and the tests that starts processes.
  .target(name: "ChildProcess", path: "Sources/Sandbox/ChildProcess"),
  // setns(2) for the kubelet's pod dialer (Glibc hides it behind _GNU_SOURCE).
  .target(name: "CNetns", path: "Sources/Sandbox/CNetns"),
  // The HTTP details both sandbox servers (API server, kubelet API) share: the Date header, Go's
  // percent-decoding of paths and queries. No dependencies.
  .target(name: "SandboxHTTP", path: "Sources/Sandbox/SandboxHTTP"),
  // The kubelet's API server (TLS, client certificates): SPDY/3.1 port-forward into pod network namespaces
  // and container logs from CRI log files. It serves pods; NodeAgent runs them. SwiftASN1 only to read the
  // client certificate's subject (NIOSSL exposes none; swift-certificates would pull in much more).
  .target(
    name: "KubeletAPI",
    dependencies: [
      "PortForwardCodecs", "CNetns", "SandboxHTTP",
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "NIOPosix", package: "swift-nio"),
      .product(name: "NIOHTTP1", package: "swift-nio"),
      .product(name: "NIOSSL", package: "swift-nio-ssl"),
      .product(name: "SwiftASN1", package: "swift-asn1"),
    ],
    path: "Sources/Sandbox/KubeletAPI"),
  // What a node's pod network (its CNI) promises the node agent: attach a pod, detach it. The node agent's
  // bare namespaces and the sandbox's cluster network both provide it. No dependencies.
  .target(name: "PodNetwork", path: "Sources/Sandbox/PodNetwork"),
  // The cluster network: namespaces, bridge, cluster DNS (dnsmasq) and seeded services, built with
  // iproute2. Foundation and Glibc only.
  .target(name: "SandboxNetwork", dependencies: ["ChildProcess", "PodNetwork"], path: "Sources/Sandbox/SandboxNetwork"),
  // The seeded services' server (TCP echo, HTTP hello, UDP echo): POSIX sockets and threads.
  .target(name: "SeededServices", path: "Sources/Sandbox/SeededServices"),
  .executableTarget(
    name: "kftray-testserver",
    dependencies: ["SeededServices", .product(name: "ArgumentParser", package: "swift-argument-parser")],
    path: "Sources/Sandbox/kftray-testserver"),
  // The node agent: a kubelet for local processes (what runs pods), talking to its API server only through
  // KubeClient; its own calls (Node, binding, pod status) live here, not in the plugin's client.
  .target(
    name: "NodeAgent", dependencies: ["ChildProcess", "KubeClient", "KubeletAPI", "PodNetwork"], path: "Sources/Sandbox/NodeAgent"),
  .executableTarget(
    name: "kftray-node",
    dependencies: [
      "NodeAgent", "KubeClient", "KubeletAPI", .product(name: "NIOPosix", package: "swift-nio"),
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ],
    path: "Sources/Sandbox/kftray-node"),
  // The API server (TLS, users, RBAC, Pod Security, pods, watch, logs and port-forward proxied to the
  // kubelet API) and `up`/`down`, which start the whole cluster: node agent, network, DNS, seeded services.
  .target(
    name: "KubeSandbox",
    dependencies: [
      "ChildProcess",  // `up` starts the server as a daemon
      "KubeletAPI",  // the node's kubelet API
      "NodeAgent",  // runs the pods (ClusterNode)
      "PodNetwork",  // the cluster network as the node agent's pod network
      "SandboxNetwork",  // namespaces, cluster DNS, seeded services
      "KubeClient",  // the node agent's client
      "PortForwardCodecs",  // the API server's WebSocket tunnel and SPDY proxy
      "SandboxHTTP",  // Date header, percent-decoding
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
      .product(name: "NIOPosix", package: "swift-nio"),
      .product(name: "NIOHTTP1", package: "swift-nio"),
      .product(name: "NIOSSL", package: "swift-nio-ssl"),
      .product(name: "NIOHTTP2", package: "swift-nio-http2"),
      .product(name: "X509", package: "swift-certificates"),
      .product(name: "Crypto", package: "swift-crypto"),
      .product(name: "SwiftASN1", package: "swift-asn1"),
    ],
    path: "Sources/Sandbox/KubeSandbox"),
  .executableTarget(
    name: "kftray-sandbox",
    dependencies: ["KubeSandbox", .product(name: "ArgumentParser", package: "swift-argument-parser")],
    path: "Sources/Sandbox/kftray-sandbox"),
  // Load probes, /proc sampling and the report of `make bench`; plain sockets, no NIO, so the probes
  // cost little next to what they measure.
  .target(name: "Benchmarks", dependencies: ["ChildProcess"], path: "Sources/Sandbox/Benchmarks"),
  .executableTarget(
    name: "kftray-bench",
    dependencies: [
      "Benchmarks", "PortForward", "KFTray", "KubeClient",
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ],
    path: "Sources/Sandbox/kftray-bench"),
]

// MARK: - Fuzzing (Sources/Fuzz)

// libFuzzer targets for every parser that reads bytes from outside, and their invariants. Built with
// the sanitizers only by scripts/fuzz.sh (`make fuzz`); the plain build gives `kftray-fuzz replay` and
// the seed test. Not part of the product: nothing depends on it.
let fuzz: [Target] = [
  // The declaration of libFuzzer's LLVMFuzzerRunDriver (defined by the runtime -sanitize=fuzzer links).
  .systemLibrary(name: "CLibFuzzer", path: "Sources/Fuzz/CLibFuzzer"),
  .target(
    name: "FuzzTargets", dependencies: ["PortForwardCodecs", "KubeClient", "KFTray", "KFTrayRelay"],
    path: "Sources/Fuzz/FuzzTargets"),
  .executableTarget(name: "kftray-fuzz", dependencies: ["FuzzTargets", "CLibFuzzer"], path: "Sources/Fuzz/kftray-fuzz"),
]

// MARK: - Tests

let tests: [Target] = [
  // Shared by the test targets: a sandbox cluster per test process, running the built binaries, loopback sockets.
  .target(name: "TestSupport", dependencies: ["ChildProcess", "KubeClient", "PortForwardCodecs"], path: "Tests/TestSupport"),
  .testTarget(name: "KubeClientTests", dependencies: ["KubeClient", "TestSupport"]),
  .testTarget(name: "PortForwardCodecsTests", dependencies: ["PortForwardCodecs", "TestSupport"]),
  // Replays Tests/FuzzSeeds (seeds and regressions, read by path) through the fuzz targets' invariants.
  .testTarget(name: "FuzzSeedTests", dependencies: ["FuzzTargets"]),
  // The engine against the sandbox's API server and kubelet.
  .testTarget(name: "PortForwardTests", dependencies: ["PortForward", "PortForwardCodecs", "KubeClient", "TestSupport"]),
  // Golden/ holds the relay pod manifests the tests compare against (read by path, not as resources).
  .testTarget(name: "KFTrayTests", dependencies: ["KFTray", "KubeClient"], exclude: ["Golden"]),
  .testTarget(name: "KFTrayRelayTests", dependencies: ["KFTrayRelay", "TestSupport"]),
  // The built binaries as a user runs them, through real kubectl, against a sandbox.
  .testTarget(
    name: "EndToEndTests", dependencies: ["TestSupport", .product(name: "Yams", package: "Yams")]),
  .testTarget(
    name: "KubeSandboxTests",
    dependencies: [
      "KubeSandbox", "KubeletAPI", "PortForwardCodecs", "TestSupport", "KubeClient",
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "NIOEmbedded", package: "swift-nio"),  // GoTLSWriter's writes and flushes, one by one
      .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
      .product(name: "NIOPosix", package: "swift-nio"),
      .product(name: "NIOSSL", package: "swift-nio-ssl"),
    ],
    path: "Tests/Sandbox/KubeSandboxTests"),
  // Real namespaces, real dnsmasq, busybox and iperf3; needs root.
  .testTarget(
    name: "SandboxNetworkTests", dependencies: ["SandboxNetwork", "PodNetwork", "SeededServices", "TestSupport"],
    path: "Tests/Sandbox/SandboxNetworkTests"),
  .testTarget(
    name: "NodeAgentTests", dependencies: ["NodeAgent", "KubeClient", "TestSupport"], path: "Tests/Sandbox/NodeAgentTests"),
  // The benchmark's own probes and report, on loopback.
  .testTarget(name: "BenchmarksTests", dependencies: ["Benchmarks"], path: "Tests/Sandbox/BenchmarksTests"),
]

let package = Package(
  name: "kubectl-kftray",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "kubectl-kftray", targets: ["kubectl-kftray"]),
    .executable(name: "kftray-relay", targets: ["kftray-relay"]),
    .executable(name: "kftray-sandbox", targets: ["kftray-sandbox"]),
    .executable(name: "kftray-testserver", targets: ["kftray-testserver"]),
    .executable(name: "kftray-node", targets: ["kftray-node"]),
    .executable(name: "kftray-bench", targets: ["kftray-bench"]),
    .library(name: "KubeClient", targets: ["KubeClient"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
    .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
    .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
  ],
  targets: product + sandbox + fuzz + tests
)
