#include "attnd/distill/losses.h"

#include <torch/torch.h>

#include "attnd/core/error.h"

namespace attnd {

namespace {

void check_pair(const torch::Tensor& a, const torch::Tensor& b, const char* what) {
  ATTND_CHECK(a.defined() && b.defined(), what, ": teacher or student tensor was not recorded");
  ATTND_CHECK(a.sizes() == b.sizes(), what, ": teacher ", a.sizes(), " vs student ", b.sizes(),
              " (do the paired layers have the same heads and sequence length?)");
}

// [B,1,Nq,1] weights of the queries that count (1 for real tokens), or undefined for "all".
torch::Tensor query_weights(const AttentionMask& mask, int64_t nq, int64_t nk) {
  if (!mask.key_padding.defined()) return {};
  ATTND_CHECK(nq == nk, "query padding is only known for self-attention (nq == nk)");
  return mask.key_padding.to(torch::kFloat).view({mask.key_padding.size(0), 1, nq, 1});
}

// Mean over batch, heads and counted queries of a per-row quantity rows [B,H,Nq,1].
torch::Tensor mean_rows(const torch::Tensor& rows, const torch::Tensor& qw) {
  if (!qw.defined()) return rows.mean();
  auto w = qw.to(rows.device()).expand_as(rows);
  return (rows * w).sum() / w.sum().clamp_min(1.0);
}

torch::Tensor masked_log_softmax(const torch::Tensor& logits, const AttentionMask& mask) {
  auto add = mask.additive(logits.size(-2), logits.size(-1), logits.scalar_type(), logits.device());
  return torch::log_softmax(add.defined() ? logits + add : logits, -1);
}

}  // namespace

torch::Tensor attention_soft_ce(const torch::Tensor& teacher_probs,
                                const torch::Tensor& student_logits, const AttentionMask& mask) {
  check_pair(teacher_probs, student_logits, "attention soft cross-entropy");
  auto logp = masked_log_softmax(student_logits.to(torch::kFloat), mask);
  auto rows = -(teacher_probs.to(torch::kFloat) * logp).sum(-1, /*keepdim=*/true);
  return mean_rows(rows, query_weights(mask, logp.size(-2), logp.size(-1)));
}

torch::Tensor attention_soft_ce_from_probs(const torch::Tensor& teacher_probs,
                                           const torch::Tensor& student_probs,
                                           const AttentionMask& mask, double eps) {
  check_pair(teacher_probs, student_probs, "attention soft cross-entropy");
  auto rows = -(teacher_probs.to(torch::kFloat) * torch::log(student_probs.to(torch::kFloat) + eps))
                   .sum(-1, true);
  return mean_rows(rows, query_weights(mask, rows.size(-2), student_probs.size(-1)));
}

torch::Tensor attention_kl(const torch::Tensor& teacher_probs, const torch::Tensor& student_logits,
                           const AttentionMask& mask) {
  check_pair(teacher_probs, student_logits, "attention KL");
  auto p = teacher_probs.to(torch::kFloat);
  auto logp_s = masked_log_softmax(student_logits.to(torch::kFloat), mask);
  // xlogy gives 0·log 0 = 0 for masked keys.
  auto rows = (torch::xlogy(p, p) - p * logp_s).sum(-1, true);
  return mean_rows(rows, query_weights(mask, p.size(-2), p.size(-1)));
}

torch::Tensor attention_mse(const torch::Tensor& teacher_probs, const torch::Tensor& student_probs,
                            const AttentionMask& mask) {
  check_pair(teacher_probs, student_probs, "attention MSE");
  auto diff2 = (teacher_probs.to(torch::kFloat) - student_probs.to(torch::kFloat)).pow(2);
  auto allowed = mask.allowed(diff2.size(-2), diff2.size(-1), diff2.device());
  if (!allowed.defined()) return diff2.mean();
  auto w = allowed.to(torch::kFloat);
  auto qw = query_weights(mask, diff2.size(-2), diff2.size(-1));
  if (qw.defined()) w = w * qw.to(w.device());
  w = w.expand_as(diff2);
  return (diff2 * w).sum() / w.sum().clamp_min(1.0);
}

torch::Tensor hidden_mse(const torch::Tensor& teacher_hidden, const torch::Tensor& student_hidden,
                         const torch::Tensor& token_mask) {
  check_pair(teacher_hidden, student_hidden, "hidden-state MSE");
  auto diff2 = (teacher_hidden.to(torch::kFloat) - student_hidden.to(torch::kFloat)).pow(2);
  if (!token_mask.defined()) return diff2.mean();
  auto w = token_mask.to(diff2.device()).to(torch::kFloat).unsqueeze(-1).expand_as(diff2);
  return (diff2 * w).sum() / w.sum().clamp_min(1.0);
}

torch::Tensor hidden_attention(const torch::Tensor& hidden, const torch::Tensor& token_mask) {
  auto energy = hidden.to(torch::kFloat).pow(2).sum(-1);  // [B, N]
  if (token_mask.defined()) energy = energy * token_mask.to(energy.device()).to(torch::kFloat);
  return energy / energy.norm(2, {-1}, true).clamp_min(1e-12);
}

torch::Tensor hidden_attention_mse(const torch::Tensor& teacher_hidden,
                                   const torch::Tensor& student_hidden,
                                   const torch::Tensor& token_mask) {
  check_pair(teacher_hidden, student_hidden, "NAD attention");
  auto diff2 = (hidden_attention(teacher_hidden, token_mask) -
                hidden_attention(student_hidden, token_mask)).pow(2);
  if (!token_mask.defined()) return diff2.mean();
  auto w = token_mask.to(diff2.device()).to(torch::kFloat);
  return (diff2 * w).sum() / w.sum().clamp_min(1.0);
}

}  // namespace attnd
