// The export of a pre-trained MAE encoder as a ViT classifier (the attention-transfer teacher and
// the start of MAE fine-tuning). MAE pre-training itself needs nothing here: vit_mae's traits say
// kMaskedPatches, whose loss and evaluation the task-kind table (train/task_kinds.h) holds.
#pragma once

#include <string>
#include <vector>

#include "attnd/models/vit_mae.h"

namespace attnd {

// Class names as an HF label map (id2label / label2id in order).
LabelMap label_map_of(const std::vector<std::string>& class_names);

// Writes the encoder of the MAE checkpoint at `mae_dir` as a ViT classification checkpoint at
// `out_dir` with these class names and pooling ("cls" | "mean"); the head is freshly initialised
// from `seed`. Returns the written model.
Model export_mae_encoder(const std::string& mae_dir, const std::string& out_dir,
                         const std::vector<std::string>& class_names, const std::string& pooling,
                         uint64_t seed);

}  // namespace attnd
