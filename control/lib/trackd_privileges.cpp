// trackd_privileges.cpp - dropping root for tracking.user.
#include "control/lib/trackd_privileges.h"

#include <pwd.h>
#include <unistd.h>

#include "base/error.h"
#include "store/privileges.h"

namespace outpost::trackd {
namespace {

const struct passwd* lookup(const std::string& user) {
    if (user.empty())
        throw Error(Exit::config, "TRACKD_USER",
                    "tracking.user is empty and outpost-trackd was started as root, which it refuses "
                    "(it faces the internet); set tracking.user to an unprivileged user such as outpost-web");
    const struct passwd* pw = ::getpwnam(user.c_str());
    if (!pw)
        throw Error(Exit::config, "TRACKD_USER",
                    "tracking.user '" + user +
                        "' does not exist on this system; create it (adduser --system --group "
                        "--no-create-home " +
                        user + ") or set tracking.user to an existing unprivileged user");
    if (pw->pw_uid == 0)
        throw Error(
            Exit::config, "TRACKD_USER",
            "tracking.user '" + user + "' is root; set it to an unprivileged user such as outpost-web");
    return pw;
}

}  // namespace

void check_user(const std::string& user) {
    if (::geteuid() == 0) lookup(user);
}

std::string become_user(const std::string& user) {
    if (::geteuid() != 0)
        return "running as uid " + std::to_string(::getuid()) + " (not root: tracking.user unused)";
    const struct passwd* pw = lookup(user);
    const uid_t uid = pw->pw_uid;
    const gid_t gid = pw->pw_gid;
    const std::string name = pw->pw_name;
    outpost::become_user(name, uid, gid);
    return "running as " + user + " (uid " + std::to_string(uid) + ")";
}

}  // namespace outpost::trackd
