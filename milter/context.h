// context.h - the three lifetimes of outpost-milter (after Envoy's filters):
//
//   Runtime      immutable, one per configuration generation, shared by
//                std::shared_ptr<const Runtime>. SIGHUP builds a new one; a
//                connection keeps the one it started with until it closes.
//   Session      one per MTA connection (libmilter's SMFICTX private data).
//   Transaction  one per message, reset at MAIL FROM, end of message and
//                abort.
//
// MtaActions is what a stage may ask the MTA to do at end of message; the
// libmilter implementation wraps smfi_*, tests record the calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "milter/dkim_signer.h"
#include "milter/key_cache.h"
#include "milter/reply.h"
#include "store/cidr.h"
#include "store/model.h"
#include "store/store.h"
#include "store/tokens.h"

namespace outpost::milter {

// Keys by client network, rebuilt only when the store has changed (the LMDB
// transaction id of a read snapshot moves with every commit).
class KeyNetworks {
public:
    // The key whose CIDR list holds `ip`, most specific prefix first.
    std::optional<ApiKey> match(const Store& store, const lmdb::ReadTxn& t, const std::string& ip);

private:
    struct Entry {
        int prefix;
        Cidr cidr;
        std::string key;
    };
    std::mutex mu_;
    size_t txn_id_ = static_cast<size_t>(-1);
    std::vector<Entry> entries_;
};

struct Runtime {
    std::shared_ptr<const Config> config;
    std::shared_ptr<Store> store;
    std::shared_ptr<KeyCache> keys;
    std::shared_ptr<const TokenKeys> tokens;
    std::shared_ptr<KeyNetworks> networks;
};

struct Header {
    std::string name;
    std::string value;  // as the MTA passed it (leading space kept if negotiated)
};

struct Transaction {
    std::string queue_id;
    std::string mail_from;
    std::string sasl_login;
    std::vector<std::string> rcpts;  // as given to RCPT TO
    std::vector<Header> headers;
    size_t header_bytes = 0;
    StageResult deferred;  // a failure in a step that has no reply; reported at EOH
    bool open = false;     // between MAIL FROM and end of message / abort
    bool counted = false;  // counted in messages_in_progress()

    // identify
    std::optional<ApiKey> key;
    std::string identity = "none";  // sasl | header | cidr | none
    bool auth_required = false;     // unidentified: refused unless the mail is unmanaged
    size_t key_headers = 0;         // X-Outpost-Key headers to remove
    std::string key_header_name;    // as spelled in the message
    // authorize
    std::optional<Domain> domain;
    std::string from_address;
    bool sandbox = false;
    // line_length: the body's lines as they stream
    bool line_check = false;  // the message will be signed: its lines are checked
    struct {
        size_t number = 1;       // the line being read (1-based)
        size_t run = 0;          // its octets so far
        bool last_cr = false;    // the last octet seen was a CR
        size_t long_line = 0;    // the first line over the limit (0: none)
        size_t long_octets = 0;  // its length
    } lines;
    // warmup (accounting)
    int64_t warmup_limit = -1;
    std::string warmup_counter;
    int64_t reserved = 0;
    // suppress
    std::vector<std::string> suppressed;  // RCPT TO values removed
    // unsubscribe (and later stages): headers appended at end of message
    std::vector<Header> added_headers;  // value without leading space
    std::string tracking_host;          // the domain's tracking host name
    std::string unsubscribe_url;        // for the placeholder and the footer ("" = none)
    // track: the body, buffered only when it may be rewritten
    bool buffering = false;
    bool too_large = false;  // passed tracking.max_bytes: delivered untracked
    size_t buffer_limit = 0;             // the body held for the track stage, at most
    bool placeholder_only = false;       // held only for the unsubscribe placeholder
    bool placeholder_unchecked = false;  // untracked mail over kPlaceholderOnlyBytes
    std::string body;
    std::string new_body;  // the rewritten body, when replaced
    bool body_replaced = false;
    std::string tracked;  // what the track stage did, for the log
    // return-path
    std::string return_path;  // "verp" when the envelope sender was changed, for the log
    // sign
    struct SignKey {  // a selector the message is signed with, and its key
        std::string selector;
        KeyAlgorithm algorithm;
        std::shared_ptr<const PrivateKey> key;
    };
    std::vector<SignKey> sign_keys;
    std::vector<std::unique_ptr<DkimSigner>> signers;
    std::vector<std::string> signed_with;  // selectors, for the log
    // sendmail: address headers to replace at end of message (smfi_chgheader)
    struct HeaderChange {
        std::string name;
        int index;  // 1-based among the headers of that name
        std::string value;
    };
    std::vector<HeaderChange> header_changes;

    size_t delivered() const { return rcpts.size() - suppressed.size(); }
};

struct Session {
    std::shared_ptr<const Runtime> rt;
    std::string client_addr;  // textual IP, "" if unknown
    std::string client_name;
    unsigned long protocol = 0;  // negotiated SMFIP_* steps
    unsigned long actions = 0;   // negotiated SMFIF_* actions
    bool leading_space = false;  // SMFIP_HDR_LEADSPC negotiated
    bool sendmail = false;       // the MTA is Sendmail (macro v), see stages/sendmail.h
    uint64_t messages = 0;
    Transaction txn;  // the message in progress
};

class MtaActions {
public:
    virtual ~MtaActions() = default;
    // Each returns false if the MTA refused the change.
    virtual bool add_header(const std::string& name, const std::string& value) = 0;
    virtual bool insert_header(int index, const std::string& name, const std::string& value) = 0;
    virtual bool delete_header(const std::string& name, int index) = 0;  // index: 1-based
    // Replaces the value of the index-th (1-based) header `name`.
    virtual bool change_header(const std::string& /*name*/, int /*index*/, const std::string& /*value*/) {
        return false;
    }
    virtual bool delete_rcpt(const std::string& rcpt) = 0;
    virtual bool add_rcpt(const std::string& rcpt) = 0;
    virtual bool quarantine(const std::string& reason) = 0;
    virtual bool replace_body(const std::string& body) = 0;
    // Whether the MTA lets the milter replace the body (SMFIF_CHGBODY).
    virtual bool can_replace_body() const = 0;
    // The envelope sender (smfi_chgfrom; SMFIF_CHGFROM).
    virtual bool change_from(const std::string& address) = 0;
    virtual bool can_change_from() const = 0;
};

// What a stage sees of one message.
struct Message {
    const Runtime& rt;
    Session& session;
    Transaction& txn;
    int64_t now = 0;                      // seconds since the epoch (tests pin it)
    const lmdb::ReadTxn* read = nullptr;  // at end of headers: the message's one read snapshot
    MtaActions* mta = nullptr;            // at end of message

    const Config& config() const { return *rt.config; }
};

// Case-insensitive ASCII header name comparison.
bool header_is(const std::string& name, const char* want);

}  // namespace outpost::milter
