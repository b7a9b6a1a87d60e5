#include "attnd/io/json_limits.h"

#include <cmath>
#include <cstdlib>
#include <vector>

#include "attnd/core/error.h"

namespace attnd {

namespace {

// Where the scanner is: one frame per open object or array.
struct Frame {
  bool array = false;
  bool expect_key = false;  // objects: the next string is a key
  std::string key;          // objects: the key of the current member
  size_t index = 0;         // arrays: the current element
};

// "a.b[3]"; a deep path is cut after its first levels.
std::string key_path(const std::vector<Frame>& stack) {
  constexpr size_t kShown = 8;
  std::string path;
  for (size_t i = 0; i < stack.size(); ++i) {
    const Frame& f = stack[i];
    if (i == kShown) {
      path += "... (" + std::to_string(stack.size()) + " levels)";
      break;
    }
    if (f.array) {
      path += "[" + std::to_string(f.index) + "]";
    } else if (!f.key.empty() || !path.empty()) {
      if (!path.empty()) path += '.';
      path += f.key;
    }
  }
  return path.empty() ? "(top level)" : path;
}

bool is_number_char(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

}  // namespace

void check_json_text(std::string_view text, const std::string& what, size_t max_depth) {
  std::vector<Frame> stack;
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    const char c = text[i];
    if (c == '"') {
      // A string: skip to its closing quote (escapes included); keep it if it is a key.
      const size_t start = i + 1;
      for (++i; i < n && text[i] != '"'; ++i)
        if (text[i] == '\\') ++i;
      if (!stack.empty() && !stack.back().array && stack.back().expect_key) {
        stack.back().key.assign(text.substr(start, std::min(i, n) - start));
        stack.back().expect_key = false;
      }
    } else if (c == '{' || c == '[') {
      if (stack.size() >= max_depth)
        throw_input_error(what, ": JSON nests deeper than ", max_depth, " levels at byte ", i,
                          " (key path ", key_path(stack), "); no valid file nests this deep");
      Frame f;
      f.array = c == '[';
      f.expect_key = c == '{';
      stack.push_back(std::move(f));
    } else if (c == '}' || c == ']') {
      if (!stack.empty()) stack.pop_back();
    } else if (c == ',') {
      if (!stack.empty()) {
        if (stack.back().array) ++stack.back().index;
        else stack.back().expect_key = true;
      }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t end = i;
      while (end < n && is_number_char(text[end])) ++end;
      const std::string token(text.substr(i, end - i));
      const double value = std::strtod(token.c_str(), nullptr);
      if (std::isinf(value))
        throw_input_error(what, ": key path ", key_path(stack), ": the number ", token,
                          " overflows a double (at byte ", i, "; expected a finite number)");
      i = end - 1;
    }
  }
}

nlohmann::json parse_json_text(std::string_view text, const std::string& what) {
  check_json_text(text, what);
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // Line and column of the byte the parser stopped at (e.byte is 1-based).
    size_t line = 1, column = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    // Keep nlohmann's explanation, drop its "[json.exception...] parse error at ...: " prefix.
    std::string detail = e.what();
    auto pos = detail.find(": ", detail.find(']'));
    if (pos != std::string::npos) detail = detail.substr(pos + 2);
    throw_input_error(what, ":", line, ":", column, ": invalid JSON: ", detail);
  } catch (const nlohmann::json::out_of_range& e) {
    // check_json_text finds the overflowing numbers nlohmann refuses; anything else lands here.
    throw_input_error(what, ": invalid JSON: ", e.what());
  }
}

}  // namespace attnd
