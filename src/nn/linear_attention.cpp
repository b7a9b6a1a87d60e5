#include "attnd/nn/linear_attention.h"

#include <torch/torch.h>

#include "attnd/core/error.h"

namespace attnd {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

void check_features(const torch::Tensor& fq, const torch::Tensor& fk, const char* what) {
  ATTND_CHECK_INPUT(fq.dim() == 4 && fk.dim() == 4 && fq.size(0) == fk.size(0) &&
                        fq.size(1) == fk.size(1) && fq.size(3) == fk.size(3),
                    what, ": query and key features must be [B, H, N, D'] alike, got ",
                    fq.sizes(), " and ", fk.sizes());
}

void check_inputs(const torch::Tensor& fq, const torch::Tensor& fk, const torch::Tensor& v,
                  const char* what) {
  check_features(fq, fk, what);
  ATTND_CHECK_INPUT(v.dim() == 4 && v.size(0) == fk.size(0) && v.size(1) == fk.size(1) &&
                        v.size(2) == fk.size(2),
                    what, ": values must be [B, H, Nk, Dv] with the keys' B, H, Nk; keys ",
                    fk.sizes(), ", values ", v.sizes());
}

// [B, H, N, D] → [B, H, T, C, D], the tail zero-padded: zero keys add nothing to any sum, and the
// outputs of zero queries are cut off again by from_chunks.
torch::Tensor to_chunks(const torch::Tensor& x, int64_t c) {
  const int64_t n = x.size(2), t = (n + c - 1) / c;
  auto padded = t * c == n ? x : torch::constant_pad_nd(x, {0, 0, 0, t * c - n});
  return padded.reshape({x.size(0), x.size(1), t, c, x.size(3)});
}

torch::Tensor from_chunks(const torch::Tensor& x, int64_t n) {
  return x.reshape({x.size(0), x.size(1), x.size(2) * x.size(3), x.size(4)}).narrow(2, 0, n);
}

// Σ bᵀc over the chunks strictly before (reverse: strictly after) each chunk: [B, H, T, Db, Dc].
// Only N/C states of Db × Dc, never one per position.
torch::Tensor chunk_states(const torch::Tensor& b, const torch::Tensor& c, bool reverse) {
  auto per_chunk = torch::matmul(b.transpose(-1, -2), c);
  const int64_t t = per_chunk.size(2);
  auto zero = torch::zeros_like(per_chunk.narrow(2, 0, 1));
  if (!reverse) return torch::cat({zero, per_chunk.cumsum(2).narrow(2, 0, t - 1)}, 2);
  auto suffix = per_chunk.flip({2}).cumsum(2).flip({2});
  return torch::cat({suffix.narrow(2, 1, t - 1), zero}, 2);
}

// out_n = Σ_{i ≤ n} (a_n · b_i) c_i  (reverse: i ≥ n) on chunked inputs [B, H, T, C, ·]: the
// unnormalised causal linear attention, and (with a, b, c permuted) each of its gradients.
torch::Tensor chunked_scan(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& c,
                           bool reverse) {
  auto intra = torch::matmul(a, b.transpose(-1, -2));  // [B, H, T, C, C], a fresh tensor
  if (reverse) {
    intra.triu_();
  } else {
    intra.tril_();
  }
  return torch::matmul(intra, c).add_(torch::matmul(a, chunk_states(b, c, reverse)));
}

torch::Tensor append_ones(const torch::Tensor& v) {
  return torch::cat({v, torch::ones_like(v.narrow(-1, 0, 1))}, -1);
}

// y = num / den with [num | den − eps] = causal_scan(φq, φk, [v | 1]).
struct CausalLinearAttention : public torch::autograd::Function<CausalLinearAttention> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor fq, torch::Tensor fk,
                               torch::Tensor v, int64_t chunk, double eps) {
    const int64_t n = fq.size(2), dv = v.size(3);
    auto out = from_chunks(
        chunked_scan(to_chunks(fq, chunk), to_chunks(fk, chunk), to_chunks(append_ones(v), chunk),
                     false),
        n);
    auto den = out.select(-1, dv) + eps;  // [B, H, N]
    ctx->save_for_backward({fq, fk, v, den});
    ctx->saved_data["chunk"] = chunk;
    return out.narrow(-1, 0, dv) / den.unsqueeze(-1);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &fq = saved[0], &fk = saved[1], &v = saved[2];
    auto den = saved[3].unsqueeze(-1);
    const int64_t chunk = ctx->saved_data["chunk"].toInt(), n = fq.size(2);
    auto qc = to_chunks(fq, chunk), kc = to_chunks(fk, chunk);
    auto v1 = append_ones(v);
    auto v1c = to_chunks(v1, chunk);

    // Forward order: recompute the outputs, then G = ∂L/∂[num | den].
    auto y = from_chunks(chunked_scan(qc, kc, to_chunks(v, chunk), false), n) / den;
    const auto& gy = grads[0];
    auto g = torch::cat({gy / den, -(gy * y).sum(-1, true) / den}, -1);
    auto gc = to_chunks(g, chunk);
    // dQ_n = Σ_{i≤n} (G_n · v'_i) k_i
    auto dq = from_chunks(chunked_scan(gc, v1c, kc, false), n);

    // Reverse order: R = Σ_{later chunks} q_n G_nᵀ serves both
    // dK_i = Σ_{n≥i} (v'_i · G_n) q_n  and  dV'_i = Σ_{n≥i} (k_i · q_n) G_n.
    auto r = chunk_states(qc, gc, true);  // [B, H, T, D', Dv + 1]
    auto dk = torch::matmul(torch::matmul(v1c, gc.transpose(-1, -2)).triu_(), qc)
                  .add_(torch::matmul(v1c, r.transpose(-1, -2)));
    auto dv1 = torch::matmul(torch::matmul(kc, qc.transpose(-1, -2)).triu_(), gc)
                   .add_(torch::matmul(kc, r));
    auto dv = from_chunks(dv1, n).narrow(-1, 0, v.size(3));
    return {dq, from_chunks(dk, n), dv, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor mask_key_features(const torch::Tensor& fk, const torch::Tensor& key_padding) {
  if (!key_padding.defined()) return fk;
  ATTND_CHECK_INPUT(key_padding.dim() == 2 && key_padding.size(0) == fk.size(0) &&
                        key_padding.size(1) == fk.size(2),
                    "key padding mask must be [B, Nk] = [", fk.size(0), ", ", fk.size(2),
                    "], got ", key_padding.sizes());
  auto keep = (key_padding.to(fk.device()) != 0).to(fk.scalar_type());
  return fk * keep.view({fk.size(0), 1, fk.size(2), 1});
}

torch::Tensor linear_attention_weights(const torch::Tensor& fq, const torch::Tensor& fk,
                                       const AttentionMask& mask, double eps) {
  check_features(fq, fk, "linear_attention_weights");
  auto scores = torch::matmul(fq, fk.transpose(-1, -2));  // [B, H, Nq, Nk]
  auto allowed = mask.allowed(fq.size(2), fk.size(2), fq.device());
  if (allowed.defined()) scores = scores.masked_fill(allowed.logical_not(), 0.0);
  return scores / (scores.sum(-1, true) + eps);
}

torch::Tensor linear_attention_quadratic(const torch::Tensor& fq, const torch::Tensor& fk,
                                         const torch::Tensor& v, const AttentionMask& mask,
                                         double eps) {
  check_inputs(fq, fk, v, "linear_attention_quadratic");
  return torch::matmul(linear_attention_weights(fq, fk, mask, eps), v);
}

torch::Tensor linear_attention_noncausal(const torch::Tensor& fq, const torch::Tensor& fk,
                                         const torch::Tensor& v, const AttentionMask& mask,
                                         double eps) {
  check_inputs(fq, fk, v, "linear_attention_noncausal");
  ATTND_CHECK(!mask.causal, "linear_attention_noncausal got a causal mask");
  auto k = mask_key_features(fk, mask.key_padding);
  auto s = torch::matmul(k.transpose(-1, -2), v);  // [B, H, D', Dv]
  auto z = k.sum(2).unsqueeze(-1);                  // [B, H, D', 1]
  return torch::matmul(fq, s) / (torch::matmul(fq, z) + eps);
}

torch::Tensor linear_attention_causal_chunked(const torch::Tensor& fq, const torch::Tensor& fk,
                                              const torch::Tensor& v,
                                              const torch::Tensor& key_padding, int64_t chunk,
                                              double eps) {
  check_inputs(fq, fk, v, "linear_attention_causal_chunked");
  ATTND_CHECK_INPUT(fq.size(2) == fk.size(2), "causal chunked linear attention needs as many ",
                    "queries as keys, got ", fq.size(2), " and ", fk.size(2));
  ATTND_CHECK_INPUT(chunk > 0, "chunk must be > 0, got ", chunk);
  if (fq.size(2) == 0) return torch::zeros({v.size(0), v.size(1), 0, v.size(3)}, v.options());
  return CausalLinearAttention::apply(fq, mask_key_features(fk, key_padding), v, chunk, eps);
}

torch::Tensor LinearAttentionState::step(const torch::Tensor& fq, const torch::Tensor& fk,
                                         const torch::Tensor& v,
                                         const torch::Tensor& key_padding) {
  check_inputs(fq, fk, v, "LinearAttentionState::step");
  ATTND_CHECK_INPUT(fq.size(2) == fk.size(2), "a decoding step needs one query per new key, got ",
                    fq.size(2), " queries and ", fk.size(2), " keys");
  auto k = mask_key_features(fk, key_padding);
  if (!S.defined()) {
    S = torch::zeros({fk.size(0), fk.size(1), fk.size(3), v.size(3)}, v.options());
    z = torch::zeros({fk.size(0), fk.size(1), fk.size(3)}, fk.options());
  }
  ATTND_CHECK_INPUT(S.size(0) == fk.size(0) && S.size(1) == fk.size(1) &&
                        S.size(2) == fk.size(3) && S.size(3) == v.size(3),
                    "decoding state is ", S.sizes(), " but the step's keys are ", fk.sizes(),
                    " and values ", v.sizes());
  auto intra = torch::matmul(fq, k.transpose(-1, -2)).tril();  // causal among the new tokens
  auto num = torch::matmul(fq, S) + torch::matmul(intra, v);
  auto den = torch::matmul(fq, z.unsqueeze(-1)) + intra.sum(-1, true) + eps;
  S = S + torch::matmul(k.transpose(-1, -2), v);
  z = z + k.sum(2);
  tokens += fk.size(2);
  return num / den;
}

}  // namespace attnd
