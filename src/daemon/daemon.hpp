// daemon.hpp — what every ribbon daemon (milter, relay) does around its
// work: logging to stderr or syslog, dropping root, and turning signals
// into reloads and stops. Exported to the milter and the relay; depends on the layers below,
// never the reverse.
#pragma once

#include <spdlog/logger.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ribbon/config.hpp"
#include "ribbon/error.hpp"
#include "ribbon/recipient_policy.hpp"

namespace ribbon::daemon {

// The process's logger, named after the daemon ("ribbon-milter"): stderr
// (for systemd's journal) or syslog facility mail, as [daemon] log says.
// Every message is escaped by terminal_safe (ribbon/mail_text.hpp) on its
// way out: log lines quote addresses and header values from mail.
std::shared_ptr<spdlog::logger> make_logger(const std::string& name, const DaemonSettings& settings);

// Started as root: switches to [daemon] user and group for good (setgroups,
// setgid, setuid, then checks root cannot be regained). Refuses to go on as
// root when no user is configured. Does nothing when not root.
Result<void> drop_privileges(const DaemonSettings& settings);

// Started as root: gives `path` to [daemon] user and group, so the daemon
// can still write there after dropping root. Does nothing when not root.
Result<void> hand_over(const std::string& path, const DaemonSettings& settings);

// Changes a unix socket's mode and hands it to [daemon] user/group, so the
// MTA's group can connect and the daemon can remove it after dropping root.
Result<void> prepare_unix_socket(const std::string& path, unsigned mode, const DaemonSettings& settings);

// Started as root with a SQLite store: creates the database's directory if
// missing (mode 0750) and gives it, and the database files already there,
// to [daemon] user — SQLite creates its -wal and -shm files beside the
// database, so the daemon must be able to write the directory. Nothing for
// PostgreSQL or when not root.
Result<void> prepare_store_dir(const StoreSettings& store, const DaemonSettings& settings);

// Opens the recipients store as the daemon's own user (after
// drop_privileges: a SQLite file root created would not be the daemon's to
// write). A store that cannot be reached now is only logged: each lookup
// retries it and mail is answered meanwhile by on_internal_error, as for
// any other outage. A bad URL or a corrupt store is an error: refuse to
// start, or keep the previous configuration on reload.
Result<void> connect_store(RecipientPolicy& policy, spdlog::logger& log);

// Blocks SIGHUP, SIGTERM and SIGINT in the calling thread (and so in every
// thread it starts afterwards). Call before starting any thread.
void block_control_signals();

// Waits for signals on the calling thread (the main thread): SIGHUP calls
// `reload` on a thread of its own, SIGTERM/SIGINT call `stop` and return.
// Also returns, without calling `stop`, once `done()` is true (checked
// every second).
//
// Why the main thread: every thread started after block_control_signals
// has the signals blocked, so waiting here is where they are taken; reloads
// run elsewhere so this thread is back in sigwait at once.
void run_signal_loop(const std::function<void()>& reload, const std::function<void()>& stop,
                     const std::function<bool()>& done);

}  // namespace ribbon::daemon
