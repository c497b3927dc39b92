#include "support/transit.hpp"

#include "support/mime.hpp"

#include <cctype>

namespace ribbon::test::transit {

namespace {

std::string eol_of(const std::string& m) {
    const auto nl = m.find('\n');
    return nl != std::string::npos && nl > 0 && m[nl - 1] == '\r' ? "\r\n" : "\n";
}

// Calls fn(content, eol) for every line; concatenates what fn returns.
template <typename F>
std::string per_line(const std::string& m, F fn) {
    std::string out;
    out.reserve(m.size() + 64);
    size_t pos = 0;
    while (pos < m.size()) {
        size_t nl = m.find('\n', pos);
        size_t end = nl == std::string::npos ? m.size() : nl + 1;
        size_t cend = nl == std::string::npos ? m.size() : nl;
        if (cend > pos && m[cend - 1] == '\r') --cend;
        out += fn(m.substr(pos, cend - pos), m.substr(cend, end - cend));
        pos = end;
    }
    return out;
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

std::string crlf_to_lf(const std::string& m) { return mime::to_lf(m); }
std::string lf_to_crlf(const std::string& m) { return mime::to_crlf(m); }

std::string strip_trailing_whitespace(const std::string& m) {
    return per_line(m, [](std::string c, const std::string& eol) {
        while (!c.empty() && (c.back() == ' ' || c.back() == '\t')) c.pop_back();
        return c + eol;
    });
}

std::string mbox_from_escape(const std::string& m) {
    return per_line(m, [](const std::string& c, const std::string& eol) {
        return (c.rfind("From ", 0) == 0 ? ">" : "") + c + eol;
    });
}

std::string prepend_received(const std::string& m) {
    const std::string e = eol_of(m);
    return "Received: from mail.bank.example (mail.bank.example [192.0.2.10])" + e +
           "\tby mx.customer.example (Postfix) with ESMTPS id 4TqZ1x2Y3z;" + e +
           "\tMon, 11 Mar 2024 10:00:02 +0000 (UTC)" + e + m;
}

std::string refold_outer_headers(const std::string& m, size_t width) {
    mime::Entity e = mime::parse_entity(m);
    const std::string eol = eol_of(m);
    for (auto& f : e.fields) {
        // Unfold: drop the line breaks, keep the white space after them.
        std::string un;
        for (char c : f.raw)
            if (c != '\r' && c != '\n') un += c;
        // Break only at white space outside quoted strings.
        std::string folded, line;
        bool quoted = false;
        size_t i = 0;
        while (i < un.size()) {
            size_t j = i;
            if (std::isspace(static_cast<unsigned char>(un[j]))) ++j;  // segment starts with WSP
            while (j < un.size() && (quoted || !std::isspace(static_cast<unsigned char>(un[j])))) {
                if (un[j] == '"') quoted = !quoted;
                else if (un[j] == '\\' && j + 1 < un.size()) ++j;
                ++j;
            }
            const std::string seg = un.substr(i, j - i);
            if (!line.empty() && line.size() + seg.size() > width &&
                std::isspace(static_cast<unsigned char>(seg[0]))) {
                folded += line + eol;
                line = seg;
            } else {
                line += seg;
            }
            i = j;
        }
        f.raw = folded + line + eol;
    }
    return e.raw();
}

std::string split_long_lines(const std::string& m, size_t limit) {
    return per_line(m, [limit](const std::string& c, const std::string& eol) {
        if (c.size() <= limit) return c + eol;
        const std::string brk = eol.empty() ? std::string("\r\n") : eol;
        std::string out;
        for (size_t p = 0; p < c.size(); p += limit)
            out += c.substr(p, limit) + (p + limit < c.size() ? brk : eol);
        return out;
    });
}

std::string rewrap_base64(const std::string& m, size_t width) {
    const std::string eol = eol_of(m);
    return mime::map_leaves(m, [&](mime::Entity& e) {
        if (mime::transfer_encoding_of(e) != "base64") return;
        std::string flat;
        for (char c : e.body)
            if (!std::isspace(static_cast<unsigned char>(c))) flat += c;
        std::string body;
        for (size_t p = 0; p < flat.size(); p += width) body += flat.substr(p, width) + eol;
        // Keep a body that ended without a line break that way (the break
        // before a boundary delimiter belongs to the delimiter).
        if (!e.body.empty() && e.body.back() != '\n' && body.ends_with(eol))
            body.resize(body.size() - eol.size());
        e.body = body;
    });
}

std::string downgrade_8bit(const std::string& m) {
    const std::string eol = eol_of(m);
    return mime::map_leaves(m, [&](mime::Entity& e) {
        const std::string cte = mime::transfer_encoding_of(e);
        bool has8 = false;
        for (char c : e.body)
            if (static_cast<unsigned char>(c) >= 0x80) has8 = true;
        if (cte != "8bit" && cte != "binary" && !has8) return;
        if (cte == "base64" || cte == "quoted-printable") return;
        std::string qp = mime::qp_encode(e.body);
        if (eol == "\n") qp = mime::to_lf(qp);
        e.body = qp;
        const std::string field = "Content-Transfer-Encoding: quoted-printable" + eol;
        bool replaced = false;
        for (auto& f : e.fields)
            if (lower(f.name) == "content-transfer-encoding") {
                f.raw = field;
                replaced = true;
            }
        if (!replaced) e.fields.push_back({"Content-Transfer-Encoding", field});
        if (e.separator.empty()) e.separator = eol;
    });
}

std::string add_footer_part(const std::string& m) {
    mime::Entity e = mime::parse_entity(m);
    const std::string eol = eol_of(m);
    std::string inner_fields;
    std::vector<mime::Field> outer;
    for (const auto& f : e.fields) {
        const std::string n = lower(f.name);
        if (n.rfind("content-", 0) == 0) inner_fields += f.raw;
        else if (n != "mime-version") outer.push_back(f);
    }
    const std::string b = "list-footer-boundary";
    outer.push_back({"MIME-Version", "MIME-Version: 1.0" + eol});
    outer.push_back({"Content-Type", "Content-Type: multipart/mixed; boundary=\"" + b + "\"" + eol});
    e.fields = outer;
    e.separator = eol;
    e.body = "--" + b + eol + inner_fields + eol + e.body + eol + "--" + b + eol +
             "Content-Type: text/plain; charset=us-ascii" + eol + eol +
             "Lists mailing list" + eol + "lists@lists.example.org" + eol + "--" + b + "--" + eol;
    return e.raw();
}

std::string append_footer(const std::string& m) {
    const std::string eol = eol_of(m);
    bool done = false;
    return mime::map_leaves(m, [&](mime::Entity& e) {
        if (done || mime::content_type_of(e).type.rfind("text/", 0) != 0) return;
        done = true;
        if (!e.body.empty() && e.body.back() != '\n') e.body += eol;
        e.body += "_______________________________________________" + eol +
                  "Lists mailing list" + eol + "lists@lists.example.org" + eol;
    });
}

std::string change_inner_boundaries(const std::string& m) {
    // Every boundary parameter after the first (the top-level one).
    std::vector<std::string> found;
    const std::string key = "boundary=";
    const std::string low = lower(m);
    for (size_t at = low.find(key); at != std::string::npos; at = low.find(key, at + 1)) {
        size_t b = at + key.size();
        const bool quoted = b < m.size() && m[b] == '"';
        if (quoted) ++b;
        size_t e = b;
        while (e < m.size() && (quoted ? m[e] != '"' : !std::isspace(static_cast<unsigned char>(m[e])) && m[e] != ';')) ++e;
        found.push_back(m.substr(b, e - b));
    }
    // Only in the parameter and at the start of delimiter lines: the same
    // characters elsewhere (inside base64) are content.
    std::string out = m;
    for (size_t i = 1; i < found.size(); ++i) {
        const std::string to = "gateway-" + std::to_string(i) + "-" + found[i];
        for (const std::string& prefix : {std::string("\n--"), std::string("boundary=\""), std::string("boundary=")}) {
            const std::string from = prefix + found[i];
            for (size_t at = out.find(from); at != std::string::npos; at = out.find(from, at + prefix.size() + to.size())) {
                const size_t end = at + from.size();
                if (end < out.size() && prefix == "boundary=" && out[end] != ';' && out[end] != '\r' && out[end] != '\n') continue;
                out.replace(at + prefix.size(), found[i].size(), to);
            }
        }
    }
    return out;
}

std::string fold_inner_headers(const std::string& m, size_t width) {
    return mime::map_leaves(m, [&](mime::Entity& e) {
        const std::string headers = refold_outer_headers(e.headers_raw() + e.separator, width);
        e.fields = mime::parse_entity(headers).fields;
    });
}

std::string swap_inner_header_fields(const std::string& m) {
    bool done = false;
    return mime::map_leaves(m, [&](mime::Entity& e) {
        if (done || e.fields.size() < 2) return;
        done = true;
        std::swap(e.fields[0], e.fields[1]);
    });
}

namespace {
// UTF-8 to ISO-8859-1 for the characters it has; false when there is
// another one.
bool utf8_to_latin1(const std::string& in, std::string& out) {
    out.clear();
    for (size_t i = 0; i < in.size(); ++i) {
        const auto c = static_cast<unsigned char>(in[i]);
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else if ((c == 0xC2 || c == 0xC3) && i + 1 < in.size()) {
            out += static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(in[++i]) & 0x3F));
        } else {
            return false;
        }
    }
    return true;
}
}  // namespace

std::string convert_charset_to_latin1(const std::string& m) {
    return mime::map_leaves(m, [&](mime::Entity& e) {
        const mime::ContentType ct = mime::content_type_of(e);
        if (ct.type.rfind("text/", 0) != 0 || lower(ct.param("charset")) != "utf-8") return;
        const std::string cte = mime::transfer_encoding_of(e);
        if (cte == "base64") return;
        const bool qp = cte == "quoted-printable";
        std::string latin1;
        if (!utf8_to_latin1(qp ? mime::qp_decode(e.body) : e.body, latin1)) return;
        e.body = qp ? mime::qp_encode(latin1) : latin1;
        for (auto& f : e.fields) {
            if (lower(f.name) != "content-type") continue;
            const size_t at = lower(f.raw).find("charset=");
            const size_t v = at + 8 + (f.raw[at + 8] == '"' ? 1 : 0);
            f.raw.replace(v, 5, "iso-8859-1");
        }
    });
}

std::string to_bare_cr(const std::string& m) {
    std::string out;
    for (size_t i = 0; i < m.size(); ++i) {
        if (m[i] == '\r' && i + 1 < m.size() && m[i + 1] == '\n') continue;
        out += m[i] == '\n' ? '\r' : m[i];
    }
    return out;
}

std::string to_cr_crlf(const std::string& m) {
    std::string out;
    for (size_t i = 0; i < m.size(); ++i) {
        if (m[i] == '\n') out += i > 0 && m[i - 1] == '\r' ? "\r\n" : "\r\r\n";
        else out += m[i];
    }
    return out;
}

namespace {
std::string lf_then_crlf(const std::string& m) { return lf_to_crlf(crlf_to_lf(m)); }
std::string refold40(const std::string& m) { return refold_outer_headers(m, 40); }
std::string split998(const std::string& m) { return split_long_lines(m, 998); }
std::string rewrap76(const std::string& m) { return rewrap_base64(m, 76); }
}  // namespace

const std::vector<Transform>& all_transforms() {
    static const std::vector<Transform> t = {
        {"crlf_to_lf", crlf_to_lf},
        {"lf_to_crlf", lf_then_crlf},
        {"strip_trailing_whitespace", strip_trailing_whitespace},
        {"mbox_from_escape", mbox_from_escape},
        {"prepend_received", prepend_received},
        {"refold_outer_headers", refold40},
        {"split_long_lines", split998},
        {"rewrap_base64", rewrap76},
        {"downgrade_8bit", downgrade_8bit},
    };
    return t;
}

}  // namespace ribbon::test::transit
