// Distillation losses between a teacher's and a student's recorded internals. All of them ignore
// padding: masked keys carry no probability and padded queries/tokens are left out of the mean.
#pragma once

#include <torch/types.h>

#include "attnd/nn/mask.h"

namespace attnd {

// Soft cross-entropy over attention rows: −Σ_k p_T(k) · log p_S(k), averaged over batch, heads and
// (unpadded) queries. teacher_probs [B,H,Nq,Nk]; student_logits unmasked [B,H,Nq,Nk] (the mask is
// applied inside, as the attention layer does).
torch::Tensor attention_soft_ce(const torch::Tensor& teacher_probs,
                                const torch::Tensor& student_logits, const AttentionMask& mask);
// The same from student probabilities (for mixers that have no logits): −Σ p_T · log(p_S + eps).
torch::Tensor attention_soft_ce_from_probs(const torch::Tensor& teacher_probs,
                                           const torch::Tensor& student_probs,
                                           const AttentionMask& mask, double eps = 1e-12);
// KL(p_T ‖ p_S) = Σ p_T (log p_T − log p_S), same averaging as the soft cross-entropy.
torch::Tensor attention_kl(const torch::Tensor& teacher_probs, const torch::Tensor& student_logits,
                           const AttentionMask& mask);
// Mean squared difference of probabilities over allowed (query, key) entries.
torch::Tensor attention_mse(const torch::Tensor& teacher_probs, const torch::Tensor& student_probs,
                            const AttentionMask& mask);
// Mean squared difference of hidden states [B,N,D] over real tokens (token_mask [B,N] or undefined).
torch::Tensor hidden_mse(const torch::Tensor& teacher_hidden, const torch::Tensor& student_hidden,
                         const torch::Tensor& token_mask);

// NAD's attention of a hidden state (Li et al. 2021, for text): a_t = Σ_d H[b,t,d]², zero at
// padded tokens, divided by its L2 norm over the tokens of each example. [B,N,D] → [B,N].
torch::Tensor hidden_attention(const torch::Tensor& hidden, const torch::Tensor& token_mask);
// Mean squared difference of the two NAD attentions over real tokens.
torch::Tensor hidden_attention_mse(const torch::Tensor& teacher_hidden,
                                   const torch::Tensor& student_hidden,
                                   const torch::Tensor& token_mask);

}  // namespace attnd
