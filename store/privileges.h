// privileges.h - leaving root for another user, once what needs root is open
// (outpost-milter for milter.user, outpost-trackd for tracking.user, the
// verify child of outpostctl for nobody). The callers decide whom to become
// and what a missing user means; this is the one way of switching.
#pragma once

#include <sys/types.h>

#include <string>

namespace outpost {

// setgid(gid), initgroups(name, gid), setuid(uid); then root must not be
// regainable. Error(Exit::environment, "PRIVILEGES") naming `name` if any
// step fails. Call it as root.
void become_user(const std::string& name, uid_t uid, gid_t gid);

}  // namespace outpost
