// `attnd transfer`: attention transfer (Li et al., NeurIPS 2024) — a ViT trained from scratch with
// only a pre-trained teacher's attention: copied (teacher run alongside at training and inference)
// or distilled (soft cross-entropy between the teacher's and the student's attention rows, teacher
// only in training).
#pragma once

#include <string>
#include <vector>

#include "attnd/core/config.h"
#include "attnd/methods/recipe.h"

namespace attnd {

enum class TransferMode { kDistill, kCopy, kCopyQ, kCopyK, kCopyV };
TransferMode parse_transfer_mode(const std::string& name);  // distill | copy | copy_q | copy_k | copy_v
std::string to_string(TransferMode mode);

// Layer sets: "all", "none", "all_but_last:k" (the paper's default), "first:k", "last:k", or a
// list "0,2,3". InputError names the spec and what was expected.
std::vector<int64_t> parse_layer_set(const std::string& spec, int64_t depth);
// Head sets: "all" (returns empty = every head), "first:k" or a list "0,1".
std::vector<int64_t> parse_head_set(const std::string& spec, int64_t heads);

// recipe_schema(false) plus transfer.* (teacher, mode, layers, heads, weight).
ConfigSchema transfer_schema();

// Builds the student from [model] (or run.init), the teacher from transfer.teacher, and trains:
// copy modes wrap the student with its teacher (the checkpoint records the teacher's path);
// distill adds transfer.weight × Σ_layers soft-CE(teacher, student attention) to the task loss.
RecipeResult run_transfer_recipe(const Config& config, const std::string& resume = "");

}  // namespace attnd
