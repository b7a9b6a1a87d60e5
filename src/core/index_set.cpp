#include "attnd/core/index_set.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "attnd/core/error.h"
#include "attnd/core/parse_number.h"

namespace attnd {

namespace {

// "key: " for a lone index, "key = 'spec': " for an item inside a longer spec.
std::string where(const std::string& key, const std::string& spec, const std::string& item) {
  return spec == item ? key + ": " : key + " = '" + spec + "': ";
}

std::string trimmed(const std::string& s) {
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  auto begin = std::find_if_not(s.begin(), s.end(), space);
  auto end = std::find_if_not(s.rbegin(), s.rend(), space).base();
  return begin < end ? std::string(begin, end) : std::string();
}

// A count such as the k of "first:k": any non-negative integer.
int64_t parse_count(const std::string& item, const std::string& spec, const std::string& key) {
  const auto value = to_int64(trimmed(item));
  if (value && *value >= 0) return *value;
  throw_input_error(where(key, spec, item), "'", item, "' is not a non-negative integer");
}

int64_t parse_index_in(const std::string& item, const std::string& spec, const IndexRange& range,
                       const std::string& key) {
  const auto v = parse_count(item, spec, key);
  if (v < range.size) return v;
  if (range.size <= 0)
    throw_input_error(where(key, spec, item), "'", item, "' is not a ", range.noun,
                      " (there are none)");
  throw_input_error(where(key, spec, item), "'", item, "' is not a ", range.noun,
                    " (out of range 0..", range.size - 1, ")");
}

// The comma-separated items of spec, as std::getline sees them ("" has none, a trailing comma
// adds none).
std::vector<std::string> items_of(const std::string& spec) {
  std::vector<std::string> out;
  std::stringstream in(spec);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

std::vector<int64_t> sorted_list(const std::string& spec, const IndexRange& range,
                                 const std::string& key) {
  std::vector<int64_t> out;
  for (const auto& item : items_of(spec)) out.push_back(parse_index_in(item, spec, range, key));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<int64_t> iota(int64_t from, int64_t to) {
  std::vector<int64_t> out;
  for (int64_t i = from; i < to; ++i) out.push_back(i);
  return out;
}

}  // namespace

int64_t parse_index(const std::string& text, const IndexRange& range, const std::string& key) {
  return parse_index_in(text, text, range, key);
}

std::vector<int64_t> parse_index_set(const std::string& spec, const IndexRange& range,
                                     const std::string& key) {
  const int64_t n = range.size;
  if (spec == "all") return iota(0, n);
  if (spec == "none") return {};
  const auto colon = spec.find(':');
  if (colon == std::string::npos) return sorted_list(spec, range, key);
  const auto kind = spec.substr(0, colon);
  const auto k = parse_count(spec.substr(colon + 1), spec, key);
  ATTND_CHECK_INPUT(k <= n, key, " = '", spec, "': the model has only ", n, " ", range.noun, "s");
  if (kind == "all_but_last") return iota(0, n - k);
  if (kind == "first") return iota(0, k);
  if (kind == "last") return iota(n - k, n);
  throw_input_error(key, " = '", spec, "': expected all, none, all_but_last:k, first:k, last:k or ",
                    "a list like 0,1,2");
}

std::vector<int64_t> parse_index_subset(const std::string& spec, const IndexRange& range,
                                        const std::string& key) {
  const int64_t n = range.size;
  if (spec == "all") return {};
  if (spec.rfind("first:", 0) == 0) {
    const auto k = parse_count(spec.substr(6), spec, key);
    ATTND_CHECK_INPUT(k >= 1 && k <= n, key, " = '", spec, "': expected 1..", n, " ", range.noun, "s");
    return k == n ? std::vector<int64_t>{} : iota(0, k);
  }
  auto list = sorted_list(spec, range, key);
  ATTND_CHECK_INPUT(!list.empty(), key, " = '", spec, "': no ", range.noun, "s given (expected all, "
                    "first:k or a list like 0,1)");
  return static_cast<int64_t>(list.size()) == n ? std::vector<int64_t>{} : list;
}

std::vector<std::pair<int64_t, int64_t>> parse_index_pairs(const std::string& spec,
                                                           const IndexRange& first,
                                                           const IndexRange& second,
                                                           const std::string& key) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& item : items_of(spec)) {
    const auto colon = item.find(':');
    ATTND_CHECK_INPUT(colon != std::string::npos, where(key, spec, item), "'", item,
                      "' is not a pair a:b (a ", first.noun, ", b ", second.noun,
                      "; e.g. \"0:0,1:2\")");
    out.emplace_back(parse_index_in(item.substr(0, colon), spec, first, key),
                     parse_index_in(item.substr(colon + 1), spec, second, key));
  }
  return out;
}

}  // namespace attnd
