// What a checkpoint stores of a model: every parameter and every buffer, by name. Buffers are
// tensors a model derives when it is built and never trains — Performer's random features Ω,
// `<attention>.mixer.q_map.omega` and `.k_map.omega` [m, head_dim] (e.g.
// transformer.h.0.attn.mixer.q_map.omega) — stored so that a checkpoint's function does not depend
// on the RNG and LAPACK of the LibTorch that loads it. ModelImpl::load_state reads them back; a
// checkpoint written before attnd stored them loads with Ω recomputed from the mixer's seed and a
// note on stderr.
#pragma once

#include "attnd/core/tensor_map.h"
#include "attnd/models/model.h"

namespace attnd {

TensorMap checkpoint_state(const ModelImpl& model);

}  // namespace attnd
