// owner.cpp - chown to milter.user when outpostctl runs as root.
#include "store/owner.h"

#include <pwd.h>
#include <unistd.h>

namespace outpost {

ServiceOwner ServiceOwner::of(const Config& cfg) {
    ServiceOwner o;
    if (::geteuid() != 0 || cfg.milter.user.empty() || cfg.milter.user == "root") return o;
    if (const struct passwd* pw = ::getpwnam(cfg.milter.user.c_str())) {
        o.set_ = true;
        o.uid_ = pw->pw_uid;
        o.gid_ = pw->pw_gid;
    }
    return o;
}

void ServiceOwner::give(const std::string& path) const {
    if (set_) (void)::chown(path.c_str(), uid_, gid_);
}

}  // namespace outpost
