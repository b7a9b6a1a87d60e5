#include "attnd/data/email.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <vector>

#include "attnd/core/strings.h"
#include "attnd/data/utf8.h"

namespace attnd {

namespace {

constexpr int kMaxDepth = 8;  // nested multiparts / forwarded messages; deeper is dropped

struct Part {
  std::map<std::string, std::string> headers;  // lower-case name -> first value, unfolded
  std::string_view body;
};

// The line starting at pos (without \n) and the position after it.
std::string_view line_at(std::string_view s, size_t pos, size_t& next) {
  size_t end = s.find('\n', pos);
  if (end == std::string_view::npos) end = s.size();
  next = end + 1;
  return s.substr(pos, end - pos);
}

// "Name: value" with a printable, colon-free name.
bool is_header_line(std::string_view line) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  return std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(colon),
                     [](char c) { return c > 32 && c < 127; });
}

// Splits a message (or MIME part) into headers and body. Text with no header block is all body.
Part parse_part(std::string_view raw) {
  Part part;
  size_t pos = 0, next = 0;
  if (starts_with(raw, "From ")) line_at(raw, 0, pos);  // mbox separator line
  if (!is_header_line(line_at(raw, pos, next))) {
    part.body = raw.substr(std::min(pos, raw.size()));
    return part;
  }
  std::string name, value;
  const auto flush = [&] {
    if (!name.empty()) part.headers.emplace(to_lower(name), std::string(trim(value)));
    name.clear();
    value.clear();
  };
  while (pos < raw.size()) {
    const std::string_view line = line_at(raw, pos, next);
    if (trim(line).empty()) {
      pos = next;
      break;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !name.empty()) {
      value += ' ';
      value += trim(line);
    } else if (is_header_line(line)) {
      flush();
      const size_t colon = line.find(':');
      name = std::string(line.substr(0, colon));
      value = std::string(line.substr(colon + 1));
    }  // else: a malformed line inside the header block; skip it
    pos = next;
  }
  flush();
  part.body = raw.substr(std::min(pos, raw.size()));
  return part;
}

std::string header(const Part& part, const std::string& name) {
  const auto it = part.headers.find(name);
  return it == part.headers.end() ? std::string() : it->second;
}

// "text/html; charset=..." -> "text/html"; empty -> "text/plain" (the RFC 2045 default).
std::string media_type(const std::string& content_type) {
  const std::string type =
      to_lower(trim(std::string_view(content_type).substr(0, content_type.find(';'))));
  return type.empty() ? "text/plain" : type;
}

// The value of parameter `name` in a header such as Content-Type, quoted or not.
std::string header_param(const std::string& value, const std::string& name) {
  const std::string low = to_lower(value);
  size_t pos = 0;
  while ((pos = low.find(name, pos)) != std::string::npos) {
    const bool boundary_before =
        pos == 0 || low[pos - 1] == ';' || std::isspace(static_cast<unsigned char>(low[pos - 1]));
    size_t p = pos + name.size();
    while (p < low.size() && low[p] == ' ') ++p;
    if (!boundary_before || p >= low.size() || low[p] != '=') {
      pos += name.size();
      continue;
    }
    ++p;
    while (p < low.size() && low[p] == ' ') ++p;
    if (p < value.size() && value[p] == '"') {
      const size_t end = value.find('"', p + 1);
      return value.substr(p + 1, end == std::string::npos ? std::string::npos : end - p - 1);
    }
    size_t end = p;
    while (end < value.size() && value[end] != ';' &&
           !std::isspace(static_cast<unsigned char>(value[end])))
      ++end;
    return value.substr(p, end - p);
  }
  return "";
}

std::vector<std::string_view> split_multipart(std::string_view body, const std::string& boundary) {
  const std::string delimiter = "--" + boundary;
  std::vector<std::string_view> parts;
  size_t pos = 0, next = 0, start = std::string_view::npos;
  while (pos < body.size()) {
    const std::string_view line = line_at(body, pos, next);
    if (starts_with(line, delimiter)) {
      if (start != std::string_view::npos) parts.push_back(body.substr(start, pos - start));
      if (starts_with(line.substr(delimiter.size()), "--")) return parts;  // closing delimiter
      start = std::min(next, body.size());
    }
    pos = next;
  }
  if (start != std::string_view::npos) parts.push_back(body.substr(start));  // unterminated
  return parts;
}

bool looks_like_html(std::string_view text) {
  const std::string head = to_lower(text.substr(0, 4096));
  return head.find("<html") != std::string::npos || head.find("<body") != std::string::npos ||
         head.find("<!doctype html") != std::string::npos;
}

std::string collapse_whitespace(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string message_text(std::string_view raw, int depth);

std::string part_text(const Part& part, int depth) {
  if (depth > kMaxDepth) return "";
  const std::string type = media_type(header(part, "content-type"));
  if (starts_with(type, "multipart/")) {
    const std::string boundary = header_param(header(part, "content-type"), "boundary");
    if (!boundary.empty()) {
      std::vector<Part> parts;
      for (std::string_view raw : split_multipart(part.body, boundary))
        parts.push_back(parse_part(raw));
      if (type == "multipart/alternative") {
        // The same content several times: the plain-text version when there is one.
        for (const Part& p : parts)
          if (media_type(header(p, "content-type")) == "text/plain") {
            std::string text = part_text(p, depth + 1);
            if (!trim(text).empty()) return text;
          }
      }
      std::string out;
      for (const Part& p : parts) {
        std::string text = part_text(p, depth + 1);
        if (trim(text).empty()) continue;
        if (!out.empty()) out += '\n';
        out += text;
        if (type == "multipart/alternative") break;
      }
      return out;
    }
  } else if (type == "message/rfc822") {
    return message_text(part.body, depth + 1);
  } else if (!starts_with(type, "text/")) {
    return "";  // images, attachments
  }
  const std::string encoding = to_lower(trim(header(part, "content-transfer-encoding")));
  std::string decoded = encoding == "quoted-printable" ? decode_quoted_printable(part.body)
                        : encoding == "base64"         ? decode_base64(part.body)
                                                       : std::string(part.body);
  decoded = to_valid_utf8(decoded);
  if (type == "text/html" || looks_like_html(decoded)) return html_to_text(decoded);
  return decoded;
}

std::string message_text(std::string_view raw, int depth) {
  const Part part = parse_part(raw);
  const std::string subject =
      collapse_whitespace(to_valid_utf8(decode_encoded_words(header(part, "subject"))));
  return subject + "\n" + collapse_whitespace(part_text(part, depth));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string email_to_text(std::string_view raw) {
  std::string unix_lines;  // CRLF -> LF once, so the parser only knows \n
  unix_lines.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i)
    if (!(raw[i] == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n')) unix_lines.push_back(raw[i]);
  return message_text(unix_lines, 0);
}

std::string decode_quoted_printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 1 < s.size() && s[i + 1] == '\n') {  // soft line break
      ++i;
      continue;
    }
    if (i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back('=');  // not an escape: keep it (lenient, as mail readers are)
  }
  return out;
}

std::string decode_base64(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : s) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else if (c == '=')
      break;
    else
      continue;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

std::string html_to_text(std::string_view html) {
  std::string out;
  out.reserve(html.size());
  const std::string low = to_lower(html);
  size_t i = 0;
  while (i < html.size()) {
    const char c = html[i];
    if (c == '<') {
      if (low.compare(i, 4, "<!--") == 0) {
        const size_t end = low.find("-->", i + 4);
        i = end == std::string::npos ? html.size() : end + 3;
        out.push_back(' ');
        continue;
      }
      for (const char* skipped : {"script", "style"}) {
        const std::string open = std::string("<") + skipped;
        if (low.compare(i, open.size(), open) == 0) {
          const size_t end = low.find(std::string("</") + skipped, i);
          i = end == std::string::npos ? html.size() : end;
          break;
        }
      }
      if (i >= html.size()) break;
      const size_t end = html.find('>', i);
      i = end == std::string_view::npos ? html.size() : end + 1;
      out.push_back(' ');  // a tag separates words (<br>, </td>, ...)
      continue;
    }
    if (c == '&') {
      const size_t semi = html.find(';', i);
      if (semi != std::string_view::npos && semi - i <= 10) {
        const std::string name = low.substr(i + 1, semi - i - 1);
        char32_t cp = 0;
        if (name == "nbsp")
          cp = ' ';
        else if (name == "amp")
          cp = '&';
        else if (name == "lt")
          cp = '<';
        else if (name == "gt")
          cp = '>';
        else if (name == "quot")
          cp = '"';
        else if (name == "apos")
          cp = '\'';
        else if (name == "copy")
          cp = 0xA9;
        else if (name == "reg")
          cp = 0xAE;
        else if (name.size() > 1 && name[0] == '#') {
          const bool hex = name[1] == 'x';
          const std::string digits = name.substr(hex ? 2 : 1);
          if (!digits.empty() && digits.size() <= 7 &&
              std::all_of(digits.begin(), digits.end(), [&](char d) {
                return hex ? hex_value(d) >= 0 : std::isdigit(static_cast<unsigned char>(d)) != 0;
              }))
            cp = static_cast<char32_t>(std::stoul(digits, nullptr, hex ? 16 : 10));
        }
        if (cp != 0) {
          append_utf8(out, cp);
          i = semi + 1;
          continue;
        }
      }
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

std::string decode_encoded_words(std::string_view header) {
  std::string out;
  size_t i = 0;
  while (i < header.size()) {
    const size_t start = header.find("=?", i);
    if (start == std::string_view::npos) break;
    // =?charset?encoding?text?=
    const size_t q1 = header.find('?', start + 2);
    const size_t q2 = q1 == std::string_view::npos ? q1 : header.find('?', q1 + 1);
    const size_t end = q2 == std::string_view::npos ? q2 : header.find("?=", q2 + 1);
    if (end == std::string_view::npos || q2 != q1 + 2) {
      out.append(header.substr(i, start + 2 - i));
      i = start + 2;
      continue;
    }
    out.append(header.substr(i, start - i));
    const char encoding =
        static_cast<char>(std::tolower(static_cast<unsigned char>(header[q1 + 1])));
    const std::string_view text = header.substr(q2 + 1, end - q2 - 1);
    if (encoding == 'b') {
      out += decode_base64(text);
    } else {
      std::string q(text);
      std::replace(q.begin(), q.end(), '_', ' ');
      out += decode_quoted_printable(q);
    }
    i = end + 2;
  }
  out.append(header.substr(std::min(i, header.size())));
  return out;
}

}  // namespace attnd
