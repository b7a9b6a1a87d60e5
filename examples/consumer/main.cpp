// attnd as a library: build a tiny BERT classifier, save it in the Hugging Face layout, load it
// back and check that both give the same logits.   attnd_consumer OUT_DIR
#include <torch/torch.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "attnd/models/model.h"
#include "attnd/models/model_io.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: attnd_consumer OUT_DIR\n");
    return 2;
  }
  torch::manual_seed(0);
  const nlohmann::json config = {{"model_type", "bert"},         {"vocab_size", 30},
                                 {"hidden_size", 8},             {"num_hidden_layers", 1},
                                 {"num_attention_heads", 2},     {"intermediate_size", 16},
                                 {"max_position_embeddings", 16}, {"num_labels", 2}};
  attnd::Model model = attnd::create_model(config);
  model->eval();
  attnd::ModelInput input;
  input.input_ids = torch::tensor({{2, 7, 11, 3}}, torch::kLong);
  const torch::Tensor logits = model->forward(input).logits;

  attnd::save_model(argv[1], *model);
  attnd::Model loaded = attnd::load_model(argv[1]);
  loaded->eval();
  const torch::Tensor again = loaded->forward(input).logits;
  const bool same = torch::equal(logits, again);
  std::printf("logits %.6f %.6f; reloaded from %s: %s\n", logits[0][0].item<double>(),
              logits[0][1].item<double>(), argv[1], same ? "identical" : "DIFFERENT");
  return same ? 0 : 1;
}
