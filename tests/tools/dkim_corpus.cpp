// dkim_corpus.cpp - the differential test's signer side: signs a corpus
// with outpost's own DKIM signer (milter/dkim_signer.h) and with
// libopendkim (opendkim_reference.h), same keys, same headers, same t=,
// and writes what an independent verifier needs.
//
//   outpost-test-dkim-corpus OUTDIR [EML_DIR]
//
// The corpus: generated edge cases (below) and every EML_DIR/*.eml, each
// signed with an RSA-2048 and an Ed25519 key. OUTDIR gets, per case and
// algorithm, NAME.ALG.own.eml and NAME.ALG.ref.eml (the message with that
// signer's DKIM-Signature on top), keys.tsv (selector, domain, TXT value)
// and report.tsv:
//
//   name  alg  identical  chunking_ok  expect  note
//
// identical: the two DKIM-Signature headers are byte-identical;
// chunking_ok: outpost's signature is the same whatever the body chunk
// sizes (1 octet, 7, 4096, whole); expect: "same", or "rfc" where
// libopendkim is known to depart from RFC 6376 (note says how) and only
// outpost's signature is expected to verify. tests/integration/
// test_dkim_differential.py checks the report and verifies every message
// with dkimpy and Mail::DKIM.
#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "dns/dkim_keys.h"
#include "milter/dkim_signer.h"
#include "opendkim_reference.h"

using namespace outpost;

namespace {

struct Case {
    std::string name;
    std::vector<std::pair<std::string, std::string>> headers;  // value after the colon, CRLF folds
    std::string body;                                          // as the MTA streams it
    std::string note;  // non-empty: libopendkim departs from the RFC here
    std::string domain = "example.com";
    std::string selector = "s1";
};

const std::time_t kTime = 1764000000;

std::vector<std::pair<std::string, std::string>> base_headers(const std::string& subject = " Hello") {
    return {{"Received", " from app1 (app1 [192.0.2.5]) by relay.example.net"},
            {"From", " Shop <news@example.com>"},
            {"To", " Ann <ann@example.org>"},
            {"Subject", subject},
            {"Date", " Tue, 01 Dec 2026 10:00:00 +0000"},
            {"Message-ID", " <m1@example.com>"},
            {"MIME-Version", " 1.0"},
            {"Content-Type", " text/plain; charset=utf-8"}};
}

std::vector<Case> generated() {
    std::vector<Case> c;
    auto add = [&](std::string name, std::string body, std::string note = "") {
        Case k;
        k.name = std::move(name);
        k.headers = base_headers();
        k.body = std::move(body);
        k.note = std::move(note);
        c.push_back(std::move(k));
    };
    add("plain", "Hello Ann,\r\n\r\nYour order shipped.\r\n");
    add("trailing-wsp", "line one  \r\nline two\t\r\nthree \t \r\n");
    add("wsp-runs", "a \t  b\t\tc  d\r\n \t leading\r\n");
    add("blank-lines-at-end", "text\r\n\r\n\r\n\r\n");
    add("wsp-only-lines", "a\r\n  \r\n\t\r\nb\r\n \r\n\t \r\n");
    add("empty-body", "");
    add("only-crlf", "\r\n\r\n\r\n");
    add("leading-blank-lines", "\r\n\r\nafter two blank lines\r\n");
    add("no-final-crlf", "no line end at the end");
    add("no-final-crlf-wsp", "ends in spaces   ");
    add("ends-in-cr", "ends in a CR\r");
    add("cr-cr-lf", "a\r\r\nb\r\n");
    add("nul-byte", std::string("a\0b\r\n", 5));
    add("eight-bit", "Gr\xc3\xbc\xc3\x9f""e \xe2\x80\x94 caf\xe9\r\n\xff\xfe\r\n");
    add("long-line", std::string(5000, 'x') + "\r\n" + std::string(3000, ' ') + "y\r\n");
    add("bare-cr", "a\rb\r\n", "libopendkim drops a bare CR in a relaxed body (RFC 6376 3.4.4 keeps it)");
    add("bare-cr-wsp", "a\r b\r\n", "libopendkim drops a bare CR in a relaxed body (RFC 6376 3.4.4 keeps it)");
    {
        std::string big;
        unsigned x = 12345;
        const char* words[] = {"alpha", "beta ", "  ", "\t", "gamma", "\r\n", "delta  \r\n", "\r\n\r\n", "x"};
        while (big.size() < (1u << 20)) {
            x = x * 1103515245u + 12345u;
            big += words[(x >> 16) % 9];
        }
        big += "\r\n";
        add("one-megabyte", big);
    }
    {
        Case k;
        k.name = "folded-headers";
        k.headers = base_headers(" a subject\r\n folded over\r\n\tthree lines  ");
        std::string refs;
        for (int i = 0; i < 20; ++i) refs += (i ? "\r\n " : " ") + std::string("<ref") + std::to_string(i) + "@example.com>";
        k.headers.push_back({"References", refs});
        k.headers.push_back({"In-Reply-To", " <ref19@example.com>"});
        k.body = "body\r\n";
        c.push_back(k);
    }
    {
        Case k;
        k.name = "header-wsp";
        k.headers = base_headers("\t  spaced   out\t ");
        k.headers.push_back({"Cc", ""});
        k.headers.push_back({"Reply-To", "   <r@example.com>"});
        k.body = "b\r\n";
        c.push_back(k);
    }
    {
        Case k;
        k.name = "repeated-headers";
        k.headers = base_headers();
        k.headers.insert(k.headers.begin() + 2, {"To", " first@example.org"});
        k.headers.push_back({"Subject", " second subject"});
        k.headers.push_back({"Received", " another hop"});
        k.body = "b\r\n";
        c.push_back(k);
    }
    {
        Case k;
        k.name = "name-case";
        k.headers = {{"FROM", " a@example.com"}, {"subject", " lower"}, {"To", " b@example.org"},
                     {"mEsSaGe-Id", " <x@example.com>"}};
        k.body = "b\r\n";
        c.push_back(k);
    }
    {
        Case k;
        k.name = "list-unsubscribe";
        k.headers = base_headers();
        k.headers.push_back({"List-Unsubscribe",
                             " <https://t.relay.example.net/u/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8>,\r\n"
                             " <mailto:unsubscribe+AAECAwQFBgcICQoLDA0ODxAREhMU@bounces.relay.example.net>"});
        k.headers.push_back({"List-Unsubscribe-Post", " List-Unsubscribe=One-Click"});
        k.headers.push_back({"Feedback-ID", " c1:tenant1:app1:outpost"});
        k.body = "b\r\n";
        c.push_back(k);
    }
    {
        Case k;
        k.name = "many-signed-headers";
        k.headers = base_headers();
        for (const char* n : {"Reply-To", "Cc", "Resent-Date", "Resent-From", "Resent-To", "Resent-Cc", "In-Reply-To",
                              "References", "List-Id", "List-Help", "List-Subscribe", "List-Post", "List-Owner",
                              "List-Archive", "Content-Transfer-Encoding", "Sender"})
            k.headers.push_back({n, " v"});
        k.body = "b\r\n";
        c.push_back(k);
    }
    {
        Case k;
        k.name = "long-names";
        k.headers = base_headers();
        k.headers[1].second = " News <news@mail.a-rather-long-subdomain.of-an-example-organisation.example>";
        k.domain = "mail.a-rather-long-subdomain.of-an-example-organisation.example";
        k.selector = "s2026-12-rotation-selector-with-a-long-name";
        k.body = "b\r\n";
        c.push_back(k);
    }
    {
        Case k;
        k.name = "long-to";
        k.headers = base_headers();
        std::string to;
        for (int i = 0; i < 60; ++i) to += (i ? ",\r\n " : " ") + std::string("recipient") + std::to_string(i) + "@example.org";
        k.headers[2].second = to;
        k.body = "b\r\n";
        c.push_back(k);
    }
    // Subjects of other shapes, over a one-line body.
    auto add_subject = [&](std::string name, std::string subject, std::string note = "") {
        Case k;
        k.name = std::move(name);
        k.headers = base_headers(subject);
        k.body = "b\r\n";
        k.note = std::move(note);
        c.push_back(std::move(k));
    };
    add_subject("utf8-header", " Gr\xc3\xbc\xc3\x9f""e aus K\xc3\xb6ln \xe2\x80\x94 =?utf-8?q?caf=C3=A9?=");
    add_subject("header-bare-cr", " a\rb",
                "libopendkim takes a bare CR in a header value for a space (RFC 6376 3.4.2 keeps it)");
    add_subject("header-vt", " a\vb", "libopendkim takes VT in a header value for a space (RFC 6376 3.4.2: only WSP)");
    return c;
}

// A message file: headers (unfolded into name and value) and body.
bool read_eml(const std::string& path, Case& k) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::string crlf;  // files may be stored with LF line ends
    for (size_t i = 0; i < data.size(); ++i) {
        if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r')) crlf += '\r';
        crlf += data[i];
    }
    size_t end = crlf.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    const std::string head = crlf.substr(0, end + 2);
    k.body = crlf.substr(end + 4);
    size_t pos = 0;
    while (pos < head.size()) {
        size_t eol = head.find("\r\n", pos);
        size_t next = eol + 2;
        while (next < head.size() && (head[next] == ' ' || head[next] == '\t')) {
            eol = head.find("\r\n", next);
            next = eol + 2;
        }
        const std::string field = head.substr(pos, eol - pos);
        const size_t colon = field.find(':');
        if (colon == std::string::npos) return false;
        k.headers.push_back({field.substr(0, colon), field.substr(colon + 1)});
        pos = next;
    }
    return true;
}

std::string lf_folds(const std::string& s) {
    std::string out;
    for (char c : s)
        if (c != '\r') out += c;
    return out;
}

std::string crlf_folds(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out += '\r';
        out += s[i];
    }
    return out;
}

// A header value as the milter gets it: folds as LF; any other CR kept.
std::string milter_form(const std::string& v) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i)
        if (!(v[i] == '\r' && i + 1 < v.size() && v[i + 1] == '\n')) out += v[i];
    return out;
}

std::string own_sign(const std::shared_ptr<const milter::SigningKey>& key, const Case& k, size_t chunk) {
    milter::DkimSigner s(key, k.domain, k.selector, kTime);
    // The milter's form: folds as LF (as Postfix hands them over).
    for (const auto& [n, v] : k.headers) s.header(n, milter_form(v));
    s.end_of_headers();
    const auto* p = reinterpret_cast<const unsigned char*>(k.body.data());
    const size_t step = chunk ? chunk : std::max<size_t>(k.body.size(), 1);
    for (size_t at = 0; at < k.body.size(); at += step) s.body(p + at, std::min(step, k.body.size() - at));
    return s.finish();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::cerr << "usage: outpost-test-dkim-corpus OUTDIR [EML_DIR]\n";
        return 2;
    }
    const std::string out = argv[1];
    std::vector<Case> cases = generated();
    if (argc == 3) {
        std::vector<std::string> names;
        if (DIR* d = opendir(argv[2])) {
            while (dirent* e = readdir(d)) {
                std::string n = e->d_name;
                if (n.size() > 4 && n.substr(n.size() - 4) == ".eml") names.push_back(n);
            }
            closedir(d);
        }
        std::sort(names.begin(), names.end());
        for (const auto& n : names) {
            Case k;
            k.name = "eml-" + n.substr(0, n.size() - 4);
            if (!read_eml(std::string(argv[2]) + "/" + n, k)) {
                std::cerr << "dkim-corpus: cannot read " << n << " as a message\n";
                return 1;
            }
            cases.push_back(std::move(k));
        }
    }
    const KeyPair rsa = generate_key(KeyAlgorithm::rsa, 2048);
    const KeyPair ed = generate_key(KeyAlgorithm::ed25519, 0);
    auto rsa_key = std::make_shared<const milter::SigningKey>(rsa.private_pem, KeyAlgorithm::rsa, "rsa");
    auto ed_key = std::make_shared<const milter::SigningKey>(ed.private_pem, KeyAlgorithm::ed25519, "ed");
    test::OpendkimSigner ref(milter::DkimSigner::signed_headers(), milter::DkimSigner::oversigned_headers(), kTime);

    std::ofstream keys(out + "/keys.tsv"), report(out + "/report.tsv");
    if (!keys || !report) {
        std::cerr << "dkim-corpus: cannot write in " << out << "\n";
        return 1;
    }
    std::vector<std::pair<std::string, std::string>> published;
    size_t same = 0, total = 0;
    for (const Case& k : cases) {
        for (int a = 0; a < 2; ++a) {
            const bool is_ed = a == 1;
            const std::string alg = is_ed ? "ed25519" : "rsa";
            Case kk = k;
            kk.selector = k.selector + "-" + alg;
            const std::string txt = dkim_txt_value(is_ed ? KeyAlgorithm::ed25519 : KeyAlgorithm::rsa,
                                                   is_ed ? ed.public_b64 : rsa.public_b64);
            const std::string host = kk.selector + "._domainkey." + kk.domain;
            if (std::find(published.begin(), published.end(), std::make_pair(host, txt)) == published.end()) {
                published.push_back({host, txt});
                keys << kk.selector << '\t' << kk.domain << '\t' << txt << '\n';
            }
            const auto& key = is_ed ? ed_key : rsa_key;
            const std::string own = own_sign(key, kk, 0);
            bool chunking_ok = true;
            for (size_t chunk : {1, 7, 4096})
                if (own_sign(key, kk, chunk) != own) chunking_ok = false;
            // libopendkim wants a body that ends in CRLF, as every MTA
            // delivers it (the old wrapper added it the same way).
            std::string body = kk.body;
            if (!body.empty() && body.compare(body.size() - std::min<size_t>(2, body.size()), 2, "\r\n") != 0)
                body += "\r\n";
            std::vector<std::pair<std::string, std::string>> hdrs;
            for (const auto& [n, v] : kk.headers) hdrs.push_back({n, crlf_folds(v)});
            std::string theirs;
            try {
                theirs = ref.sign(is_ed ? ed.private_pem : rsa.private_pem, is_ed, kk.domain, kk.selector, hdrs, body);
            } catch (const std::exception& e) {
                theirs = std::string("(libopendkim failed: ") + e.what() + ")";
            }
            const bool identical = crlf_folds(own) == theirs;
            ++total;
            if (identical) ++same;
            auto write = [&](const std::string& which, const std::string& sig) {
                const std::string path = out + "/" + k.name + "." + alg + "." + which + ".eml";
                std::ofstream f(path, std::ios::binary);
                if (!f) throw std::runtime_error("cannot write " + path);
                f << "DKIM-Signature: " << crlf_folds(sig) << "\r\n";
                for (const auto& [n, v] : hdrs) f << n << ':' << v << "\r\n";
                f << "\r\n" << body;  // as delivered: SMTP ends the last line
            };
            write("own", own);
            write("ref", theirs);
            report << k.name << '\t' << alg << '\t' << (identical ? 1 : 0) << '\t' << (chunking_ok ? 1 : 0) << '\t'
                   << (k.note.empty() ? "same" : "rfc") << '\t' << (k.note.empty() ? "-" : k.note) << '\n';
            if (!identical && k.note.empty())
                std::cerr << "dkim-corpus: " << k.name << " " << alg << ": signatures differ\n  own: " << own
                          << "\n  ref: " << lf_folds(theirs) << "\n";
        }
    }
    std::cout << "dkim-corpus: " << total << " signatures, " << same << " byte-identical to libopendkim's\n";
    return 0;
}
