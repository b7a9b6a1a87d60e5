#include "attnd/data/wordpiece.h"

#include <algorithm>
#include <unordered_set>

#include "attnd/core/error.h"
#include "attnd/data/text_dataset.h"
#include "attnd/data/utf8.h"
#include "attnd/io/atomic_file.h"
#include "attnd/io/json_file.h"

namespace attnd {

namespace {

bool in(char32_t cp, char32_t lo, char32_t hi) { return cp >= lo && cp <= hi; }

// HF's BertNormalizer is_whitespace / is_control and BertPreTokenizer's is_bert_punc.
bool is_bert_whitespace(char32_t cp) { return is_white_space(cp); }
bool is_bert_control(char32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  return is_other(cp);
}
bool is_bert_punctuation(char32_t cp) {
  if (in(cp, 33, 47) || in(cp, 58, 64) || in(cp, 91, 96) || in(cp, 123, 126)) return true;
  return cp >= 0x80 && is_punctuation(cp);
}

// HF's is_chinese_char: the CJK Unified Ideographs blocks (not kana or Hangul). The fifth range
// starts at U+2B920 in HF's Rust code (its Python BertTokenizer says U+2B820), so U+2B820-2B91F
// are ordinary letters there.
bool is_cjk(char32_t cp) {
  return in(cp, 0x4E00, 0x9FFF) || in(cp, 0x3400, 0x4DBF) || in(cp, 0x20000, 0x2A6DF) ||
         in(cp, 0x2A700, 0x2B73F) || in(cp, 0x2B740, 0x2B81F) || in(cp, 0x2B920, 0x2CEAF) ||
         in(cp, 0xF900, 0xFAFF) || in(cp, 0x2F800, 0x2FA1F);
}

// The basic tokenizer, streaming: calls fn(word) for each word in order; stops when fn returns
// false. Normalisation per code point in HF's order (clean, CJK spacing, accents, case); every
// normalised code point then goes through the pre-tokenizer (whitespace, punctuation).
template <typename Fn>
void for_each_word(std::string_view text, const WordPieceOptions& options, Fn&& fn) {
  std::string word;
  bool go_on = true;
  const auto flush = [&] {
    if (!word.empty() && go_on) go_on = fn(word);
    word.clear();
  };
  const auto pre_tokenize = [&](char32_t c) {
    if (is_bert_whitespace(c)) {
      flush();
    } else if (is_bert_punctuation(c)) {
      flush();
      append_utf8(word, c);
      flush();
    } else {
      append_utf8(word, c);
    }
  };
  std::u32string decomposed, lowered;
  size_t pos = 0;
  while (pos < text.size() && go_on) {
    const char32_t cp = next_code_point(text, pos);
    if (cp == 0 || cp == kReplacementChar || is_bert_control(cp)) continue;
    if (is_bert_whitespace(cp)) {
      flush();
      continue;
    }
    const bool cjk = options.handle_chinese_chars && is_cjk(cp);
    if (cjk) flush();
    decomposed.clear();
    if (options.strip_accents) {
      append_nfd(decomposed, cp);
      decomposed.erase(std::remove_if(decomposed.begin(), decomposed.end(), is_nonspacing_mark),
                       decomposed.end());
    } else {
      decomposed.push_back(cp);
    }
    if (options.lowercase) {
      lowered.clear();
      for (char32_t c : decomposed) append_lowercase(lowered, c);
      for (char32_t c : lowered) pre_tokenize(c);
    } else {
      for (char32_t c : decomposed) pre_tokenize(c);
    }
    if (cjk) flush();
  }
  flush();
}

// Byte offsets of the code points of `word`, plus its size at the end.
std::vector<size_t> char_offsets(const std::string& word) {
  std::vector<size_t> offsets;
  size_t pos = 0;
  while (pos < word.size()) {
    offsets.push_back(pos);
    next_code_point(word, pos);
  }
  offsets.push_back(word.size());
  return offsets;
}

}  // namespace

const std::vector<std::string>& special_tokens() {
  static const std::vector<std::string> tokens = {kPadToken, kUnkToken, kClsToken, kSepToken,
                                                  kMaskToken};
  return tokens;
}

std::vector<std::string> load_vocab(const std::string& path) {
  const std::string content = read_text_file(path);
  std::vector<std::string> vocab;
  std::unordered_map<std::string, int64_t> seen;
  size_t start = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    if (end == std::string::npos) end = content.size();
    std::string token = content.substr(start, end - start);
    if (!token.empty() && token.back() == '\r') token.pop_back();
    const int64_t line = static_cast<int64_t>(vocab.size()) + 1;
    ATTND_CHECK_INPUT(!token.empty(), path, ":", line,
                      ": empty token (vocab.txt has one token per line)");
    const auto [it, fresh] = seen.emplace(token, line);
    ATTND_CHECK_INPUT(fresh, path, ":", line, ": token \"", token, "\" repeats line ", it->second);
    vocab.push_back(std::move(token));
    start = end + 1;
  }
  ATTND_CHECK_INPUT(!vocab.empty(), "vocab file ", path, " is empty");
  return vocab;
}

void save_vocab(const std::string& path, const std::vector<std::string>& vocab) {
  std::string content;
  for (const auto& token : vocab) {
    ATTND_CHECK_INPUT(
        token.find('\n') == std::string::npos && token.find('\r') == std::string::npos,
        "cannot save vocab token with a line break: \"", token, "\"");
    content += token;
    content += '\n';
  }
  write_file_atomic(path, content);
}

WordPieceOptions load_wordpiece_config(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  ATTND_CHECK_INPUT(j.is_object(), path, ": tokenizer_config.json must be a JSON object");
  WordPieceOptions options;
  const auto flag = [&](const char* key, bool fallback) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    ATTND_CHECK_INPUT(it->is_boolean(), path, ": ", key, " must be true, false or null, got ",
                      it->dump());
    return it->get<bool>();
  };
  options.lowercase = flag("do_lower_case", true);
  options.strip_accents = flag("strip_accents", options.lowercase);  // null: follow lowercase
  options.handle_chinese_chars = flag("tokenize_chinese_chars", true);
  return options;
}

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options,
                                       std::vector<AddedToken> added)
    : vocab_(std::move(vocab)), options_(options) {
  ATTND_CHECK_INPUT(options_.max_chars_per_word >= 1, "max_chars_per_word must be >= 1, got ",
                    options_.max_chars_per_word);
  for (size_t i = 0; i < vocab_.size(); ++i) {
    ATTND_CHECK_INPUT(!vocab_[i].empty(), "vocab token ", i, " is empty");
    const auto [it, fresh] = ids_.emplace(vocab_[i], static_cast<int64_t>(i));
    ATTND_CHECK_INPUT(fresh, "vocab token \"", vocab_[i], "\" appears twice (ids ", it->second,
                      " and ", i, ")");
    const bool continuation = vocab_[i].size() > 2 && vocab_[i].compare(0, 2, "##") == 0;
    max_piece_bytes_ = std::max(max_piece_bytes_, vocab_[i].size() - (continuation ? 2 : 0));
  }
  int64_t* slots[] = {&pad_id_, &unk_id_, &cls_id_, &sep_id_, &mask_id_};
  for (size_t k = 0; k < special_tokens().size(); ++k) {
    *slots[k] = token_to_id(special_tokens()[k]);
    ATTND_CHECK_INPUT(*slots[k] >= 0, "the vocab has no special token ", special_tokens()[k],
                      " (a WordPiece vocab needs [PAD], [UNK], [CLS], [SEP] and [MASK])");
    added_.push_back({special_tokens()[k], *slots[k], true});
  }
  for (auto& a : added) {
    ATTND_CHECK_INPUT(!a.content.empty(), "an added token is empty");
    const int64_t id = token_to_id(a.content);
    ATTND_CHECK_INPUT(id >= 0 && id == a.id, "added token \"", a.content, "\" has id ", a.id,
                      " but the vocab has it at ", id);
    const bool known = std::any_of(added_.begin(), added_.end(),
                                   [&](const AddedToken& b) { return b.content == a.content; });
    if (!known) added_.push_back(std::move(a));
  }
}

WordPieceTokenizer WordPieceTokenizer::from_file(const std::string& vocab_path,
                                                 WordPieceOptions options) {
  return WordPieceTokenizer(load_vocab(vocab_path), options);
}

int64_t WordPieceTokenizer::token_to_id(const std::string& token) const {
  const auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

const std::string& WordPieceTokenizer::id_to_token(int64_t id) const {
  ATTND_CHECK_INPUT(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocab [0, ",
                    vocab_size(), ")");
  return vocab_[static_cast<size_t>(id)];
}

std::vector<std::string> WordPieceTokenizer::basic_tokenize(const std::string& text) const {
  std::vector<std::string> words;
  for_each_word(text, options_, [&](const std::string& w) {
    words.push_back(w);
    return true;
  });
  return words;
}

void WordPieceTokenizer::wordpiece(const std::string& word, std::vector<int64_t>& out) const {
  const std::vector<size_t> offsets = char_offsets(word);
  const size_t n = offsets.size() - 1;
  if (static_cast<int64_t>(n) > options_.max_chars_per_word) {
    out.push_back(unk_id_);
    return;
  }
  const size_t first = out.size();
  std::string candidate;
  for (size_t start = 0; start < n;) {
    int64_t found = -1;
    size_t end = n;
    while (end > start + 1 && offsets[end] - offsets[start] > max_piece_bytes_) --end;
    for (; end > start; --end) {
      candidate.assign(start > 0 ? "##" : "");
      candidate.append(word, offsets[start], offsets[end] - offsets[start]);
      found = token_to_id(candidate);
      if (found >= 0) break;
    }
    if (found < 0) {  // no piece covers this position: the whole word is unknown
      out.resize(first);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

void WordPieceTokenizer::append_ids(const std::string& text, std::vector<int64_t>& out,
                                    int64_t limit) const {
  const auto full = [&] { return limit >= 0 && static_cast<int64_t>(out.size()) >= limit; };
  if (full()) return;
  split_on_added_tokens(
      text, added_,
      [&](std::string_view segment) {
        if (full()) return;
        for_each_word(segment, options_, [&](const std::string& word) {
          wordpiece(word, out);
          if (full()) {
            out.resize(static_cast<size_t>(limit));
            return false;
          }
          return true;
        });
      },
      [&](const AddedToken& token) {
        if (!full()) out.push_back(token.id);
      });
}

Encoding WordPieceTokenizer::encode_text(const std::string& text, const std::string* pair,
                                         const EncodeOptions& options) const {
  std::vector<int64_t> a;
  append_ids(to_valid_utf8(text), a, -1);
  std::vector<int64_t> b;
  if (pair) append_ids(to_valid_utf8(*pair), b, -1);
  PostProcessor post;
  post.cls_id = cls_id_;
  post.sep_id = sep_id_;
  post.pad_id = pad_id_;
  return assemble_encoding(std::move(a), pair ? &b : nullptr, options, post,
                           [this](int64_t id) -> const std::string& { return id_to_token(id); });
}

std::vector<std::string> WordPieceTokenizer::tokenize(const std::string& text) const {
  std::vector<int64_t> ids;
  append_ids(text, ids, -1);
  std::vector<std::string> pieces;
  pieces.reserve(ids.size());
  for (int64_t id : ids) pieces.push_back(vocab_[static_cast<size_t>(id)]);
  return pieces;
}

std::vector<int64_t> WordPieceTokenizer::encode(const std::string& text, int64_t max_length,
                                                bool add_special_tokens) const {
  const int64_t specials = add_special_tokens ? 2 : 0;
  ATTND_CHECK_INPUT(max_length <= 0 || max_length >= specials, "max_length ", max_length,
                    " leaves no room for [CLS] and [SEP]; use at least 2");
  std::vector<int64_t> ids;
  if (add_special_tokens) ids.push_back(cls_id_);
  append_ids(text, ids, max_length > 0 ? max_length - specials / 2 : -1);
  if (add_special_tokens) ids.push_back(sep_id_);
  return ids;
}

std::string WordPieceTokenizer::decode(const std::vector<int64_t>& ids,
                                       bool skip_special_tokens) const {
  std::string out;
  for (int64_t id : ids) {
    const std::string& piece = id_to_token(id);
    if (skip_special_tokens && (id == pad_id_ || id == cls_id_ || id == sep_id_ || id == mask_id_))
      continue;
    if (!out.empty() && piece.size() > 2 && piece.compare(0, 2, "##") == 0) {
      out.append(piece, 2, std::string::npos);
    } else {
      if (!out.empty()) out.push_back(' ');
      out += piece;
    }
  }
  return out;
}

// ---- training ---------------------------------------------------------------------------------

namespace {

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

struct TrainWord {
  std::vector<int32_t> symbols;
  int64_t count = 0;
};

}  // namespace

std::vector<std::string> train_wordpiece(const std::vector<std::string>& texts,
                                         const WordPieceTrainerOptions& options) {
  const auto& specials = special_tokens();
  ATTND_CHECK_INPUT(options.vocab_size >= static_cast<int64_t>(specials.size()),
                    "vocab_size must be at least ", specials.size(), " (the special tokens), got ",
                    options.vocab_size);
  ATTND_CHECK_INPUT(options.min_frequency >= 1, "min_frequency must be >= 1, got ",
                    options.min_frequency);

  // Word counts; words too long to be tokenised (they become [UNK]) teach nothing.
  std::unordered_map<std::string, int64_t> word_counts;
  for (const auto& text : texts)
    for_each_word(text, options.tokenizer, [&](const std::string& w) {
      ++word_counts[w];
      return true;
    });
  std::vector<std::pair<std::string, int64_t>> sorted_words(word_counts.begin(), word_counts.end());
  std::sort(sorted_words.begin(), sorted_words.end());  // a fixed order, whatever the hash map's

  std::vector<std::string> symbols;
  std::unordered_map<std::string, int32_t> symbol_ids;
  const auto intern = [&](const std::string& s) {
    const auto [it, fresh] = symbol_ids.emplace(s, static_cast<int32_t>(symbols.size()));
    if (fresh) symbols.push_back(s);
    return it->second;
  };
  std::vector<TrainWord> words;
  for (const auto& [word, count] : sorted_words) {
    const std::vector<size_t> offsets = char_offsets(word);
    if (static_cast<int64_t>(offsets.size()) - 1 > options.tokenizer.max_chars_per_word) continue;
    TrainWord w;
    w.count = count;
    for (size_t k = 0; k + 1 < offsets.size(); ++k)
      w.symbols.push_back(
          intern((k > 0 ? "##" : "") + word.substr(offsets[k], offsets[k + 1] - offsets[k])));
    words.push_back(std::move(w));
  }
  ATTND_CHECK_INPUT(!words.empty(), "cannot train a WordPiece vocab: the texts contain no word");

  std::vector<std::string> vocab = specials;
  std::vector<std::string> alphabet = symbols;
  std::sort(alphabet.begin(), alphabet.end());
  vocab.insert(vocab.end(), alphabet.begin(), alphabet.end());
  ATTND_CHECK_INPUT(static_cast<int64_t>(vocab.size()) <= options.vocab_size, "vocab_size ",
                    options.vocab_size, " cannot hold the ", specials.size(),
                    " special tokens and the corpus alphabet (", alphabet.size(),
                    " initial and continuation characters)");
  std::unordered_set<std::string> in_vocab(vocab.begin(), vocab.end());

  // Counts over the current segmentation, kept up to date incrementally.
  std::vector<int64_t> symbol_count(symbols.size(), 0);
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<int32_t>> pair_words;  // may hold stale entries
  std::unordered_map<uint64_t, int64_t> delta;  // count changes since the last pick
  const auto account = [&](int32_t w, int64_t sign) {
    const TrainWord& word = words[static_cast<size_t>(w)];
    for (size_t k = 0; k < word.symbols.size(); ++k) {
      symbol_count[static_cast<size_t>(word.symbols[k])] += sign * word.count;
      if (k + 1 == word.symbols.size()) continue;
      const uint64_t key = pair_key(word.symbols[k], word.symbols[k + 1]);
      pair_count[key] += sign * word.count;
      delta[key] += sign * word.count;
      if (sign > 0) pair_words[key].push_back(w);
    }
  };
  for (size_t w = 0; w < words.size(); ++w) account(static_cast<int32_t>(w), +1);

  // Ties: the smaller (a, b) by bytes.
  const auto first_of = [&](uint64_t x, uint64_t y) {
    const std::string& xa = symbols[x >> 32];
    const std::string& ya = symbols[y >> 32];
    const int by_a = xa.compare(ya);
    return by_a < 0 || (by_a == 0 && symbols[x & 0xFFFFFFFF] < symbols[y & 0xFFFFFFFF]);
  };
  // Frequency: a lazy max-heap of (count, pair). A pair is pushed when its count grows; an entry
  // whose count has since dropped is re-pushed with the current count when it surfaces (so the
  // heap never under-states a count). Likelihood scores move with the symbol counts, so those
  // are rescanned instead.
  struct Candidate {
    int64_t count;
    uint64_t key;
  };
  const auto heap_less = [&](const Candidate& x, const Candidate& y) {
    return x.count != y.count ? x.count < y.count : first_of(y.key, x.key);
  };
  std::vector<Candidate> heap;
  const auto pick_by_frequency = [&](uint64_t& best) {
    const auto push = [&](Candidate c) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), heap_less);
    };
    for (const auto& [key, change] : delta)
      if (change > 0) push({pair_count[key], key});
    delta.clear();
    while (!heap.empty()) {
      const Candidate top = heap.front();
      std::pop_heap(heap.begin(), heap.end(), heap_less);
      heap.pop_back();
      const int64_t count = pair_count[top.key];
      if (count != top.count) {  // stale: it has dropped since
        if (count > 0) push({count, top.key});
        continue;
      }
      if (top.count < options.min_frequency) return false;
      best = top.key;
      return true;
    }
    return false;
  };
  const auto pick_by_likelihood = [&](uint64_t& best) {
    delta.clear();
    double best_score = -1;
    for (auto it = pair_count.begin(); it != pair_count.end();) {
      const int64_t count = it->second;
      if (count <= 0) {
        pair_words.erase(it->first);
        it = pair_count.erase(it);
        continue;
      }
      const uint64_t key = it->first;
      ++it;
      if (count < options.min_frequency) continue;
      const double score =
          static_cast<double>(count) / (static_cast<double>(symbol_count[key >> 32]) *
                                        static_cast<double>(symbol_count[key & 0xFFFFFFFF]));
      if (score > best_score || (score == best_score && first_of(key, best))) {
        best = key;
        best_score = score;
      }
    }
    return best_score >= 0;
  };

  std::vector<int64_t> last_visit(words.size(), -1);
  for (int64_t iteration = 0; static_cast<int64_t>(vocab.size()) < options.vocab_size;
       ++iteration) {
    uint64_t best = 0;
    const bool found = options.score == MergeScore::kFrequency ? pick_by_frequency(best)
                                                               : pick_by_likelihood(best);
    if (!found) break;  // no pair occurs min_frequency times

    const auto a = static_cast<int32_t>(best >> 32), b = static_cast<int32_t>(best & 0xFFFFFFFF);
    const std::string& sb = symbols[static_cast<size_t>(b)];
    const std::string merged =
        symbols[static_cast<size_t>(a)] + (sb.compare(0, 2, "##") == 0 ? sb.substr(2) : sb);
    const int32_t merged_id = intern(merged);
    if (symbol_count.size() < symbols.size()) symbol_count.resize(symbols.size(), 0);
    if (in_vocab.insert(merged).second) vocab.push_back(merged);

    const std::vector<int32_t> affected = std::move(pair_words[best]);
    pair_words.erase(best);
    for (int32_t w : affected) {
      if (last_visit[static_cast<size_t>(w)] == iteration) continue;
      last_visit[static_cast<size_t>(w)] = iteration;
      TrainWord& word = words[static_cast<size_t>(w)];
      bool has_pair = false;
      for (size_t k = 0; k + 1 < word.symbols.size() && !has_pair; ++k)
        has_pair = word.symbols[k] == a && word.symbols[k + 1] == b;
      if (!has_pair) continue;
      account(w, -1);
      std::vector<int32_t> merged_symbols;
      for (size_t k = 0; k < word.symbols.size(); ++k) {
        if (k + 1 < word.symbols.size() && word.symbols[k] == a && word.symbols[k + 1] == b) {
          merged_symbols.push_back(merged_id);
          ++k;
        } else {
          merged_symbols.push_back(word.symbols[k]);
        }
      }
      word.symbols = std::move(merged_symbols);
      account(w, +1);
    }
  }
  return vocab;
}

}  // namespace attnd
