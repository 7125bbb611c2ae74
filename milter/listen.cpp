// listen.cpp - milter socket helpers.
#include "milter/listen.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "base/error.h"

namespace outpost::milter {
namespace {

[[noreturn]] void bad(const std::string& what) {
    throw Error(Exit::config, "", "milter.listen: " + what);
}

}  // namespace

ListenSpec parse_listen(const std::string& text) {
    ListenSpec s;
    const auto colon = text.find(':');
    if (colon == std::string::npos) bad("'" + text + "' must be unix:/path/to/socket or inet:PORT@ADDRESS");
    const std::string scheme = text.substr(0, colon), rest = text.substr(colon + 1);
    if (scheme == "unix" || scheme == "local") {
        if (rest.empty() || rest.front() != '/') bad("'" + text + "': the socket path must be absolute");
        if (rest.size() > 100) bad("'" + text + "': the socket path is too long for a unix socket");
        s.kind = ListenSpec::Kind::unix_socket;
        s.path = rest;
        s.libmilter = "unix:" + rest;
        return s;
    }
    if (scheme == "inet" || scheme == "inet6") {
        const auto at = rest.find('@');
        const std::string port = rest.substr(0, at);
        char* end = nullptr;
        long p = std::strtol(port.c_str(), &end, 10);
        if (port.empty() || *end || p < 1 || p > 65535) bad("'" + text + "': the port must be 1 to 65535");
        s.kind = scheme == "inet" ? ListenSpec::Kind::inet : ListenSpec::Kind::inet6;
        s.port = static_cast<int>(p);
        s.address = at == std::string::npos ? "" : rest.substr(at + 1);
        s.libmilter = text;
        return s;
    }
    bad("'" + text + "': unknown socket type '" + scheme + "' (use unix: or inet:)");
}

mode_t parse_socket_mode(const std::string& text) {
    char* end = nullptr;
    long m = std::strtol(text.c_str(), &end, 8);
    if (text.empty() || *end || m < 0 || m > 0777)
        throw Error(Exit::config, "", "milter.socket_mode: '" + text + "' is not an octal mode such as 0660");
    return static_cast<mode_t>(m);
}

void prepare_socket_dir(const ListenSpec& spec) {
    if (spec.kind != ListenSpec::Kind::unix_socket) return;
    // libmilter removes a socket file left behind; make sure it is not the
    // socket of a milter still running.
    struct stat st {};
    if (::lstat(spec.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::memcpy(a.sun_path, spec.path.c_str(), std::min(spec.path.size() + 1, sizeof a.sun_path - 1));
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const bool live = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        if (fd >= 0) ::close(fd);
        if (live)
            throw Error(Exit::environment, "SOCKET_IN_USE",
                        spec.path + " is the socket of a running milter; stop it first");
    }
    const std::filesystem::path dir = std::filesystem::path(spec.path).parent_path();
    std::error_code ec;
    if (std::filesystem::exists(dir, ec)) return;
    std::filesystem::create_directories(dir, ec);
    if (ec)
        throw Error(Exit::environment, "SOCKET_ERROR",
                    "cannot create " + dir.string() + " for the milter socket: " + ec.message());
    ::chmod(dir.c_str(), 0755);
}

void secure_socket(const ListenSpec& spec, mode_t mode, const std::string& owner, const std::string& group) {
    if (spec.kind != ListenSpec::Kind::unix_socket) return;
    if (!owner.empty() && ::geteuid() == 0) {
        const struct passwd* pw = ::getpwnam(owner.c_str());
        if (pw && ::chown(spec.path.c_str(), pw->pw_uid, static_cast<gid_t>(-1)) != 0)
            throw Error(Exit::environment, "SOCKET_ERROR",
                        "cannot give " + spec.path + " to " + owner + ": " + std::strerror(errno));
    }
    if (!group.empty()) {
        struct group* g = ::getgrnam(group.c_str());
        if (!g)
            throw Error(Exit::config, "",
                        "milter.socket_group: no group '" + group +
                            "' on this system; set it to the MTA's "
                            "group (postfix, smmsp) or \"\"");
        if (::chown(spec.path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0)
            throw Error(Exit::environment, "SOCKET_ERROR",
                        "cannot give " + spec.path + " to group " + group + ": " + std::strerror(errno));
    }
    if (::chmod(spec.path.c_str(), mode) != 0)
        throw Error(Exit::environment, "SOCKET_ERROR",
                    "cannot chmod " + spec.path + ": " + std::strerror(errno));
}

}  // namespace outpost::milter
