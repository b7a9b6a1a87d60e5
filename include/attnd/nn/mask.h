// Which keys each query may attend to: key padding and/or causality.
#pragma once

#include <torch/types.h>

namespace attnd {

struct AttentionMask {
  // [B, Nk], nonzero/true = a real token that may be attended to. Undefined = no padding.
  torch::Tensor key_padding;
  // Query i (of Nq) sits at absolute position Nk - Nq + i and sees keys at positions <= its own.
  bool causal = false;

  bool empty() const { return !key_padding.defined() && !causal; }
  // Boolean "may attend" mask broadcastable to [B, H, Nq, Nk]; undefined when empty().
  torch::Tensor allowed(int64_t nq, int64_t nk, const torch::Device& device) const;
  // Additive mask (0 allowed, dtype's lowest value not allowed) broadcastable to [B, H, Nq, Nk];
  // undefined when empty(). The lowest finite value (not -inf) keeps a fully masked row finite.
  torch::Tensor additive(int64_t nq, int64_t nk, torch::ScalarType dtype,
                         const torch::Device& device) const;
};

}  // namespace attnd
