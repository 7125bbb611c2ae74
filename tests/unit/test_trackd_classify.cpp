// test_trackd_classify.cpp - human or machine, and which client a request
// speaks for.
#define BOOST_TEST_MODULE trackd_classify
#include <boost/test/unit_test.hpp>

#include "control/lib/trackd_classify.h"

using namespace outpost::trackd;

namespace {
constexpr const char* kChrome =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
    "Safari/537.36";
constexpr const char* kIphone =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148";
}  // namespace

BOOST_AUTO_TEST_CASE(user_agents) {
    const struct {
        const char* label;
        const char* ua;
        bool machine;
    } cases[] = {
        {"chrome", kChrome, false},
        {"iphone mail", kIphone, false},
        {"firefox", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", false},
        {"outlook desktop", "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)",
         false},
        {"empty", "", true},
        {"blank", "   ", true},
        {"gmail image proxy",
         "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", true},
        {"yahoo proxy", "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", true},
        {"apple mpp", "Mozilla/5.0", true},
        {"apple mpp, spaces", " Mozilla/5.0 ", true},
        {"bing preview",
         "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b", true},
        {"barracuda", "Barracuda Sentinel (EE)", true},
        {"proofpoint", "Proofpoint URL Defense", true},
        {"mimecast", "Mimecast-URL-Protect/1.0", true},
        {"python-requests", "python-requests/2.31.0", true},
        {"curl", "curl/7.88.1", true},
        {"go", "Go-http-client/1.1", true},
        {"wget", "Wget/1.21.3", true},
        {"headless chrome",
         "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36", true},
        {"slack preview", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", true},
        {"case", "PYTHON-REQUESTS/2", true},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.label) {
            BOOST_TEST(machine_user_agent(c.ua) == c.machine);
        }
}

BOOST_AUTO_TEST_CASE(networks) {
    BOOST_TEST(machine_network("66.249.84.10"));   // Google image proxy
    BOOST_TEST(machine_network("40.107.22.1"));    // Exchange Online Protection
    BOOST_TEST(machine_network("148.163.130.5"));  // Proofpoint
    BOOST_TEST(!machine_network("192.0.2.7"));
    BOOST_TEST(!machine_network("2001:db8::1"));
    BOOST_TEST(!machine_network("not an address"));
    BOOST_TEST(!machine_network(""));
}

BOOST_AUTO_TEST_CASE(rules_in_order) {
    const struct {
        const char* label;
        ClassifyInput in;
        bool machine;
        std::string why;
    } cases[] = {
        {"person", {false, kChrome, "192.0.2.7", 3600}, false, ""},
        {"head", {true, kChrome, "192.0.2.7", 3600}, true, "head"},
        {"ua", {false, "curl/8.0", "192.0.2.7", 3600}, true, "ua"},
        {"network", {false, kChrome, "66.249.84.10", 3600}, true, "network"},
        {"fast", {false, kChrome, "192.0.2.7", 3}, true, "fast"},
        {"just fast", {false, kChrome, "192.0.2.7", kFastSeconds - 1}, true, "fast"},
        {"just slow enough", {false, kChrome, "192.0.2.7", kFastSeconds}, false, ""},
        {"issued ahead of our clock", {false, kChrome, "192.0.2.7", -30}, true, "fast"},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.label) {
            const Classification got = classify(c.in);
            BOOST_TEST(got.machine == c.machine);
            BOOST_TEST(std::string(got.why) == c.why);
        }
}

BOOST_AUTO_TEST_CASE(client_addresses) {
    const struct {
        const char* label;
        const char* peer;
        const char* xff;
        const char* want;
    } cases[] = {
        {"direct", "192.0.2.7", "", "192.0.2.7"},
        {"direct ignores xff", "192.0.2.7", "66.249.84.10", "192.0.2.7"},
        {"proxy", "127.0.0.1", "66.249.84.10", "66.249.84.10"},
        {"proxy, chain", "127.0.0.1", " 198.51.100.9 , 10.0.0.1", "198.51.100.9"},
        {"proxy v6", "::1", "2001:db8::5", "2001:db8::5"},
        {"proxy, mapped", "127.0.0.1", "::ffff:198.51.100.9", "198.51.100.9"},
        {"proxy, bracketed", "::1", "[2001:db8::5]", "2001:db8::5"},
        {"proxy, garbage", "127.0.0.1", "<script>", "127.0.0.1"},
        {"proxy, no xff", "127.0.0.1", "", "127.0.0.1"},
        {"mapped peer", "::ffff:192.0.2.7", "", "192.0.2.7"},
    };
    for (const auto& c : cases) BOOST_TEST_CONTEXT(c.label) {
            BOOST_TEST(client_address(c.peer, c.xff) == c.want);
        }
}
