// trackd_server.cpp - accept loop, connections, limits, signals, sync timer.
#include "control/lib/trackd_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/log.h"
#include "base/error.h"
#include "store/model.h"

namespace outpost::trackd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

class Session;

std::string peer_text(const tcp::socket& s) {
    beast::error_code ec;
    auto ep = s.remote_endpoint(ec);
    if (ec) return "unknown";
    auto a = ep.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped()) a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    return a.to_string();
}

}  // namespace

struct Server::Impl {
    // Declared before the io_context: sessions still queued when it is
    // destroyed unregister themselves here.
    std::mutex mu;
    std::list<std::weak_ptr<Session>> sessions;
    std::atomic<int> active{0};
    std::atomic<bool> stopping{false};

    Handler* handler = nullptr;
    Store* store = nullptr;
    std::function<void()> reload;

    asio::io_context ioc;
    asio::strand<asio::io_context::executor_type> strand{asio::make_strand(ioc)};
    asio::strand<asio::io_context::executor_type> sync_strand{asio::make_strand(ioc)};
    tcp::acceptor acceptor{strand};
    asio::signal_set signals{strand};
    asio::steady_timer retry_timer{strand};
    asio::steady_timer drain_timer{strand};
    asio::steady_timer sync_timer{sync_strand};
    std::chrono::steady_clock::time_point drain_deadline;
    std::atomic<bool> paused{false};  // accepting stopped at max_connections
    std::chrono::steady_clock::time_point last_pause_log;
    long long pauses = 0;

    void accept();
    void on_accept(beast::error_code ec, tcp::socket socket);
    void resume();
    void wait_signal();
    void schedule_sync();
    void begin_stop();
    void drain_tick();
    template <typename Fn>
    void each_session(Fn fn);
};

namespace {

// One connection: read a request, answer it, maybe read the next.
class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, Server::Impl& srv) : stream_(std::move(socket)), srv_(srv) {
        peer_ = peer_text(stream_.socket());
        ++srv_.active;
    }
    ~Session() {
        --srv_.active;
        if (srv_.paused && !srv_.stopping) asio::post(srv_.strand, [&srv = srv_] { srv.resume(); });
    }

    void start() {
        beast::error_code ec;
        stream_.socket().set_option(tcp::no_delay(true), ec);
        asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::read, shared_from_this()));
    }

    // From Server::Impl::begin_stop, on this session's strand.
    void begin_stop() {
        stopping_ = true;
        if (!writing_) close();
    }
    void close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.close();
    }
    auto executor() { return stream_.get_executor(); }

private:
    void read() {
        if (stopping_) return close();
        parser_.emplace();
        parser_->header_limit(kHeaderLimit);
        parser_->body_limit(kBodyLimit);
        stream_.expires_after(srv_.handler->settings()->config.tracking.timeout);
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&Session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, size_t) {
        if (ec) return on_read_error(ec);
        auto& m = parser_->get();
        Request req;
        req.method = std::string(m.method_string());
        req.target = std::string(m.target());
        req.user_agent = std::string(m[http::field::user_agent]);
        req.host = std::string(m[http::field::host]);
        req.forwarded_for = std::string(m["X-Forwarded-For"]);
        req.content_type = std::string(m[http::field::content_type]);
        req.body = std::move(m.body());
        req.peer = peer_;
        Response res;
        try {
            res = srv_.handler->handle(req, now_seconds());
        } catch (const std::exception& e) {
            log_error(std::string("request failed: ") + e.what());
            res = Response();
            res.status = 500;
            res.body = "internal error\n";
            res.why = "internal";
        }
        log_info(log_line(req, res));
        ++served_;
        write(std::move(res), m.version(), m.keep_alive() && !stopping_, req.method == "HEAD");
    }

    void on_read_error(beast::error_code ec) {
        const bool partial = buffer_.size() > 0 || (parser_ && parser_->got_some());
        if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted) return close();
        if (ec == beast::error::timeout) {
            // An idle keep-alive connection timing out is normal; a request
            // that does not arrive in time is a slow (or hostile) client.
            if (partial || served_ == 0)
                log_info("- - timeout client=" + log_value(peer_) + " got=" + std::to_string(buffer_.size()) +
                         "B; closed");
            return close();
        }
        if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
            return refuse(431, "request header fields too large\n", "headers");
        if (ec == http::error::body_limit) return refuse(413, "payload too large\n", "body");
        if (ec.category() == http::make_error_code(http::error::bad_method).category())
            return refuse(400, "bad request\n", "syntax");
        // Resets and other network errors: nothing to answer.
        if (partial) log_info("- - error client=" + log_value(peer_) + " why=" + log_value(ec.message()));
        close();
    }

    void refuse(int status, std::string body, const char* why) {
        log_info("- - " + std::to_string(status) + " domain=- class=- why=" + why +
                 " client=" + log_value(peer_));
        Response res;
        res.status = status;
        res.body = std::move(body);
        write(std::move(res), 11, false, false);
    }

    void write(Response r, unsigned version, bool keep_alive, bool head) {
        auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status),
                                                                       version == 10 ? 10 : 11);
        res->set(http::field::server, "outpost-trackd");
        res->set(http::field::content_type, r.content_type);
        for (const auto& [name, value] : r.headers) res->set(name, value);
        res->keep_alive(keep_alive);
        res->body() = std::move(r.body);
        res->prepare_payload();
        if (head) {
            // HEAD: the headers a GET would have, no body.
            const auto n = res->body().size();
            res->body().clear();
            res->content_length(n);
        }
        writing_ = true;
        stream_.expires_after(srv_.handler->settings()->config.tracking.timeout);
        http::async_write(stream_, *res,
                          [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                              self->on_write(ec, keep_alive);
                          });
    }

    void on_write(beast::error_code ec, bool keep_alive) {
        writing_ = false;
        if (ec || !keep_alive || stopping_) return close();
        read();
    }

    beast::tcp_stream stream_;
    Server::Impl& srv_;
    // Room for a whole request and some pipelined bytes after it; the
    // parser's limits, not this one, decide what is too large.
    beast::flat_buffer buffer_{size_t{64} * 1024};
    std::optional<http::request_parser<http::string_body>> parser_;
    std::string peer_;
    unsigned served_ = 0;
    bool writing_ = false;
    bool stopping_ = false;
};

}  // namespace

template <typename Fn>
void Server::Impl::each_session(Fn fn) {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = sessions.begin(); it != sessions.end();) {
        if (auto s = it->lock()) {
            asio::post(s->executor(), [s, fn] { fn(*s); });
            ++it;
        } else {
            it = sessions.erase(it);
        }
    }
}

void Server::Impl::accept() {
    acceptor.async_accept(asio::make_strand(ioc), beast::bind_front_handler(&Impl::on_accept, this));
}

void Server::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
    if (stopping) return;
    if (ec) {
        if (ec == asio::error::operation_aborted) return;
        // Out of file descriptors and the like: say so, breathe, go on.
        log_error("accept: " + ec.message());
        retry_timer.expires_after(std::chrono::milliseconds(100));
        retry_timer.async_wait([this](beast::error_code e) {
            if (!e && !stopping) accept();
        });
        return;
    }
    auto s = std::make_shared<Session>(std::move(socket), *this);
    {
        std::lock_guard<std::mutex> lock(mu);
        if (sessions.size() > 64 && sessions.size() > 2 * static_cast<size_t>(active.load()))
            sessions.remove_if([](const std::weak_ptr<Session>& w) { return w.expired(); });
        sessions.push_back(s);
    }
    s->start();
    const int limit = handler->settings()->config.tracking.max_connections;
    if (active.load() < limit) return accept();
    // Full: stop accepting until a connection ends (Session's destructor
    // posts resume()). Re-checked after `paused` is set, so a connection
    // that ended in between is not missed.
    paused = true;
    if (active.load() < limit) {
        paused = false;
        return accept();
    }
    ++pauses;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_pause_log >= std::chrono::seconds(10)) {
        log_warning("tracking.max_connections (" + std::to_string(limit) +
                    ") reached: new connections wait in the listen queue (" + std::to_string(pauses) +
                    " time(s) so far)");
        last_pause_log = now;
    }
}

void Server::Impl::resume() {
    if (!paused || stopping) return;
    if (active.load() >= handler->settings()->config.tracking.max_connections) return;
    paused = false;
    accept();
}

void Server::Impl::wait_signal() {
    signals.async_wait([this](beast::error_code ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
            if (reload) reload();
            return wait_signal();
        }
        log_info(std::string(sig == SIGINT ? "SIGINT" : "SIGTERM") + ": stopping; " +
                 std::to_string(active.load()) + " connection(s) open");
        begin_stop();
    });
}

void Server::Impl::schedule_sync() {
    sync_timer.expires_after(std::chrono::seconds(1));
    sync_timer.async_wait([this](beast::error_code ec) {
        if (ec || stopping) return;
        try {
            store->sync_counters();
        } catch (const std::exception& e) {
            log_error(std::string("counters sync failed: ") + e.what());
        }
        schedule_sync();
    });
}

// On `strand`.
void Server::Impl::begin_stop() {
    if (stopping.exchange(true)) return;
    beast::error_code ignored;
    acceptor.close(ignored);
    signals.cancel(ignored);
    retry_timer.cancel();
    asio::post(sync_strand, [this] { sync_timer.cancel(); });
    each_session([](Session& s) { s.begin_stop(); });
    drain_deadline = std::chrono::steady_clock::now() + kDrainGrace;
    drain_tick();
}

void Server::Impl::drain_tick() {
    if (active.load() == 0) return;
    if (std::chrono::steady_clock::now() >= drain_deadline) {
        log_warning("closing " + std::to_string(active.load()) +
                    " connection(s) still busy after the grace time");
        each_session([](Session& s) { s.close(); });
        return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(50));
    drain_timer.async_wait([this](beast::error_code ec) {
        if (!ec) drain_tick();
    });
}

ListenAddress parse_listen(const std::string& text) {
    const auto bad = [&](const std::string& why) {
        return Error(Exit::config, "CONFIG_INVALID",
                     "tracking.listen '" + text + "': " + why +
                         "; write ADDRESS:PORT, e.g. 127.0.0.1:8080 or [::1]:8080");
    };
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) throw bad("no port");
    std::string host = text.substr(0, colon);
    const std::string port = text.substr(colon + 1);
    if (host.front() == '[') {
        if (host.size() < 3 || host.back() != ']') throw bad("unbalanced brackets");
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string::npos) {
        throw bad("an IPv6 address needs brackets");
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
        throw bad("the port is not a number");
    const long p = std::stol(port);
    if (p > 65535) throw bad("the port is out of range (0-65535; 0 picks a free one)");
    // A scope id (fe80::1%eth0) is refused: asio reads "%-41" as a number
    // and prints it back as another one (found by fuzz_listen_cidr), and a
    // link-local address is no place for a public web service.
    if (host.find('%') != std::string::npos) throw bad("an IPv6 scope id (%...) is not supported");
    beast::error_code ec;
    const auto addr = asio::ip::make_address(host, ec);
    if (ec) throw bad("'" + host + "' is not a numeric IP address");
    return {addr.to_string(), static_cast<uint16_t>(p)};
}

Server::Server(const std::string& listen) : impl_(std::make_unique<Impl>()) {
    const ListenAddress la = parse_listen(listen);
    const tcp::endpoint ep(asio::ip::make_address(la.address), la.port);
    beast::error_code ec;
    auto fail = [&](const char* what) {
        return Error(Exit::environment, "SOCKET_ERROR",
                     std::string("cannot ") + what + " " + listen + ": " + ec.message() +
                         "; stop what uses the port, or change tracking.listen");
    };
    impl_->acceptor.open(ep.protocol(), ec);
    if (ec) throw fail("open a socket for");
    impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (ep.address().is_v6()) impl_->acceptor.set_option(asio::ip::v6_only(true), ec);
    impl_->acceptor.bind(ep, ec);
    if (ec) throw fail("listen on");
    impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw fail("listen on");
}

Server::~Server() = default;

std::string Server::local_address() const {
    beast::error_code ec;
    const auto ep = impl_->acceptor.local_endpoint(ec);
    if (ec) return "?";
    const std::string a = ep.address().to_string();
    return (ep.address().is_v6() ? "[" + a + "]" : a) + ":" + std::to_string(ep.port());
}

void Server::run(Handler& handler, Store& store, unsigned threads, std::function<void()> reload) {
    Impl& m = *impl_;
    m.handler = &handler;
    m.store = &store;
    m.reload = std::move(reload);
    m.signals.add(SIGHUP);
    m.signals.add(SIGTERM);
    m.signals.add(SIGINT);
    asio::post(m.strand, [&m] {
        m.wait_signal();
        m.accept();
    });
    asio::post(m.sync_strand, [&m] { m.schedule_sync(); });

    std::vector<std::thread> pool;
    for (unsigned i = 1; i < std::max(1u, threads); ++i)
        pool.emplace_back([&m] {
            for (;;) try {
                    m.ioc.run();
                    return;
                } catch (const std::exception& e) {
                    log_error(std::string("I/O thread: ") + e.what());
                }
        });
    for (;;) try {
            m.ioc.run();
            break;
        } catch (const std::exception& e) {
            log_error(std::string("I/O thread: ") + e.what());
        }
    for (auto& t : pool) t.join();
}

void Server::stop() {
    asio::post(impl_->strand, [m = impl_.get()] { m->begin_stop(); });
}

}  // namespace outpost::trackd
