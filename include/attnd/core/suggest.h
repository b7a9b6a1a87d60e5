// "Did you mean ...?" for misspelt keys, options and names.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace attnd {

// Optimal-string-alignment (Damerau-Levenshtein) distance: insertions, deletions, substitutions
// and transpositions of adjacent characters each cost 1.
size_t edit_distance(const std::string& a, const std::string& b);

// The candidate nearest to `word`, or "" if none is reasonably close (distance above
// max(2, word.size() / 3)). For dotted keys a candidate whose last segment is close to the
// word's last segment also counts ("lr" or "optim.lr" -> "train.lr"). Ties go to the earlier
// candidate.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// Throws InputError for the first key of `present` that is not in `known`:
//   unknown key 'train.lerning_rate' in recipes/x.toml (did you mean 'train.learning_rate'?)
// or, when nothing is close, the message lists the valid keys. `where` names the source
// (a file path, "--set").
void check_known_keys(const std::vector<std::string>& present, const std::vector<std::string>& known,
                      const std::string& where);

}  // namespace attnd
