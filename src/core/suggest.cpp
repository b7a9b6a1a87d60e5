#include "attnd/core/suggest.h"

#include <algorithm>
#include <limits>
#include <unordered_set>

#include "attnd/core/error.h"

namespace attnd {

size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  // Three rolling rows: the transposition step looks two rows back.
  std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

namespace {

size_t threshold(const std::string& word) { return std::max<size_t>(2, word.size() / 3); }

std::string last_segment(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

// The candidate with the smallest distance under `limit` after applying `project` to both sides.
template <typename Project>
std::string best_match(const std::string& word, const std::vector<std::string>& candidates,
                       Project project) {
  const std::string w = project(word);
  const size_t limit = threshold(w);
  size_t best = std::numeric_limits<size_t>::max();
  std::string best_candidate;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(w, project(c));
    if (d <= limit && d < best) {
      best = d;
      best_candidate = c;
    }
  }
  return best_candidate;
}

}  // namespace

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  std::string match = best_match(word, candidates, [](const std::string& s) { return s; });
  if (!match.empty()) return match;
  // A key put in the wrong section (or given without one) is still worth pointing at, but only
  // when its own name is long enough to carry meaning.
  if (last_segment(word).size() < 2) return "";
  return best_match(word, candidates, last_segment);
}

void check_known_keys(const std::vector<std::string>& present, const std::vector<std::string>& known,
                      const std::string& where) {
  const std::unordered_set<std::string> known_set(known.begin(), known.end());
  for (const auto& key : present) {
    if (known_set.count(key)) continue;
    const std::string match = closest_match(key, known);
    if (!match.empty())
      throw_input_error("unknown key '", key, "' in ", where, " (did you mean '", match, "'?)");
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw_input_error("unknown key '", key, "' in ", where, "; valid keys: ",
                      list.empty() ? "(none)" : list);
  }
}

}  // namespace attnd
