// records.cpp - record generation, SPF merge advice, output formats.
#include "dns/records.h"

#include <sstream>
#include <tuple>

#include "dns/dkim_keys.h"

namespace outpost {

std::vector<std::string> split_txt(const std::string& value, size_t max) {
    std::vector<std::string> out;
    for (size_t i = 0; i < value.size(); i += max) out.push_back(value.substr(i, max));
    if (out.empty()) out.emplace_back();
    return out;
}

std::string spf_record(const std::string& existing, const std::string& include) {
    const std::string ours = "include:" + include;
    if (existing.empty()) return "v=spf1 " + ours + " ~all";
    // Already there: publish as is.
    std::istringstream in(existing);
    std::vector<std::string> terms;
    for (std::string t; in >> t;) terms.push_back(t);
    for (const auto& t : terms)
        if (t == ours || t == "+" + ours) return existing;
    // Insert before the first "all" or redirect=, keeping everything else.
    std::ostringstream o;
    bool inserted = false;
    for (size_t i = 0; i < terms.size(); ++i) {
        const auto& t = terms[i];
        const bool is_all = t == "all" || (t.size() == 4 && t.substr(1) == "all");
        if (!inserted && i > 0 && (is_all || t.rfind("redirect=", 0) == 0)) {
            o << ' ' << ours;
            inserted = true;
        }
        o << (i ? " " : "") << t;
    }
    if (!inserted) o << ' ' << ours;
    return o.str();
}

std::vector<DnsRecord> domain_records(const Domain& d, const Config& cfg) {
    std::vector<DnsRecord> rs;
    auto required = [&](const char* check) {
        for (const auto& r : cfg.verify.required)
            if (r == check) return true;
        return false;
    };
    // What each optional record is for, and whether this domain uses it:
    // a record not required for "verified" says so in its note.
    auto optional_note = [](bool required, const std::string& why, const std::string& note) {
        return required ? note : "optional (" + why + "): " + note;
    };
    for (const auto& s : d.selectors) {
        if (s.state == SelectorState::retired) continue;
        std::string note = "DKIM public key, selector " + s.name + " (" + to_string(s.state) + ")";
        // A retiring selector no longer signs: keep it until mail signed
        // with it has been delivered, then `domain dkim retire`.
        const bool req = required("dkim") && s.state != SelectorState::retiring;
        rs.push_back({"dkim", "TXT", s.name + "._domainkey." + d.name,
                      dkim_txt_value(s.algorithm, s.public_key), req,
                      optional_note(req, "retiring: no longer signs; keep it until mail signed with it is delivered",
                                    note)});
    }
    const std::string spf = spf_record(d.existing_spf, cfg.relay.spf_include);
    rs.push_back({"spf", "TXT", d.name, spf, required("spf"),
                  d.existing_spf.empty() ? "authorizes this relay to send for the domain"
                                         : "REPLACE the existing SPF record (" + d.existing_spf +
                                               ") with this merged one; a domain must have exactly one"});
    std::string dmarc = "v=DMARC1; p=" + d.dmarc_policy;
    if (!d.rua.empty()) dmarc += "; rua=mailto:" + d.rua;
    rs.push_back({"dmarc", "TXT", "_dmarc." + d.name, dmarc, required("dmarc"),
                  optional_note(required("dmarc"), "not in verify.required",
                                "DMARC policy; receivers act on SPF/DKIM alignment") +
                      (d.rua.empty() ? "; rua= (aggregate reports) is optional and not set "
                                       "(domain add --rua ADDR)"
                                     : "; its rua= (aggregate reports to " + d.rua + ") is optional")});
    const std::string mf = cfg.records.mailfrom + "." + d.name;
    const bool mf_req = required("mailfrom");
    const std::string mf_why =
        "without it mail keeps its envelope sender: no VERP bounces, and SPF aligns only through the From "
        "domain";
    rs.push_back({"mailfrom", "MX", mf, "10 " + cfg.relay.bounce_host, mf_req,
                  optional_note(mf_req, mf_why,
                                "bounces for the MAIL FROM (return-path) subdomain come back to the relay")});
    rs.push_back({"mailfrom", "TXT", mf, spf_record("", cfg.relay.spf_include), mf_req,
                  optional_note(mf_req, mf_why, "SPF for the MAIL FROM subdomain")});
    const bool tr_req = required("tracking");
    const bool tracks = d.track_opens || d.track_clicks || d.unsubscribe || d.unsubscribe_footer;
    rs.push_back({"tracking", "CNAME", cfg.records.tracking + "." + d.name, cfg.tracking.host, tr_req,
                  optional_note(tr_req,
                                tracks ? "without it links use " + cfg.tracking.host
                                       : "opens, clicks and unsubscribe links are off for this domain",
                                "branded host for click, open and unsubscribe links")});
    return rs;
}

std::string records_table(const std::vector<DnsRecord>& rs) {
    std::ostringstream o;
    size_t w_purpose = 9, w_type = 4, w_host = 4;
    for (const auto& r : rs) {
        w_purpose = std::max(w_purpose, r.purpose.size() + 1);
        w_type = std::max(w_type, r.type.size());
        w_host = std::max(w_host, r.host.size());
    }
    auto pad = [](const std::string& s, size_t w) {
        return s + std::string(w > s.size() ? w - s.size() : 0, ' ');
    };
    o << pad("PURPOSE", w_purpose) << "  " << pad("TYPE", w_type) << "  " << pad("HOST", w_host)
      << "  VALUE\n";
    for (const auto& r : rs) {
        o << pad(r.purpose + (r.required ? "" : "*"), w_purpose) << "  " << pad(r.type, w_type) << "  "
          << pad(r.host, w_host) << "  " << r.value << '\n';
        o << pad("", w_purpose) << "  " << pad("", w_type) << "  " << pad("", w_host) << "  ; " << r.note
          << '\n';
    }
    o << "(* optional: not needed for the domain to be verified; the note says what it adds)\n";
    return o.str();
}

nlohmann::json records_json(const std::vector<DnsRecord>& rs) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& r : rs) {
        nlohmann::json j = {{"purpose", r.purpose},   {"type", r.type},         {"host", r.host},
                            {"value", r.value},       {"required", r.required}, {"optional", !r.required},
                            {"note", r.note}};
        if (r.type == "TXT") j["strings"] = split_txt(r.value);
        a.push_back(j);
    }
    return a;
}

std::string records_bind(const std::vector<DnsRecord>& rs, int ttl) {
    std::ostringstream o;
    for (const auto& r : rs) {
        // An optional record's note usually says so itself ("optional (...)").
        const bool says = r.note.rfind("optional", 0) == 0;
        o << "; " << r.purpose << (r.required || says ? "" : " (optional)") << ": " << r.note << '\n';
        o << r.host << ". " << ttl << " IN " << r.type << ' ';
        if (r.type == "TXT") {
            auto parts = split_txt(r.value);
            if (parts.size() > 1) o << "( ";
            for (size_t i = 0; i < parts.size(); ++i) {
                std::string esc;
                for (char c : parts[i]) {
                    if (c == '"' || c == '\\') esc += '\\';
                    esc += c;
                }
                o << (i ? "\n\t" : "") << '"' << esc << '"';
            }
            if (parts.size() > 1) o << " )";
        } else if (r.type == "A" || r.type == "AAAA") {
            o << r.value;
        } else {
            o << r.value << '.';  // MX "10 host", CNAME "host": absolute names
        }
        o << '\n';
    }
    return o.str();
}

std::vector<DnsRecord> relay_records(const Config& cfg) {
    std::vector<DnsRecord> out;
    std::string spf = "v=spf1";
    for (const auto& ip : cfg.relay.ips) spf += (ip.find(':') == std::string::npos ? " ip4:" : " ip6:") + ip;
    spf += " -all";
    out.push_back({"relay-spf", "TXT", cfg.relay.spf_include, spf, true,
                   "the relay's addresses; every domain's SPF includes it"});
    for (const auto& [host, purpose, required, note] :
         {std::tuple{cfg.relay.bounce_host, "bounce-host", true,
                     "MX target of every MAIL FROM subdomain: bounces come back here"},
          std::tuple{cfg.tracking.host, "tracking-host", false,
                     "outpost-trackd behind its TLS proxy; tracking CNAMEs point here"}})
        for (const auto& ip : cfg.relay.ips)
            out.push_back(
                {purpose, ip.find(':') == std::string::npos ? "A" : "AAAA", host, ip, required, note});
    return out;
}

}  // namespace outpost
