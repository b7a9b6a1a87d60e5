// What every attnd tokenizer shares: the Encoding of one text or a pair of texts, Hugging Face's
// truncation and padding rules, and the matching of added (special) tokens in raw text.
//
// The tokenizer module (docs/architecture.md, "Tokenizers"):
//   wordpiece.h       BERT WordPiece (vocab.txt + tokenizer_config.json, or tokenizer.json)
//   bpe.h             GPT-2 byte-level BPE (vocab.json + merges.txt, or tokenizer.json)
//   tokenizer_json.h  reading and writing tokenizer.json; load_tokenizer(dir or file) for either
//   utf8.h            UTF-8 and the Unicode properties both use (utf8proc)
// Each gives the same ids as HF's `tokenizers` library for the same files (tests/test_tokenizers).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace attnd {

// HF's TruncationStrategy. With a pair, kLongestFirst keeps min(len, max/2)-ish of the shorter and
// gives the rest to the longer (HF's exact arithmetic, see truncate_pair); kOnlyFirst/kOnlySecond
// cut only that sequence, and refuse (InputError) when it is too short to reach max_length.
enum class Truncation { kLongestFirst, kOnlyFirst, kOnlySecond };

struct EncodeOptions {
  bool add_special_tokens = true;  // BERT: [CLS] A [SEP] (B [SEP]); GPT-2 adds none
  int64_t max_length = 0;          // > 0: truncate so the result, specials included, fits
  Truncation truncation = Truncation::kLongestFirst;
  int64_t pad_to = 0;              // > 0: pad on the right up to this many ids (pad token id,
                                   // type id 0, attention mask 0); InputError without a pad token
  int64_t pad_id = -1;             // >= 0: pad with this id (GPT-2 has no pad token; HF users
                                   // pad it with <|endoftext|>); -1: the tokenizer's [PAD]
};

struct Encoding {
  std::vector<int64_t> ids;
  std::vector<int64_t> type_ids;        // 0 for the first text and its specials, 1 for the pair's
  std::vector<int64_t> attention_mask;  // 1, and 0 for padding
  std::vector<std::string> tokens;      // the vocab strings of ids (byte-level strings for BPE)
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // "wordpiece" or "bpe".
  virtual std::string kind() const = 0;
  // One text, or a pair when `pair` is not null. Invalid UTF-8 is read as Latin-1 (to_valid_utf8).
  virtual Encoding encode_text(const std::string& text, const std::string* pair,
                               const EncodeOptions& options) const = 0;
  // The text of ids; special tokens left out when skip_special_tokens. WordPiece: pieces joined by
  // spaces, "##" glued on; BPE: the original bytes. InputError for an id outside the vocab.
  virtual std::string decode(const std::vector<int64_t>& ids,
                             bool skip_special_tokens) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual const std::string& id_to_token(int64_t id) const = 0;  // InputError outside the vocab
  virtual int64_t token_to_id(const std::string& token) const = 0;  // -1 when absent
};

// An added token (HF tokenizer.json "added_tokens"): matched in the raw text before normalisation,
// leftmost first and the longest at a position, and never split.
struct AddedToken {
  std::string content;
  int64_t id = -1;
  bool special = true;  // skipped by decode(skip_special_tokens)
};

// Calls text(segment) for the stretches between added tokens and token(id) for each match, in
// order. Empty stretches are not reported.
void split_on_added_tokens(std::string_view text, const std::vector<AddedToken>& added,
                           const std::function<void(std::string_view)>& on_text,
                           const std::function<void(const AddedToken&)>& on_token);

// HF's truncate_encodings for a pair (max_length without the specials): the lengths (n1, n2) to
// keep of sequences of lengths a and b under kLongestFirst. Exposed for tests.
std::pair<size_t, size_t> truncate_pair(size_t a, size_t b, size_t max_length);

// What a tokenizer adds around its sequences, for assemble_encoding.
struct PostProcessor {
  int64_t cls_id = -1;  // >= 0: BERT's template [CLS] $A [SEP] ($B:1 [SEP]:1)
  int64_t sep_id = -1;
  int64_t pad_id = -1;  // -1: padding refused
};

// HF's post_process: truncation (the specials' room taken off max_length when they are added),
// the template, then padding. `token` names an id. InputError for a max_length that leaves no
// room, a too-short sequence under kOnlyFirst/kOnlySecond, kOnlySecond without a pair, or padding
// without a pad token.
Encoding assemble_encoding(std::vector<int64_t> a, const std::vector<int64_t>* b,
                           const EncodeOptions& options, const PostProcessor& post,
                           const std::function<const std::string&(int64_t)>& token);

}  // namespace attnd
