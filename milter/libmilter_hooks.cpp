// libmilter_hooks.cpp - see libmilter_hooks.h.
#include "milter/libmilter_hooks.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace outpost::milter {
namespace {

std::atomic<SignalWaiter*> g_waiter{nullptr};

}  // namespace

int set_nodelay_on_listeners() {
    int count = 0;
    DIR* d = ::opendir("/proc/self/fd");
    if (!d) return 0;
    while (dirent* e = ::readdir(d)) {
        char* end = nullptr;
        long fd = std::strtol(e->d_name, &end, 10);
        if (*end || fd < 0 || fd == ::dirfd(d)) continue;
        int listening = 0, type = 0;
        socklen_t len = sizeof listening;
        if (::getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
            !listening)
            continue;
        len = sizeof type;
        if (::getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
            continue;
        sockaddr_storage ss{};
        len = sizeof ss;
        if (::getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&ss), &len) != 0) continue;
        if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) continue;
        int one = 1;
        if (::setsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) ++count;
    }
    ::closedir(d);
    return count;
}

void wake_listener(const ListenSpec& spec) {
    int fd = -1;
    if (spec.kind == ListenSpec::Kind::unix_socket) {
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        if (spec.path.size() >= sizeof a.sun_path) return;
        std::memcpy(a.sun_path, spec.path.c_str(), spec.path.size() + 1);
        fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) (void)::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
        const bool v6 = spec.kind == ListenSpec::Kind::inet6;
        sockaddr_storage ss{};
        socklen_t len = 0;
        if (v6) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(static_cast<uint16_t>(spec.port));
            if (spec.address.empty() || ::inet_pton(AF_INET6, spec.address.c_str(), &a->sin6_addr) != 1)
                a->sin6_addr = in6addr_loopback;
            len = sizeof *a;
        } else {
            auto* a = reinterpret_cast<sockaddr_in*>(&ss);
            a->sin_family = AF_INET;
            a->sin_port = htons(static_cast<uint16_t>(spec.port));
            if (spec.address.empty() || ::inet_pton(AF_INET, spec.address.c_str(), &a->sin_addr) != 1 ||
                a->sin_addr.s_addr == htonl(INADDR_ANY))
                a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            len = sizeof *a;
        }
        fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) (void)::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
    }
    if (fd >= 0) ::close(fd);
}

int wait_signal(const sigset_t* set, int* sig) noexcept {
    for (;;) {
        const int s = ::sigwaitinfo(set, nullptr);
        if (s >= 0) {
            *sig = s;
            return 0;
        }
        if (errno != EINTR) return errno;
    }
}

void route_sigwait(SignalWaiter* w) { g_waiter.store(w); }

}  // namespace outpost::milter

// The definition of sigwait(3) for the whole program (see the header). glibc
// declares it without an exception specification, so this one cannot carry
// one; nothing in it throws (SignalWaiter::wait is noexcept).
extern "C" int sigwait(const sigset_t* set, int* sig) {
    if (auto* w = outpost::milter::g_waiter.load()) return w->wait(set, sig);
    return outpost::milter::wait_signal(set, sig);
}
