// ingest_unsubscribe.cpp - the mailto unsubscribe, over GMime's parser.
#include "control/lib/ingest_unsubscribe.h"

#include <gmime/gmime.h>

#include <memory>
#include <mutex>

#include "control/lib/admin.h"
#include "dns/domain_name.h"
#include "base/gmime.h"
#include "store/stats.h"

namespace outpost {
namespace {

IngestResult unused(std::string why) {
    IngestResult r;
    r.reason = std::move(why);
    return r;
}

// Words of the subject that may be tokens ("unsubscribe%20TOKEN" too, when
// a client did not decode the URI).
std::vector<std::string> candidates(std::string subject) {
    for (size_t p; (p = subject.find("%20")) != std::string::npos;) subject.replace(p, 3, " ");
    std::vector<std::string> out;
    std::string word;
    for (char c : subject + " ") {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            if (word.size() > 3 && word.front() == '2' && word.find('.') != std::string::npos)
                out.push_back(word);
            word.clear();
        } else {
            word += c;
        }
    }
    return out;
}

std::string first_mailbox(InternetAddressList* list) {
    if (!list) return "";
    for (int i = 0; i < internet_address_list_length(list); ++i) {
        InternetAddress* a = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(a))
            if (const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)))
                return addr;
    }
    return "";
}

std::string address_or_empty(const std::string& a) {
    try {
        return a.empty() ? "" : normalize_address(a);
    } catch (const std::exception&) {
        return "";
    }
}

}  // namespace

IngestResult ingest_unsubscribe(Store& store, const TokenKeys& keys, const Config& cfg,
                                std::string_view message, const std::string& envelope_sender, int64_t now) {
    gmime_init_once();

    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(message.data(), message.size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    GPtr<GMimeMessage> msg(g_mime_parser_construct_message(parser.get(), nullptr));
    if (!msg) return unused("not a mail message");
    const char* subject = g_mime_message_get_subject(msg.get());
    if (!subject) return unused("no Subject (the mailto URI puts the token there)");

    std::optional<TokenPayload> token;
    for (const auto& c : candidates(subject))
        if ((token = keys.verify(c, TokenKind::mailto, now, cfg.tracking.unsubscribe_lifetime.count())))
            break;
    if (!token)
        return unused("no valid unsubscribe token in the Subject (forged, expired or of another kind)");

    IngestResult r;
    r.domain = token->domain;
    std::vector<std::string> who;
    if (!token->recipient.empty()) {
        who.push_back(token->recipient);
    } else {
        const std::string from = address_or_empty(first_mailbox(g_mime_message_get_from(msg.get())));
        const std::string env = address_or_empty(envelope_sender);
        for (const auto& a : {from, env})
            if (!a.empty() && token->names(a) && std::find(who.begin(), who.end(), a) == who.end())
                who.push_back(a);
        if (who.empty())
            return unused("the sender (From " + (from.empty() ? "-" : from) + ", envelope " +
                          (env.empty() ? "-" : env) + ") is not a recipient the token was issued for");
    }

    {
        auto t = store.write();
        auto d = store.domain(t, token->domain);
        if (!d || d->deleted) return unused("domain " + token->domain + " is no longer an outpost domain");
        for (const auto& a : who) {
            if (store.suppressed(t, d->name, a)) {
                r.already.push_back(a);
                continue;
            }
            store.suppress(
                t, d->name, a,
                {{"reason", "unsubscribe"}, {"source", "mailto"}, {"at", now}, {"message", token->message}});
            r.suppressed.push_back(a);
        }
        t.commit();
    }
    r.used = true;
    if (!r.suppressed.empty()) {
        // Stats are soft state: the suppression above is what matters.
        try {
            auto c = store.write_counters();
            store.add_stat(c, r.domain, utc_day(now), stats::kUnsubscribeMailto,
                           static_cast<int64_t>(r.suppressed.size()));
            c.commit();
            store.sync_counters();
        } catch (const std::exception&) {
        }
    }
    return r;
}

}  // namespace outpost
