// swift-tools-version:6.1
import PackageDescription

// The plugin binary stays lean: Foundation, ArgumentParser, Yams and the system libraries.
// The sandbox (tests, benchmarks, demo) may use SwiftNIO and friends; the plugin never links it.
let package = Package(
  name: "kubectl-kftray",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "kubectl-kftray", targets: ["kubectl-kftray"]),
    .executable(name: "kftray-sandbox", targets: ["kftray-sandbox"]),
    .executable(name: "kftray-relay", targets: ["kftray-relay"]),
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
  targets: [
    .systemLibrary(
      name: "CCurl", pkgConfig: "libcurl",
      providers: [.apt(["libcurl4-openssl-dev"])]),
    .target(
      name: "KubeClient",
      dependencies: ["CCurl", .product(name: "Yams", package: "Yams")]),
    // System zlib for the SPDY/3 header-block compression (deflate/inflate with a preset dictionary).
    .systemLibrary(
      name: "CZlib", pkgConfig: "zlib",
      providers: [.apt(["zlib1g-dev"])]),
    // Wire codecs of the port-forward engine (SPDY/3 framing, RFC 6455 client framing): pure, no I/O.
    // swift-crypto is used ONLY for Insecure.SHA1 in the Sec-WebSocket-Accept check, because
    // Foundation on Linux has no digest API.
    .target(
      name: "PortForward",
      dependencies: ["CZlib", "KubeClient", .product(name: "Crypto", package: "swift-crypto")]),
    .executableTarget(
      name: "kubectl-kftray",
      dependencies: ["KubeClient", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    // setns(2) for the kubelet's pod dialer (Glibc hides it behind _GNU_SOURCE).
    .target(name: "CNetns"),
    // The kubelet API (TLS, client certificates): SPDY/3.1 port-forward into pod network namespaces and
    // container logs from CRI log files. SwiftASN1 only to read the client certificate's subject
    // (NIOSSL exposes no subject; swift-certificates would pull in much more for two fields).
    .target(
      name: "Kubelet",
      dependencies: [
        "PortForward",  // SPDY/3 codec
        "CNetns",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "SwiftASN1", package: "swift-asn1"),
      ]),
    .target(
      name: "KubeSandbox",
      dependencies: [
        "ChildProcess",  // `up` starts the server as a daemon
        "Kubelet",  // the node's kubelet API
        "NodeAgent",  // runs the pods (ClusterNode)
        "SandboxNetwork",  // namespaces, cluster DNS, seeded services
        "KubeClient",  // the node agent's client
        "PortForward",  // SPDY/WebSocket codecs for the kubelet's port-forward and the API server's tunnel
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "NIOHTTP2", package: "swift-nio-http2"),
        .product(name: "X509", package: "swift-certificates"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "SwiftASN1", package: "swift-asn1"),
        .product(name: "Yams", package: "Yams"),
      ]),
    .executableTarget(
      name: "kftray-sandbox",
      dependencies: ["KubeSandbox", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    // The relay inside the relay pod (kftray-server's env and wire contract). POSIX sockets and
    // threads only: no NIO, no Foundation, so the static binary in the image stays small.
    .target(name: "KFTrayRelay"),
    .executableTarget(name: "kftray-relay", dependencies: ["KFTrayRelay"], exclude: ["Containerfile"]),
    // The sandbox cluster network: namespaces, bridge, cluster DNS (dnsmasq) and seeded services,
    // built with iproute2. Foundation and Glibc only.
    // posix_spawn with a clean signal state, for everything that starts processes.
    .target(name: "ChildProcess"),
    .target(name: "SandboxNetwork", dependencies: ["ChildProcess"]),
    // The seeded services' server (TCP echo, HTTP hello, UDP echo): POSIX sockets and threads.
    .target(name: "TestServer"),
    .executableTarget(
      name: "kftray-testserver",
      dependencies: ["TestServer", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    // The node agent: a kubelet for local processes, talking to its API server only through KubeClient.
    // It serves its pods through the kubelet API (`Kubelet`), as a kubelet does.
    .target(name: "NodeAgent", dependencies: ["ChildProcess", "KubeClient", "Kubelet"]),
    .executableTarget(
      name: "kftray-node",
      dependencies: [
        "NodeAgent", "KubeClient", "Kubelet", .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    // Load probes, /proc sampling and the report of `make bench`; plain sockets, no NIO, so the
    // probes cost little next to what they measure.
    .target(name: "Benchmarks"),
    .executableTarget(
      name: "kftray-bench",
      dependencies: [
        "Benchmarks", "PortForward", "KubeClient", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    // Shared by the test targets: a sandbox cluster per test process, and running the built binaries.
    .target(name: "TestSupport", dependencies: ["ChildProcess", "KubeClient"], path: "Tests/TestSupport"),
    .testTarget(name: "KubeClientTests", dependencies: ["KubeClient", "TestSupport"]),
    .testTarget(
      name: "KubeSandboxTests",
      dependencies: [
        "KubeSandbox",
        "Kubelet",
        "PortForward",  // raw SPDY client for the kubelet's port-forward tests
        "TestSupport",  // spawning helper programs
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
      ]),
    .testTarget(
      name: "EndToEndTests", dependencies: ["KubeClient", "TestSupport", .product(name: "Yams", package: "Yams")]),
    .testTarget(name: "PortForwardTests", dependencies: ["PortForward"]),
    // The client session and local forwarder against the sandbox's API server and kubelet.
    .testTarget(name: "PortForwardSessionTests", dependencies: ["PortForward", "KubeClient", "TestSupport"]),
    .testTarget(name: "KFTrayRelayTests", dependencies: ["KFTrayRelay"]),
    // The benchmark's own probes and report, on loopback.
    .testTarget(name: "BenchmarksTests", dependencies: ["Benchmarks"]),
    // Real namespaces, real dnsmasq, busybox and iperf3; needs root.
    .testTarget(name: "SandboxNetworkTests", dependencies: ["SandboxNetwork", "TestServer", "TestSupport"]),
    .testTarget(name: "NodeAgentTests", dependencies: ["NodeAgent", "KubeClient", "TestSupport"]),
  ]
)
