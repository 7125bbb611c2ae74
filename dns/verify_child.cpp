// verify_child.cpp - fork, confine, check, report over a pipe (see the header).
#include "dns/verify_child.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "store/privileges.h"

namespace outpost {
namespace {

constexpr int kResultFd = 3;

[[noreturn]] void fail(const std::string& why) {
    throw Error(Exit::environment, "VERIFY_CHILD_FAILED",
                "the DNS check process failed: " + why + "; nothing was changed, run the command again");
}

// Becomes nobody when root. Returns whether it did.
bool drop_to_nobody() {
    if (::geteuid() != 0) return false;
    uid_t uid = 65534;
    gid_t gid = 65534;
    if (const passwd* pw = ::getpwnam("nobody")) {
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    become_user("nobody", uid, gid);
    return true;
}

// Landlock: no file system access but reading `readable`. Returns whether
// the kernel applied it (false where Landlock is absent or disabled).
bool confine_file_system(const std::vector<std::string>& readable) {
    const __u64 read = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_EXECUTE;
    landlock_ruleset_attr attr{};
    attr.handled_access_fs = read | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                             LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                             LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                             LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                             LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
    const int ruleset = static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0));
    if (ruleset < 0) return false;  // ENOSYS, EOPNOTSUPP: the kernel has no Landlock
    for (const auto& path : readable) {
        const int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat st {};
        landlock_path_beneath_attr rule{};
        rule.parent_fd = fd;
        // A file's rule may only carry file rights.
        rule.allowed_access = (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
                                  ? read
                                  : (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_EXECUTE);
        ::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
        ::close(fd);
    }
    const bool ok = ::syscall(SYS_landlock_restrict_self, ruleset, 0) == 0;
    ::close(ruleset);
    if (!ok) throw std::runtime_error(std::string("landlock_restrict_self: ") + std::strerror(errno));
    return true;
}

void write_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
        const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        off += static_cast<size_t>(n);
    }
}

// The child: never returns.
[[noreturn]] void child_main(int result_fd, const Config& cfg, const std::vector<Domain>& domains,
                             const std::function<bool()>& probe) {
    int status = 0;
    try {
        if (result_fd != kResultFd) {
            if (::dup2(result_fd, kResultFd) < 0) throw std::runtime_error("dup2 failed");
        }
        // Nothing of the parent stays open but stdin/stdout/stderr and the
        // result pipe: not the store, not a key file.
        if (::close_range(kResultFd + 1, UINT_MAX, 0) != 0)
            for (int fd = kResultFd + 1; fd < 65536; ++fd) ::close(fd);
        Verifier verifier(cfg);  // libunbound set up before privileges go
        const bool nobody = drop_to_nobody();
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw std::runtime_error("no_new_privs failed");
        std::vector<std::string> readable = {"/etc", "/usr", "/lib", "/lib64"};
        if (!cfg.dns.trust_anchor.empty()) readable.push_back(cfg.dns.trust_anchor);
        const bool landlock = confine_file_system(readable);
        const std::string confinement = nobody && landlock ? "nobody+landlock"
                                        : nobody           ? "nobody"
                                        : landlock         ? "landlock"
                                                           : "descriptors only";
        if (probe && !probe()) throw std::runtime_error("the confinement probe failed");
        write_all(kResultFd, results_to_json(verifier.check(domains), confinement));
    } catch (const std::exception& e) {
        write_all(kResultFd, nlohmann::json({{"error", e.what()}}).dump());
        status = 1;
    } catch (...) {
        status = 2;
    }
    ::_exit(status);  // no destructors, no atexit: the parent's state is not ours
}

}  // namespace

std::string results_to_json(const std::vector<DomainVerification>& results, const std::string& confinement) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : results)
        out.push_back({{"domain", v.domain},
                       {"checks", v.checks},
                       {"spf_known", v.spf_known},
                       {"existing_spf", v.existing_spf}});
    return nlohmann::json({{"confinement", confinement}, {"results", out}}).dump();
}

ChildReport results_from_json(const std::string& text) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) fail("its answer is not JSON");
    if (j.contains("error")) fail(j["error"].is_string() ? j["error"].get<std::string>() : "unknown error");
    ChildReport r;
    try {
        r.confinement = j.at("confinement").get<std::string>();
        for (const auto& e : j.at("results")) {
            DomainVerification v;
            v.domain = e.at("domain").get<std::string>();
            v.checks = e.at("checks").get<std::vector<CheckResult>>();
            v.spf_known = e.at("spf_known").get<bool>();
            v.existing_spf = e.at("existing_spf").get<std::string>();
            r.results.push_back(std::move(v));
        }
    } catch (const nlohmann::json::exception& e) {
        fail(std::string("its answer is malformed: ") + e.what());
    }
    return r;
}

ChildReport check_in_child(const Config& cfg, const std::vector<Domain>& domains,
                           const std::function<bool()>& probe) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) fail(std::string("pipe: ") + std::strerror(errno));
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        fail(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        ::close(fds[0]);
        child_main(fds[1], cfg, domains, probe);
    }
    ::close(fds[1]);
    // Read everything, bounded in size and time; then reap the child.
    std::string text;
    const auto deadline =
        std::chrono::steady_clock::now() + cfg.dns.deadline + std::chrono::seconds(10);
    std::string problem;
    char buf[65536];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now())
                              .count();
        if (left <= 0) {
            problem = "it did not answer within dns.deadline + 10 s";
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int pr = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
        if (pr < 0 && errno == EINTR) continue;
        if (pr == 0) continue;
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, static_cast<size_t>(n));
        if (text.size() > kMaxResultBytes) {
            problem = "its answer is larger than " + std::to_string(kMaxResultBytes >> 20) + " MiB";
            break;
        }
    }
    ::close(fds[0]);
    if (!problem.empty()) ::kill(pid, SIGKILL);  // our own child, by PID
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!problem.empty()) fail(problem);
    if (WIFSIGNALED(status)) fail("it was killed by signal " + std::to_string(WTERMSIG(status)));
    ChildReport r = results_from_json(text);  // an error it reported, named
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("it exited with status " + std::to_string(WEXITSTATUS(status)));
    std::set<std::string> asked;
    for (const auto& d : domains) asked.insert(d.name);
    for (const auto& v : r.results)
        if (!asked.count(v.domain)) fail("it answered for " + v.domain + ", which was not asked about");
    return r;
}

}  // namespace outpost
