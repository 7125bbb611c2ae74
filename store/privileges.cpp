// privileges.cpp - the one switch from root to another user.
#include "store/privileges.h"

#include <grp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace outpost {

void become_user(const std::string& name, uid_t uid, gid_t gid) {
    if (::setgid(gid) != 0 || ::initgroups(name.c_str(), gid) != 0 || ::setuid(uid) != 0)
        throw Error(Exit::environment, "PRIVILEGES",
                    "cannot drop privileges to " + name + ": " + std::strerror(errno) +
                        "; start as root, or as " + name + " itself");
    if (::setuid(0) == 0)
        throw Error(Exit::environment, "PRIVILEGES",
                    "could regain root after dropping to " + name + "; the system lets a process return "
                    "to root: check its capabilities (setcap, ambient capabilities) before running outpost");
}

}  // namespace outpost
