// error.h - the one error type outpost's libraries throw at their callers.
//
// Every refusal carries a stable reason token (DOMAIN_NOT_FOUND, ...) first,
// a sentence naming what was wrong and how to fix it, and the exit status a
// command line tool should end with. Callers print what() and exit(status).
#pragma once

#include <ostream>
#include <stdexcept>
#include <string>

namespace outpost {

// Exit statuses of outpostctl (documented in its manual page).
enum class Exit : int {
    ok = 0,
    usage = 1,        // bad arguments
    not_found = 2,    // the named domain, key, tenant, selector does not exist
    conflict = 3,     // it exists already, or the state forbids the change
    invalid = 4,      // a value given is invalid (domain name, address, CIDR)
    config = 5,       // the configuration file is wrong
    environment = 6,  // store, key files, disk, permissions
    unverified = 7,   // domain verify: checked, but not verified
};

inline std::ostream& operator<<(std::ostream& o, Exit e) {
    return o << static_cast<int>(e);
}

class Error : public std::runtime_error {
public:
    Error(Exit status, std::string token, const std::string& message)
        : std::runtime_error(token.empty() ? message : token + ": " + message),
          status_(status),
          token_(std::move(token)) {}
    Exit status() const noexcept { return status_; }
    const std::string& token() const noexcept { return token_; }

private:
    Exit status_;
    std::string token_;
};

}  // namespace outpost
