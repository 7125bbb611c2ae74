// test_trackd_server.cpp - tracking.listen parsing and binding errors (the
// HTTP behaviour itself is tested end to end in
// tests/integration/test_trackd.py).
#define BOOST_TEST_MODULE trackd_server
#include <boost/test/unit_test.hpp>

#include "control/lib/trackd_server.h"
#include "base/error.h"

using namespace outpost;
using namespace outpost::trackd;

BOOST_AUTO_TEST_CASE(listen_addresses) {
    const struct {
        const char* text;
        const char* address;
        int port;
    } good[] = {
        {"127.0.0.1:8080", "127.0.0.1", 8080},
        {"0.0.0.0:80", "0.0.0.0", 80},
        {"[::1]:8080", "::1", 8080},
        {"[2001:db8::10]:65535", "2001:db8::10", 65535},
    };
    for (const auto& c : good) BOOST_TEST_CONTEXT(c.text) {
            const ListenAddress la = parse_listen(c.text);
            BOOST_TEST(la.address == c.address);
            BOOST_TEST(la.port == c.port);
        }
    for (const char* bad : {"", "8080", ":8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
                            "127.0.0.1:80x", "::1:8080", "[::1:8080", "localhost:8080", "[]:80",
                            // a scope id: asio printed "%-41" back as another number (fuzzing)
                            "[::%-41]:8", "[fe80::1%lo]:8080"})
        BOOST_TEST_CONTEXT(bad) {
            BOOST_CHECK_THROW(parse_listen(bad), Error);
        }
}

BOOST_AUTO_TEST_CASE(a_port_in_use_is_a_clear_error) {
    Server first("127.0.0.1:0");
    const std::string taken = first.local_address();
    BOOST_TEST(taken.rfind("127.0.0.1:", 0) == 0);
    try {
        Server second(taken);
        BOOST_FAIL("bound twice");
    } catch (const Error& e) {
        BOOST_TEST(e.token() == "SOCKET_ERROR");
        BOOST_TEST(std::string(e.what()).find("tracking.listen") != std::string::npos);
    }
}
