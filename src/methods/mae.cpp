#include "attnd/methods/mae.h"

#include <torch/torch.h>

#include "attnd/core/error.h"
#include "attnd/models/model_io.h"

namespace attnd {

LabelMap label_map_of(const std::vector<std::string>& class_names) {
  LabelMap labels;
  labels.num_labels = static_cast<int64_t>(class_names.size());
  for (size_t i = 0; i < class_names.size(); ++i) {
    labels.id2label[static_cast<int64_t>(i)] = class_names[i];
    labels.label2id[class_names[i]] = static_cast<int64_t>(i);
  }
  return labels;
}

Model export_mae_encoder(const std::string& mae_dir, const std::string& out_dir,
                         const std::vector<std::string>& class_names, const std::string& pooling,
                         uint64_t seed) {
  auto model = load_model(mae_dir);
  auto* mae = dynamic_cast<VitMaeModelImpl*>(model.get());
  ATTND_CHECK_INPUT(mae != nullptr, mae_dir, " is a ", model->model_type(),
                    " checkpoint, not an MAE (vit_mae) one");
  torch::manual_seed(seed);
  auto vit = vit_from_mae(*mae, label_map_of(class_names), pooling);
  save_model(out_dir, *vit);
  return vit;
}

}  // namespace attnd
