// test_resolver.cpp - reading libunbound's results (hand-built results and
// answer packets, hostile ones included) and the resolver's configuration
// checks.
#define BOOST_TEST_MODULE resolver
#include <unbound.h>

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <strings.h>

#include "dns/resolver.h"
#include "base/error.h"

using namespace outpost;
using namespace outpost::dns;

namespace {

using Bytes = std::vector<unsigned char>;

void name(Bytes& b, const std::string& n) {
    size_t start = 0;
    while (start < n.size()) {
        size_t dot = n.find('.', start);
        if (dot == std::string::npos) dot = n.size();
        b.push_back(static_cast<unsigned char>(dot - start));
        b.insert(b.end(), n.begin() + static_cast<long>(start), n.begin() + static_cast<long>(dot));
        start = dot + 1;
    }
    b.push_back(0);
}

void u16(Bytes& b, uint16_t v) {
    b.push_back(static_cast<unsigned char>(v >> 8));
    b.push_back(static_cast<unsigned char>(v));
}

struct Packet {
    Bytes b;
    uint16_t answers = 0;
    struct RR {
        std::string owner;
        uint16_t type;
        Bytes rdata;
    };
    std::vector<RR> rrs;
    explicit Packet(const std::string& qname, uint16_t qtype) {
        b = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0};
        name(b, qname);
        u16(b, qtype);
        u16(b, 1);
    }
    // An answer record; rdata built by `fill`.
    template <class F>
    Packet& rr(const std::string& owner, uint16_t type, F fill) {
        name(b, owner);
        u16(b, type);
        u16(b, 1);
        b.insert(b.end(), {0, 0, 0, 60});
        Bytes rd;
        fill(rd);
        u16(b, static_cast<uint16_t>(rd.size()));
        b.insert(b.end(), rd.begin(), rd.end());
        rrs.push_back({owner, type, rd});
        ++answers;
        b[6] = static_cast<unsigned char>(answers >> 8);
        b[7] = static_cast<unsigned char>(answers);
        return *this;
    }
    Packet& cname(const std::string& owner, const std::string& target) {
        return rr(owner, 5, [&](Bytes& rd) { name(rd, target); });
    }
    Packet& txt(const std::string& owner, std::vector<std::string> strings) {
        return rr(owner, 16, [&](Bytes& rd) {
            for (const auto& s : strings) {
                rd.push_back(static_cast<unsigned char>(s.size()));
                rd.insert(rd.end(), s.begin(), s.end());
            }
        });
    }
};

// What libunbound hands over for `p`: the data of the records of the asked
// type owned by `canonical` (the name the CNAMEs led to; "" = the question),
// that name with its root dot, and the packet.
struct Result {
    std::vector<Bytes> rdata;
    std::vector<char*> data;
    std::vector<int> len;
    std::string canon;
    Bytes packet;
    ub_result r{};
    Result(const Packet& p, const std::string& qname, RRType t, const std::string& canonical) {
        const std::string owner = canonical.empty() ? qname : canonical;
        for (const auto& rr : p.rrs)
            if (rr.type == static_cast<uint16_t>(t) && ::strcasecmp(rr.owner.c_str(), owner.c_str()) == 0)
                rdata.push_back(rr.rdata);
        for (auto& d : rdata) {
            data.push_back(reinterpret_cast<char*>(d.data()));
            len.push_back(static_cast<int>(d.size()));
        }
        data.push_back(nullptr);
        canon = owner + ".";
        packet = p.b;
        r.data = data.data();
        r.len = len.data();
        r.canonname = canon.data();
        r.answer_packet = packet.data();
        r.answer_len = static_cast<int>(packet.size());
        r.havedata = !rdata.empty();
    }
};

Answer parse(const Packet& p, const std::string& qname, RRType t, const std::string& canonical = "",
             bool expect_ok = true) {
    Answer a;
    a.query = {qname, t};
    Result r(p, qname, t, canonical);
    BOOST_TEST(read_result(r.r, a.query, a) == expect_ok);
    return a;
}

std::string rdata_value(RRType t, const Bytes& rd, bool expect_ok = true) {
    std::string v;
    BOOST_TEST(read_rdata(t, rd.data(), rd.size(), v) == expect_ok);
    return v;
}

}  // namespace

BOOST_AUTO_TEST_CASE(txt_strings_are_joined_per_record) {
    Packet p("example.test", 16);
    p.txt("example.test", {"v=DKIM1; k=rsa; ", "p=AAAA", "BBBB"}).txt("example.test", {"second"});
    Answer a = parse(p, "example.test", RRType::TXT);
    BOOST_TEST(a.values == (std::vector<std::string>{"v=DKIM1; k=rsa; p=AAAABBBB", "second"}));
    BOOST_TEST(a.chain.size() == 1u);
    BOOST_TEST(a.chain_text() == "");
}

BOOST_AUTO_TEST_CASE(cname_chain_is_shown_and_values_are_libunbounds) {
    Packet p("s._domainkey.example.test", 16);
    p.cname("s._domainkey.example.test", "s.example.provider.test")
        .cname("S.Example.Provider.test", "keys.provider.test")
        .txt("keys.provider.test", {"v=DKIM1; p=KEY"})
        .txt("elsewhere.test", {"not this one"});
    Answer a = parse(p, "s._domainkey.example.test", RRType::TXT, "keys.provider.test");
    BOOST_TEST(a.values == std::vector<std::string>{"v=DKIM1; p=KEY"});
    BOOST_TEST(a.chain_text() ==
               "s._domainkey.example.test -> s.example.provider.test -> keys.provider.test");

    // A packet whose CNAMEs do not lead where libunbound says: the question
    // and libunbound's final name only.
    Packet other("s._domainkey.example.test", 16);
    other.cname("s._domainkey.example.test", "somewhere.else.test").txt("keys.provider.test", {"v=DKIM1; p=KEY"});
    Answer b = parse(other, "s._domainkey.example.test", RRType::TXT, "keys.provider.test");
    BOOST_TEST(b.values == std::vector<std::string>{"v=DKIM1; p=KEY"});
    BOOST_TEST(b.chain_text() == "s._domainkey.example.test -> keys.provider.test");
}

BOOST_AUTO_TEST_CASE(cname_loop_terminates) {
    Packet p("a.test", 16);
    p.cname("a.test", "b.test").cname("b.test", "a.test");
    const auto chain = cname_chain(p.b.data(), p.b.size(), "a.test", "c.test");
    BOOST_TEST(chain == (std::vector<std::string>{"a.test", "c.test"}));
    BOOST_TEST(cname_chain(p.b.data(), p.b.size(), "a.test", "b.test").size() == 2u);
}

BOOST_AUTO_TEST_CASE(mx_a_aaaa_cname_values) {
    Packet mx("bounce.example.test", 15);
    mx.rr("bounce.example.test", 15, [](Bytes& rd) {
        u16(rd, 10);
        name(rd, "bounces.relay.test");
    });
    BOOST_TEST(parse(mx, "bounce.example.test", RRType::MX).values ==
               std::vector<std::string>{"10 bounces.relay.test"});

    Packet a4("h.test", 1);
    a4.rr("h.test", 1, [](Bytes& rd) { rd.insert(rd.end(), {192, 0, 2, 10}); });
    BOOST_TEST(parse(a4, "h.test", RRType::A).values == std::vector<std::string>{"192.0.2.10"});

    Packet a6("h.test", 28);
    a6.rr("h.test", 28, [](Bytes& rd) {
        rd.insert(rd.end(), {0x20, 0x01, 0x0d, 0xb8});
        rd.resize(16, 0);
        rd[15] = 0x10;
    });
    BOOST_TEST(parse(a6, "h.test", RRType::AAAA).values == std::vector<std::string>{"2001:db8::10"});

    Packet cn("track.example.test", 5);
    cn.cname("track.example.test", "t.relay.test");
    Result r(cn, "track.example.test", RRType::CNAME, "");
    r.canon = "t.relay.test.";  // whatever libunbound names: asking for the CNAME follows nothing
    r.r.canonname = r.canon.data();
    Answer c;
    c.query = {"track.example.test", RRType::CNAME};
    BOOST_TEST(read_result(r.r, c.query, c));
    BOOST_TEST(c.values == std::vector<std::string>{"t.relay.test"});
    BOOST_TEST(c.chain.size() == 1u);
}

BOOST_AUTO_TEST_CASE(hostile_record_data_is_refused) {
    // A character-string longer than its rdata.
    rdata_value(RRType::TXT, {50, 'a', 'b'}, false);
    BOOST_TEST(rdata_value(RRType::TXT, {}) == "");  // an empty TXT record is a value
    // Addresses of the wrong size.
    rdata_value(RRType::A, {1, 2, 3}, false);
    rdata_value(RRType::AAAA, {1, 2, 3, 4}, false);
    // MX: too short, a name cut off, data after the name.
    rdata_value(RRType::MX, {0, 10}, false);
    rdata_value(RRType::MX, {0, 10, 5, 'a', 'b'}, false);
    Bytes mx = {0, 10};
    name(mx, "mx.test");
    BOOST_TEST(rdata_value(RRType::MX, mx) == "10 mx.test");
    mx.push_back(7);
    rdata_value(RRType::MX, mx, false);
    // A compression pointer to itself, and one past the data.
    rdata_value(RRType::CNAME, {0xC0, 0x00}, false);
    rdata_value(RRType::PTR, {0xC0, 0x40}, false);
    // One malformed record makes the whole answer malformed.
    Packet p("x.test", 16);
    p.txt("x.test", {"hello"}).rr("x.test", 16, [](Bytes& rd) { rd.insert(rd.end(), {9, 'x'}); });
    parse(p, "x.test", RRType::TXT, "", false);
}

BOOST_AUTO_TEST_CASE(hostile_packets_only_lose_the_names_between) {
    Packet good("x.test", 16);
    good.cname("x.test", "y.test").txt("y.test", {"hello"});
    BOOST_TEST(cname_chain(good.b.data(), good.b.size(), "x.test", "y.test") ==
               (std::vector<std::string>{"x.test", "y.test"}));
    // Truncated anywhere: never read past the end; the chain is then the
    // question and the final name.
    for (size_t len = 0; len < good.b.size(); ++len)
        BOOST_TEST(cname_chain(good.b.data(), len, "x.test", "z.test") ==
                       (std::vector<std::string>{"x.test", "z.test"}),
                   "length " << len);
    // A compression pointer to itself in the answer's owner name.
    Packet loop("x.test", 16);
    const size_t at = loop.b.size();
    loop.b.insert(loop.b.end(),
                  {static_cast<unsigned char>(0xC0 | (at >> 8)), static_cast<unsigned char>(at)});
    loop.b.insert(loop.b.end(), {0, 5, 0, 1, 0, 0, 0, 60, 0, 0});
    loop.b[7] = 1;
    BOOST_TEST(cname_chain(loop.b.data(), loop.b.size(), "x.test", "y.test").size() == 2u);
}

BOOST_AUTO_TEST_CASE(bad_upstream_and_trust_anchor_are_config_errors) {
    for (const char* up : {"localhost", "127.0.0.1@", "127.0.0.1@99999", "1.2.3.4@53x", "300.1.1.1"}) {
        ResolverOptions o;
        o.upstream = up;
        BOOST_CHECK_THROW(Resolver r(o), Error);
    }
    ResolverOptions o;
    o.upstream = "127.0.0.1@5353";
    o.trust_anchor = "/nonexistent/root.key";
    try {
        Resolver r(o);
        BOOST_FAIL("a missing trust anchor file was accepted");
    } catch (const Error& e) {
        BOOST_TEST(static_cast<int>(e.status()) == static_cast<int>(Exit::config));
        BOOST_TEST(std::string(e.what()).find("dns.trust_anchor") != std::string::npos);
    }
    ResolverOptions v6;
    v6.upstream = "::1@5353";
    BOOST_CHECK_NO_THROW(Resolver r(v6));
}

BOOST_AUTO_TEST_CASE(unanswered_queries_time_out_within_the_limits) {
    // Port 9 on loopback: nothing answers. Many queries, concurrently: the
    // whole batch takes about one timeout, not one per query.
    ResolverOptions o;
    o.upstream = "127.0.0.1@9";
    o.timeout = std::chrono::milliseconds(400);
    o.deadline = std::chrono::milliseconds(5000);
    Resolver r(o);
    std::vector<Query> qs;
    for (int i = 0; i < 50; ++i) qs.push_back({"n" + std::to_string(i) + ".test", RRType::TXT});
    const auto t0 = std::chrono::steady_clock::now();
    const auto out = r.resolve(qs);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    BOOST_TEST(out.size() == qs.size());
    for (const auto& a : out) BOOST_TEST(a.failed(), a.query.name << " " << to_string(a.rcode));
    BOOST_TEST(ms.count() < 3000, ms.count() << " ms");
}
