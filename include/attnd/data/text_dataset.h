// Labelled texts: readers for JSONL and TSV files, and deterministic stratified splits.
//
// Errors in user files are InputErrors that name the file and, for a bad line, "file:line".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attnd {

struct TextExample {
  std::string text;
  int64_t label = 0;  // class id in [0, number of classes); kNoLabel in unlabelled input
};

// Whether a reader requires each example's label. kOptional (inputs to predict): JSONL without
// "label", CSV without a label column and TSV lines without a tab give label kNoLabel.
enum class LabelRule { kRequired, kOptional };
inline constexpr int64_t kNoLabel = -1;

// The whole file as bytes. InputError naming `path` when it is missing or unreadable.
std::string read_text_file(const std::string& path);

// One JSON object per line: {"text": "...", "label": 1} or {"text": "...", "label": "spam"}.
// An integer label must be >= 0 (and < label_names.size() when names are given); a string label
// must be one of label_names and maps to its index. Blank lines are skipped; other keys ignored.
// InputError "<path>:<line>: ..." for a line that is not a JSON object, a missing or non-string
// "text", a missing, negative, fractional or unknown label; InputError when no example is left.
std::vector<TextExample> read_jsonl_examples(const std::string& path,
                                             const std::vector<std::string>& label_names = {},
                                             LabelRule rule = LabelRule::kRequired);

// label<TAB>text per line (the text is everything after the first tab, tabs included; a trailing
// \r is dropped). The first line is a header, and skipped, when it is exactly "label<TAB>text"
// (case-insensitive). A label equal to one of label_names maps to its index; otherwise it must be
// a non-negative integer (below label_names.size() when names are given). Blank lines are
// skipped. Same errors as read_jsonl_examples, plus a line without a tab.
std::vector<TextExample> read_tsv_examples(const std::string& path,
                                           const std::vector<std::string>& label_names = {},
                                           LabelRule rule = LabelRule::kRequired);

// CSV (RFC 4180: quoted fields may hold commas, line breaks and doubled quotes) with a header
// that names a "text" and a "label" column, in any order among others (which are ignored). Labels
// as in TSV. Same errors, plus a record whose field count differs from the header's.
std::vector<TextExample> read_csv_examples(const std::string& path,
                                           const std::vector<std::string>& label_names = {},
                                           LabelRule rule = LabelRule::kRequired);

// By extension: .jsonl/.json, .tsv or .csv; InputError naming the file for any other.
std::vector<TextExample> read_examples_file(const std::string& path,
                                            const std::vector<std::string>& label_names = {},
                                            LabelRule rule = LabelRule::kRequired);

// JSONL that read_jsonl_examples reads back: {"text": ..., "label": name} (the label's name when
// label_names has it, else its id). Invalid UTF-8 is written as U+FFFD.
std::string examples_to_jsonl(const std::vector<TextExample>& examples,
                              const std::vector<std::string>& label_names = {});

// Three disjoint, ascending index lists covering 0..n-1.
struct SplitIndices {
  std::vector<int64_t> train, val, test;
};

// A stratified split: every class sends round(test_fraction * its size) of its examples to test
// and round(val_fraction * its size) to val (never more than it has), the rest to train. Which
// ones is drawn per class from (seed, class rank), so the split is a pure function of
// (labels, fractions, seed). InputError for fractions outside [0, 1] or summing above 1.
SplitIndices stratified_split(const std::vector<int64_t>& labels, double val_fraction,
                              double test_fraction, uint64_t seed);

std::vector<int64_t> labels_of(const std::vector<TextExample>& examples);
// examples[indices[0]], examples[indices[1]], ...
std::vector<TextExample> select_examples(const std::vector<TextExample>& examples,
                                         const std::vector<int64_t>& indices);
// How many examples each label has: counts[c] for c in [0, max label].
std::vector<int64_t> label_counts(const std::vector<TextExample>& examples);

}  // namespace attnd
