// trackd_privileges.h - becoming tracking.user after the socket, the
// secrets and the store are open.
#pragma once

#include <string>

namespace outpost::trackd {

// Started as root: setgid, initgroups, setuid to `user`, then checks that
// root cannot be regained. Refuses (Error(config, TRACKD_USER)) an empty or
// unknown user, or one that is root itself: outpost-trackd faces the
// internet and never serves as root. Started as another user: does nothing
// (the supervisor chose the user). Returns a note for the log.
std::string become_user(const std::string& user);

// The same checks without changing anything (--check-config).
void check_user(const std::string& user);

}  // namespace outpost::trackd
