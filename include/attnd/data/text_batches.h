// Tokenised text as trainer datasets: classification batches for BERT, token blocks for a GPT-style
// language model.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "attnd/data/batch.h"
#include "attnd/data/text_dataset.h"
#include "attnd/data/wordpiece.h"

namespace attnd {

enum class TextPadding {
  kLongest,    // pad to the longest example of the batch: short batches cost less
  kMaxLength,  // pad every batch to max_length: fixed shapes (benchmarks, compiled graphs)
};

// Examples tokenised once, in the constructor: [CLS] pieces [SEP], truncated to max_length ids.
// get() -> Batch{input_ids [B, N] long, attention_mask [B, N] long (1 real, 0 padding),
// token_type_ids [B, N] long zeros, labels [B] long}, padded with the tokenizer's [PAD] id on the
// right, N per `padding`. Needs no tokenizer afterwards.
class TextClassificationDataset : public Dataset {
 public:
  // num_classes 0: max label + 1. InputError for max_length < 2, a negative label, or a label
  // >= num_classes.
  TextClassificationDataset(const std::vector<TextExample>& examples,
                            const WordPieceTokenizer& tokenizer, int64_t max_length,
                            TextPadding padding = TextPadding::kLongest, int64_t num_classes = 0);

  int64_t size() const override { return static_cast<int64_t>(ids_.size()); }
  Batch get(const std::vector<int64_t>& indices, uint64_t augment_seed) const override;

  const std::vector<int64_t>& token_ids(int64_t i) const;
  int64_t label(int64_t i) const;
  const std::vector<int64_t>& labels() const { return labels_; }
  int64_t num_classes() const { return num_classes_; }
  int64_t max_length() const { return max_length_; }
  int64_t pad_id() const { return pad_id_; }

 private:
  std::vector<std::vector<int64_t>> ids_;
  std::vector<int64_t> labels_;
  int64_t max_length_;
  TextPadding padding_;
  int64_t num_classes_ = 0;
  int64_t pad_id_ = 0;
};

// One token stream for language modelling: each text's pieces (no [CLS]) followed by [SEP] as a
// document boundary, texts in order.
std::vector<int64_t> token_stream(const std::vector<std::string>& texts,
                                  const WordPieceTokenizer& tokenizer);

// A token stream cut into non-overlapping blocks of block_size tokens (the incomplete last block
// is dropped). get() -> Batch{input_ids [B, block_size] long, labels [B, block_size] long} with
// labels == input_ids: the shift is done by the loss (train/objectives.h language_model_loss:
// logits at position t are scored against labels[t + 1]), as in Hugging Face. No attention_mask:
// there is no padding, and the causal mask is the model's. InputError for block_size < 2 or a
// stream shorter than one block.
class LanguageModelDataset : public Dataset {
 public:
  LanguageModelDataset(const std::vector<int64_t>& tokens, int64_t block_size);

  int64_t size() const override { return blocks_.size(0); }
  Batch get(const std::vector<int64_t>& indices, uint64_t augment_seed) const override;

  int64_t block_size() const { return blocks_.size(1); }
  const torch::Tensor& blocks() const { return blocks_; }  // long [num_blocks, block_size]

 private:
  torch::Tensor blocks_;
};

}  // namespace attnd
