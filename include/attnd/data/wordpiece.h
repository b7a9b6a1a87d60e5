// A BERT WordPiece tokenizer with the ids of Hugging Face's BertTokenizerFast (the `tokenizers`
// library's BertNormalizer + BertPreTokenizer + WordPiece + the [CLS]/[SEP] template), and a
// trainer. Unicode properties come from utf8proc (utf8.h).
//
// Tokenisation:
//  0. added tokens: the special tokens ([PAD] [UNK] [CLS] [SEP] [MASK], and a tokenizer.json's
//     added_tokens) are matched in the raw text first, exactly, and never split;
//  1. normalise (BertNormalizer, in HF's order): drop U+0000, U+FFFD and Unicode Cc/Cf/Co/Cs
//     except \t \n \r; White_Space becomes ' '; put spaces around CJK ideographs
//     (handle_chinese_chars); strip accents = NFD then drop Mn (strip_accents); lower-case with the
//     full mapping (lowercase; U+0130 -> i + U+0307). Accents are stripped before lower-casing, as
//     HF does (its Python BertTokenizer does it the other way round);
//  2. pre-tokenise (BertPreTokenizer): split on White_Space; every punctuation character (ASCII
//     non-alphanumeric symbols, and Unicode P*) is a word of its own;
//  3. WordPiece: greedy longest-match-first; pieces after the first carry "##"; a word longer than
//     max_chars_per_word code points, or with a position no vocab piece covers, is [UNK] whole.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "attnd/data/tokenizer.h"

namespace attnd {

// The special tokens, at the front of every vocab this trainer makes: [PAD]=0 ... [MASK]=4.
// A loaded vocab may hold them anywhere (bert-base-uncased has [UNK]=100), looked up by name.
inline constexpr const char* kPadToken = "[PAD]";
inline constexpr const char* kUnkToken = "[UNK]";
inline constexpr const char* kClsToken = "[CLS]";
inline constexpr const char* kSepToken = "[SEP]";
inline constexpr const char* kMaskToken = "[MASK]";
const std::vector<std::string>& special_tokens();  // in the order above

struct WordPieceOptions {
  bool lowercase = true;  // bert-base-uncased: both true; cased models: both false
  bool strip_accents = true;
  bool handle_chinese_chars = true;  // tokenizer_config.json's tokenize_chinese_chars
  int64_t max_chars_per_word = 100;
};

// vocab.txt + the tokenizer_config.json beside it (do_lower_case, strip_accents: null follows
// do_lower_case, tokenize_chinese_chars; absent keys keep BERT's uncased defaults). InputError
// naming the file for a key of the wrong type.
WordPieceOptions load_wordpiece_config(const std::string& tokenizer_config_path);

// vocab.txt: one token per line, the line index is the id (HF's format). InputError naming
// "path:line" for an empty or duplicated token; InputError for a missing or empty file.
std::vector<std::string> load_vocab(const std::string& path);
// Writes the tokens atomically (temp file + rename). InputError for a token with a line break.
void save_vocab(const std::string& path, const std::vector<std::string>& vocab);

class WordPieceTokenizer : public Tokenizer {
 public:
  // InputError for a duplicated or empty token, or when a special token is missing. `added`: more
  // added tokens (tokenizer.json's), each already in the vocab with the id given; the five
  // special tokens are always added.
  explicit WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options = {},
                              std::vector<AddedToken> added = {});
  static WordPieceTokenizer from_file(const std::string& vocab_path, WordPieceOptions options = {});

  // Words after cleaning, case/accent handling and punctuation splitting (step 1-2).
  std::vector<std::string> basic_tokenize(const std::string& text) const;
  // WordPiece strings, e.g. "unaffable" -> {"un", "##aff", "##able"}.
  std::vector<std::string> tokenize(const std::string& text) const;
  // Token ids: [CLS] pieces... [SEP] with add_special_tokens. max_length > 0 truncates the pieces
  // so that the result has at most max_length ids, [SEP] kept last (max_length >= 2 then).
  // Tokenisation stops once enough pieces are found, so long texts cost only what is kept.
  std::vector<int64_t> encode(const std::string& text, int64_t max_length = 0,
                              bool add_special_tokens = true) const;
  // Pieces joined by spaces, "##" continuations glued to the previous piece (HF's
  // convert_tokens_to_string without clean-up). [PAD], [CLS], [SEP] and [MASK] are skipped when
  // skip_special_tokens; [UNK] is always written. InputError for an id outside the vocab.
  std::string decode(const std::vector<int64_t>& ids,
                     bool skip_special_tokens = true) const override;
  // HF's encode(text, pair) with truncation and padding (tokenizer.h).
  Encoding encode_text(const std::string& text, const std::string* pair,
                       const EncodeOptions& options) const override;
  std::string kind() const override { return "wordpiece"; }

  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  const std::vector<std::string>& vocab() const { return vocab_; }
  const WordPieceOptions& options() const { return options_; }
  // The id of `token`, or -1 when it is not in the vocab.
  int64_t token_to_id(const std::string& token) const override;
  // InputError outside [0, vocab_size)
  const std::string& id_to_token(int64_t id) const override;
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t unk_id() const { return unk_id_; }
  int64_t cls_id() const { return cls_id_; }
  int64_t sep_id() const { return sep_id_; }
  int64_t mask_id() const { return mask_id_; }

 private:
  // Appends the ids of the pieces of `text` to out, stopping once out has `limit` ids (< 0: all).
  void append_ids(const std::string& text, std::vector<int64_t>& out, int64_t limit) const;
  void wordpiece(const std::string& word, std::vector<int64_t>& out) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int64_t> ids_;
  WordPieceOptions options_;
  std::vector<AddedToken> added_;
  int64_t pad_id_ = 0, unk_id_ = 0, cls_id_ = 0, sep_id_ = 0, mask_id_ = 0;
  size_t max_piece_bytes_ = 0;  // longest token without "##": longer candidates cannot match
};

// How the trainer ranks a candidate pair (a, b) of adjacent symbols.
enum class MergeScore {
  // count(ab): BPE merges. This is what HF `tokenizers`' WordPieceTrainer does (a BPE trainer
  // with the "##" prefix), and it compresses well: on the State of the Union corpus, 1.39 pieces
  // per word at 2000 tokens and 1.08 at 8000.
  kFrequency,
  // count(ab) / (count(a) * count(b)): the likelihood score of the Hugging Face course's WordPiece
  // description. It favours pairs whose parts rarely occur apart, so rare pairs (numbers, names)
  // win first: 3.97 / 2.97 pieces per word on the same corpus ("the" stays "th ##e" at 8000).
  kLikelihood,
};

struct WordPieceTrainerOptions {
  int64_t vocab_size = 8000;  // including the 5 special tokens
  int64_t min_frequency = 2;  // a pair occurring fewer times is never merged
  MergeScore score = MergeScore::kFrequency;
  WordPieceOptions tokenizer;  // the basic tokenizer used to cut the corpus into words
};

// Learns a vocab from `texts`:
//  - words = basic_tokenize of every text, with their counts (words over max_chars_per_word
//    are left out: they become [UNK] whatever the vocab);
//  - start: each word as its first character followed by "##"-prefixed characters; vocab = the
//    special tokens, then every initial and continuation character (sorted by UTF-8 bytes), so
//    any word of the corpus can be tokenised without [UNK] (except overlong words);
//  - repeat until vocab_size: merge the adjacent pair with the best score (ties: smaller a, then
//    smaller b, comparing bytes) everywhere; the new symbol is a + b without b's "##" (a "##"
//    symbol stays "##"-prefixed) and is appended to the vocab unless it is already there;
//    stop early when no pair occurs at least min_frequency times.
// Deterministic. InputError when vocab_size cannot hold the specials plus the alphabet, or when
// the texts contain no word.
std::vector<std::string> train_wordpiece(const std::vector<std::string>& texts,
                                         const WordPieceTrainerOptions& options);

}  // namespace attnd
