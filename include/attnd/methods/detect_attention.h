// Attention pictures of a detector on one image (attnd attn on a detection checkpoint): the
// encoder's self-attention over the feature-map tokens, a chosen token's attention over the image,
// and the last decoder layer's cross-attention of the top-scoring queries over the image, each
// panel with that query's predicted box and label.
#pragma once

#include <string>
#include <vector>

#include "attnd/data/detection_dataset.h"
#include "attnd/io/coco_json.h"
#include "attnd/models/model.h"
#include "attnd/train/detection_task.h"

namespace attnd {

struct DetectionAttentionOptions {
  std::string out = "attention";
  int64_t queries = 4;  // cross-attention panels: the best queries by their best class score
  int64_t token = -1;   // encoder overlay: this feature-map token (row-major); -1 = the centre
  int zoom = 3;         // image upscale of the overlays (nearest)
};

// For image `index` of `data` (eval mode, no grad, no annotations). Writes into options.out:
//   encoder/layer<L>.png, encoder/grid.png   every encoder layer × head over the h·w tokens
//   encoder_token.png   the image, then per encoder layer the chosen token's attention
//                       (averaged over heads) over it, the token's cell outlined
//   cross.png           per top query: its cross-attention in the last decoder layer (averaged
//                       over heads) over the image, its box drawn, titled with label and score
// and returns the paths written. InputError for an index outside the data or a token outside
// the feature map; the model must be a detector whose forward taps (kEncoder, i) and (kCross, i).
std::vector<std::string> write_detection_attention(ModelImpl& model, const DetectionDataset& data,
                                                   int64_t index,
                                                   const std::vector<CocoCategory>& categories,
                                                   const DetectionOutputOptions& output,
                                                   const DetectionAttentionOptions& options);

}  // namespace attnd
