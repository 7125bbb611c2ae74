// runtime.cpp - configuration generations.
#include "milter/runtime.h"

#include <cctype>
#include <cstring>

#include "base/error.h"

namespace outpost::milter {
namespace {

[[noreturn]] void bad(const Config& cfg, const std::string& what) {
    throw Error(Exit::config, "", cfg.source + ": " + what);
}

bool host_chars(const std::string& s, const char* extra) {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (!(std::isalnum(c) || c == '.' || c == '-' || std::strchr(extra, c))) return false;
    return true;
}

// What the milter puts into messages must be well-formed whatever the
// configuration says: checked once here, not per message.
void validate(const Config& cfg) {
    if (!host_chars(cfg.tracking.host, ":"))
        bad(cfg, "tracking.host '" + cfg.tracking.host +
                     "' must be a host name (it goes into https://HOST/u/...)");
    if (!host_chars(cfg.relay.hostname, ""))
        bad(cfg, "relay.hostname '" + cfg.relay.hostname + "' must be a host name");
    const std::string& m = cfg.milter.unsubscribe_mailto;
    if (m.empty() || m.find_first_of("<>?%&\"\\ \t\r\n,;") != std::string::npos ||
        m.find('@') != m.rfind('@'))
        bad(cfg, "milter.unsubscribe_mailto '" + m + "' must be a local part or one address");
    const std::string& r = cfg.milter.sandbox_recipient;
    const auto at = r.find('@');
    if (at == std::string::npos || at == 0 || at + 1 == r.size() ||
        r.find_first_of("<> \t\r\n,;\"") != std::string::npos)
        bad(cfg, "milter.sandbox_recipient '" + r + "' must be an address such as sandbox@relay.example.net");
}

}  // namespace

std::shared_ptr<const Runtime> make_runtime(const std::shared_ptr<const Config>& cfg,
                                            const Runtime* previous) {
    validate(*cfg);
    auto rt = std::make_shared<Runtime>();
    rt->config = cfg;
    if (previous && previous->config->store.path == cfg->store.path) {
        rt->store = previous->store;
        rt->networks = previous->networks;
    } else {
        rt->store = std::make_shared<Store>(*cfg, Store::Mode::read_only);
        rt->networks = std::make_shared<KeyNetworks>();
    }
    if (previous && previous->config->store.keys == cfg->store.keys)
        rt->keys = previous->keys;
    else
        rt->keys = std::make_shared<KeyCache>(cfg->store.keys);
    rt->tokens = std::make_shared<const TokenKeys>(TokenKeys::load(cfg->tracking.secret_file));
    return rt;
}

size_t prune_keys(const Runtime& rt) {
    auto t = rt.store->read();
    return rt.keys->prune([&](const std::string& domain, const std::string& selector, const std::string& pub) {
        auto d = rt.store->domain(t, domain);
        if (!d || d->deleted) return false;
        for (const auto& s : d->selectors)
            if (s.name == selector) return s.public_key == pub && s.state != SelectorState::retired;
        return false;
    });
}

bool check_runtime(const Runtime& rt, std::ostream& out) {
    bool ok = true;
    auto t = rt.store->read();
    size_t domains = 0, keys = 0;
    for (const auto& d : rt.store->domains(t)) {
        if (d.deleted) continue;
        ++domains;
        for (const Selector* s : d.signing_selectors()) {
            try {
                rt.keys->get(d.name, *s);
                ++keys;
            } catch (const Error& e) {
                out << e.what() << '\n';
                ok = false;
            }
        }
    }
    if (ok)
        out << rt.config->source << ": ok (" << domains << " domains, " << keys << " signing keys, "
            << rt.tokens->size() << " tracking secrets)\n";
    return ok;
}

}  // namespace outpost::milter
