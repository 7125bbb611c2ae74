// records.h - the DNS records a domain must publish, and their formats.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "store/model.h"

namespace outpost {

struct DnsRecord {
    std::string purpose;  // dkim, spf, dmarc, mailfrom, tracking
    std::string type;     // TXT, MX, CNAME, A, AAAA
    std::string host;     // fully qualified, no trailing dot
    std::string value;    // TXT: the whole text (unsplit); MX: "10 host"; CNAME: target
    bool required = false;
    std::string note;  // what it is for, or advice (SPF merge)
};

// Every record of DESIGN.md for `d`, DKIM first (one per published selector:
// pending, active and retiring ones).
std::vector<DnsRecord> domain_records(const Domain& d, const Config& cfg);

// What the relay operator publishes once for all domains: the SPF record at
// relay.spf_include authorizing relay.ips (what every domain's
// include: points at), and A/AAAA records of relay.bounce_host (the MX of
// every MAIL FROM subdomain) and tracking.host (outpost-trackd behind its
// TLS proxy; the target of every tracking CNAME).
std::vector<DnsRecord> relay_records(const Config& cfg);

// The SPF record to publish: ours, or `existing` merged with our include.
std::string spf_record(const std::string& existing, const std::string& include);

// TXT character-strings of at most 255 octets each.
std::vector<std::string> split_txt(const std::string& value, size_t max = 255);

std::string records_table(const std::vector<DnsRecord>& rs);
nlohmann::json records_json(const std::vector<DnsRecord>& rs);
// A zone-file fragment: absolute owner names, TXT values as quoted strings.
std::string records_bind(const std::vector<DnsRecord>& rs, int ttl);

}  // namespace outpost
