// A WordPiece tokenizer as Hugging Face's tokenizer.json (the `tokenizers` library's format), so
// that a text model's checkpoint carries its vocabulary in a file HF can load:
//   {"version": "1.0", "normalizer": {"type": "BertNormalizer", "lowercase": .., "strip_accents": ..,
//    "clean_text": true, "handle_chinese_chars": true}, "pre_tokenizer": {"type": "BertPreTokenizer"},
//    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
//              "max_input_chars_per_word": 100, "vocab": {"[PAD]": 0, ...}}, ...}
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "attnd/data/bpe.h"
#include "attnd/data/tokenizer.h"
#include "attnd/data/wordpiece.h"

namespace attnd {

inline constexpr const char* kTokenizerFile = "tokenizer.json";
inline constexpr const char* kVocabFile = "vocab.txt";
inline constexpr const char* kTokenizerConfigFile = "tokenizer_config.json";

nlohmann::json wordpiece_to_hf_json(const WordPieceTokenizer& tokenizer);
// InputError (prefixed by `where`) when the model is not WordPiece, the vocab ids are not exactly
// 0..n-1, or a special token is missing.
WordPieceTokenizer wordpiece_from_hf_json(const nlohmann::json& json, const std::string& where);

// A tokenizer.json file. InputError prefixed with the path for a missing file, invalid JSON or
// the errors of wordpiece_from_hf_json.
WordPieceTokenizer load_tokenizer_json(const std::string& path);
// Writes wordpiece_to_hf_json(tokenizer) atomically (temp file + rename); HF's
// PreTrainedTokenizerFast(tokenizer_file=...) loads it.
void save_tokenizer_json(const std::string& path, const WordPieceTokenizer& tokenizer);

// The WordPiece tokenizer a checkpoint or run directory carries: <dir>/tokenizer.json, else
// <dir>/vocab.txt with <dir>/tokenizer_config.json's options (BERT's uncased defaults without
// it). InputError naming the directory and both files when neither exists.
WordPieceTokenizer load_checkpoint_tokenizer(const std::string& dir);
// True when load_checkpoint_tokenizer(dir) would find a file.
bool has_checkpoint_tokenizer(const std::string& dir);

// A byte-level BPE tokenizer.json (model.type "BPE", GPT-2's layout): vocab, merges ("a b" strings
// or [a, b] pairs), added_tokens, ByteLevel pre-tokenizer (add_prefix_space read). Every option
// attnd does not implement is refused by name: a normalizer, another pre-tokenizer or
// post-processor, dropout, byte_fallback, ignore_merges, subword prefixes/suffixes.
BpeTokenizer bpe_from_hf_json(const nlohmann::json& json, const std::string& where);
// model.type of a tokenizer.json ("WordPiece", "BPE", ...); InputError when it has none.
std::string tokenizer_json_model_type(const nlohmann::json& json, const std::string& where);

// Any tokenizer attnd reads, from a directory or a file:
//   tokenizer.json (WordPiece or BPE) > vocab.txt (+ tokenizer_config.json) > vocab.json +
//   merges.txt > encoder.json + vocab.bpe (GPT-2's original names) in a directory;
//   a file: tokenizer.json (any .json with a "model"), vocab.txt (any .txt), vocab.json or
//   encoder.json (the merges file beside it).
// InputError naming the path and what was expected.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace attnd
