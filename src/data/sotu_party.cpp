#include "attnd/data/sotu_party.h"

#include <sstream>

#include "attnd/core/error.h"
#include "attnd/core/strings.h"
#include "attnd/data/english_corpus.h"

namespace attnd {

namespace {

bool ends_sentence(std::string_view word) {
  while (!word.empty() && (word.back() == '"' || word.back() == '\'' || word.back() == ')' ||
                           word.back() == ']'))
    word.remove_suffix(1);
  return !word.empty() && (word.back() == '.' || word.back() == '!' || word.back() == '?');
}

}  // namespace

const std::vector<std::string>& sotu_party_label_names() {
  static const std::vector<std::string> names{"democratic", "republican"};
  return names;
}

std::vector<std::string> sentence_passages(const std::string& text, int64_t passage_words) {
  ATTND_CHECK_INPUT(passage_words >= 2, "data.passage_words must be >= 2, got ", passage_words);
  std::vector<std::string> passages;
  std::string current;
  int64_t count = 0;
  std::istringstream in(text);
  for (std::string word; in >> word;) {
    current += (current.empty() ? "" : " ") + word;
    ++count;
    if ((count >= passage_words && ends_sentence(word)) || count >= 2 * passage_words) {
      passages.push_back(std::move(current));
      current.clear();
      count = 0;
    }
  }
  if (count * 2 >= passage_words) passages.push_back(std::move(current));
  return passages;
}

std::vector<PartyAddress> load_sotu_party(const std::string& dir, int64_t passage_words) {
  std::vector<PartyAddress> out;
  for (const auto& doc : load_english_corpus_documents(dir)) {
    int64_t label = -1;
    if (ends_with(doc.name, "_d")) label = 0;
    if (ends_with(doc.name, "_r")) label = 1;
    if (label < 0) continue;
    out.push_back({doc.name, label, sentence_passages(doc.text, passage_words)});
  }
  ATTND_CHECK_INPUT(!out.empty(), "no Democratic or Republican address (*_d.txt, *_r.txt) in ",
                    dir);
  return out;
}

TextSplits split_party_addresses(const std::vector<PartyAddress>& addresses, double val_fraction,
                                 double test_fraction, uint64_t seed) {
  std::vector<int64_t> labels;
  for (const auto& a : addresses) labels.push_back(a.label);
  const auto parts = stratified_split(labels, val_fraction, test_fraction, seed);
  TextSplits out;
  auto add = [&](const std::vector<int64_t>& which, std::vector<TextExample>& into) {
    for (auto i : which)
      for (const auto& p : addresses[i].passages) into.push_back({p, addresses[i].label});
  };
  add(parts.train, out.train);
  add(parts.val, out.val);
  add(parts.test, out.test);
  return out;
}

}  // namespace attnd
