// context.cpp - the key-network cache and small helpers.
#include "milter/context.h"

#include <strings.h>

#include <algorithm>

namespace outpost::milter {

bool header_is(const std::string& name, const char* want) {
    return strcasecmp(name.c_str(), want) == 0;
}

std::optional<ApiKey> KeyNetworks::match(const Store& store, const lmdb::ReadTxn& t, const std::string& ip) {
    if (ip.empty()) return std::nullopt;
    std::string found;
    {
        std::lock_guard<std::mutex> lock(mu_);
        const size_t id = mdb_txn_id(t.get());
        if (id != txn_id_) {
            entries_.clear();
            for (const auto& k : store.keys(t))
                for (const auto& c : k.cidrs)
                    if (auto parsed = Cidr::parse(c)) entries_.push_back({parsed->prefix, *parsed, k.name});
            std::stable_sort(entries_.begin(), entries_.end(),
                             [](const Entry& a, const Entry& b) { return a.prefix > b.prefix; });
            txn_id_ = id;
        }
        for (const auto& e : entries_)
            if (e.cidr.contains(ip)) {
                found = e.key;
                break;
            }
    }
    if (found.empty()) return std::nullopt;
    return store.key(t, found);
}

}  // namespace outpost::milter
