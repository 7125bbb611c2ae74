// fuzz_config.cpp - the YAML configuration loader (config/config.h
// parse_config).
// Input: the text of an outpost.yaml (at most 64 KB).
// Invariants: never crashes; a refusal is a ConfigError (outpost::Error,
// Exit::config) listing at least one problem, each placed in the file
// ("fuzz.yaml:LINE:COL: ..." or "fuzz.yaml: ..."); nothing else escapes
// (the loader reports YAML trouble as problems, not as yaml-cpp's
// exceptions). An accepted configuration names its origin and passes
// validate_config with no problem.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"
#include "base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 65536) return 0;
    const std::string text(reinterpret_cast<const char*>(data), size);
    const std::string origin = "fuzz.yaml";
    try {
        const outpost::Config c = outpost::parse_config(text, origin);
        if (c.source != origin) std::abort();
        if (!outpost::validate_config(c).empty()) std::abort();
    } catch (const outpost::ConfigError& e) {
        if (e.status() != outpost::Exit::config || e.problems().empty()) std::abort();
        for (const auto& p : e.problems())
            if (p.rfind(origin + ":", 0) != 0) std::abort();
    } catch (const outpost::Error& e) {
        if (e.status() != outpost::Exit::config) std::abort();
    }
    return 0;
}
