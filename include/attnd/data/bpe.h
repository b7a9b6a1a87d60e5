// GPT-2's byte-level BPE with the ids of Hugging Face's GPT2TokenizerFast (the `tokenizers`
// library's ByteLevel pre-tokenizer + BPE model + ByteLevel post-processor), from vocab.json +
// merges.txt (GPT-2's encoder.json + vocab.bpe are the same files) or a tokenizer.json of model
// type BPE (tokenizer_json.h).
//
// Tokenisation:
//  0. added tokens (<|endoftext|>, a tokenizer.json's added_tokens) are matched in the raw text;
//  1. pre-tokenise each stretch between them with GPT-2's pattern
//       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//     implemented over code points (utf8proc categories; \s = White_Space): a run of whitespace
//     followed by more text leaves its last character to the next piece (" word" keeps its
//     space), so "a   b" is "a", "  ", " b";
//  2. map each piece's UTF-8 bytes to GPT-2's printable code points (bytes_to_unicode: the 188
//     printable Latin-1 bytes map to themselves, the other 68 to U+0100 upwards, so ' ' is 'Ġ');
//  3. BPE: start from single byte symbols and merge the adjacent pair of lowest merge rank until
//     none is in merges.txt (leftmost first among equal ranks); the symbols' vocab ids are the
//     ids. Words are cached (up to 10,000, like HF).
// Decoding concatenates the tokens and maps every code point back to its byte: the exact input
// bytes (HF's decoder then replaces invalid UTF-8, e.g. a multi-byte character cut by truncation,
// with U+FFFD; decode() returns the bytes as they are).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "attnd/data/tokenizer.h"

namespace attnd {

// GPT-2's bytes_to_unicode table: the code point byte b is written as.
char32_t byte_to_unicode(unsigned char b);
// The inverse; -1 for a code point that is no byte's.
int unicode_to_byte(char32_t cp);

// GPT-2's pre-tokenisation of UTF-8 text (step 1 above), the pieces as UTF-8 substrings.
std::vector<std::string> gpt2_pre_tokenize(const std::string& text);

struct BpeOptions {
  bool add_prefix_space = false;  // ByteLevel's add_prefix_space (GPT-2: false; RoBERTa: true)
};

class BpeTokenizer : public Tokenizer {
 public:
  // vocab: token -> id with ids exactly 0..n-1; merges in rank order, each (a, b) with a, b and
  // a+b in the vocab; every byte's symbol must be in the vocab (a byte-level vocab). InputError
  // naming the offending token or merge otherwise.
  BpeTokenizer(const std::unordered_map<std::string, int64_t>& vocab,
               const std::vector<std::pair<std::string, std::string>>& merges,
               std::vector<AddedToken> added = {}, BpeOptions options = {});
  // vocab.json ({token: id}) + merges.txt ("#version" line optional, then "a b" per line). An
  // "<|endoftext|>" in the vocab is added as a special token. InputError naming file:line.
  static BpeTokenizer from_files(const std::string& vocab_json, const std::string& merges_txt);

  std::string kind() const override { return "bpe"; }
  Encoding encode_text(const std::string& text, const std::string* pair,
                       const EncodeOptions& options) const override;
  std::vector<int64_t> encode(const std::string& text) const;  // ids, no truncation
  std::string decode(const std::vector<int64_t>& ids,
                     bool skip_special_tokens = false) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  const std::string& id_to_token(int64_t id) const override;
  int64_t token_to_id(const std::string& token) const override;
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  const std::vector<std::pair<std::string, std::string>>& merges() const { return merge_list_; }
  const BpeOptions& options() const { return options_; }

 private:
  void append_ids(const std::string& text, std::vector<int64_t>& out) const;
  void bpe_word(const std::string& piece, std::vector<int64_t>& out) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int64_t> ids_;
  std::vector<std::pair<std::string, std::string>> merge_list_;
  // (left id, right id) -> (rank, merged id)
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;
  int32_t byte_ids_[256] = {};
  std::vector<AddedToken> added_;
  BpeOptions options_;
  struct Cache;
  std::shared_ptr<Cache> cache_;  // shared by copies; guarded by its mutex
};

}  // namespace attnd
