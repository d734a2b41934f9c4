// kftray-relay: the program inside the relay pod. Reads the kftray-server environment
// (REMOTE_ADDRESS, REMOTE_PORT, LOCAL_PORT, PROXY_TYPE), relays until SIGTERM/SIGINT, then shuts
// down gracefully and exits 0. Bad configuration exits 1 (CrashLoopBackOff in a pod).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import KFTrayRelay

let log = RelayLog.standardError

var environment: [String: String] = [:]
// The kftray-server variables, and ALLOW for our dynamic mode.
for name in RelayConfiguration.Variable.all + [RelayConfiguration.Variable.allow] {
  if let value = getenv(name) { environment[name] = String(cString: value) }
}

let configuration: RelayConfiguration
do {
  configuration = try RelayConfiguration(environment: environment)
} catch {
  log.error("kftray-relay: invalid configuration, exiting")
  for problem in error.problems { log.error("  \(problem)") }
  exit(1)
}

// Writes to a vanished peer must fail with EPIPE, not kill the process.
signal(SIGPIPE, SIG_IGN)
// Block SIGTERM and SIGINT before any thread exists (threads inherit the mask), then take them
// synchronously with sigwait below: no async-signal-safety concerns, no global state.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGTERM)
sigaddset(&stopSignals, SIGINT)
pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

let server: RelayServer
do {
  server = try RelayServer.start(configuration: configuration, log: log)
} catch {
  log.error("kftray-relay: \(error)")
  exit(1)
}

var received: Int32 = 0
while sigwait(&stopSignals, &received) != 0 {}
log.info("received \(received == SIGTERM ? "SIGTERM" : "SIGINT"), shutting down (grace \(configuration.shutdownGrace))")
server.shutdown()
exit(0)
