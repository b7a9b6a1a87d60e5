// Helpers shared by the test binaries.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <unistd.h>

#include "attnd/core/error.h"
#include "attnd/data/batch.h"
#include "attnd/models/model.h"

namespace attnd::test {

// The fetched data (scripts/fetch-data): $ATTND_DATA_DIR, else <repo>/data.
inline std::string test_data_dir() {
  const char* env = std::getenv("ATTND_DATA_DIR");
  return env && env[0] ? std::string(env) : std::string(ATTND_SOURCE_DIR) + "/data";
}

#define SKIP_WITHOUT(name)                                                             \
  if (!std::filesystem::is_directory(attnd::test::test_data_dir() + "/" + name))      \
  GTEST_SKIP() << attnd::test::test_data_dir() << "/" << name                          \
               << " is missing: run scripts/fetch-data"

// A fresh directory under /tmp, removed with everything in it when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "attnd-test-XXXXXX").string();
    char* made = ::mkdtemp(templ.data());
    if (!made) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A ViT small enough for unit tests: 8x8 single-channel images, 2x2 grid of 4x4 patches.
inline nlohmann::json tiny_vit_config(int64_t layers = 2, int64_t labels = 3) {
  return {{"model_type", "vit"}, {"hidden_size", 16}, {"num_hidden_layers", layers},
          {"num_attention_heads", 2}, {"intermediate_size", 32}, {"image_size", 8},
          {"patch_size", 4}, {"num_channels", 1}, {"num_labels", labels},
          {"hidden_dropout_prob", 0.0}, {"attention_probs_dropout_prob", 0.0}};
}

// Random images whose label is a simple function of the pixels (learnable), made from a seed.
class SyntheticImages : public Dataset {
 public:
  SyntheticImages(int64_t n, int64_t labels, uint64_t seed = 0, int64_t size = 8) {
    auto gen = at::detail::createCPUGenerator(seed);
    images_ = at::rand({n, 1, size, size}, gen);
    // label = which horizontal band is brightest
    std::vector<torch::Tensor> means;
    for (const auto& band : images_.view({n, size, size}).chunk(labels, 1))
      means.push_back(band.mean({1, 2}));
    labels_ = torch::stack(means, 1).argmax(-1);
  }
  int64_t size() const override { return images_.size(0); }
  Batch get(const std::vector<int64_t>& indices, uint64_t augment_seed) const override {
    auto idx = torch::tensor(indices, torch::kLong);
    Batch b;
    b.input.pixel_values = images_.index_select(0, idx);
    b.labels = labels_.index_select(0, idx);
    return b;
  }

 private:
  torch::Tensor images_, labels_;
};

// The message of the InputError that fn throws, or a marker saying what went wrong instead.
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("WRONG EXCEPTION TYPE: ") + e.what();
  }
  return "NO EXCEPTION";
}

inline void expect_tensors_equal(const torch::Tensor& a, const torch::Tensor& b,
                                 const std::string& what = "") {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  EXPECT_TRUE(torch::equal(a, b)) << what << ": max |diff| = "
                                  << (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

inline void expect_close(const torch::Tensor& a, const torch::Tensor& b, double tol,
                         const std::string& what = "") {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  double diff = (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
  EXPECT_LE(diff, tol) << what;
}

}  // namespace attnd::test
