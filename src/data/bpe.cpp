#include "attnd/data/bpe.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <queue>

#include "attnd/core/error.h"
#include "attnd/data/text_dataset.h"
#include "attnd/data/utf8.h"
#include "attnd/io/json_file.h"

namespace attnd {

namespace {

struct ByteTables {
  std::array<char32_t, 256> to_unicode{};
  std::unordered_map<char32_t, int> to_byte;
  std::array<std::string, 256> utf8;  // to_unicode[b] as UTF-8
};

// GPT-2's bytes_to_unicode (encoder.py): printable bytes keep their code point, the others get
// U+0100 + n in byte order.
const ByteTables& byte_tables() {
  static const ByteTables tables = [] {
    ByteTables t;
    const auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      t.to_unicode[b] = printable(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      t.to_byte[t.to_unicode[b]] = b;
      append_utf8(t.utf8[b], t.to_unicode[b]);
    }
    return t;
  }();
  return tables;
}

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

// The character classes of GPT-2's pattern.
bool is_space(char32_t c) { return is_white_space(c); }
bool is_other_class(char32_t c) { return !is_white_space(c) && !is_letter(c) && !is_number(c); }

}  // namespace

char32_t byte_to_unicode(unsigned char b) { return byte_tables().to_unicode[b]; }

int unicode_to_byte(char32_t cp) {
  const auto& m = byte_tables().to_byte;
  const auto it = m.find(cp);
  return it == m.end() ? -1 : it->second;
}

std::vector<std::string> gpt2_pre_tokenize(const std::string& text) {
  std::vector<char32_t> cps;
  std::vector<size_t> offsets;  // byte offset of each code point, plus the end
  for (size_t pos = 0; pos < text.size();) {
    offsets.push_back(pos);
    cps.push_back(next_code_point(text, pos));
  }
  offsets.push_back(text.size());
  const size_t n = cps.size();
  std::vector<std::string> pieces;
  const auto run = [&](size_t from, bool (*cls)(char32_t)) {
    while (from < n && cls(cps[from])) ++from;
    return from;
  };
  const auto letter = [](char32_t c) { return is_letter(c); };
  const auto number = [](char32_t c) { return is_number(c); };
  size_t i = 0;
  while (i < n) {
    const char32_t c = cps[i];
    size_t end = i;
    // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive, ASCII apostrophe only)
    if (c == '\'' && i + 1 < n) {
      const char32_t d = cps[i + 1];
      if (d == 's' || d == 't' || d == 'm' || d == 'd') {
        end = i + 2;
      } else if (i + 2 < n && ((d == 'r' && cps[i + 2] == 'e') || (d == 'v' && cps[i + 2] == 'e') ||
                               (d == 'l' && cps[i + 2] == 'l'))) {
        end = i + 3;
      }
    }
    if (end == i) {
      // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional leading ' ', then a run.
      const size_t j = (c == ' ' && i + 1 < n) ? i + 1 : i;
      for (bool (*cls)(char32_t) : {+letter, +number, &is_other_class}) {
        if (cls(cps[j])) {  // (without the ' ' the run cannot start at i: ' ' is whitespace)
          end = run(j, cls);
          break;
        }
      }
    }
    if (end == i) {
      // "\s+(?!\S)|\s+": a whitespace run; when text follows, its last character is left to the
      // next piece (unless the run is a single character).
      const size_t k = run(i, &is_space);
      end = (k == n || k - i == 1) ? k : k - 1;
    }
    pieces.emplace_back(text, offsets[i], offsets[end] - offsets[i]);
    i = end;
  }
  return pieces;
}

// ---- the tokenizer ------------------------------------------------------------------------------

struct BpeTokenizer::Cache {
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int64_t>> words;
  static constexpr size_t kCapacity = 10000;
};

BpeTokenizer::BpeTokenizer(const std::unordered_map<std::string, int64_t>& vocab,
                           const std::vector<std::pair<std::string, std::string>>& merges,
                           std::vector<AddedToken> added, BpeOptions options)
    : merge_list_(merges), options_(options), cache_(std::make_shared<Cache>()) {
  vocab_.resize(vocab.size());
  std::vector<bool> seen(vocab.size(), false);
  for (const auto& [token, id] : vocab) {
    ATTND_CHECK_INPUT(id >= 0 && id < static_cast<int64_t>(vocab.size()) && !seen[id],
                      "BPE vocab: token '", token, "' has id ", id, "; expected each id 0..",
                      vocab.size() - 1, " exactly once");
    ATTND_CHECK_INPUT(!token.empty(), "BPE vocab: an empty token (id ", id, ")");
    seen[id] = true;
    vocab_[id] = token;
    ids_.emplace(token, id);
  }
  const auto& tables = byte_tables();
  for (int b = 0; b < 256; ++b) {
    const auto it = ids_.find(tables.utf8[b]);
    ATTND_CHECK_INPUT(it != ids_.end(), "BPE vocab has no symbol for byte ", b, " ('",
                      tables.utf8[b], "'): attnd reads byte-level BPE vocabularies (GPT-2's) only");
    byte_ids_[b] = static_cast<int32_t>(it->second);
  }
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const int64_t ia = token_to_id(a), ib = token_to_id(b), iab = token_to_id(a + b);
    ATTND_CHECK_INPUT(ia >= 0 && ib >= 0 && iab >= 0, "BPE merge ", rank + 1, " '", a, " ", b,
                      "': '", ia < 0 ? a : ib < 0 ? b : a + b, "' is not in the vocab");
    // A repeated merge keeps its last rank, as HF's map does.
    merges_[pair_key(static_cast<int32_t>(ia), static_cast<int32_t>(ib))] = {
        static_cast<int32_t>(rank), static_cast<int32_t>(iab)};
  }
  for (auto& a : added) {
    ATTND_CHECK_INPUT(!a.content.empty(), "an added token is empty");
    ATTND_CHECK_INPUT(a.id >= 0 && a.id < vocab_size() && vocab_[a.id] == a.content,
                      "added token \"", a.content, "\" has id ", a.id,
                      " but the vocab has it at ", token_to_id(a.content));
    added_.push_back(std::move(a));
  }
}

BpeTokenizer BpeTokenizer::from_files(const std::string& vocab_json,
                                      const std::string& merges_txt) {
  const nlohmann::json j = read_json_file(vocab_json);
  ATTND_CHECK_INPUT(j.is_object(), vocab_json, ": expected a JSON object {token: id}");
  std::unordered_map<std::string, int64_t> vocab;
  for (auto it = j.begin(); it != j.end(); ++it) {
    ATTND_CHECK_INPUT(it.value().is_number_integer(), vocab_json, ": the id of '", it.key(),
                      "' is not an integer");
    vocab.emplace(it.key(), it.value().get<int64_t>());
  }
  const std::string content = read_text_file(merges_txt);
  std::vector<std::pair<std::string, std::string>> merges;
  size_t start = 0;
  int64_t line_no = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    if (end == std::string::npos) end = content.size();
    std::string line = content.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("#version", 0) == 0) continue;
    const size_t space = line.find(' ');
    ATTND_CHECK_INPUT(space != std::string::npos && space > 0 && space + 1 < line.size() &&
                          line.find(' ', space + 1) == std::string::npos,
                      merges_txt, ":", line_no, ": expected two symbols separated by one space, got '",
                      line, "'");
    merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  std::vector<AddedToken> added;
  if (const auto it = vocab.find("<|endoftext|>"); it != vocab.end())
    added.push_back({"<|endoftext|>", it->second, true});
  try {
    return BpeTokenizer(vocab, merges, std::move(added));
  } catch (const InputError& e) {
    throw InputError(vocab_json + " + " + merges_txt + ": " + e.what());
  }
}

int64_t BpeTokenizer::token_to_id(const std::string& token) const {
  const auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

const std::string& BpeTokenizer::id_to_token(int64_t id) const {
  ATTND_CHECK_INPUT(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocab [0, ",
                    vocab_size(), ")");
  return vocab_[static_cast<size_t>(id)];
}

void BpeTokenizer::bpe_word(const std::string& piece, std::vector<int64_t>& out) const {
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    const auto it = cache_->words.find(piece);
    if (it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  // HF's Word::merge_all: a min-heap of (rank, position) over adjacent pairs; the lowest rank
  // merges first, the leftmost among equals; entries whose pair has changed since are skipped.
  const size_t n = piece.size();
  std::vector<int32_t> id(n);
  std::vector<int64_t> prev(n), next(n);
  for (size_t k = 0; k < n; ++k) {
    id[k] = byte_ids_[static_cast<unsigned char>(piece[k])];
    prev[k] = static_cast<int64_t>(k) - 1;
    next[k] = k + 1 < n ? static_cast<int64_t>(k + 1) : -1;
  }
  struct Entry {
    int32_t rank;
    int64_t pos;
    int32_t merged;
    bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  const auto push = [&](int64_t pos) {
    if (pos < 0 || next[pos] < 0) return;
    const auto it = merges_.find(pair_key(id[pos], id[next[pos]]));
    if (it != merges_.end()) heap.push({it->second.first, pos, it->second.second});
  };
  for (size_t k = 0; k + 1 < n; ++k) push(static_cast<int64_t>(k));
  std::vector<bool> alive(n, true);
  while (!heap.empty()) {
    const Entry top = heap.top();
    heap.pop();
    if (!alive[top.pos] || next[top.pos] < 0) continue;
    const int64_t right = next[top.pos];
    const auto it = merges_.find(pair_key(id[top.pos], id[right]));
    if (it == merges_.end() || it->second.second != top.merged) continue;  // stale
    id[top.pos] = top.merged;
    alive[right] = false;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = top.pos;
    push(prev[top.pos]);
    push(top.pos);
  }
  std::vector<int64_t> ids;
  for (int64_t k = n ? 0 : -1; k >= 0; k = next[k]) ids.push_back(id[k]);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_->mutex);
  if (cache_->words.size() < Cache::kCapacity) cache_->words.emplace(piece, std::move(ids));
}

void BpeTokenizer::append_ids(const std::string& text, std::vector<int64_t>& out) const {
  split_on_added_tokens(
      text, added_,
      [&](std::string_view segment) {
        std::string s(segment);
        if (options_.add_prefix_space && s[0] != ' ') s.insert(s.begin(), ' ');
        for (const auto& piece : gpt2_pre_tokenize(s)) bpe_word(piece, out);
      },
      [&](const AddedToken& token) { out.push_back(token.id); });
}

std::vector<int64_t> BpeTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  append_ids(to_valid_utf8(text), ids);
  return ids;
}

Encoding BpeTokenizer::encode_text(const std::string& text, const std::string* pair,
                                   const EncodeOptions& options) const {
  std::vector<int64_t> a = encode(text);
  std::vector<int64_t> b;
  if (pair) b = encode(*pair);
  PostProcessor post;  // ByteLevel post-processing adds no tokens; GPT-2 has no pad token
  return assemble_encoding(std::move(a), pair ? &b : nullptr, options, post,
                           [this](int64_t id) -> const std::string& { return id_to_token(id); });
}

std::string BpeTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  std::string out;
  const auto& to_byte = byte_tables().to_byte;
  for (int64_t id : ids) {
    const std::string& token = id_to_token(id);
    if (skip_special_tokens &&
        std::any_of(added_.begin(), added_.end(),
                    [&](const AddedToken& a) { return a.special && a.id == id; }))
      continue;
    // HF's ByteLevel decoder: a token whose every code point is a byte's becomes those bytes;
    // any other token (an added one such as <|endoftext|>) is kept as its UTF-8.
    std::string bytes;
    bool all_bytes = true;
    for (size_t pos = 0; pos < token.size() && all_bytes;) {
      const auto it = to_byte.find(next_code_point(token, pos));
      if (it == to_byte.end())
        all_bytes = false;
      else
        bytes.push_back(static_cast<char>(it->second));
    }
    out += all_bytes ? bytes : token;
  }
  return out;
}

}  // namespace attnd
