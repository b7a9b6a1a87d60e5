#include "attnd/data/wordpiece.h"

#include <algorithm>
#include <unordered_set>

#include "attnd/core/error.h"
#include "attnd/data/text_dataset.h"
#include "attnd/data/utf8.h"
#include "attnd/io/atomic_file.h"

namespace attnd {

namespace {

bool in(char32_t cp, char32_t lo, char32_t hi) { return cp >= lo && cp <= hi; }

// Unicode Zs plus \t \n \r, and U+2028/2029 (Python's str.split, which HF uses, splits on them).
bool is_whitespace(char32_t cp) {
  return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0xA0 || cp == 0x1680 ||
         in(cp, 0x2000, 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// Unicode Cc, Cf and Co (private use), except \t \n \r (whitespace): HF drops category C*.
bool is_control(char32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  return cp < 0x20 || in(cp, 0x7F, 0x9F) || cp == 0xAD || in(cp, 0x600, 0x605) || cp == 0x61C ||
         cp == 0x6DD || cp == 0x70F || cp == 0x180E || in(cp, 0x200B, 0x200F) ||
         in(cp, 0x202A, 0x202E) || in(cp, 0x2060, 0x2064) || in(cp, 0x2066, 0x206F) ||
         cp == 0xFEFF || in(cp, 0xFFF9, 0xFFFB) || cp == 0xE0001 || in(cp, 0xE0020, 0xE007F) ||
         in(cp, 0xE000, 0xF8FF) || cp >= 0xF0000;
}

// HF: every ASCII non-alphanumeric symbol, plus Unicode category P* (here: the common blocks).
bool is_punctuation(char32_t cp) {
  if (in(cp, 33, 47) || in(cp, 58, 64) || in(cp, 91, 96) || in(cp, 123, 126)) return true;
  if (cp < 0xA1) return false;
  return cp == 0xA1 || cp == 0xA7 || cp == 0xAB || cp == 0xB6 || cp == 0xB7 || cp == 0xBB ||
         cp == 0xBF || cp == 0x37E || cp == 0x387 || in(cp, 0x55A, 0x55F) || cp == 0x589 ||
         cp == 0x5BE || cp == 0x5C0 || cp == 0x5C3 || cp == 0x5C6 || in(cp, 0x5F3, 0x5F4) ||
         in(cp, 0x60C, 0x60D) || cp == 0x61B || cp == 0x61F || in(cp, 0x66A, 0x66D) ||
         cp == 0x6D4 || in(cp, 0x964, 0x965) || cp == 0xE4F || in(cp, 0xE5A, 0xE5B) ||
         in(cp, 0x2010, 0x2027) || in(cp, 0x2030, 0x2043) || in(cp, 0x2045, 0x2051) ||
         in(cp, 0x2053, 0x205E) || in(cp, 0x2E00, 0x2E4F) || in(cp, 0x3001, 0x3003) ||
         in(cp, 0x3008, 0x3011) || in(cp, 0x3014, 0x301F) || cp == 0x3030 || cp == 0x303D ||
         cp == 0x30FB || in(cp, 0xFE10, 0xFE19) || in(cp, 0xFE30, 0xFE52) ||
         in(cp, 0xFE54, 0xFE61) || cp == 0xFE63 || cp == 0xFE68 || in(cp, 0xFE6A, 0xFE6B) ||
         in(cp, 0xFF01, 0xFF03) || in(cp, 0xFF05, 0xFF0A) || in(cp, 0xFF0C, 0xFF0F) ||
         in(cp, 0xFF1A, 0xFF1B) || in(cp, 0xFF1F, 0xFF20) || in(cp, 0xFF3B, 0xFF3D) ||
         cp == 0xFF3F || cp == 0xFF5B || cp == 0xFF5D || in(cp, 0xFF5F, 0xFF65);
}

// HF's _is_chinese_char: the CJK Unified Ideographs blocks (not Japanese kana or Hangul).
bool is_cjk(char32_t cp) {
  return in(cp, 0x4E00, 0x9FFF) || in(cp, 0x3400, 0x4DBF) || in(cp, 0x20000, 0x2A6DF) ||
         in(cp, 0x2A700, 0x2B73F) || in(cp, 0x2B740, 0x2B81F) || in(cp, 0x2B820, 0x2CEAF) ||
         in(cp, 0xF900, 0xFAFF) || in(cp, 0x2F800, 0x2FA1F);
}

// Lower-cases cp into out[0..n); returns n (1, or 2 for U+0130, which Python lowers to i + U+0307).
int to_lower(char32_t cp, char32_t out[2]) {
  out[0] = cp;
  if (in(cp, 'A', 'Z') || (in(cp, 0xC0, 0xDE) && cp != 0xD7)) {
    out[0] = cp + 0x20;
  } else if (in(cp, 0x100, 0x17F)) {
    if (cp == 0x130) {
      out[0] = 'i';
      out[1] = 0x307;
      return 2;
    }
    if (cp == 0x178) {
      out[0] = 0xFF;
    } else if (cp % 2 == 0 && (cp <= 0x137 || in(cp, 0x14A, 0x177))) {
      out[0] = cp + 1;
    } else if (cp % 2 == 1 && (in(cp, 0x139, 0x148) || in(cp, 0x179, 0x17E))) {
      out[0] = cp + 1;
    }
  } else if (in(cp, 0x391, 0x3AB) && cp != 0x3A2) {
    out[0] = cp + 0x20;  // Greek capitals
  } else if (cp == 0x386) {
    out[0] = 0x3AC;
  } else if (in(cp, 0x388, 0x38A)) {
    out[0] = cp + 0x25;
  } else if (cp == 0x38C) {
    out[0] = 0x3CC;
  } else if (in(cp, 0x38E, 0x38F)) {
    out[0] = cp + 0x3F;
  } else if (in(cp, 0x410, 0x42F)) {
    out[0] = cp + 0x20;  // Cyrillic capitals
  } else if (in(cp, 0x400, 0x40F)) {
    out[0] = cp + 0x50;
  }
  return 1;
}

// NFD base letters of U+00C0..U+017F ('-': no canonical decomposition, kept as is).
constexpr const char* kLatin1Bases =
    "AAAAAA-CEEEEIIII-NOOOOO--UUUUY--aaaaaa-ceeeeiiii-nooooo--uuuuy-y";
constexpr const char* kLatinExtABases =  // 16 per line: U+0100, U+0110, ...
    "AaAaAaCcCcCcCcDd"
    "--EeEeEeEeEeGgGg"
    "GgGgHh--IiIiIiIi"
    "I---JjKk-LlLlLl-"
    "---NnNnNn---OoOo"
    "Oo--RrRrRrSsSsSs"
    "SsTtTt--UuUuUuUu"
    "UuUuWwYyYZzZzZz-";

// cp without its accent; 0 for a combining mark (dropped, as BERT drops category Mn after NFD).
char32_t strip_accent(char32_t cp) {
  if (in(cp, 0x300, 0x36F)) return 0;
  char base = '-';
  if (in(cp, 0xC0, 0xFF))
    base = kLatin1Bases[cp - 0xC0];
  else if (in(cp, 0x100, 0x17F))
    base = kLatinExtABases[cp - 0x100];
  return base == '-' ? cp : static_cast<char32_t>(base);
}

// The basic tokenizer, streaming: calls fn(word) for each word in order; stops when fn returns
// false.
template <typename Fn>
void for_each_word(const std::string& text, const WordPieceOptions& options, Fn&& fn) {
  std::string word;
  bool go_on = true;
  const auto flush = [&] {
    if (!word.empty() && go_on) go_on = fn(word);
    word.clear();
  };
  const auto emit_single = [&](char32_t cp) {
    flush();
    append_utf8(word, cp);
    flush();
  };
  size_t pos = 0;
  while (pos < text.size() && go_on) {
    const char32_t cp = next_code_point(text, pos);
    if (cp == 0 || cp == kReplacementChar || is_control(cp)) continue;
    if (is_whitespace(cp)) {
      flush();
      continue;
    }
    if (is_cjk(cp)) {
      emit_single(cp);
      continue;
    }
    char32_t chars[2];
    int n = 1;
    chars[0] = cp;
    if (options.lowercase) n = to_lower(cp, chars);
    for (int k = 0; k < n; ++k) {
      char32_t c = options.strip_accents ? strip_accent(chars[k]) : chars[k];
      if (c == 0) continue;
      if (is_punctuation(c))
        emit_single(c);
      else
        append_utf8(word, c);
    }
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

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options)
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
  if (limit >= 0 && static_cast<int64_t>(out.size()) >= limit) return;
  for_each_word(text, options_, [&](const std::string& word) {
    wordpiece(word, out);
    if (limit >= 0 && static_cast<int64_t>(out.size()) >= limit) {
      out.resize(static_cast<size_t>(limit));
      return false;
    }
    return true;
  });
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
