// Layer and head selections written in recipes and configs: one index ("3"), an index set
// ("all", "last:2", "0,2,3"), a subset of heads ("first:2") and index pairs ("0:0,1:2").
// Every error is an InputError that names the config key, the text and the allowed range, e.g.
//   transfer.layers = '0,9': '9' is not a layer (out of range 0..3)
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace attnd {

// What is indexed: indices 0..size-1 of a singular noun ("layer", "head", "teacher layer").
struct IndexRange {
  int64_t size = 0;
  std::string noun = "layer";
};

// A non-negative integer below range.size (surrounding spaces allowed).
int64_t parse_index(const std::string& text, const IndexRange& range, const std::string& key);

// "all", "none", "all_but_last:k", "first:k", "last:k" (k <= size) or a list "3,1" (sorted, without
// duplicates; "" is the empty list).
std::vector<int64_t> parse_index_set(const std::string& spec, const IndexRange& range,
                                     const std::string& key);

// A subset that is never empty: "all", "first:k" (1 <= k <= size) or a non-empty list. Every index
// selected, however written, gives {} (= all), so callers need no special case for "all".
std::vector<int64_t> parse_index_subset(const std::string& spec, const IndexRange& range,
                                        const std::string& key);

// "a:b,c:d": a within `first`, b within `second`, in the order written (repeats kept).
std::vector<std::pair<int64_t, int64_t>> parse_index_pairs(const std::string& spec,
                                                           const IndexRange& first,
                                                           const IndexRange& second,
                                                           const std::string& key);

}  // namespace attnd
