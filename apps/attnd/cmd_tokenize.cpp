// attnd tokenize PATH (--text TEXT | --file FILE) [--pair ... | --pair-file ...]: the ids and pieces
// a tokenizer gives, to debug what a model sees. PATH is a tokenizer directory or file (a
// checkpoint, a Hugging Face model folder, tokenizer.json, vocab.txt, vocab.json/encoder.json);
// load_tokenizer says which files are read.
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "attnd/core/error.h"
#include "attnd/data/text_dataset.h"
#include "attnd/data/tokenizer_json.h"
#include "attnd/data/utf8.h"
#include "commands.h"

namespace attnd::cli {

namespace {

struct TokenizeOptions {
  std::string path;
  std::string text, file, pair, pair_file;
  int64_t max_length = 0;
  std::string truncation = "longest_first";
  int64_t pad_to = 0;
  int64_t pad_id = -1;
  bool no_special_tokens = false;
  bool json = false;
};

// A token's text for a person: BPE tokens as the bytes they stand for, control characters and
// non-UTF-8 bytes escaped.
std::string readable(const Tokenizer& t, int64_t id) {
  const std::string raw = t.kind() == "bpe" ? t.decode({id}, false) : t.id_to_token(id);
  std::string out;
  for (unsigned char c : raw) {
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (!is_valid_utf8(out)) {  // a piece of a multi-byte character: show its bytes
    std::string hex;
    for (unsigned char c : out) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      hex += (c < 0x80) ? std::string(1, static_cast<char>(c)) : std::string(buf);
    }
    return hex;
  }
  return out;
}

std::string one_source(const std::string& text, const std::string& file, const char* text_flag,
                       const char* file_flag, bool required) {
  ATTND_CHECK_INPUT(text.empty() || file.empty(), "give ", text_flag, " or ", file_flag,
                    ", not both");
  if (!file.empty()) return read_text_file(file);
  ATTND_CHECK_INPUT(!required || !text.empty(), "give the text to tokenize: ", text_flag,
                    " TEXT or ", file_flag, " FILE");
  return text;
}

void run_tokenize(const TokenizeOptions& o) {
  const std::unique_ptr<Tokenizer> t = load_tokenizer(o.path);
  const std::string text = one_source(o.text, o.file, "--text", "--file", true);
  const bool has_pair = !o.pair.empty() || !o.pair_file.empty();
  const std::string pair = one_source(o.pair, o.pair_file, "--pair", "--pair-file", false);
  EncodeOptions e;
  e.add_special_tokens = !o.no_special_tokens;
  e.max_length = o.max_length;
  e.pad_to = o.pad_to;
  e.pad_id = o.pad_id;
  e.truncation = o.truncation == "only_first"    ? Truncation::kOnlyFirst
                 : o.truncation == "only_second" ? Truncation::kOnlySecond
                                                 : Truncation::kLongestFirst;
  const Encoding enc = t->encode_text(text, has_pair ? &pair : nullptr, e);
  if (o.json) {
    nlohmann::json j = {{"tokenizer", t->kind()},          {"vocab_size", t->vocab_size()},
                        {"ids", enc.ids},                  {"tokens", enc.tokens},
                        {"type_ids", enc.type_ids},        {"attention_mask", enc.attention_mask}};
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  std::cout << "tokenizer: " << t->kind() << ", " << t->vocab_size() << " tokens (" << o.path
            << ")\n";
  std::cout << "ids:";
  for (int64_t id : enc.ids) std::cout << " " << id;
  std::cout << "\n\n  pos      id  type  mask  token";
  if (t->kind() == "bpe") std::cout << "  (text)";
  std::cout << "\n";
  for (size_t k = 0; k < enc.ids.size(); ++k) {
    char head[64];
    std::snprintf(head, sizeof head, "%5zu %7lld %5lld %5lld  ", k,
                  static_cast<long long>(enc.ids[k]), static_cast<long long>(enc.type_ids[k]),
                  static_cast<long long>(enc.attention_mask[k]));
    std::cout << head << enc.tokens[k];
    if (t->kind() == "bpe") std::cout << "  \"" << readable(*t, enc.ids[k]) << "\"";
    std::cout << "\n";
  }
  std::cout << "\n" << enc.ids.size() << " ids\n";
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Show the token ids and pieces a tokenizer gives for a text (WordPiece or BPE)");
  cmd->footer(
      "PATH: a directory with tokenizer.json, vocab.txt (+ tokenizer_config.json) or vocab.json +\n"
      "merges.txt (GPT-2's encoder.json + vocab.bpe too), or one of those files.\n"
      "Ids match Hugging Face's tokenizers library for the same files.\n"
      "Example: attnd tokenize data/gpt2 --text \"Hello world\"");
  cmd->add_option("path", o->path, "tokenizer directory or file")->required();
  cmd->add_option("--text", o->text, "the text to tokenize");
  cmd->add_option("--file", o->file, "a file whose whole content is the text");
  cmd->add_option("--pair", o->pair, "a second text (a pair: BERT's [CLS] A [SEP] B [SEP])");
  cmd->add_option("--pair-file", o->pair_file, "a file whose content is the second text");
  cmd->add_option("--max-length", o->max_length,
                  "truncate to this many ids, special tokens included (0: no truncation)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--truncation", o->truncation, "which text of a pair to cut")
      ->check(CLI::IsMember({"longest_first", "only_first", "only_second"}))
      ->capture_default_str();
  cmd->add_option("--pad-to", o->pad_to, "pad on the right to this many ids (0: no padding)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--pad-id", o->pad_id, "the id to pad with (default: the tokenizer's [PAD])");
  cmd->add_flag("--no-special-tokens", o->no_special_tokens, "do not add [CLS] / [SEP]");
  cmd->add_flag("--json", o->json, "print {ids, tokens, type_ids, attention_mask} as JSON");
  cmd->callback([o]() { run_tokenize(*o); });
}

}  // namespace attnd::cli
