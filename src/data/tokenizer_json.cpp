#include "attnd/data/tokenizer_json.h"

#include <filesystem>
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
            {"handle_chinese_chars", true},
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

}  // namespace

WordPieceTokenizer wordpiece_from_hf_json(const nlohmann::json& j, const std::string& where) {
  ATTND_CHECK_INPUT(j.is_object() && j.contains("model") && j["model"].is_object(), where,
                    ": not a tokenizer.json (expected an object with a \"model\")");
  const auto& model = j["model"];
  const auto* type_json =
      optional_key(model, "type", &nlohmann::json::is_string, "a string", where, "model.type");
  const auto type = type_json ? type_json->get<std::string>() : std::string();
  ATTND_CHECK_INPUT(type == "WordPiece", where, ": model.type is '", type,
                    "'; attnd reads WordPiece tokenizers only");
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
    const auto* lowercase = optional_key(n, "lowercase", &nlohmann::json::is_boolean,
                                         "a boolean", where, "normalizer.lowercase");
    options.lowercase = lowercase ? lowercase->get<bool>() : true;
    // HF: strip_accents null means "follow lowercase".
    options.strip_accents = n.contains("strip_accents") && n["strip_accents"].is_boolean()
                                ? n["strip_accents"].get<bool>()
                                : options.lowercase;
  }
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
  return WordPieceTokenizer(std::move(vocab), options);
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
  return WordPieceTokenizer::from_file(vocab_path.string());
}

}  // namespace attnd
