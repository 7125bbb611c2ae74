// libmilter_hooks.h - what outpost needs from libmilter and libmilter does
// not offer, all in one place.
//
// libmilter (Debian 12: 8.17) owns the listening socket, the worker pool and
// a signal thread, and exposes none of them. outpost works around that three
// ways, each tested on the machine it runs on (tests/unit/test_listen,
// tests/unit/test_daemon, tests/integration/test_milter_daemon):
//
//   TCP_NODELAY   Over TCP, Nagle's algorithm meets the MTA's delayed ACK on
//                 every small milter reply (OpenDKIM measured ~90 ms per
//                 message here). Linux copies TCP_NODELAY from a listening
//                 socket to the sockets accept() returns, so after
//                 smfi_opensocket() outpost finds libmilter's listening TCP
//                 socket among its own descriptors (/proc/self/fd,
//                 SO_ACCEPTCONN) and sets it there.
//   sigwait       libmilter's signal thread waits for SIGHUP, SIGTERM and
//                 SIGINT in sigwait(3) and stops on any of them, dropping
//                 every session at once. This file defines sigwait for the
//                 whole program (libmilter calls it through the dynamic
//                 linker, and the executable's definition comes first): it
//                 hands the wait to the SignalWaiter routed here (the daemon,
//                 milter/daemon.h, which reloads and drains), or waits as
//                 libc would when none is.
//   wake-up       libmilter's listener notices a stop only when its poll()
//                 wakes (every few seconds); one connection wakes it at once.
#pragma once

#include <signal.h>

#include "milter/listen.h"

namespace outpost::milter {

// Sets TCP_NODELAY on every listening TCP socket of this process; returns
// how many it set.
int set_nodelay_on_listeners();

// Connects to the socket once and hangs up, so libmilter's listener sees a
// stop at once.
void wake_listener(const ListenSpec& spec);

// Whoever answers libmilter's sigwait(3). wait() has sigwait's contract:
// store the signal that ends the wait in *sig and return 0, or return an
// errno value. It must not throw (it runs under libmilter's C frames).
class SignalWaiter {
public:
    virtual int wait(const sigset_t* set, int* sig) noexcept = 0;

protected:
    ~SignalWaiter() = default;
};

// sigwait(3) as libc's: waits for a signal of `set` (sigwaitinfo, EINTR
// retried), stores it in *sig and returns 0, or returns errno.
int wait_signal(const sigset_t* set, int* sig) noexcept;

// Routes sigwait(3) to `w` (nullptr: back to libc's behaviour). The waiter
// must outlive the routing.
void route_sigwait(SignalWaiter* w);

}  // namespace outpost::milter
