// Linear attention on precomputed features, in four forms that compute the same thing:
//
//   â[n,i] = φ(q_n)ᵀφ(k_i) / (Σ_{j∈S(n)} φ(q_n)ᵀφ(k_j) + eps)        y_n = Σ_{i∈S(n)} â[n,i] v_i
//
// S(n) = the real (unpadded) keys, and with causal only those at positions ≤ n's. eps is the
// same in every form (default 1e-6: small next to Σ φᵀφ for the positive maps, large enough that
// a query with no allowed key gives y = 0 instead of 0/0), so the forms agree to rounding and
// â's rows sum to Σ/(Σ + eps), i.e. to 1 within eps/Σ.
//
// Shapes: fq [B, H, Nq, D'], fk [B, H, Nk, D'], v [B, H, Nk, Dv]; mask.key_padding [B, Nk]
// (nonzero = real token); with mask.causal, query i sits at position Nk − Nq + i, as in
// AttentionMask.
// No 1/√d inside: the feature map owns any scale.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "attnd/nn/mask.h"

namespace attnd {

constexpr double kLinearAttentionEps = 1e-6;
constexpr int64_t kLinearAttentionChunk = 64;

// (a) Quadratic: the weights â [B, H, Nq, Nk] (zero where not allowed), and â·v. For distillation.
torch::Tensor linear_attention_weights(const torch::Tensor& fq, const torch::Tensor& fk,
                                       const AttentionMask& mask = {},
                                       double eps = kLinearAttentionEps);
torch::Tensor linear_attention_quadratic(const torch::Tensor& fq, const torch::Tensor& fk,
                                         const torch::Tensor& v, const AttentionMask& mask = {},
                                         double eps = kLinearAttentionEps);

// (b) Non-causal O(N): S = Σ φ(k)vᵀ [D', Dv], z = Σ φ(k); y = φ(q)ᵀS / (φ(q)ᵀz + eps).
// mask.causal must be false.
torch::Tensor linear_attention_noncausal(const torch::Tensor& fq, const torch::Tensor& fk,
                                         const torch::Tensor& v, const AttentionMask& mask = {},
                                         double eps = kLinearAttentionEps);

// (c) Causal chunked O(N·C) (Nq = Nk = N, any N): per chunk t of C tokens
//   num = Q_t S_{t−1} + tril(Q_t K_tᵀ) V_t,  den = Q_t z_{t−1} + tril(Q_t K_tᵀ) 1,
//   S_t = S_{t−1} + K_tᵀ V_t — batched matmuls and a cumulative sum over the N/C chunk states.
// A custom autograd function: it saves only its inputs and the per-row denominators [B, H, N];
// the backward recomputes the chunk states (forward order for dQ, reverse order for dK and dV).
torch::Tensor linear_attention_causal_chunked(const torch::Tensor& fq, const torch::Tensor& fk,
                                              const torch::Tensor& v,
                                              const torch::Tensor& key_padding = {},
                                              int64_t chunk = kLinearAttentionChunk,
                                              double eps = kLinearAttentionEps);

// (d) Recurrent decoding: S [B, H, D', Dv] and z [B, H, D'] summarise every key seen so far, so
// the state's size does not grow with the context.
struct LinearAttentionState {
  torch::Tensor S;  // Σ φ(k_i) v_iᵀ
  torch::Tensor z;  // Σ φ(k_i)
  int64_t tokens = 0;
  double eps = kLinearAttentionEps;

  // Appends n ≥ 1 new tokens (fq, fk [B, H, n, D'], v [B, H, n, Dv]; key_padding [B, n] or
  // undefined) and returns their outputs [B, H, n, Dv]; causal among the new tokens.
  torch::Tensor step(const torch::Tensor& fq, const torch::Tensor& fk, const torch::Tensor& v,
                     const torch::Tensor& key_padding = {});
  void reset() { *this = LinearAttentionState{torch::Tensor(), torch::Tensor(), 0, eps}; }
};

// φ(k) with padded keys' features set to zero (they then drop out of every sum). key_padding
// [B, N] nonzero = real, or undefined (fk is returned as is).
torch::Tensor mask_key_features(const torch::Tensor& fk, const torch::Tensor& key_padding);

}  // namespace attnd
