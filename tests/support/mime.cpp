#include "support/mime.hpp"

#include <algorithm>
#include <cctype>

namespace ribbon::test::mime {

namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) ++b;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n'))
        --e;
    return s.substr(b, e - b);
}

// End of the line starting at pos (index just past its LF, or size()).
size_t line_end(const std::string& s, size_t pos) {
    const size_t nl = s.find('\n', pos);
    return nl == std::string::npos ? s.size() : nl + 1;
}

// The line's content without CR/LF.
std::string line_content(const std::string& s, size_t pos, size_t end) {
    size_t e = end;
    if (e > pos && s[e - 1] == '\n') --e;
    if (e > pos && s[e - 1] == '\r') --e;
    return s.substr(pos, e - pos);
}

}  // namespace

std::string Field::value() const {
    const auto colon = raw.find(':');
    std::string v = colon == std::string::npos ? std::string() : raw.substr(colon + 1);
    std::string out;
    for (char c : v)
        if (c != '\r' && c != '\n') out += c;
    return trim(out);
}

std::optional<std::string> Entity::get(const std::string& name) const {
    const std::string n = lower(name);
    for (const auto& f : fields)
        if (lower(f.name) == n) return f.value();
    return std::nullopt;
}

size_t Entity::count(const std::string& name) const {
    const std::string n = lower(name);
    return static_cast<size_t>(
        std::count_if(fields.begin(), fields.end(), [&](const Field& f) { return lower(f.name) == n; }));
}

std::string Entity::headers_raw() const {
    std::string s;
    for (const auto& f : fields) s += f.raw;
    return s;
}

Entity parse_entity(const std::string& raw) {
    Entity e;
    size_t pos = 0;
    while (pos < raw.size()) {
        const size_t end = line_end(raw, pos);
        const std::string content = line_content(raw, pos, end);
        if (content.empty()) {  // the separator line
            e.separator = raw.substr(pos, end - pos);
            pos = end;
            break;
        }
        if ((content[0] == ' ' || content[0] == '\t') && !e.fields.empty()) {
            e.fields.back().raw += raw.substr(pos, end - pos);
        } else {
            const auto colon = content.find(':');
            if (colon == std::string::npos) break;  // not a header: body starts here
            e.fields.push_back({trim(content.substr(0, colon)), raw.substr(pos, end - pos)});
        }
        pos = end;
    }
    e.body = raw.substr(pos);
    return e;
}

std::string ContentType::param(const std::string& name) const {
    const auto it = params.find(lower(name));
    return it == params.end() ? std::string() : it->second;
}

ContentType parse_content_type(const std::string& value) {
    ContentType ct;
    size_t i = 0;
    const size_t n = value.size();
    auto skip_ws = [&] {
        while (i < n && std::isspace(static_cast<unsigned char>(value[i]))) ++i;
    };
    skip_ws();
    const size_t start = i;
    while (i < n && value[i] != ';') ++i;
    ct.type = lower(trim(value.substr(start, i - start)));
    while (i < n) {
        ++i;  // ';'
        skip_ws();
        const size_t ns = i;
        while (i < n && value[i] != '=' && value[i] != ';') ++i;
        std::string name = lower(trim(value.substr(ns, i - ns)));
        if (i >= n || value[i] != '=') continue;
        ++i;
        skip_ws();
        std::string v;
        if (i < n && value[i] == '"') {
            ++i;
            while (i < n && value[i] != '"') {
                if (value[i] == '\\' && i + 1 < n) ++i;
                v += value[i++];
            }
            if (i < n) ++i;
            while (i < n && value[i] != ';') ++i;
        } else {
            const size_t vs = i;
            while (i < n && value[i] != ';') ++i;
            v = trim(value.substr(vs, i - vs));
        }
        if (!name.empty()) ct.params[name] = v;
    }
    return ct;
}

ContentType content_type_of(const Entity& e) {
    const auto v = e.get("Content-Type");
    if (!v) return parse_content_type("text/plain; charset=us-ascii");
    return parse_content_type(*v);
}

std::string transfer_encoding_of(const Entity& e) {
    const auto v = e.get("Content-Transfer-Encoding");
    return v ? lower(trim(*v)) : std::string("7bit");
}

std::string Multipart::join() const {
    std::string s = glue.empty() ? std::string() : glue[0];
    for (size_t i = 0; i < parts.size(); ++i) s += parts[i] + glue[i + 1];
    return s;
}

std::optional<Multipart> split_multipart(const std::string& body, const std::string& boundary) {
    if (boundary.empty()) return std::nullopt;
    const std::string delim = "--" + boundary;
    Multipart mp;
    size_t pos = 0;
    size_t seg_start = 0;  // start of the current glue or part
    bool in_part = false;
    while (pos < body.size()) {
        const size_t end = line_end(body, pos);
        std::string c = line_content(body, pos, end);
        while (!c.empty() && (c.back() == ' ' || c.back() == '\t')) c.pop_back();
        const bool is_close = c == delim + "--";
        if (c == delim || is_close) {
            // The line break before the delimiter belongs to it.
            size_t cut = pos;
            if (in_part || pos > 0) {
                if (cut > seg_start && body[cut - 1] == '\n') --cut;
                if (cut > seg_start && body[cut - 1] == '\r') --cut;
            }
            if (in_part) {
                mp.parts.push_back(body.substr(seg_start, cut - seg_start));
                mp.glue.push_back(body.substr(cut, end - cut));
            } else if (mp.glue.empty()) {
                mp.glue.push_back(body.substr(0, end));
            } else {
                mp.glue.back() += body.substr(seg_start, end - seg_start);
            }
            seg_start = end;
            if (is_close) {
                mp.glue.back() += body.substr(end);
                mp.closed = true;
                return mp;
            }
            in_part = true;
        }
        pos = end;
    }
    if (mp.glue.empty()) return std::nullopt;
    // Unterminated: the rest is the last part.
    mp.parts.push_back(body.substr(seg_start));
    mp.glue.emplace_back();
    return mp;
}

std::string map_leaves(const std::string& raw, const std::function<void(Entity&)>& fn) {
    Entity e = parse_entity(raw);
    const ContentType ct = content_type_of(e);
    if (ct.type.rfind("multipart/", 0) == 0) {
        if (auto mp = split_multipart(e.body, ct.param("boundary"))) {
            for (auto& p : mp->parts) p = map_leaves(p, fn);
            e.body = mp->join();
            return e.raw();
        }
    }
    fn(e);
    return e.raw();
}

std::string to_crlf(const std::string& s) {
    std::string o;
    o.reserve(s.size() + s.size() / 40);
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) o += '\r';
        o += s[i];
    }
    return o;
}

std::string to_lf(const std::string& s) {
    std::string o;
    o.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
        o += s[i];
    }
    return o;
}

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < s.size()) {
        const size_t end = line_end(s, pos);
        out.push_back(line_content(s, pos, end));
        pos = end;
    }
    return out;
}

namespace {
int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}
}  // namespace

std::string base64_decode(const std::string& s) {
    std::string out;
    unsigned acc = 0;
    int bits = 0;
    for (unsigned char c : s) {
        if (c == '=') break;
        const int v = b64_value(c);
        if (v < 0) continue;
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    return out;
}

std::string base64_encode(const std::string& bytes, size_t width, const std::string& eol) {
    static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string flat;
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                           (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                           static_cast<unsigned char>(bytes[i + 2]);
        flat += tbl[(v >> 18) & 63]; flat += tbl[(v >> 12) & 63];
        flat += tbl[(v >> 6) & 63]; flat += tbl[v & 63];
    }
    if (i < bytes.size()) {
        unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
        if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        flat += tbl[(v >> 18) & 63]; flat += tbl[(v >> 12) & 63];
        flat += i + 1 < bytes.size() ? tbl[(v >> 6) & 63] : '=';
        flat += '=';
    }
    std::string out;
    for (size_t p = 0; p < flat.size(); p += width) out += flat.substr(p, width) + eol;
    return out;
}

std::string qp_decode(const std::string& s) {
    std::string out;
    for (const auto& line0 : lines_of(s)) {
        std::string line = line0;
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.pop_back();
        bool soft = false;
        for (size_t i = 0; i < line.size(); ++i) {
            if (line[i] != '=') { out += line[i]; continue; }
            if (i + 1 == line.size()) { soft = true; break; }
            if (i + 2 < line.size() && std::isxdigit(static_cast<unsigned char>(line[i + 1])) &&
                std::isxdigit(static_cast<unsigned char>(line[i + 2]))) {
                out += static_cast<char>(std::stoi(line.substr(i + 1, 2), nullptr, 16));
                i += 2;
            } else {
                out += '=';
            }
        }
        if (!soft) out += "\r\n";
    }
    // lines_of() cannot tell whether the input ended with a line break.
    if (!s.empty() && s.back() != '\n' && out.size() >= 2 && out.ends_with("\r\n"))
        out.resize(out.size() - 2);
    return out;
}

std::string qp_encode(const std::string& bytes) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    const auto lines = lines_of(bytes);
    for (size_t li = 0; li < lines.size(); ++li) {
        const std::string& line = lines[li];
        std::string cur;
        for (size_t i = 0; i < line.size(); ++i) {
            const unsigned char c = static_cast<unsigned char>(line[i]);
            const bool last = i + 1 == line.size();
            std::string tok;
            if (c == '=' || c >= 127 || (c < 32 && c != '\t') || ((c == ' ' || c == '\t') && last) ||
                (i == 0 && c == '.') || (i == 0 && line.rfind("From ", 0) == 0)) {
                tok = {'=', hex[c >> 4], hex[c & 15]};
            } else {
                tok = std::string(1, static_cast<char>(c));
            }
            if (cur.size() + tok.size() > 75) {
                out += cur + "=\r\n";
                cur.clear();
            }
            cur += tok;
        }
        out += cur;
        if (li + 1 < lines.size() || (!bytes.empty() && bytes.back() == '\n')) out += "\r\n";
    }
    return out;
}

std::vector<Leaf> decoded_leaves(const std::string& raw) {
    std::vector<Leaf> leaves;
    map_leaves(raw, [&](Entity& e) {
        const ContentType ct = content_type_of(e);
        const std::string cte = transfer_encoding_of(e);
        Leaf l;
        l.type = ct.type;
        l.filename = ct.param("name");
        if (cte == "base64") l.data = base64_decode(e.body);
        else if (cte == "quoted-printable") l.data = qp_decode(e.body);
        else l.data = e.body;
        leaves.push_back(std::move(l));
    });
    return leaves;
}

}  // namespace ribbon::test::mime
