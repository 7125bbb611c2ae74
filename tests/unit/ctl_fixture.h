// ctl_fixture.h - the outpostctl binary under test: a private config and
// store, a call operator that runs `outpostctl --config FILE ARGS`.
#pragma once

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "testutil.h"

namespace outpost::test {

struct Ctl {
    TempDir dir;
    std::string config;
    explicit Ctl(const std::string& extra = "") { config = write_config(dir.path, extra); }

    Run operator()(std::vector<std::string> args) const {
        args.insert(args.begin(), {OUTPOSTCTL, "--config", config});
        return run(args);
    }
    nlohmann::json json_of(std::vector<std::string> args) const {
        auto r = (*this)(std::move(args));
        BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
        return nlohmann::json::parse(r.out);
    }
    // Everything an administrator could see of the state, to show a refused
    // command changed nothing.
    std::string snapshot() const {
        std::string s;
        for (auto args : {std::vector<std::string>{"domain", "list", "--removed", "--json"},
                          std::vector<std::string>{"key", "list", "--json"},
                          std::vector<std::string>{"tenant", "list", "--json"}}) {
            auto r = (*this)(args);
            s += r.out;
        }
        std::error_code ec;
        for (auto& e : std::filesystem::directory_iterator(dir.path + "/keys", ec))
            s += e.path().string() + "\n";
        return s;
    }
};

}  // namespace outpost::test
