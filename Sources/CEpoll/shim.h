#ifndef KFTRAY_CEPOLL_SHIM_H
#define KFTRAY_CEPOLL_SHIM_H

// Swift's Glibc module does not carry <sys/epoll.h>. Empty elsewhere: callers use poll(2) there.
#ifdef __linux__
#include <sys/epoll.h>
#endif

#endif
