#include "attnd/models/generate.h"

#include <torch/torch.h>

#include <chrono>

#include "attnd/core/error.h"

namespace attnd {

namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

double GenerateResult::tokens_per_second() const {
  const auto n = static_cast<double>(tokens.size() + (stopped ? 1 : 0));
  return decode_seconds > 0 ? n / decode_seconds : 0.0;
}

GenerateResult generate(Gpt2Decoder& decoder, const std::vector<int64_t>& prompt,
                        const GenerateOptions& options) {
  check_sampling_options(options.sampling);
  ATTND_CHECK_INPUT(!prompt.empty(), "generate: the prompt is empty (no tokens to start from)");
  ATTND_CHECK_INPUT(options.max_new_tokens >= 0, "generate: max_new_tokens must be >= 0, got ",
                    options.max_new_tokens);
  ATTND_CHECK_INPUT(decoder.position() == 0, "generate: the decoder has already been fed ",
                    decoder.position(), " tokens (reset() it first)");
  const int64_t limit = decoder.model().config().n_positions;
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  ATTND_CHECK_INPUT(n_prompt + std::max<int64_t>(options.max_new_tokens - 1, 0) <= limit,
                    "generate: a prompt of ", n_prompt, " tokens plus ", options.max_new_tokens,
                    " new tokens needs ", n_prompt + std::max<int64_t>(options.max_new_tokens - 1, 0),
                    " positions, but the model's context is n_positions = ", limit,
                    " (shorten the prompt or lower max_new_tokens)");
  Sampler sampler(options.sampling);
  GenerateResult result;

  auto start = std::chrono::steady_clock::now();
  auto logits = decoder.prefill(torch::tensor(prompt, torch::kLong).unsqueeze(0));
  if (options.max_new_tokens > 0) logits.to(torch::kCPU);  // waits for the device
  result.prefill_seconds = seconds_since(start);
  result.state_bytes_first = decoder.state_bytes();

  start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < options.max_new_tokens; ++i) {
    if (options.vocab_limit > 0 && options.vocab_limit < logits.size(-1))
      logits = logits.narrow(-1, 0, options.vocab_limit);
    const int64_t token = sampler.next(logits).item<int64_t>();
    if (token == options.stop_token) {
      result.stopped = true;
      break;
    }
    result.tokens.push_back(token);
    if (i + 1 < options.max_new_tokens) logits = decoder.step(torch::tensor({token}, torch::kLong));
  }
  result.decode_seconds = seconds_since(start);
  result.state_bytes_last = decoder.state_bytes();
  return result;
}

}  // namespace attnd
