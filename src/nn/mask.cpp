#include "attnd/nn/mask.h"

#include <torch/torch.h>

#include <limits>

#include "attnd/core/error.h"

namespace attnd {

torch::Tensor AttentionMask::allowed(int64_t nq, int64_t nk, const torch::Device& device) const {
  torch::Tensor result;
  if (causal) {
    ATTND_CHECK(nq <= nk, "causal mask needs at least as many keys as queries, got nq=", nq,
                " nk=", nk);
    auto opts = torch::TensorOptions().dtype(torch::kLong).device(device);
    auto q_pos = torch::arange(nk - nq, nk, opts).unsqueeze(1);  // [Nq, 1]
    auto k_pos = torch::arange(0, nk, opts).unsqueeze(0);        // [1, Nk]
    result = (k_pos <= q_pos).view({1, 1, nq, nk});
  }
  if (key_padding.defined()) {
    ATTND_CHECK(key_padding.dim() == 2 && key_padding.size(1) == nk,
                "key padding mask must be [B, ", nk, "], got ", key_padding.sizes());
    auto pad = key_padding.to(device).to(torch::kBool).view({key_padding.size(0), 1, 1, nk});
    result = result.defined() ? torch::logical_and(result, pad) : pad;
  }
  return result;
}

torch::Tensor AttentionMask::additive(int64_t nq, int64_t nk, torch::ScalarType dtype,
                                      const torch::Device& device) const {
  auto ok = allowed(nq, nk, device);
  if (!ok.defined()) return ok;
  auto zeros = torch::zeros(ok.sizes(), torch::TensorOptions().dtype(dtype).device(device));
  double lowest = dtype == torch::kDouble ? std::numeric_limits<double>::lowest()
                                          : std::numeric_limits<float>::lowest();
  if (dtype == torch::kHalf) lowest = -65504.0;
  if (dtype == torch::kBFloat16) lowest = -3.38e38;
  return zeros.masked_fill(ok.logical_not(), lowest);
}

}  // namespace attnd
