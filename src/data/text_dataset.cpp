#include "attnd/data/text_dataset.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "attnd/core/error.h"
#include "attnd/core/strings.h"
#include "attnd/data/sampler.h"
#include "attnd/io/json_limits.h"

namespace attnd {

namespace {

// Calls fn(line_number, line) for every line (1-based), without the \n or a trailing \r.
template <typename Fn>
void for_each_line(const std::string& content, Fn&& fn) {
  size_t start = 0;
  int64_t number = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    if (end == std::string::npos) end = content.size();
    std::string_view line(content.data() + start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(++number, line);
    start = end + 1;
  }
}

bool is_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

std::string where(const std::string& path, int64_t line) {
  return path + ":" + std::to_string(line) + ": ";
}

std::string names_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "\"" : ", \"") + n + "\"";
  return out.empty() ? "(none given)" : out;
}

int64_t checked_label(int64_t value, const std::vector<std::string>& names, const std::string& at) {
  ATTND_CHECK_INPUT(value >= 0, at, "label ", value, " is negative; expected a class id >= 0");
  ATTND_CHECK_INPUT(names.empty() || value < static_cast<int64_t>(names.size()), at, "label ",
                    value, " is out of range; expected a class id below ", names.size(), " (",
                    names_list(names), ")");
  return value;
}

int64_t named_label(const std::string& name, const std::vector<std::string>& names,
                    const std::string& at) {
  const auto it = std::find(names.begin(), names.end(), name);
  ATTND_CHECK_INPUT(it != names.end(), at, "unknown label \"", name, "\"; expected one of ",
                    names_list(names));
  return it - names.begin();
}

bool parse_int(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  out = s[0] == '-' ? -v : v;
  return true;
}

// A label written as text (TSV, CSV): one of the names, else a non-negative integer class id.
int64_t label_from_field(const std::string& name, const std::vector<std::string>& names,
                         const std::string& at) {
  int64_t value = 0;
  if (std::find(names.begin(), names.end(), name) != names.end()) return named_label(name, names, at);
  if (parse_int(name, value)) return checked_label(value, names, at);
  ATTND_CHECK_INPUT(!names.empty(), at, "label \"", name,
                    "\" is not an integer class id (pass label names to use names)");
  return named_label(name, names, at);  // throws: unknown label
}

// RFC 4180 records: fields separated by commas, a field in double quotes may hold commas, line
// breaks and "" (one quote). Calls fn(line where the record starts, fields) for each record.
template <typename Fn>
void for_each_csv_record(const std::string& content, const std::string& path, Fn&& fn) {
  std::vector<std::string> fields(1);
  int64_t line = 1, record_line = 1;
  bool quoted = false, field_was_quoted = false, any = false;
  auto finish_record = [&] {
    if (any || fields.size() > 1 || !fields[0].empty()) fn(record_line, fields);
    fields.assign(1, "");
    any = field_was_quoted = false;
    record_line = line;
  };
  for (size_t i = 0; i < content.size(); ++i) {
    const char c = content[i];
    if (quoted) {
      if (c == '"' && i + 1 < content.size() && content[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        fields.back() += c;
      }
      continue;
    }
    if (c == '"') {
      ATTND_CHECK_INPUT(fields.back().empty() && !field_was_quoted, where(path, line),
                        "a quote inside an unquoted CSV field (quote the whole field and double "
                        "the quote: \"say \"\"hi\"\"\")");
      quoted = field_was_quoted = any = true;
    } else if (c == ',') {
      fields.emplace_back();
      field_was_quoted = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < content.size() && content[i + 1] == '\n') ++i;
      ++line;
      finish_record();
    } else {
      ATTND_CHECK_INPUT(!field_was_quoted, where(path, line),
                        "text after the closing quote of a CSV field");
      fields.back() += c;
    }
  }
  ATTND_CHECK_INPUT(!quoted, where(path, record_line), "a quoted CSV field is never closed");
  finish_record();
}

}  // namespace

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  ATTND_CHECK_INPUT(std::filesystem::is_regular_file(path, ec), "file not found: ", path);
  std::ifstream in(path, std::ios::binary);
  ATTND_CHECK_INPUT(in.good(), "cannot open ", path);
  std::ostringstream content;
  content << in.rdbuf();
  ATTND_CHECK_INPUT(!in.bad(), "cannot read ", path);
  return content.str();
}

std::vector<TextExample> read_jsonl_examples(const std::string& path,
                                             const std::vector<std::string>& label_names,
                                             LabelRule rule) {
  const std::string content = read_text_file(path);
  std::vector<TextExample> examples;
  for_each_line(content, [&](int64_t number, std::string_view line) {
    if (is_blank(line)) return;
    const std::string at = where(path, number);
    nlohmann::json j;
    check_json_text(line, path + ":" + std::to_string(number));
    try {
      j = nlohmann::json::parse(line.begin(), line.end());
    } catch (const nlohmann::json::parse_error& e) {
      throw_input_error(at, "not valid JSON (", e.what(), ")");
    }
    ATTND_CHECK_INPUT(j.is_object(), at,
                      "expected a JSON object {\"text\": ..., \"label\": ...}, got ",
                      j.type_name());
    const auto text = j.find("text");
    ATTND_CHECK_INPUT(text != j.end() && text->is_string(), at, "expected a string \"text\" field");
    const auto label = j.find("label");
    const bool unlabelled = rule == LabelRule::kOptional && (label == j.end() || label->is_null());
    ATTND_CHECK_INPUT(unlabelled || label != j.end(), at, "missing \"label\" field");
    TextExample example;
    example.text = text->get<std::string>();
    if (unlabelled) {
      example.label = kNoLabel;
    } else if (label->is_number_integer()) {
      example.label = checked_label(label->get<int64_t>(), label_names, at);
    } else if (label->is_string()) {
      example.label = named_label(label->get<std::string>(), label_names, at);
    } else {
      throw_input_error(at, "\"label\" must be an integer class id or a label name, got ",
                        label->dump());
    }
    examples.push_back(std::move(example));
  });
  ATTND_CHECK_INPUT(!examples.empty(), "no examples in ", path);
  return examples;
}

std::vector<TextExample> read_tsv_examples(const std::string& path,
                                           const std::vector<std::string>& label_names,
                                           LabelRule rule) {
  const std::string content = read_text_file(path);
  std::vector<TextExample> examples;
  for_each_line(content, [&](int64_t number, std::string_view line) {
    if (number == 1 && to_lower(line) == "label\ttext") return;  // header
    if (is_blank(line)) return;
    const std::string at = where(path, number);
    const size_t tab = line.find('\t');
    TextExample example;
    if (tab == std::string_view::npos && rule == LabelRule::kOptional) {
      example.label = kNoLabel;
      example.text = std::string(line);
      examples.push_back(std::move(example));
      return;
    }
    ATTND_CHECK_INPUT(tab != std::string_view::npos, at, "expected label<TAB>text, found no tab");
    example.label = label_from_field(std::string(line.substr(0, tab)), label_names, at);
    example.text = std::string(line.substr(tab + 1));
    examples.push_back(std::move(example));
  });
  ATTND_CHECK_INPUT(!examples.empty(), "no examples in ", path);
  return examples;
}

std::vector<TextExample> read_csv_examples(const std::string& path,
                                           const std::vector<std::string>& label_names,
                                           LabelRule rule) {
  const std::string content = read_text_file(path);
  std::vector<TextExample> examples;
  int64_t text_column = -1, label_column = -1;
  size_t columns = 0;
  for_each_csv_record(content, path, [&](int64_t line, const std::vector<std::string>& fields) {
    const std::string at = where(path, line);
    if (columns == 0) {  // the header
      columns = fields.size();
      for (size_t i = 0; i < fields.size(); ++i) {
        const auto name = to_lower(trim(fields[i]));
        if (name == "text") text_column = static_cast<int64_t>(i);
        if (name == "label") label_column = static_cast<int64_t>(i);
      }
      ATTND_CHECK_INPUT(text_column >= 0 && (label_column >= 0 || rule == LabelRule::kOptional),
                        at, "the header must name a \"text\" and a \"label\" column");
      ATTND_CHECK_INPUT(text_column >= 0, at, "the header must name a \"text\" column");
      return;
    }
    if (fields.size() == 1 && is_blank(fields[0])) return;
    ATTND_CHECK_INPUT(fields.size() == columns, at, "expected ", columns,
                      " comma-separated fields as in the header, found ", fields.size());
    TextExample example;
    example.label = label_column < 0 ? kNoLabel
                                     : label_from_field(std::string(trim(fields[label_column])),
                                                        label_names, at);
    example.text = fields[text_column];
    examples.push_back(std::move(example));
  });
  ATTND_CHECK_INPUT(!examples.empty(), "no examples in ", path);
  return examples;
}

std::vector<TextExample> read_examples_file(const std::string& path,
                                            const std::vector<std::string>& label_names,
                                            LabelRule rule) {
  const auto ext = to_lower(std::filesystem::path(path).extension().string());
  if (ext == ".jsonl" || ext == ".json") return read_jsonl_examples(path, label_names, rule);
  if (ext == ".tsv") return read_tsv_examples(path, label_names, rule);
  if (ext == ".csv") return read_csv_examples(path, label_names, rule);
  throw_input_error(path, ": unknown file type '", ext,
                    "' (expected .jsonl, .tsv or .csv with text and label)");
}

std::string examples_to_jsonl(const std::vector<TextExample>& examples,
                              const std::vector<std::string>& label_names) {
  std::string out;
  for (const auto& e : examples) {
    nlohmann::json j = {{"text", e.text}};
    if (e.label >= 0 && e.label < static_cast<int64_t>(label_names.size()))
      j["label"] = label_names[e.label];
    else
      j["label"] = e.label;
    out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  return out;
}

SplitIndices stratified_split(const std::vector<int64_t>& labels, double val_fraction,
                              double test_fraction, uint64_t seed) {
  ATTND_CHECK_INPUT(val_fraction >= 0 && val_fraction <= 1 && test_fraction >= 0 &&
                        test_fraction <= 1 && val_fraction + test_fraction <= 1,
                    "split fractions must be in [0, 1] and sum to at most 1, got val ",
                    val_fraction, " and test ", test_fraction);
  std::map<int64_t, std::vector<int64_t>> by_class;  // ascending labels: a fixed class rank
  for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(static_cast<int64_t>(i));
  SplitIndices out;
  uint64_t rank = 0;
  for (auto& [label, members] : by_class) {
    const auto n = static_cast<int64_t>(members.size());
    const int64_t n_test = std::min(n, static_cast<int64_t>(std::llround(test_fraction * n)));
    const int64_t n_val =
        std::min(n - n_test, static_cast<int64_t>(std::llround(val_fraction * n)));
    std::mt19937_64 rng(mix_seed(seed, ++rank));
    fisher_yates(members, rng);
    out.test.insert(out.test.end(), members.begin(), members.begin() + n_test);
    out.val.insert(out.val.end(), members.begin() + n_test, members.begin() + n_test + n_val);
    out.train.insert(out.train.end(), members.begin() + n_test + n_val, members.end());
  }
  for (auto* part : {&out.train, &out.val, &out.test}) std::sort(part->begin(), part->end());
  return out;
}

std::vector<int64_t> labels_of(const std::vector<TextExample>& examples) {
  std::vector<int64_t> labels;
  labels.reserve(examples.size());
  for (const auto& e : examples) labels.push_back(e.label);
  return labels;
}

std::vector<TextExample> select_examples(const std::vector<TextExample>& examples,
                                         const std::vector<int64_t>& indices) {
  std::vector<TextExample> out;
  out.reserve(indices.size());
  for (int64_t i : indices) {
    ATTND_CHECK(i >= 0 && i < static_cast<int64_t>(examples.size()), "example index ", i,
                " out of range [0, ", examples.size(), ")");
    out.push_back(examples[static_cast<size_t>(i)]);
  }
  return out;
}

std::vector<int64_t> label_counts(const std::vector<TextExample>& examples) {
  std::vector<int64_t> counts;
  for (const auto& e : examples) {
    ATTND_CHECK(e.label >= 0, "negative label ", e.label);
    if (static_cast<size_t>(e.label) >= counts.size())
      counts.resize(static_cast<size_t>(e.label) + 1, 0);
    ++counts[static_cast<size_t>(e.label)];
  }
  return counts;
}

}  // namespace attnd
