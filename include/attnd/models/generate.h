// Text generation with a Gpt2Decoder: prefill the prompt, then sample one token at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "attnd/models/gpt2_decoder.h"
#include "attnd/nn/sampling.h"

namespace attnd {

struct GenerateOptions {
  int64_t max_new_tokens = 50;
  SamplingOptions sampling;
  int64_t stop_token = -1;  // ends the run when sampled (not included in the result); -1 = none
  int64_t vocab_limit = 0;  // > 0: sample only ids below it (a tokenizer smaller than the model)
};

struct GenerateResult {
  std::vector<int64_t> tokens;  // the new tokens, without the stop token
  bool stopped = false;         // the stop token was sampled
  double prefill_seconds = 0;   // the prompt's parallel pass (first logits included)
  double decode_seconds = 0;    // sampling every token and the steps between them
  std::vector<int64_t> state_bytes_first;  // per layer, after the prompt
  std::vector<int64_t> state_bytes_last;   // per layer, at the end
  // Generated tokens per second of decode_seconds (the stop token counts: it was generated).
  double tokens_per_second() const;
};

// Batch 1. The decoder must be fresh (position 0): InputError otherwise. InputError for an empty
// prompt, max_new_tokens < 0, bad sampling options, and when the prompt plus the tokens to feed
// back (max_new_tokens − 1: the last one is never fed) exceed n_positions.
GenerateResult generate(Gpt2Decoder& decoder, const std::vector<int64_t>& prompt,
                        const GenerateOptions& options);

}  // namespace attnd
