#include "attnd/data/tokenizer_json.h"

#include <filesystem>
#include <memory>
#include <unordered_map>
#include <vector>

#include "attnd/core/error.h"
#include "attnd/io/json_file.h"

namespace attnd {

namespace fs = std::filesystem;

nlohmann::json wordpiece_to_hf_json(const WordPieceTokenizer& t) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int64_t i = 0; i < t.vocab_size(); ++i) vocab[t.id_to_token(i)] = i;
  nlohmann::json added = nlohmann::json::array();
  for (const auto& name : special_tokens()) {
    const auto id = t.token_to_id(name);
    if (id >= 0)
      added.push_back({{"id", id}, {"content", name}, {"single_word", false}, {"lstrip", false},
                       {"rstrip", false}, {"normalized", false}, {"special", true}});
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer",
           {{"type", "BertNormalizer"},
            {"clean_text", true},
            {"handle_chinese_chars", t.options().handle_chinese_chars},
            {"strip_accents", t.options().strip_accents},
            {"lowercase", t.options().lowercase}}},
          {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
          {"post_processor", nullptr},
          {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
          {"model",
           {{"type", "WordPiece"},
            {"unk_token", kUnkToken},
            {"continuing_subword_prefix", "##"},
            {"max_input_chars_per_word", t.options().max_chars_per_word},
            {"vocab", vocab}}}};
}

namespace {

// object[key] when it is there and not null, checked to be of the type `ok` accepts; nlohmann's
// value() would throw its own type_error, which names no file.
const nlohmann::json* optional_key(const nlohmann::json& object, const char* key,
                                   bool (nlohmann::json::*ok)() const noexcept,
                                   const char* expected, const std::string& where,
                                   const char* path) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  ATTND_CHECK_INPUT(((*it).*ok)(), where, ": ", path, " must be ", expected, ", got ",
                    it->type_name());
  return &*it;
}

// tokenizer.json's added_tokens: [{"id", "content", "special", "lstrip", "rstrip", "single_word",
// "normalized"}]. attnd matches them literally in the raw text (HF's behaviour for tokens with
// normalized false and no strip / single_word options); others are refused by name.
std::vector<AddedToken> read_added_tokens(const nlohmann::json& j, const std::string& where) {
  std::vector<AddedToken> added;
  const auto* list = optional_key(j, "added_tokens", &nlohmann::json::is_array, "an array", where,
                                  "added_tokens");
  if (!list) return added;
  for (const auto& t : *list) {
    ATTND_CHECK_INPUT(t.is_object() && t.contains("content") && t["content"].is_string() &&
                          t.contains("id") && t["id"].is_number_integer(),
                      where, ": each added_tokens entry needs a string content and an integer id");
    const std::string content = t["content"].get<std::string>();
    for (const char* option : {"lstrip", "rstrip", "single_word"})
      ATTND_CHECK_INPUT(!t.contains(option) || !t[option].is_boolean() || !t[option].get<bool>(),
                        where, ": added token '", content, "' has ", option,
                        " true, which attnd does not support");
    const bool special = !t.contains("special") || !t["special"].is_boolean() ||
                         t["special"].get<bool>();
    ATTND_CHECK_INPUT(special || !t.contains("normalized") || !t["normalized"].is_boolean() ||
                          !t["normalized"].get<bool>(),
                      where, ": added token '", content,
                      "' is normalized (matched after normalisation), which attnd does not support");
    added.push_back({content, t["id"].get<int64_t>(), special});
  }
  return added;
}

// tokenizer.json's "model" object, checked to be of `expected_type` (WordPiece, BPE).
const nlohmann::json& tokenizer_model_of_type(const nlohmann::json& j, const char* expected_type,
                                              const std::string& where) {
  ATTND_CHECK_INPUT(j.is_object() && j.contains("model") && j["model"].is_object(), where,
                    ": not a tokenizer.json (expected an object with a \"model\")");
  const auto& model = j["model"];
  const auto* type_json =
      optional_key(model, "type", &nlohmann::json::is_string, "a string", where, "model.type");
  const auto type = type_json ? type_json->get<std::string>() : std::string();
  ATTND_CHECK_INPUT(type == expected_type, where, ": model.type is '", type, "'; expected ",
                    expected_type, " here");
  return model;
}

}  // namespace

WordPieceTokenizer wordpiece_from_hf_json(const nlohmann::json& j, const std::string& where) {
  const auto& model = tokenizer_model_of_type(j, "WordPiece", where);
  ATTND_CHECK_INPUT(model.contains("vocab") && model["vocab"].is_object(), where,
                    ": model.vocab must be an object {token: id}");
  const auto& vocab_json = model["vocab"];
  std::vector<std::string> vocab(vocab_json.size());
  std::vector<bool> seen(vocab.size(), false);
  for (auto it = vocab_json.begin(); it != vocab_json.end(); ++it) {
    ATTND_CHECK_INPUT(it.value().is_number_integer(), where, ": the id of '", it.key(),
                      "' is not an integer");
    const auto id = it.value().get<int64_t>();
    ATTND_CHECK_INPUT(id >= 0 && id < static_cast<int64_t>(vocab.size()) && !seen[id], where,
                      ": token '", it.key(), "' has id ", id, "; expected each id 0..",
                      vocab.size() - 1, " exactly once");
    seen[id] = true;
    vocab[id] = it.key();
  }
  WordPieceOptions options;
  if (j.contains("normalizer") && j["normalizer"].is_object()) {
    const auto& n = j["normalizer"];
    const auto* ntype = optional_key(n, "type", &nlohmann::json::is_string, "a string", where,
                                     "normalizer.type");
    ATTND_CHECK_INPUT(!ntype || ntype->get<std::string>() == "BertNormalizer", where,
                      ": normalizer.type '", ntype ? ntype->get<std::string>() : "",
                      "' is not supported; attnd's WordPiece reads BertNormalizer");
    const auto* lowercase = optional_key(n, "lowercase", &nlohmann::json::is_boolean,
                                         "a boolean", where, "normalizer.lowercase");
    options.lowercase = lowercase ? lowercase->get<bool>() : true;
    // HF: strip_accents null means "follow lowercase".
    options.strip_accents = n.contains("strip_accents") && n["strip_accents"].is_boolean()
                                ? n["strip_accents"].get<bool>()
                                : options.lowercase;
    const auto* chinese = optional_key(n, "handle_chinese_chars", &nlohmann::json::is_boolean,
                                       "a boolean", where, "normalizer.handle_chinese_chars");
    options.handle_chinese_chars = chinese ? chinese->get<bool>() : true;
    const auto* clean = optional_key(n, "clean_text", &nlohmann::json::is_boolean, "a boolean",
                                     where, "normalizer.clean_text");
    ATTND_CHECK_INPUT(!clean || clean->get<bool>(), where,
                      ": normalizer.clean_text false is not supported (attnd always cleans)");
  }
  if (const auto* prefix = optional_key(model, "continuing_subword_prefix",
                                        &nlohmann::json::is_string, "a string", where,
                                        "model.continuing_subword_prefix"))
    ATTND_CHECK_INPUT(prefix->get<std::string>() == "##", where,
                      ": model.continuing_subword_prefix '", prefix->get<std::string>(),
                      "' is not supported (attnd's WordPiece uses \"##\")");
  if (const auto* max_chars =
          optional_key(model, "max_input_chars_per_word", &nlohmann::json::is_number_integer,
                       "an integer", where, "model.max_input_chars_per_word")) {
    // A parsed positive integer is number_unsigned, one built in memory (a round trip) is
    // number_integer: both are integers, compared each in its own type.
    const bool in_range = max_chars->is_number_unsigned()
                              ? max_chars->get<uint64_t>() >= 1 && max_chars->get<uint64_t>() <= (uint64_t{1} << 31)
                              : max_chars->get<int64_t>() >= 1 && max_chars->get<int64_t>() <= (int64_t{1} << 31);
    ATTND_CHECK_INPUT(in_range,
                      where, ": model.max_input_chars_per_word must be an integer in [1, 2^31], "
                      "got ", max_chars->dump());
    options.max_chars_per_word = max_chars->get<int64_t>();
  }
  return WordPieceTokenizer(std::move(vocab), options, read_added_tokens(j, where));
}

WordPieceTokenizer load_tokenizer_json(const std::string& path) {
  return wordpiece_from_hf_json(read_json_file(path), path);
}

void save_tokenizer_json(const std::string& path, const WordPieceTokenizer& tokenizer) {
  write_json_file(path, wordpiece_to_hf_json(tokenizer));
}

bool has_checkpoint_tokenizer(const std::string& dir) {
  return fs::is_regular_file(fs::path(dir) / kTokenizerFile) ||
         fs::is_regular_file(fs::path(dir) / kVocabFile);
}

WordPieceTokenizer load_checkpoint_tokenizer(const std::string& dir) {
  const auto json_path = fs::path(dir) / kTokenizerFile;
  if (fs::is_regular_file(json_path))
    return load_tokenizer_json(json_path.string());
  const auto vocab_path = fs::path(dir) / kVocabFile;
  ATTND_CHECK_INPUT(fs::is_regular_file(vocab_path), dir, " has no tokenizer: expected ",
                    kTokenizerFile, " or ", kVocabFile, " there");
  const auto config_path = fs::path(dir) / kTokenizerConfigFile;
  return WordPieceTokenizer::from_file(vocab_path.string(),
                                       fs::is_regular_file(config_path)
                                           ? load_wordpiece_config(config_path.string())
                                           : WordPieceOptions{});
}

BpeTokenizer bpe_from_hf_json(const nlohmann::json& j, const std::string& where) {
  const auto& model = tokenizer_model_of_type(j, "BPE", where);
  // Options of HF's BPE model that attnd does not implement: refused by name.
  ATTND_CHECK_INPUT(!model.contains("dropout") || model["dropout"].is_null(), where,
                    ": model.dropout is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    ATTND_CHECK_INPUT(!model.contains(key) || model[key].is_null() ||
                          (model[key].is_string() && model[key].get<std::string>().empty()),
                      where, ": model.", key, " is not supported (GPT-2 has none)");
  for (const char* key : {"byte_fallback", "ignore_merges"})
    ATTND_CHECK_INPUT(!model.contains(key) || !model[key].is_boolean() || !model[key].get<bool>(),
                      where, ": model.", key, " true is not supported");
  if (j.contains("normalizer") && !j["normalizer"].is_null()) {
    const auto& n = j["normalizer"];
    ATTND_CHECK_INPUT(false, where, ": normalizer '",
                      n.is_object() && n.contains("type") ? n["type"].dump() : n.dump(),
                      "' is not supported; attnd's byte-level BPE has no normalizer (GPT-2's)");
  }
  BpeOptions options;
  const auto* pre = optional_key(j, "pre_tokenizer", &nlohmann::json::is_object, "an object",
                                 where, "pre_tokenizer");
  const std::string pre_type =
      pre && pre->contains("type") && (*pre)["type"].is_string() ? (*pre)["type"].get<std::string>()
                                                                 : std::string();
  ATTND_CHECK_INPUT(pre_type == "ByteLevel", where, ": pre_tokenizer '", pre_type,
                    "' is not supported; attnd's BPE is GPT-2's byte-level one (ByteLevel)");
  if (pre->contains("add_prefix_space") && (*pre)["add_prefix_space"].is_boolean())
    options.add_prefix_space = (*pre)["add_prefix_space"].get<bool>();
  ATTND_CHECK_INPUT(!pre->contains("use_regex") || !(*pre)["use_regex"].is_boolean() ||
                        (*pre)["use_regex"].get<bool>(),
                    where, ": pre_tokenizer.use_regex false is not supported");
  if (j.contains("post_processor") && !j["post_processor"].is_null()) {
    const auto& p = j["post_processor"];
    const std::string ptype = p.is_object() && p.contains("type") && p["type"].is_string()
                                  ? p["type"].get<std::string>()
                                  : p.dump();
    ATTND_CHECK_INPUT(ptype == "ByteLevel", where, ": post_processor '", ptype,
                      "' is not supported; attnd's BPE adds no special tokens (GPT-2's ByteLevel)");
  }
  ATTND_CHECK_INPUT(model.contains("vocab") && model["vocab"].is_object(), where,
                    ": model.vocab must be an object {token: id}");
  std::unordered_map<std::string, int64_t> vocab;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    ATTND_CHECK_INPUT(it.value().is_number_integer(), where, ": the id of '", it.key(),
                      "' is not an integer");
    vocab.emplace(it.key(), it.value().get<int64_t>());
  }
  ATTND_CHECK_INPUT(model.contains("merges") && model["merges"].is_array(), where,
                    ": model.merges must be an array");
  std::vector<std::pair<std::string, std::string>> merges;
  size_t index = 0;
  for (const auto& m : model["merges"]) {
    ++index;
    if (m.is_string()) {  // "a b" (tokenizers < 0.20)
      const std::string line = m.get<std::string>();
      const size_t space = line.find(' ');
      ATTND_CHECK_INPUT(space != std::string::npos && space > 0 && space + 1 < line.size() &&
                            line.find(' ', space + 1) == std::string::npos,
                        where, ": model.merges[", index - 1, "] '", line,
                        "' is not two symbols separated by one space");
      merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    } else {
      ATTND_CHECK_INPUT(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(),
                        where, ": model.merges[", index - 1, "] must be \"a b\" or [\"a\", \"b\"]");
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    }
  }
  try {
    return BpeTokenizer(vocab, merges, read_added_tokens(j, where), options);
  } catch (const InputError& e) {
    throw InputError(where + ": " + e.what());
  }
}

std::string tokenizer_json_model_type(const nlohmann::json& j, const std::string& where) {
  ATTND_CHECK_INPUT(j.is_object() && j.contains("model") && j["model"].is_object() &&
                        j["model"].contains("type") && j["model"]["type"].is_string(),
                    where, ": not a tokenizer.json (expected an object with a \"model\" and its "
                    "\"type\")");
  return j["model"]["type"].get<std::string>();
}

namespace {

std::unique_ptr<Tokenizer> from_tokenizer_json(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  const std::string type = tokenizer_json_model_type(j, path);
  if (type == "WordPiece") return std::make_unique<WordPieceTokenizer>(wordpiece_from_hf_json(j, path));
  if (type == "BPE") return std::make_unique<BpeTokenizer>(bpe_from_hf_json(j, path));
  throw InputError(path + ": model.type is '" + type +
                   "'; attnd reads WordPiece and (byte-level) BPE tokenizers");
}

std::unique_ptr<Tokenizer> from_vocab_txt(const fs::path& vocab) {
  const auto config = vocab.parent_path() / kTokenizerConfigFile;
  return std::make_unique<WordPieceTokenizer>(WordPieceTokenizer::from_file(
      vocab.string(),
      fs::is_regular_file(config) ? load_wordpiece_config(config.string()) : WordPieceOptions{}));
}

// vocab.json + merges.txt, or GPT-2's original names encoder.json + vocab.bpe.
std::unique_ptr<Tokenizer> from_bpe_vocab(const fs::path& vocab) {
  const fs::path dir = vocab.parent_path();
  const fs::path merges =
      dir / (vocab.filename() == "encoder.json" ? "vocab.bpe" : "merges.txt");
  ATTND_CHECK_INPUT(fs::is_regular_file(merges), vocab.string(), ": the merges file ",
                    merges.string(), " beside it is missing");
  return std::make_unique<BpeTokenizer>(BpeTokenizer::from_files(vocab.string(), merges.string()));
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  const fs::path p(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    if (fs::is_regular_file(p / kTokenizerFile)) return from_tokenizer_json((p / kTokenizerFile).string());
    if (fs::is_regular_file(p / kVocabFile)) return from_vocab_txt(p / kVocabFile);
    for (const char* name : {"vocab.json", "encoder.json"})
      if (fs::is_regular_file(p / name)) return from_bpe_vocab(p / name);
    throw InputError(path + " has no tokenizer: expected tokenizer.json, vocab.txt (WordPiece) or "
                     "vocab.json + merges.txt (BPE) there");
  }
  ATTND_CHECK_INPUT(fs::is_regular_file(p, ec), path,
                    " does not exist (expected a tokenizer directory or file: tokenizer.json, "
                    "vocab.txt, vocab.json)");
  const std::string name = p.filename().string();
  if (name == "vocab.json" || name == "encoder.json") return from_bpe_vocab(p);
  if (p.extension() == ".txt") return from_vocab_txt(p);
  if (p.extension() == ".json") return from_tokenizer_json(path);
  throw InputError(path + ": not a tokenizer file (expected tokenizer.json, vocab.txt, vocab.json "
                   "or encoder.json)");
}

}  // namespace attnd
