#ifndef CNETNS_H
#define CNETNS_H

/// Moves the calling thread into the network namespace open at `fd` (setns(2) with CLONE_NEWNET).
/// Returns 0, or -1 with errno set. Glibc declares setns only under _GNU_SOURCE, which Swift's Glibc
/// module does not define, hence this one-line C shim.
int cnetns_enter_network_namespace(int fd);

#endif
