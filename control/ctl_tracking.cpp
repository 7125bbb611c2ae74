// ctl_tracking.cpp - `outpostctl tracking ...` (token secrets).
//
//   outpostctl tracking init     create tracking.secret_file (mode 0640) with
//                                one secret; refuses to overwrite a file
//   outpostctl tracking rotate   append a new secret; new links are sealed
//                                with it, links already sent stay valid
//   outpostctl tracking retire KID  remove an old secret: links sealed with
//                                it answer 404 from then on
//   outpostctl tracking show     list key ids (never the secrets)
//
// outpost-milter and outpost-trackd read the file at start and on SIGHUP:
// reload both (`systemctl reload outpost-milter outpost-trackd`) after a
// rotation or a retirement.
#include <pwd.h>
#include <unistd.h>

#include <iostream>

#include "control/ctl.h"
#include "store/tokens.h"

namespace outpost::ctl {
namespace {

// Run as root, `init` gives the file to the group of milter.user (mode
// 0640), so outpost-milter can read it after dropping privileges; trackd's
// user reads it as a member of that group.
std::string share_with_milter(const Config& cfg, const std::string& path) {
    if (::geteuid() != 0 || cfg.milter.user.empty()) return "";
    const struct passwd* pw = ::getpwnam(cfg.milter.user.c_str());
    if (!pw) return "; note: user " + cfg.milter.user + " does not exist yet, so the file stays root's";
    if (::chown(path.c_str(), 0, pw->pw_gid) != 0)
        return "; warning: could not give it to the group of " + cfg.milter.user;
    return ", group of " + cfg.milter.user;
}

}  // namespace

void register_tracking_commands(CLI::App& app, Context& ctx) {
    auto* tr = app.add_subcommand("tracking", "secrets that sign tracking and unsubscribe links");
    tr->require_subcommand(1);
    tr->add_subcommand("init", "create tracking.secret_file with a new secret (never overwrites)")
        ->callback([&ctx] {
            const std::string& path = ctx.config().tracking.secret_file;
            const std::string kid = tracking_secret_init(path);
            const std::string shared = share_with_milter(ctx.config(), path);
            std::cout << "created " << path << " with key " << kid << " (mode 0640" << shared << ")\n";
        });
    tr->add_subcommand("rotate", "append a new secret; old links keep working")->callback([&ctx] {
        const std::string& path = ctx.config().tracking.secret_file;
        const std::string kid = tracking_secret_rotate(path);
        std::cout << "added key " << kid << " to " << path
                  << "; reload outpost-milter and outpost-trackd (SIGHUP) to use it\n";
    });
    auto* re = tr->add_subcommand("retire", "remove an old secret; links sealed with it stop working");
    static std::string kid;
    re->add_option("kid", kid, "the key id (see `outpostctl tracking show`)")->required();
    re->callback([&ctx] {
        const std::string& path = ctx.config().tracking.secret_file;
        tracking_secret_retire(path, kid);
        std::cout << "retired key " << kid << " from " << path
                  << "; reload outpost-milter and outpost-trackd (SIGHUP)\n";
    });
    tr->add_subcommand("show", "list the key ids in tracking.secret_file")->callback([&ctx] {
        const std::string& path = ctx.config().tracking.secret_file;
        TokenKeys keys = TokenKeys::load(path);
        std::cout << path << ": " << keys.size() << " secret(s), sealing with " << keys.current_kid() << '\n';
        for (const auto& k : keys.kids())
            std::cout << "  " << k << (k == keys.current_kid() ? "  (current)" : "  (accepted)") << '\n';
    });
}

}  // namespace outpost::ctl
