#include "attnd/data/text_batches.h"

#include <torch/torch.h>

#include <algorithm>

#include "attnd/core/error.h"

namespace attnd {

TextClassificationDataset::TextClassificationDataset(const std::vector<TextExample>& examples,
                                                     const WordPieceTokenizer& tokenizer,
                                                     int64_t max_length, TextPadding padding,
                                                     int64_t num_classes)
    : max_length_(max_length), padding_(padding), pad_id_(tokenizer.pad_id()) {
  ATTND_CHECK_INPUT(max_length >= 2, "max_length must be >= 2 ([CLS] and [SEP]), got ", max_length);
  int64_t max_label = -1;
  ids_.reserve(examples.size());
  labels_.reserve(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    const int64_t label = examples[i].label;
    ATTND_CHECK_INPUT(label >= 0, "example ", i, " has a negative label ", label);
    ATTND_CHECK_INPUT(num_classes <= 0 || label < num_classes, "example ", i, " has label ", label,
                      ", expected a class id below ", num_classes);
    max_label = std::max(max_label, label);
    ids_.push_back(tokenizer.encode(examples[i].text, max_length, /*add_special_tokens=*/true));
    labels_.push_back(label);
  }
  num_classes_ = num_classes > 0 ? num_classes : max_label + 1;
}

const std::vector<int64_t>& TextClassificationDataset::token_ids(int64_t i) const {
  ATTND_CHECK(i >= 0 && i < size(), "example index ", i, " out of range [0, ", size(), ")");
  return ids_[static_cast<size_t>(i)];
}

int64_t TextClassificationDataset::label(int64_t i) const {
  ATTND_CHECK(i >= 0 && i < size(), "example index ", i, " out of range [0, ", size(), ")");
  return labels_[static_cast<size_t>(i)];
}

Batch TextClassificationDataset::get(const std::vector<int64_t>& indices, uint64_t) const {
  const auto b = static_cast<int64_t>(indices.size());
  int64_t n = padding_ == TextPadding::kMaxLength ? max_length_ : 0;
  if (padding_ == TextPadding::kLongest)
    for (int64_t i : indices) n = std::max(n, static_cast<int64_t>(token_ids(i).size()));
  auto input_ids = torch::full({b, n}, pad_id_, torch::kLong);
  auto mask = torch::zeros({b, n}, torch::kLong);
  auto labels = torch::empty({b}, torch::kLong);
  auto ids_a = input_ids.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<int64_t, 2>();
  auto labels_a = labels.accessor<int64_t, 1>();
  for (int64_t r = 0; r < b; ++r) {
    const auto& ids = token_ids(indices[static_cast<size_t>(r)]);
    for (size_t t = 0; t < ids.size(); ++t) {
      ids_a[r][static_cast<int64_t>(t)] = ids[t];
      mask_a[r][static_cast<int64_t>(t)] = 1;
    }
    labels_a[r] = label(indices[static_cast<size_t>(r)]);
  }
  Batch batch;
  batch.input.input_ids = input_ids;
  batch.input.attention_mask = mask;
  batch.input.token_type_ids = torch::zeros({b, n}, torch::kLong);
  batch.labels = labels;
  return batch;
}

std::vector<int64_t> token_stream(const std::vector<std::string>& texts,
                                  const WordPieceTokenizer& tokenizer) {
  std::vector<int64_t> stream;
  for (const auto& text : texts) {
    const std::vector<int64_t> ids = tokenizer.encode(text, 0, /*add_special_tokens=*/false);
    stream.insert(stream.end(), ids.begin(), ids.end());
    stream.push_back(tokenizer.sep_id());
  }
  return stream;
}

LanguageModelDataset::LanguageModelDataset(const std::vector<int64_t>& tokens, int64_t block_size) {
  ATTND_CHECK_INPUT(block_size >= 2, "block_size must be >= 2 (a next token to predict), got ",
                    block_size);
  const int64_t blocks = static_cast<int64_t>(tokens.size()) / block_size;
  ATTND_CHECK_INPUT(blocks >= 1, "the token stream (", tokens.size(),
                    " tokens) is shorter than one block of ", block_size);
  blocks_ =
      torch::tensor(std::vector<int64_t>(tokens.begin(), tokens.begin() + blocks * block_size),
                    torch::kLong)
          .view({blocks, block_size});
}

Batch LanguageModelDataset::get(const std::vector<int64_t>& indices, uint64_t) const {
  for (int64_t i : indices)
    ATTND_CHECK(i >= 0 && i < size(), "block index ", i, " out of range [0, ", size(), ")");
  Batch batch;
  batch.input.input_ids = blocks_.index_select(0, torch::tensor(indices, torch::kLong));
  batch.labels = batch.input.input_ids.clone();
  return batch;
}

}  // namespace attnd
