// testutil.h - helpers shared by the unit tests: temp dirs, configs, running
// a binary and capturing what it printed.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"

namespace outpost::test {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/outpost-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

inline void write_file(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

inline std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A config for a store under `dir`, with extra YAML appended.
inline std::string write_config(const std::string& dir, const std::string& extra = "") {
    const std::string path = dir + "/outpost.yaml";
    write_file(path, "store:\n  path: " + dir + "/store\n  keys: " + dir + "/keys\n" +
                         "dkim:\n  rsa_bits: 1024\n" + extra);
    return path;
}

inline Config test_config(const std::string& dir, const std::string& extra = "") {
    return load_config_file(write_config(dir, extra));
}

struct Run {
    int status = -1;
    std::string out, err;
};

// Runs argv (no shell), capturing stdout and stderr.
inline Run run(const std::vector<std::string>& argv) {
    char out_tmpl[] = "/tmp/outpost-out-XXXXXX";
    char err_tmpl[] = "/tmp/outpost-err-XXXXXX";
    int out_fd = ::mkstemp(out_tmpl), err_fd = ::mkstemp(err_tmpl);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out_fd, 1);
        ::dup2(err_fd, 2);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    ::close(out_fd);
    ::close(err_fd);
    Run r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = read_file(out_tmpl);
    r.err = read_file(err_tmpl);
    ::unlink(out_tmpl);
    ::unlink(err_tmpl);
    return r;
}

}  // namespace outpost::test
