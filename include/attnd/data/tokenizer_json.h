// A WordPiece tokenizer as Hugging Face's tokenizer.json (the `tokenizers` library's format), so
// that a text model's checkpoint carries its vocabulary in a file HF can load:
//   {"version": "1.0", "normalizer": {"type": "BertNormalizer", "lowercase": .., "strip_accents": ..,
//    "clean_text": true, "handle_chinese_chars": true}, "pre_tokenizer": {"type": "BertPreTokenizer"},
//    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
//              "max_input_chars_per_word": 100, "vocab": {"[PAD]": 0, ...}}, ...}
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "attnd/data/wordpiece.h"

namespace attnd {

inline constexpr const char* kTokenizerFile = "tokenizer.json";
inline constexpr const char* kVocabFile = "vocab.txt";

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

// The tokenizer a checkpoint or run directory carries: <dir>/tokenizer.json, else <dir>/vocab.txt
// (BERT's uncased defaults). InputError naming the directory and both files when neither exists.
WordPieceTokenizer load_checkpoint_tokenizer(const std::string& dir);
// True when load_checkpoint_tokenizer(dir) would find a file.
bool has_checkpoint_tokenizer(const std::string& dir);

}  // namespace attnd
