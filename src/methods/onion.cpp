#include "attnd/methods/onion.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "attnd/core/error.h"
#include "attnd/data/backdoor.h"

namespace attnd {

namespace {

// [SEP] + the text's pieces, cut to the LM's context.
std::vector<int64_t> lm_ids(const WordPieceTokenizer& tokenizer, const std::string& text,
                            int64_t context) {
  ATTND_CHECK_INPUT(context == 0 || context >= 2, "an LM context of ", context,
                    " positions cannot predict anything (expected >= 2, or 0 for no limit)");
  std::vector<int64_t> ids = {tokenizer.sep_id()};
  const auto pieces = tokenizer.encode(text, context > 0 ? context - 1 : 0, /*add_special_tokens=*/false);
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  return ids;
}

}  // namespace

std::vector<double> perplexities(ModelImpl& lm, const WordPieceTokenizer& tokenizer,
                                 const std::vector<std::string>& texts, const OnionOptions& options,
                                 const torch::Device& device) {
  ATTND_CHECK(lm.is_causal(), "ONION needs a causal language model, got a ", lm.model_type(), " model");
  ATTND_CHECK_INPUT(options.batch_size >= 1, "the ONION batch size must be >= 1, got ", options.batch_size);
  torch::NoGradGuard no_grad;
  lm.eval();
  std::vector<double> out(texts.size(), 1.0);
  for (size_t start = 0; start < texts.size(); start += static_cast<size_t>(options.batch_size)) {
    const auto end = std::min(texts.size(), start + static_cast<size_t>(options.batch_size));
    std::vector<std::vector<int64_t>> seqs;
    int64_t longest = 0;
    for (size_t i = start; i < end; ++i) {
      seqs.push_back(lm_ids(tokenizer, texts[i], options.context));
      longest = std::max<int64_t>(longest, static_cast<int64_t>(seqs.back().size()));
    }
    if (longest < 2) continue;  // nothing to predict in any of them
    // Padding goes at the end, where a causal LM's earlier positions cannot see it; the mask keeps
    // its predictions out of the sums.
    auto ids = torch::full({static_cast<int64_t>(seqs.size()), longest}, tokenizer.pad_id(), torch::kLong);
    auto scored = torch::zeros({static_cast<int64_t>(seqs.size()), longest - 1});
    for (size_t b = 0; b < seqs.size(); ++b) {
      const auto n = static_cast<int64_t>(seqs[b].size());
      ids[static_cast<int64_t>(b)].narrow(0, 0, n).copy_(torch::tensor(seqs[b], torch::kLong));
      if (n > 1) scored[static_cast<int64_t>(b)].narrow(0, 0, n - 1).fill_(1.0);
    }
    ModelInput input;
    input.input_ids = ids.to(device);
    auto logits = lm.forward(input).logits.to(torch::kCPU, torch::kFloat);  // [B, N, V]
    auto logp = torch::log_softmax(logits.narrow(1, 0, longest - 1), -1);
    auto target = ids.narrow(1, 1, longest - 1).unsqueeze(-1);
    auto nll = -logp.gather(-1, target).squeeze(-1) * scored;  // [B, N - 1]
    auto mean = nll.sum(1) / scored.sum(1).clamp_min(1.0);
    for (size_t b = 0; b < seqs.size(); ++b)
      if (seqs[b].size() > 1) out[start + b] = std::exp(mean[static_cast<int64_t>(b)].item<double>());
  }
  return out;
}

std::vector<double> onion_suspicion(ModelImpl& lm, const WordPieceTokenizer& tokenizer,
                                    const std::string& text, const OnionOptions& options,
                                    const torch::Device& device) {
  const auto words = words_of(text);
  const auto scored = options.max_words > 0
                          ? std::min<size_t>(words.size(), static_cast<size_t>(options.max_words))
                          : words.size();
  // One batch of texts: the whole text first, then the text without word i for each scored i.
  std::vector<std::string> variants = {join_words(words)};
  for (size_t i = 0; i < scored; ++i) {
    auto without = words;
    without.erase(without.begin() + static_cast<std::ptrdiff_t>(i));
    variants.push_back(join_words(without));
  }
  const auto ppl = perplexities(lm, tokenizer, variants, options, device);
  std::vector<double> suspicion(scored);
  for (size_t i = 0; i < scored; ++i) suspicion[i] = ppl[0] - ppl[i + 1];
  return suspicion;
}

std::vector<TextExample> onion_filter(ModelImpl& lm, const WordPieceTokenizer& tokenizer,
                                      const std::vector<TextExample>& examples,
                                      const OnionOptions& options, const torch::Device& device) {
  std::vector<TextExample> out;
  out.reserve(examples.size());
  Progress progress(options.label, static_cast<int64_t>(examples.size()), 0, options.progress, 100);
  for (const auto& e : examples) {
    const auto words = words_of(e.text);
    const auto suspicion = onion_suspicion(lm, tokenizer, e.text, options, device);
    std::vector<std::string> kept;
    for (size_t i = 0; i < words.size(); ++i)
      if (i >= suspicion.size() || !(suspicion[i] > options.threshold)) kept.push_back(words[i]);
    out.push_back({join_words(kept), e.label});
    progress.update(static_cast<int64_t>(out.size()));
  }
  progress.finish();
  return out;
}

}  // namespace attnd
