// daemon.h - outpost-milter's life around libmilter's smfi_main().
//
// While libmilter serves sessions, the daemon keeps:
//   - the configuration generations: a reload (SIGHUP) loads the file again
//     in its own thread and makes a new Runtime for the connections that
//     start after it; a configuration that does not load is logged, counted
//     (reload_errors, in `outpostctl stats --milter`) and the old one kept;
//   - the drain (SIGTERM): new connections and messages are refused with
//     temporary failures while the messages in progress finish, for at most
//     milter.drain_timeout (SIGINT or a second SIGTERM cuts it short, SIGHUP
//     still reloads); then libmilter stops;
//   - the maintenance, once per tick of 100 ms: counters synced every
//     second, the latency snapshot written every 10 s, old counters pruned
//     10 s after start and hourly, keys of selectors that no longer sign
//     released every minute.
// The signals reach it through libmilter's sigwait (milter/libmilter_hooks.h).
#pragma once

#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "milter/context.h"
#include "milter/libmilter_hooks.h"
#include "milter/listen.h"

namespace outpost::milter {

class Daemon final : public SignalWaiter {
public:
    // `first`: the generation to start with (made current here).
    // `config_path`: what a reload loads. `listen`: woken after a drain.
    Daemon(std::string config_path, ListenSpec listen, std::shared_ptr<const Runtime> first);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Starts the reload and maintenance threads and routes libmilter's
    // sigwait here. Call before smfi_main().
    void start();
    // After smfi_main() returns: routes sigwait back, stops the threads,
    // syncs the counters and writes the latency snapshot. Idempotent.
    void stop();

    // Asks the reload thread for a reload (returns at once).
    void request_reload();
    // Reloads now, in the calling thread; false (logged, counted) if the
    // configuration does not load or the new generation cannot be made.
    bool reload();
    // Reloads finished since start (applied or refused).
    uint64_t reloads() const { return reloads_.load(); }

    // libmilter's sigwait: SIGHUP reloads and waits again; SIGTERM drains,
    // then returns it; anything else returns at once.
    int wait(const sigset_t* set, int* sig) noexcept override;

    // One maintenance tick (tick counts from 1, 10 per second).
    void maintain(unsigned tick);

    // Messages in progress (the callbacks' count; tests replace it).
    std::function<int()> in_progress;

private:
    int drain_then_stop(const sigset_t* set, int sig);

    const std::string config_path_;
    const ListenSpec listen_;
    const int64_t started_at_;
    std::atomic<uint64_t> reloads_{0};

    std::mutex mu_;
    std::condition_variable cv_;
    bool reload_requested_ = false;
    bool stopping_ = false;
    bool started_ = false;
    std::thread reloader_;
    std::thread maintainer_;
};

}  // namespace outpost::milter
