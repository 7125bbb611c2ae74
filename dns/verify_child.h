// verify_child.h - domain verification's DNS look-ups and SPF evaluation in
// a child process that cannot read the DKIM keys.
//
// `outpostctl domain verify` parses answers from anyone's DNS servers:
// libunbound's packet parser, outpost's answer reader and libspf2 (which has
// had memory-safety faults, e.g. CVE-2021-20314) all run on them. They run
// in a child of outpostctl (fork), which before it reads a single answer
//   - keeps only its result pipe and stderr open (close_range: no store,
//     no key file, no other descriptor of the parent),
//   - when started as root, becomes nobody (setgroups, setgid, setuid),
//   - sets no_new_privs and, where the kernel offers Landlock, gives up
//     every file system access but reading /etc, /usr, /lib, /lib64 and the
//     trust anchor (so not even a process of the keys' owner can read them),
// then runs Verifier::check and writes its results as JSON on the pipe.
// The parent reads at most kMaxResultBytes within dns.deadline + 10 s (then
// it kills the child, by PID), checks that the results name only the
// domains it asked about, and applies them to the store itself: the child
// never sees the store or the keys.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/config.h"
#include "dns/verify.h"
#include "store/model.h"

namespace outpost {

inline constexpr size_t kMaxResultBytes = size_t(64) << 20;

// How the last child was confined: "nobody+landlock", "nobody",
// "landlock" or "descriptors only" (not root, no Landlock).
struct ChildReport {
    std::vector<DomainVerification> results;
    std::string confinement;
};

// Runs Verifier(cfg).check(domains) in a confined child (above). `probe`,
// for tests, runs in the child once it is confined and before any look-up;
// if it returns false the child fails. Error(environment,
// VERIFY_CHILD_FAILED) when the child fails, dies, overruns its time or
// size, or answers for a domain it was not asked about.
ChildReport check_in_child(const Config& cfg, const std::vector<Domain>& domains,
                           const std::function<bool()>& probe = {});

// The JSON form of the results (what the child writes), and back.
std::string results_to_json(const std::vector<DomainVerification>& results, const std::string& confinement);
ChildReport results_from_json(const std::string& text);

}  // namespace outpost
