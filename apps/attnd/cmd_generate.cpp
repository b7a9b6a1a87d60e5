// attnd generate CKPT --prompt TEXT: text from a GPT-2 checkpoint (softmax, linearized or hybrid),
// decoded token by token with per-layer states (constant memory per token for linear mixers).
// stdout: the generated text; stderr: one summary line (speed, decode state memory).
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "attnd/core/error.h"
#include "attnd/core/parse_number.h"
#include "attnd/data/tokenizer_json.h"
#include "attnd/models/model_io.h"
#include "attnd/methods/recipe.h"
#include "attnd/models/generate.h"
#include "commands.h"

namespace attnd::cli {

namespace {

namespace fs = std::filesystem;

struct GenerateCliOptions {
  std::string checkpoint;
  std::string prompt;
  std::string ids;
  GenerateOptions generate;
  int64_t stop_id = -1;
  bool stop_id_given = false;
  std::string device = "cpu";
  int64_t threads = 1;  // one token at a time: more threads mostly wait on each other
};

// "3 17 42" or "3,17,42".
std::vector<int64_t> parse_ids(const std::string& text) {
  std::string spaced = text;
  for (char& ch : spaced)
    if (ch == ',') ch = ' ';
  std::istringstream in(spaced);
  std::vector<int64_t> ids;
  std::string item;
  while (in >> item) {
    const auto id = to_int64(item);
    ATTND_CHECK_INPUT(id && *id >= 0, "--ids: '", item,
                      "' is not a token id (expected e.g. \"3 17 42\")");
    ids.push_back(*id);
  }
  ATTND_CHECK_INPUT(!ids.empty(), "--ids is empty (expected e.g. \"3 17 42\")");
  return ids;
}

std::string kib(const std::vector<int64_t>& bytes) {
  auto one = [](int64_t b) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(b) / 1024.0);
    return std::string(buf);
  };
  bool same = true;
  for (int64_t b : bytes) same = same && b == bytes.front();
  if (bytes.empty()) return "-";
  if (same) return one(bytes.front()) + " KiB";
  std::string out = "[";
  for (size_t i = 0; i < bytes.size(); ++i) out += (i ? ", " : "") + one(bytes[i]);
  return out + "] KiB";
}

std::string ids_text(const std::vector<int64_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? " " : "") + std::to_string(ids[i]);
  return out;
}

void run_generate(GenerateCliOptions o) {
  ATTND_CHECK_INPUT(o.prompt.empty() != o.ids.empty(),
                    "attnd generate needs exactly one of --prompt TEXT and --ids \"ID ID ...\"");
  check_sampling_options(o.generate.sampling);
  ATTND_CHECK_INPUT(o.generate.max_new_tokens >= 0, "--max-new-tokens must be >= 0, got ",
                    o.generate.max_new_tokens);
  configure_threads(o.threads);
  const auto device = parse_device(o.device);
  auto model = load_model(o.checkpoint, device);
  as_gpt2(model, "attnd generate");  // InputError naming the model_type
  Gpt2Decoder decoder(model);         // InputError naming an undecodable mixer / feature map

  std::error_code ec;
  const fs::path dir = fs::is_directory(o.checkpoint, ec) ? fs::path(o.checkpoint)
                                                           : fs::path(o.checkpoint).parent_path();
  // --ids needs no tokenizer, but the output is decoded with one when the checkpoint has it.
  const bool has_tokenizer = has_checkpoint_tokenizer(dir.string());
  ATTND_CHECK_INPUT(has_tokenizer || !o.ids.empty(), "'", dir.string(),
                    "' holds no tokenizer (", kTokenizerFile, " or ", kVocabFile,
                    ") to encode --prompt; give token ids with --ids instead");
  std::unique_ptr<WordPieceTokenizer> tokenizer;
  if (has_tokenizer)
    tokenizer = std::make_unique<WordPieceTokenizer>(load_checkpoint_tokenizer(dir.string()));

  std::vector<int64_t> prompt;
  if (!o.ids.empty()) {
    prompt = parse_ids(o.ids);
  } else {
    prompt = tokenizer->encode(o.prompt, 0, /*add_special_tokens=*/false);
    ATTND_CHECK_INPUT(!prompt.empty(), "--prompt \"", o.prompt, "\" has no tokens");
  }
  const int64_t vocab = decoder.model().config().vocab_size;
  if (tokenizer) {
    // A text prompt could map to ids the model lacks; a smaller tokenizer limits sampling to the
    // ids it can decode.
    ATTND_CHECK_INPUT(tokenizer->vocab_size() <= vocab || !o.ids.empty(), "the tokenizer in '",
                      dir.string(), "' has ", tokenizer->vocab_size(),
                      " tokens but the model's vocab_size is ", vocab);
    if (tokenizer->vocab_size() < vocab) o.generate.vocab_limit = tokenizer->vocab_size();
  }
  for (int64_t id : prompt)
    ATTND_CHECK_INPUT(id < vocab, "--ids: token id ", id,
                      " is outside the model's vocab (vocab_size = ", vocab, ")");
  o.generate.stop_token = o.stop_id_given ? o.stop_id : tokenizer ? tokenizer->sep_id() : -1;

  auto result = generate(decoder, prompt, o.generate);
  if (tokenizer) {
    std::cout << tokenizer->decode(result.tokens) << "\n";
  } else {
    std::cout << ids_text(result.tokens) << "\n";
  }
  std::cout.flush();
  const auto generated = result.tokens.size() + (result.stopped ? 1 : 0);
  std::fprintf(stderr,
               "generated %zu tokens%s in %.3f s (%.1f tokens/s; prompt of %zu tokens in %.3f s); "
               "decode state per layer: %s after the prompt, %s at the end\n",
               generated, result.stopped ? " (stopped at the stop token)" : "",
               result.decode_seconds, result.tokens_per_second(), prompt.size(),
               result.prefill_seconds, kib(result.state_bytes_first).c_str(),
               kib(result.state_bytes_last).c_str());
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto o = std::make_shared<GenerateCliOptions>();
  auto& s = o->generate.sampling;
  auto* cmd = app.add_subcommand(
      "generate", "generate text with a GPT-2 checkpoint (softmax, linear or hybrid attention), "
                  "token by token; linear layers keep a constant-size state");
  cmd->add_option("checkpoint", o->checkpoint,
                  "gpt2 checkpoint directory (with vocab.txt or tokenizer.json for --prompt)")
      ->required();
  auto* prompt = cmd->add_option("--prompt", o->prompt, "text to continue (encoded without "
                                 "[CLS]/[SEP]); the continuation is printed");
  cmd->add_option("--ids", o->ids, "prompt token ids instead of text, e.g. \"3 17 42\"")
      ->excludes(prompt);
  cmd->add_option("--max-new-tokens", o->generate.max_new_tokens, "tokens to generate at most")
      ->capture_default_str();
  cmd->add_option("--temperature", s.temperature, "softmax temperature (0 = greedy)")
      ->capture_default_str();
  cmd->add_option("--top-k", s.top_k, "sample among the k most likely tokens (0 = all)")
      ->capture_default_str();
  cmd->add_option("--top-p", s.top_p, "nucleus: the most likely tokens with mass >= p, (0, 1]")
      ->capture_default_str();
  cmd->add_flag("--greedy", s.greedy, "always take the most likely token");
  cmd->add_option("--seed", s.seed, "sampling seed (same seed, same tokens)")
      ->capture_default_str();
  cmd->add_option("--stop-id", o->stop_id,
                  "stop when this id is generated (default: the tokenizer's [SEP]; -1: never)");
  cmd->add_option("--device", o->device, "cpu | cuda | cuda:N")->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0: all cores; decoding one token at a time is fastest on 1)")->capture_default_str();
  cmd->callback([o, cmd]() {
    auto options = *o;
    options.stop_id_given = cmd->count("--stop-id") > 0;
    run_generate(options);
  });
}

}  // namespace attnd::cli
