// A BERT-compatible WordPiece tokenizer (the algorithm of HF's BertTokenizer) and a trainer.
//
// Tokenisation = basic tokenizer, then WordPiece on each word:
//  1. clean: drop U+0000, U+FFFD and control characters (Unicode Cc / Cf except \t \n \r);
//     whitespace (\t \n \r, Unicode Zs) becomes ' '; spaces are put around CJK ideographs.
//  2. split on whitespace; per word, lower-case and/or strip accents (options); split off every
//     punctuation character as its own word (ASCII non-alphanumeric symbols like HF, plus the
//     Latin-1, General Punctuation, CJK and full-width punctuation blocks).
//  3. WordPiece: greedy longest-match-first; pieces after the first carry the "##" prefix; a word
//     longer than max_chars_per_word code points, or with a position no vocab piece covers,
//     becomes [UNK] as a whole.
// Without ICU, case folding and accent stripping cover what English text and mail need: lower-
// casing of ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic capitals; accent stripping (NFD
// then drop combining marks, as BERT does) of Latin-1 and Latin Extended-A letters and of
// already-decomposed combining marks U+0300-U+036F. Other scripts pass through unchanged, so an
// accented Vietnamese or Greek letter keeps its accent where HF would strip it.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

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
  int64_t max_chars_per_word = 100;
};

// vocab.txt: one token per line, the line index is the id (HF's format). InputError naming
// "path:line" for an empty or duplicated token; InputError for a missing or empty file.
std::vector<std::string> load_vocab(const std::string& path);
// Writes the tokens atomically (temp file + rename). InputError for a token with a line break.
void save_vocab(const std::string& path, const std::vector<std::string>& vocab);

class WordPieceTokenizer {
 public:
  // InputError for a duplicated or empty token, or when a special token is missing.
  explicit WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options = {});
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
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = true) const;

  int64_t vocab_size() const { return static_cast<int64_t>(vocab_.size()); }
  const std::vector<std::string>& vocab() const { return vocab_; }
  const WordPieceOptions& options() const { return options_; }
  // The id of `token`, or -1 when it is not in the vocab.
  int64_t token_to_id(const std::string& token) const;
  const std::string& id_to_token(int64_t id) const;  // InputError outside [0, vocab_size)
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
