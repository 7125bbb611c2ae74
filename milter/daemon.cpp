// daemon.cpp - see daemon.h.
#include "milter/daemon.h"

#include <chrono>
#include <ctime>
#include <utility>

#include "config/config.h"
#include "milter/callbacks.h"
#include "milter/latency.h"
#include "milter/runtime.h"
#include "base/log.h"

namespace outpost::milter {

Daemon::Daemon(std::string config_path, ListenSpec listen, std::shared_ptr<const Runtime> first)
    : in_progress(messages_in_progress),
      config_path_(std::move(config_path)),
      listen_(std::move(listen)),
      started_at_(static_cast<int64_t>(std::time(nullptr))) {
    set_runtime(std::move(first));
}

Daemon::~Daemon() { stop(); }

void Daemon::start() {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return;
    started_ = true;
    stopping_ = false;
    reloader_ = std::thread([this] {
        std::unique_lock<std::mutex> lock(mu_);
        for (;;) {
            cv_.wait(lock, [this] { return reload_requested_ || stopping_; });
            if (stopping_) return;
            reload_requested_ = false;
            lock.unlock();
            reload();
            lock.lock();
        }
    });
    maintainer_ = std::thread([this] {
        std::unique_lock<std::mutex> lock(mu_);
        for (unsigned tick = 1;; ++tick) {
            if (cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; })) return;
            lock.unlock();
            maintain(tick);
            lock.lock();
        }
    });
    route_sigwait(this);
}

void Daemon::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!started_) return;
        started_ = false;
        stopping_ = true;
    }
    route_sigwait(nullptr);
    cv_.notify_all();
    reloader_.join();
    maintainer_.join();
    if (const int n = in_progress(); n > 0)
        log_warning("stopping with " + std::to_string(n) + " message(s) in progress; the MTA will retry them");
    try {
        if (auto r = current_runtime()) {
            r->store->sync_counters();
            write_latency_file(r->config->store.path, started_at_);
        }
    } catch (const std::exception& e) {
        log_error(std::string("counters sync at stop failed: ") + e.what());
    }
}

void Daemon::request_reload() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        reload_requested_ = true;
    }
    cv_.notify_all();
}

bool Daemon::reload() {
    bool ok = false;
    const auto old = current_runtime();
    try {
        auto next_cfg = std::make_shared<const Config>(load_config(config_path_));
        if (old && (next_cfg->milter.listen != old->config->milter.listen ||
                    next_cfg->milter.user != old->config->milter.user))
            log_warning("SIGHUP: milter.listen and milter.user changes take effect at restart");
        set_runtime(make_runtime(next_cfg, old.get()));
        log_facility(next_cfg->log.facility);
        log_info("reloaded configuration from " + next_cfg->source);
        ok = true;
    } catch (const std::exception& e) {
        reload_errors().fetch_add(1, std::memory_order_relaxed);
        log_error(std::string("SIGHUP: configuration not reloaded, keeping the old one: ") + e.what());
        // The refusal shows in `outpostctl stats --milter` now, not at the
        // next snapshot.
        if (old) write_latency_file(old->config->store.path, started_at_);
    }
    reloads_.fetch_add(1);
    return ok;
}

void Daemon::maintain(unsigned tick) {
    if (tick % 10 != 0) return;
    const auto r = current_runtime();
    if (!r) return;
    try {
        r->store->sync_counters();
    } catch (const std::exception& e) {
        log_error(std::string("counters sync failed: ") + e.what());
    }
    if (tick % 100 == 0) write_latency_file(r->config->store.path, started_at_);
    if (tick == 100 || tick % 36000 == 0) {
        try {
            const auto p = r->store->prune_counters(std::time(nullptr));
            if (p.warmup + p.stats + p.events)
                log_info("pruned counters: " + std::to_string(p.warmup) + " warmup/seen, " +
                         std::to_string(p.stats) + " stats, " + std::to_string(p.events) +
                         " events (store.stats_days, store.events_days)");
        } catch (const std::exception& e) {
            log_error(std::string("counters pruning failed: ") + e.what());
        }
    }
    if (tick % 600 == 0) {
        try {
            if (const size_t n = prune_keys(*r))
                log_info("released " + std::to_string(n) + " DKIM key(s) of selectors that no longer sign");
        } catch (const std::exception& e) {
            log_error(std::string("DKIM key release failed: ") + e.what());
        }
    }
}

int Daemon::wait(const sigset_t* set, int* sig) noexcept {
    try {
        for (;;) {
            int s = 0;
            if (const int err = wait_signal(set, &s)) return err;
            if (s == SIGHUP) {
                request_reload();
                continue;
            }
            *sig = s == SIGTERM && !draining() ? drain_then_stop(set, s) : s;
            return 0;
        }
    } catch (...) {
        // A reload request or a log line could not be made (no memory):
        // stop, as libc's sigwait would have made libmilter stop.
        *sig = SIGTERM;
        return 0;
    }
}

int Daemon::drain_then_stop(const sigset_t* set, int sig) {
    set_draining(true);
    const auto rt = current_runtime();
    const auto deadline =
        std::chrono::steady_clock::now() + (rt ? rt->config->milter.drain_timeout : std::chrono::milliseconds(0));
    log_info("SIGTERM: draining " + std::to_string(in_progress()) + " message(s) in progress");
    const timespec tick{0, 50'000'000L};
    while (in_progress() > 0 && std::chrono::steady_clock::now() < deadline) {
        const int more = ::sigtimedwait(set, nullptr, &tick);
        if (more == SIGINT || more == SIGTERM) {
            // SIGINT, or SIGTERM a second time: cut the drain short.
            log_info(std::string(more == SIGINT ? "SIGINT" : "second SIGTERM") + ": stopping with " +
                     std::to_string(in_progress()) + " message(s) in progress (the MTA retries them)");
            sig = more;
            break;
        }
        if (more == SIGHUP) request_reload();  // as at any other time
    }
    // Once libmilter has seen the stop, wake its listener.
    std::thread([spec = listen_] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        wake_listener(spec);
    }).detach();
    return sig;
}

}  // namespace outpost::milter
