#define _GNU_SOURCE
#include <sched.h>
#include "CNetns.h"

int cnetns_enter_network_namespace(int fd) {
  return setns(fd, CLONE_NEWNET);
}
