#include "attnd/core/model_input.h"

namespace attnd {

ModelInput ModelInput::to(const torch::Device& device) const {
  ModelInput out;
  auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  out.pixel_values = move(pixel_values);
  out.input_ids = move(input_ids);
  out.attention_mask = move(attention_mask);
  out.token_type_ids = move(token_type_ids);
  out.pixel_mask = move(pixel_mask);
  out.foreground_mask = move(foreground_mask);
  out.teacher_branches = teacher_branches;
  return out;
}

int64_t ModelInput::batch_size() const {
  if (pixel_values.defined()) return pixel_values.size(0);
  if (input_ids.defined()) return input_ids.size(0);
  return 0;
}

}  // namespace attnd
