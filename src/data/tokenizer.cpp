#include "attnd/data/tokenizer.h"

#include <algorithm>

#include "attnd/core/error.h"

namespace attnd {

void split_on_added_tokens(std::string_view text, const std::vector<AddedToken>& added,
                           const std::function<void(std::string_view)>& on_text,
                           const std::function<void(const AddedToken&)>& on_token) {
  // Which bytes can start a match: a quick skip for the long stretches that hold no added token.
  bool first_byte[256] = {};
  for (const auto& a : added)
    if (!a.content.empty()) first_byte[static_cast<unsigned char>(a.content[0])] = true;
  size_t start = 0;  // of the pending stretch
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const AddedToken* best = nullptr;
    for (const auto& a : added)
      if (!a.content.empty() && text.compare(pos, a.content.size(), a.content) == 0 &&
          (!best || a.content.size() > best->content.size()))
        best = &a;
    if (!best) {
      ++pos;
      continue;
    }
    if (pos > start) on_text(text.substr(start, pos - start));
    on_token(*best);
    pos += best->content.size();
    start = pos;
  }
  if (text.size() > start) on_text(text.substr(start));
}

std::pair<size_t, size_t> truncate_pair(size_t a, size_t b, size_t max_length) {
  // Measured against HF tokenizers 0.23 (tools/hf-tokenizer-reference; Truncation.* pins it):
  // when even the shorter text is over max_length, the first text keeps the floor of half and the
  // second the ceiling, whichever is longer; otherwise the shorter keeps min(its length, what
  // leaves the longer at least as much), and when both must still be cut the shorter keeps the
  // floor of half and the longer the ceiling.
  const size_t shorter = std::min(a, b);
  if (shorter > max_length) return {max_length / 2, max_length / 2 + max_length % 2};
  size_t n1 = shorter;
  size_t n2 = std::max(n1, max_length - n1);
  if (n1 + n2 > max_length) {
    n1 = max_length / 2;
    n2 = n1 + max_length % 2;
  }
  const bool swap = a > b;
  if (swap) std::swap(n1, n2);
  return {std::min(n1, a), std::min(n2, b)};
}

Encoding assemble_encoding(std::vector<int64_t> a, const std::vector<int64_t>* b,
                           const EncodeOptions& options, const PostProcessor& post,
                           const std::function<const std::string&(int64_t)>& token) {
  std::vector<int64_t> second = b ? *b : std::vector<int64_t>();
  const bool template_used = options.add_special_tokens && post.cls_id >= 0 && post.sep_id >= 0;
  const int64_t added = template_used ? (b ? 3 : 2) : 0;
  ATTND_CHECK_INPUT(options.max_length >= 0, "max_length must be >= 0, got ", options.max_length);
  ATTND_CHECK_INPUT(options.pad_to >= 0, "pad_to must be >= 0, got ", options.pad_to);
  if (options.max_length > 0) {
    ATTND_CHECK_INPUT(options.max_length >= added, "max_length ", options.max_length,
                      " leaves no room for the ", added, " special tokens");
    const auto room = static_cast<size_t>(options.max_length - added);
    const size_t total = a.size() + second.size();
    if (total > room) {
      const size_t remove = total - room;
      if (options.truncation == Truncation::kLongestFirst) {
        if (b) {
          const auto [n1, n2] = truncate_pair(a.size(), second.size(), room);
          a.resize(n1);
          second.resize(n2);
        } else {
          a.resize(room);
        }
      } else {
        ATTND_CHECK_INPUT(options.truncation == Truncation::kOnlyFirst || b,
                          "truncation only_second needs a pair of texts");
        auto& target = options.truncation == Truncation::kOnlyFirst ? a : second;
        ATTND_CHECK_INPUT(target.size() > remove, "the ",
                          options.truncation == Truncation::kOnlyFirst ? "first" : "second",
                          " text has ", target.size(), " tokens; truncating it cannot bring ",
                          a.size() + second.size() + added, " ids down to max_length ",
                          options.max_length);
        target.resize(target.size() - remove);
      }
    }
  }
  Encoding e;
  const auto push = [&](int64_t id, int64_t type) {
    e.ids.push_back(id);
    e.type_ids.push_back(type);
    e.attention_mask.push_back(1);
  };
  if (template_used) push(post.cls_id, 0);
  for (int64_t id : a) push(id, 0);
  if (template_used) push(post.sep_id, 0);
  if (b) {
    for (int64_t id : second) push(id, 1);
    if (template_used) push(post.sep_id, 1);
  }
  if (options.pad_to > 0 && static_cast<int64_t>(e.ids.size()) < options.pad_to) {
    const int64_t pad_id = options.pad_id >= 0 ? options.pad_id : post.pad_id;
    ATTND_CHECK_INPUT(pad_id >= 0, "cannot pad: the tokenizer has no pad token (give a pad id)");
    while (static_cast<int64_t>(e.ids.size()) < options.pad_to) {
      e.ids.push_back(pad_id);
      e.type_ids.push_back(0);
      e.attention_mask.push_back(0);
    }
  }
  e.tokens.reserve(e.ids.size());
  for (int64_t id : e.ids) e.tokens.push_back(token(id));
  return e;
}

}  // namespace attnd
