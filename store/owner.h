// owner.h - files outpostctl creates as root belong to the milter's user.
//
// An administrator runs outpostctl as root; outpost-milter runs as
// milter.user and must read the store and the DKIM keys (and write the
// counters environment). Whatever outpostctl creates is therefore handed to
// that user, so a domain added while the milter runs is signed at once.
#pragma once

#include <sys/types.h>

#include <string>

#include "config/config.h"

namespace outpost {

class ServiceOwner {
public:
    // The owner for `cfg`: milter.user when running as root and the user
    // exists; otherwise nobody (give() does nothing).
    static ServiceOwner of(const Config& cfg);
    void give(const std::string& path) const;  // best effort: chown if set
    bool set() const { return set_; }

private:
    bool set_ = false;
    uid_t uid_ = 0;
    gid_t gid_ = 0;
};

}  // namespace outpost
