// test_pipeline.cpp - the milter pipeline end to end, without libmilter:
// identify -> authorize -> warmup -> suppress -> sandbox -> unsubscribe ->
// sign, with the replies of DESIGN.md and signatures checked by
// libopendkim's verifier against the store's public keys.
#define BOOST_TEST_MODULE pipeline
#include <boost/test/unit_test.hpp>

#include "milter/latency.h"
#include "milter/stages/identify.h"
#include "milter_fixture.h"

using namespace outpost;
using namespace outpost::test;

namespace {

std::vector<std::pair<std::string, std::string>> plain(
    const std::string& from, std::vector<std::pair<std::string, std::string>> extra = {}) {
    std::vector<std::pair<std::string, std::string>> h = {
        {"From", " " + from},
        {"To", " rcpt@example.net"},
        {"Subject", " a test"},
        {"Date", " Sun, 22 Nov 2026 10:00:00 +0000"},
        {"Message-ID", " <t1@client.test>"},
    };
    for (auto& e : extra) h.push_back(e);
    return h;
}

const milter::Header* find(const Delivery& d, const char* name) {
    for (const auto& h : d.mta.headers)
        if (milter::header_is(h.name, name)) return &h;
    return nullptr;
}

void check_reply(const milter::StageResult& r, const char* code, const char* xcode, const char* token) {
    BOOST_TEST(r.code == code);
    BOOST_TEST(r.xcode == xcode);
    BOOST_TEST(r.token == token);
}

}  // namespace

BOOST_AUTO_TEST_CASE(key_header_identifies_signs_and_is_removed) {
    MilterFixture f;
    Domain d = f.add_verified("example.com");
    const std::string secret = f.add_key("app1");
    Send s;
    s.headers = plain("App <app@example.com>", {{"X-Outpost-Key", " " + secret}});
    Delivery r = send_message(f.runtime(), s);
    BOOST_TEST(r.eoh.is_next());
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(r.txn.identity == "header");
    BOOST_TEST(!find(r, "X-Outpost-Key"));
    // The secret is wiped from the transaction once it found the key.
    size_t key_headers = 0;
    for (const auto& h : r.txn.headers) {
        BOOST_TEST(h.value.find(secret.substr(3)) == std::string::npos, h.name);
        if (h.name == "X-Outpost-Key") {
            ++key_headers;
            BOOST_TEST(h.value.empty());
        }
    }
    BOOST_TEST(key_headers == 1u);
    const auto* sig = find(r, "DKIM-Signature");
    BOOST_REQUIRE(sig);
    BOOST_TEST(r.mta.headers.front().name == "DKIM-Signature");  // inserted at index 0
    BOOST_TEST(sig->value.find("c=relaxed/relaxed") != std::string::npos);
    BOOST_TEST(sig->value.find("l=") == std::string::npos);
    BOOST_TEST(sig->value.find('\r') == std::string::npos);
    BOOST_TEST(find(r, "List-Unsubscribe"));
    BOOST_TEST(find(r, "List-Unsubscribe-Post"));
    auto results = verify_dkim(r.delivered(), {d}, f.dir.path + "/keys.txt");
    BOOST_TEST(results == std::vector<std::string>{d.selectors[0].name + ":ok"});
}

BOOST_AUTO_TEST_CASE(keys_are_parsed_once_not_per_message) {
    MilterFixture f;
    Domain d = f.add_verified("example.com", "both");
    f.add_key("k", sasl_key("k"));
    Send s;
    s.sasl = "k";
    s.headers = plain("a@example.com");
    std::vector<const milter::SigningKey*> parsed;
    for (int i = 0; i < 3; ++i) {
        Delivery r = send_message(f.runtime(), s);
        BOOST_REQUIRE(r.eom.is_next());
        BOOST_TEST(verify_dkim(r.delivered(), {d}, f.dir.path + "/k.txt") ==
                   (std::vector<std::string>{d.selectors[0].name + ":ok", d.selectors[1].name + ":ok"}));
        for (const auto& sel : d.selectors) parsed.push_back(f.runtime().keys->get(d.name, sel)->key.get());
    }
    // Two keys in the cache, and every message signed with the same two
    // parsed keys.
    BOOST_TEST(f.runtime().keys->size() == 2u);
    BOOST_TEST(parsed[0] == parsed[2]);
    BOOST_TEST(parsed[1] == parsed[3]);
    BOOST_TEST(parsed[0] == parsed[4]);
    BOOST_TEST(parsed[0] != parsed[1]);
}

BOOST_AUTO_TEST_CASE(keys_of_removed_domains_are_released) {
    MilterFixture f;
    Domain d = f.add_verified("example.com");
    Domain e = f.add_verified("example.org");
    f.add_key("k", sasl_key("k"));
    for (const char* from : {"a@example.com", "a@example.org"}) {
        Send s;
        s.sasl = "k";
        s.headers = plain(from);
        BOOST_REQUIRE(send_message(f.runtime(), s).eom.is_next());
    }
    BOOST_TEST(f.runtime().keys->size() == 2u);
    std::weak_ptr<const milter::PrivateKey> held = f.runtime().keys->get(e.name, e.selectors[0]);
    // Nothing to release while both domains sign.
    BOOST_TEST(milter::prune_keys(f.runtime()) == 0u);
    f.admin->remove_domain("example.org");
    BOOST_TEST(milter::prune_keys(f.runtime()) == 1u);
    BOOST_TEST(f.runtime().keys->size() == 1u);
    BOOST_TEST(held.expired());  // the parsed key itself is gone
}

BOOST_AUTO_TEST_CASE(signature_covers_the_body_as_streamed) {
    MilterFixture f;
    Domain d = f.add_verified("example.com");
    f.add_key("app1", sasl_key("app1"));
    Send s;
    s.sasl = "app1";
    s.headers = plain("app@example.com");
    std::string body;
    for (int i = 0; i < 200; ++i) body += "line " + std::to_string(i) + " \t with trailing space  \r\n";
    body += std::string(990, 'x') + "\r\n\r\n\r\n";
    s.body = body;
    s.chunk = 61;
    Delivery r = send_message(f.runtime(), s);
    BOOST_REQUIRE(r.eom.is_next());
    BOOST_TEST(r.txn.identity == "sasl");
    BOOST_TEST(verify_dkim(r.delivered(), {d}, f.dir.path + "/k.txt") ==
               std::vector<std::string>{d.selectors[0].name + ":ok"});
    // A changed body no longer verifies: the verifier really checks.
    r.body[10] = 'X';
    BOOST_TEST(verify_dkim(r.delivered(), {d}, f.dir.path + "/k.txt") ==
               std::vector<std::string>{d.selectors[0].name + ":fail"});
}

BOOST_AUTO_TEST_CASE(ed25519_and_rsa_both_sign) {
    MilterFixture f;
    Domain d = f.add_verified("both.example", "both");
    BOOST_REQUIRE(d.selectors.size() == 2u);
    f.add_key("k", sasl_key("k"));
    Send s;
    s.sasl = "k";
    s.headers = plain("x@both.example");
    Delivery r = send_message(f.runtime(), s);
    BOOST_REQUIRE(r.eom.is_next());
    auto results = verify_dkim(r.delivered(), {d}, f.dir.path + "/k.txt");
    BOOST_TEST(results.size() == 2u);
    for (const auto& x : results) BOOST_TEST(x.substr(x.size() - 3) == ":ok");
    int ed = 0;
    for (const auto& h : r.mta.headers)
        if (h.name == "DKIM-Signature" && h.value.find("a=ed25519-sha256") != std::string::npos) ++ed;
    BOOST_TEST(ed == 1);
}

BOOST_AUTO_TEST_CASE(client_network_identifies_most_specific_first) {
    MilterFixture f;
    f.add_verified("example.com");
    f.add_key("wide", cidr_key("192.0.2.0/24"));
    f.add_key("narrow", cidr_key("192.0.2.7/32"));
    Send s;
    s.headers = plain("app@example.com");
    s.client = "192.0.2.7";
    Delivery r = send_message(f.runtime(), s);
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(r.txn.identity == "cidr");
    BOOST_TEST(r.txn.key->name == "narrow");
    s.client = "192.0.2.8";
    r = send_message(f.runtime(), s);
    BOOST_TEST(r.txn.key->name == "wide");
}

BOOST_AUTO_TEST_CASE(no_identity_is_auth_required_or_allowed_by_config) {
    MilterFixture f;
    f.add_verified("example.com");
    Send s;
    s.headers = plain("app@example.com");
    check_reply(send_message(f.runtime(), s).eoh, "550", "5.7.1", "AUTH_REQUIRED");

    MilterFixture g("milter:\n  unauthenticated: allow\n");
    g.add_verified("example.com");
    Delivery r = send_message(g.runtime(), s);
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(r.txn.identity == "none");
}

BOOST_AUTO_TEST_CASE(a_wrong_key_header_is_refused_and_would_be_removed) {
    MilterFixture f;
    f.add_verified("example.com");
    f.add_key("app1");
    Send s;
    s.headers = plain("app@example.com", {{"X-Outpost-Key", " op_not-a-real-key"}});
    check_reply(send_message(f.runtime(), s).eoh, "550", "5.7.1", "AUTH_REQUIRED");
    // With a SASL identity the wrong header is ignored, and still removed.
    f.add_key("sasl", sasl_key("u1"));
    s.sasl = "u1";
    Delivery r = send_message(f.runtime(), s);
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(!find(r, "X-Outpost-Key"));
    BOOST_TEST(r.mta.log.front() == "delete X-Outpost-Key 1");
}

BOOST_AUTO_TEST_CASE(replies_for_every_domain_state) {
    MilterFixture f;
    f.admin->add_tenant("t1");
    f.admin->add_tenant("t2");
    f.add_verified("good.example");
    f.add_verified("t1.example", "rsa", "t1");
    f.add_verified("shared.example", "rsa", "t2", true);
    Domain off = f.add_verified("off.example");
    f.admin->set_domain("off.example", active(false));
    Domain susp = f.add_verified("susp.example");
    susp = f.admin->domain("susp.example");
    susp.status = DomainStatus::suspended;
    f.admin->save_domain(susp);
    f.admin->add_domain("pending.example", {});
    f.add_verified("gone.example");
    f.admin->remove_domain("gone.example");
    f.add_key("t2key", tenant_key("t2", "t2"));
    f.add_key("only", allow_key("only", "good.example"));
    f.add_key("any", sasl_key("any"));

    struct Case {
        const char* label;
        const char* sasl;
        const char* from;
        const char *code, *xcode, *token;
    };
    const Case cases[] = {
        {"unknown domain", "any", "a@nowhere.example", "550", "5.7.1", "DOMAIN_NOT_FOUND"},
        {"removed domain", "any", "a@gone.example", "550", "5.7.1", "DOMAIN_NOT_FOUND"},
        {"inactive", "any", "a@off.example", "550", "5.7.1", "DOMAIN_INACTIVE"},
        {"suspended", "any", "a@susp.example", "550", "5.7.1", "DOMAIN_SUSPENDED"},
        {"pending", "any", "a@pending.example", "550", "5.7.1", "DOMAIN_PENDING_VERIFICATION"},
        {"not allowed", "only", "a@t1.example", "550", "5.7.1", "DOMAIN_NOT_ALLOWED_FOR_KEY"},
        {"other tenant", "t2", "a@t1.example", "550", "5.7.1", "DOMAIN_TENANT_MISMATCH"},
        {"no From", "any", nullptr, "550", "5.7.1", "FROM_INVALID"},
        {"two addresses", "any", "a@good.example, b@good.example", "550", "5.7.1", "FROM_INVALID"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.label) {
            Send s;
            s.sasl = c.sasl;
            if (c.from)
                s.headers = plain(c.from);
            else
                s.headers = {{"To", " x@example.net"}, {"Subject", " s"}};
            Delivery r = send_message(f.runtime(), s);
            check_reply(r.eoh, c.code, c.xcode, c.token);
            BOOST_TEST(r.mta.log.empty());  // refused before end of message: nothing changed
        }
    }
    // Shared domains are allowed to every tenant; the operator's key may use any.
    for (const char* sasl : {"t2", "any"}) {
        Send s;
        s.sasl = sasl;
        s.headers = plain("a@shared.example");
        BOOST_TEST(send_message(f.runtime(), s).eom.is_next());
    }
}

BOOST_AUTO_TEST_CASE(pending_can_tempfail_and_sandbox_skips_verification) {
    MilterFixture f("milter:\n  pending_action: tempfail\n  sandbox_recipient: sink@sandbox.test\n");
    f.admin->add_domain("pending.example", {});
    f.add_key("any", sasl_key("any"));
    f.add_key("sb", sasl_key("sb", true));
    Send s;
    s.sasl = "any";
    s.headers = plain("a@pending.example");
    check_reply(send_message(f.runtime(), s).eoh, "451", "4.7.1", "DOMAIN_PENDING_VERIFICATION");
    s.sasl = "sb";
    s.rcpts = {"<a@example.net>", "<b@example.net>"};
    Delivery r = send_message(f.runtime(), s);
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(r.mta.deleted_rcpts == s.rcpts);
    BOOST_TEST(r.mta.added_rcpts == std::vector<std::string>{"<sink@sandbox.test>"});
    BOOST_TEST(find(r, "DKIM-Signature"));  // signed with the pending selector
}

BOOST_AUTO_TEST_CASE(sandbox_quarantine_mode) {
    MilterFixture f("milter:\n  sandbox_mode: quarantine\n");
    f.add_verified("example.com");
    f.add_key("sb", sasl_key("sb", true));
    Send s;
    s.sasl = "sb";
    s.headers = plain("a@example.com");
    Delivery r = send_message(f.runtime(), s);
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(r.mta.quarantined.find("sandbox") != std::string::npos);
    BOOST_TEST(r.mta.deleted_rcpts.empty());
}

BOOST_AUTO_TEST_CASE(suppressed_recipients_removed_none_left_rejected) {
    MilterFixture f;
    f.add_verified("example.com");
    f.add_verified("other.example");
    f.add_key("any", sasl_key("any"));
    f.admin->suppress("example.com", "Gone@Example.NET", "manual");
    Send s;
    s.sasl = "any";
    s.headers = plain("a@example.com");
    s.rcpts = {"<gone@example.net>", "<kept@example.net>"};
    Delivery r = send_message(f.runtime(), s);
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(r.mta.deleted_rcpts == std::vector<std::string>{"<gone@example.net>"});
    // One recipient left: the one-click form, for that recipient.
    const auto* lu = find(r, "List-Unsubscribe");
    BOOST_REQUIRE(lu);
    BOOST_TEST(lu->value.rfind("<https://t.relay.test/u/", 0) == 0);
    BOOST_TEST(find(r, "List-Unsubscribe-Post"));

    s.rcpts = {"<GONE@example.net>"};
    check_reply(send_message(f.runtime(), s).eoh, "550", "5.7.1", "ALL_RECIPIENTS_SUPPRESSED");
    // Suppression is per domain.
    s.headers = plain("a@other.example");
    BOOST_TEST(send_message(f.runtime(), s).eom.is_next());
}

BOOST_AUTO_TEST_CASE(unsubscribe_forms_and_existing_headers) {
    MilterFixture f;
    f.add_verified("example.com");
    f.add_verified("quiet.example");
    f.admin->set_domain("quiet.example", unsubscribe(false));
    f.add_key("any", sasl_key("any"));
    Send s;
    s.sasl = "any";
    s.headers = plain("a@example.com");
    s.rcpts = {"<a@example.net>", "<b@example.net>"};
    Delivery r = send_message(f.runtime(), s);
    const auto* lu = find(r, "List-Unsubscribe");
    BOOST_REQUIRE(lu);
    BOOST_TEST(lu->value.rfind("<mailto:unsubscribe@relay.test?subject=unsubscribe%20", 0) == 0);
    BOOST_TEST(!find(r, "List-Unsubscribe-Post"));
    // The token is genuine and names the two recipients, no one else.
    const std::string token =
        lu->value.substr(lu->value.find("%20") + 3, lu->value.size() - lu->value.find("%20") - 4);
    const auto& cfg = f.runtime().config;
    auto p = f.runtime().tokens->verify(token, TokenKind::mailto, now_seconds(),
                                        cfg->tracking.unsubscribe_lifetime.count());
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->domain == "example.com");
    BOOST_TEST(p->recipient.empty());
    BOOST_TEST(p->names("a@example.net"));
    BOOST_TEST(p->names("B@example.net"));
    BOOST_TEST(!p->names("c@example.net"));
    BOOST_TEST(lu->value.find("example.net") == std::string::npos);

    s.headers = plain("a@example.com", {{"List-Unsubscribe", " <mailto:own@example.com>"}});
    r = send_message(f.runtime(), s);
    BOOST_TEST(r.txn.added_headers.empty());
    BOOST_TEST(find(r, "List-Unsubscribe")->value == " <mailto:own@example.com>");

    s.headers = plain("a@quiet.example");
    r = send_message(f.runtime(), s);
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(!find(r, "List-Unsubscribe"));
}

BOOST_AUTO_TEST_CASE(one_recipient_token_names_the_recipient) {
    MilterFixture f;
    f.add_verified("example.com");
    f.add_key("any", sasl_key("any"));
    Send s;
    s.sasl = "any";
    s.headers = plain("a@example.com");
    s.rcpts = {"<Someone@Example.NET>"};
    Delivery r = send_message(f.runtime(), s);
    const std::string v = find(r, "List-Unsubscribe")->value;
    const std::string prefix = "<https://t.relay.test/u/";
    const std::string token = v.substr(prefix.size(), v.find('>') - prefix.size());
    const int64_t life = f.runtime().config->tracking.unsubscribe_lifetime.count();
    auto p = f.runtime().tokens->verify(token, TokenKind::unsubscribe, now_seconds(), life);
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->recipient == "someone@example.net");
    BOOST_TEST(p->message == "4QTEST");
    // Folded once, at the comma, before the mailto URL (LF + space, as milter
    // header values fold); no CR, and the address is nowhere in clear.
    BOOST_TEST(v.find(">,\n <mailto:unsubscribe@relay.test?subject=unsubscribe%202") != std::string::npos);
    BOOST_TEST(std::count(v.begin(), v.end(), '\n') == 1);
    BOOST_TEST(v.find('\r') == std::string::npos);
    BOOST_TEST(v.find("someone") == std::string::npos);
    const std::string mailto_token = v.substr(v.find("%20") + 3, v.rfind('>') - v.find("%20") - 3);
    auto m = f.runtime().tokens->verify(mailto_token, TokenKind::mailto, now_seconds(), life);
    BOOST_REQUIRE(m.has_value());
    BOOST_TEST(m->names("someone@example.net"));
    // A token is one kind only.
    BOOST_TEST(!f.runtime().tokens->verify(token, TokenKind::mailto, now_seconds(), life));
}

BOOST_AUTO_TEST_CASE(a_missing_key_tempfails_and_never_passes_unsigned) {
    MilterFixture f;
    Domain d = f.add_verified("example.com");
    f.add_key("any", sasl_key("any"));
    std::filesystem::remove(f.admin->key_dir().path("example.com", d.selectors[0].name));
    Send s;
    s.sasl = "any";
    s.headers = plain("a@example.com");
    Delivery r = send_message(f.runtime(), s);
    check_reply(r.eoh, "451", "4.3.0", "DKIM_KEY_UNAVAILABLE");
}

BOOST_AUTO_TEST_CASE(a_failing_later_stage_refunds_the_warmup_reservation) {
    MilterFixture f("warmup:\n  days: 14\n  first_day: 5\n");
    f.add_verified("example.com");
    f.add_key("any", sasl_key("any"));
    Send s;
    s.sasl = "any";
    s.headers = plain("a@example.com");
    s.rcpts = {"<a@example.net>", "<b@example.net>"};
    BOOST_TEST(send_message(f.runtime(), s).eom.is_next());
    BOOST_TEST(f.admin->usage_today("example.com") == 2);

    // The MTA refuses the List-Unsubscribe header: 451, and the 2 come back.
    Delivery r;
    {
        milter::Session session;
        session.rt = std::shared_ptr<const milter::Runtime>(&f.runtime(), [](const milter::Runtime*) {});
        session.txn.sasl_login = "any";
        session.txn.rcpts = s.rcpts;
        for (auto& [n, v] : s.headers) session.txn.headers.push_back({n, v});
        milter::Message m{f.runtime(), session, session.txn, now_seconds(), nullptr, nullptr};
        BOOST_REQUIRE(milter::pipeline().end_of_headers(m).is_next());
        r.mta.fail_add_header = true;
        m.mta = &r.mta;
        check_reply(milter::pipeline().end_of_message(m), "451", "4.3.0", "TEMPORARY_FAILURE");
    }
    BOOST_TEST(f.admin->usage_today("example.com") == 2);

    // 3 left of 5: a 4-recipient message is refused at end of message...
    s.rcpts = {"<1@x.example>", "<2@x.example>", "<3@x.example>", "<4@x.example>"};
    check_reply(send_message(f.runtime(), s).eom, "452", "4.7.1", "WARMUP_LIMIT_EXCEEDED");
    // ... a 3-recipient one passes, and then nothing does, already at end of headers.
    s.rcpts.pop_back();
    BOOST_TEST(send_message(f.runtime(), s).eom.is_next());
    s.rcpts = {"<5@x.example>"};
    check_reply(send_message(f.runtime(), s).eoh, "452", "4.7.1", "WARMUP_LIMIT_EXCEEDED");
    BOOST_TEST(send_message(f.runtime(), s).eoh.text.find("resets 00:00 UTC") != std::string::npos);
    // Tomorrow (UTC) the count starts again.
    s.now = now_seconds() + 86400;
    BOOST_TEST(send_message(f.runtime(), s).eom.is_next());
}

BOOST_AUTO_TEST_CASE(store_changes_apply_without_reload) {
    MilterFixture f;
    f.add_verified("example.com");
    f.add_key("any", sasl_key("any"));
    Send s;
    s.sasl = "any";
    s.headers = plain("a@example.com");
    const milter::Runtime& rt = f.runtime();
    BOOST_TEST(send_message(rt, s).eom.is_next());
    f.admin->set_domain("example.com", active(false));
    check_reply(send_message(rt, s).eoh, "550", "5.7.1", "DOMAIN_INACTIVE");
    f.admin->set_domain("example.com", active(true));
    f.add_key("net", cidr_key("198.51.100.0/24"));
    s.sasl = "";
    s.client = "198.51.100.1";
    Delivery r = send_message(rt, s);
    BOOST_TEST(r.eom.is_next());
    BOOST_TEST(r.txn.key->name == "net");
}

// Counters are soft state: with the counters map full (and not allowed to
// grow), a domain without a warmup limit keeps sending, signed, and the
// failure is counted; a warmup-limited domain is refused for now with 451,
// never sent past a limit it cannot count. Room made: both send again.
BOOST_AUTO_TEST_CASE(a_full_counters_map_stops_only_warmup_limited_domains) {
    MilterFixture f("warmup:\n  days: 14\n  first_day: 50\n");
    f.cfg.store.counters_max_size = 16 << 20;  // the first map size: no growth
    f.add_verified("limited.example");
    f.add_verified("unlimited.example");
    SetDomainOptions no_warmup;
    no_warmup.warmup_days = 0;
    f.admin->set_domain("unlimited.example", no_warmup);
    f.add_key("any", sasl_key("any"));
    Store& store = *f.runtime().store;
    // Fill it: large values first, then smaller ones into what is left,
    // until not even a one-counter write fits.
    int filled = 0;
    for (size_t size : {size_t(256) << 10, size_t(16) << 10, size_t(1) << 10, size_t(64)}) {
        const std::string value(size, 'z');
        try {
            for (int i = 0; i < 100000; ++i, ++filled)
                store.update_counters([&](lmdb::WriteTxn& t) {
                    t.put(store.dbi().counters, "fill" + std::to_string(filled), value);
                    return true;
                });
            BOOST_FAIL("a 16 MiB map took 100,000 more values");
        } catch (const lmdb::Failure& e) {
            BOOST_REQUIRE(e.rc() == MDB_MAP_FULL);
        }
    }
    const uint64_t errors_before = milter::counters_errors().load();

    Send s;
    s.sasl = "any";
    s.headers = plain("a@unlimited.example");
    Delivery ok = send_message(f.runtime(), s);
    BOOST_TEST(ok.eoh.is_next());
    BOOST_TEST(ok.eom.is_next());
    BOOST_TEST(find(ok, "DKIM-Signature") != nullptr);
    BOOST_TEST(milter::counters_errors().load() > errors_before);

    s.headers = plain("a@limited.example");
    Delivery held = send_message(f.runtime(), s);
    const milter::StageResult& r = held.eoh.is_next() ? held.eom : held.eoh;
    check_reply(r, "451", "4.3.0", "COUNTERS_UNAVAILABLE");
    BOOST_TEST(r.text.find("limited.example") != std::string::npos, r.text);
    BOOST_TEST(find(held, "DKIM-Signature") == nullptr);

    // The administrator raises store.counters_max_size and reloads: the
    // new runtime's Store shares the open environment and grows its map.
    Config raised = f.cfg;
    raised.store.counters_max_size = 64 << 20;
    auto reloaded = milter::make_runtime(std::make_shared<const Config>(raised), nullptr);
    Delivery after = send_message(*reloaded, s);
    BOOST_TEST(after.eom.is_next());
    BOOST_TEST(find(after, "DKIM-Signature") != nullptr);
    BOOST_TEST(reloaded->store->counters_map_size() > size_t(16) << 20);
    BOOST_TEST(f.admin->usage_today("limited.example") == 1);
}
