// fuzz_listen_cidr.cpp - the small address parsers of the configuration:
// client networks (store/cidr.h Cidr::parse), milter.listen and
// milter.socket_mode (milter/listen.h), tracking.listen
// (control/lib/trackd_server.h parse_listen).
// Input: one text (at most 4 KB) given to each parser, and, after a first
// "\n", an address tested against the network.
// Invariants: never crashes; refusals are outpost::Error with
// Exit::config. A network's prefix fits its family, it contains its own
// address, and its text form parses back to the same network. A milter
// listen spec names a type its text starts with, an absolute path of at
// most 100 octets or a port 1 to 65535. A socket mode is at most 0777. A
// trackd listen address is a numeric address that parses again to itself.
#include <arpa/inet.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "control/lib/trackd_server.h"
#include "milter/listen.h"
#include "store/cidr.h"
#include "base/error.h"

namespace {

std::string address_of(const outpost::Cidr& c) {
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(c.family, c.addr.data(), buf, sizeof buf)) std::abort();
    return buf;
}

void check_cidr(const std::string& text, const std::string& probe) {
    const auto c = outpost::Cidr::parse(text);
    if (!c) return;
    if (c->family != AF_INET && c->family != AF_INET6) std::abort();
    if (c->prefix < 0 || c->prefix > (c->family == AF_INET ? 32 : 128)) std::abort();
    if (!c->contains(address_of(*c))) std::abort();
    const auto back = outpost::Cidr::parse(c->str());
    if (!back || back->family != c->family || back->prefix != c->prefix || back->addr != c->addr) std::abort();
    (void)c->contains(probe);
}

void check_milter_listen(const std::string& text) {
    using outpost::milter::ListenSpec;
    try {
        const ListenSpec s = outpost::milter::parse_listen(text);
        if (s.kind == ListenSpec::Kind::unix_socket) {
            if (s.path.empty() || s.path.front() != '/' || s.path.size() > 100) std::abort();
            if (s.libmilter != "unix:" + s.path) std::abort();
        } else {
            if (s.port < 1 || s.port > 65535) std::abort();
            if (text.rfind(s.kind == ListenSpec::Kind::inet ? "inet:" : "inet6:", 0) != 0) std::abort();
        }
    } catch (const outpost::Error& e) {
        if (e.status() != outpost::Exit::config) std::abort();
    }
    try {
        if (outpost::milter::parse_socket_mode(text) > 0777) std::abort();
    } catch (const outpost::Error& e) {
        if (e.status() != outpost::Exit::config) std::abort();
    }
}

void check_trackd_listen(const std::string& text) {
    try {
        const auto a = outpost::trackd::parse_listen(text);
        unsigned char buf[16];
        const std::string& bare = a.address;  // a scope id is refused
        if (inet_pton(AF_INET, bare.c_str(), buf) != 1 && inet_pton(AF_INET6, bare.c_str(), buf) != 1)
            std::abort();
        const bool v6 = a.address.find(':') != std::string::npos;
        const std::string again = (v6 ? "[" + a.address + "]" : a.address) + ":" + std::to_string(a.port);
        const auto b = outpost::trackd::parse_listen(again);
        if (b.address != a.address || b.port != a.port) std::abort();
    } catch (const outpost::Error& e) {
        if (e.status() != outpost::Exit::config) std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 4096) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const size_t nl = in.find('\n');
    const std::string text(in.substr(0, nl));
    const std::string probe(nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1));
    check_cidr(text, probe);
    check_milter_listen(text);
    check_trackd_listen(text);
    return 0;
}
