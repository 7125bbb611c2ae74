// test_listen.cpp - milter.listen parsing, socket modes, and the TCP_NODELAY
// inheritance outpost-milter relies on (libmilter does not expose its
// listening socket: outpost sets TCP_NODELAY on it and Linux copies it to
// each accepted connection).
#define BOOST_TEST_MODULE listen
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "milter/libmilter_hooks.h"
#include "milter/listen.h"
#include "base/error.h"
#include "testutil.h"

using namespace outpost;
using namespace outpost::milter;

BOOST_AUTO_TEST_CASE(listen_specs) {
    auto u = parse_listen("unix:/run/outpost/milter.sock");
    BOOST_TEST((u.kind == ListenSpec::Kind::unix_socket));
    BOOST_TEST(u.path == "/run/outpost/milter.sock");
    BOOST_TEST(u.libmilter == "unix:/run/outpost/milter.sock");
    BOOST_TEST(parse_listen("local:/x/y").libmilter == "unix:/x/y");
    auto i = parse_listen("inet:8891@127.0.0.1");
    BOOST_TEST((i.kind == ListenSpec::Kind::inet));
    BOOST_TEST(i.port == 8891);
    BOOST_TEST(i.address == "127.0.0.1");
    BOOST_TEST(parse_listen("inet6:8891@::1").address == "::1");
    for (const char* bad : {"", "unix:", "unix:relative", "inet:", "inet:0@127.0.0.1", "inet:70000",
                            "inet:x@127.0.0.1", "tcp:8891", "/run/x.sock"})
        BOOST_TEST_CONTEXT(bad) {
            BOOST_CHECK_THROW(parse_listen(bad), Error);
        }
}

BOOST_AUTO_TEST_CASE(socket_modes) {
    BOOST_TEST(parse_socket_mode("0660") == 0660u);
    BOOST_TEST(parse_socket_mode("660") == 0660u);
    for (const char* bad : {"", "0999", "rw", "01777"}) BOOST_TEST_CONTEXT(bad) {
            BOOST_CHECK_THROW(parse_socket_mode(bad), Error);
        }
}

BOOST_AUTO_TEST_CASE(nodelay_set_on_listener_reaches_accepted_sockets) {
    int l = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    BOOST_REQUIRE(::listen(l, 4) == 0);
    BOOST_TEST(set_nodelay_on_listeners() >= 1);
    socklen_t len = sizeof a;
    ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
    int c = ::socket(AF_INET, SOCK_STREAM, 0);
    BOOST_REQUIRE(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    int s = ::accept(l, nullptr, nullptr);
    BOOST_REQUIRE(s >= 0);
    int v = 0;
    len = sizeof v;
    ::getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &len);
    BOOST_TEST(v != 0);
    ::close(s);
    ::close(c);
    ::close(l);
}

BOOST_AUTO_TEST_CASE(a_live_socket_is_not_taken_over_a_stale_one_is) {
    test::TempDir dir;
    const ListenSpec spec = parse_listen("unix:" + dir.path + "/run/m.sock");
    prepare_socket_dir(spec);  // creates run/
    BOOST_TEST(std::filesystem::is_directory(dir.path + "/run"));
    int l = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", spec.path.c_str());
    BOOST_REQUIRE(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    BOOST_REQUIRE(::listen(l, 4) == 0);
    BOOST_CHECK_THROW(prepare_socket_dir(spec), Error);
    ::close(l);  // the file stays: stale
    BOOST_CHECK_NO_THROW(prepare_socket_dir(spec));
}
