#pragma once

#include <ostream>
#include <string>

#include "attnd/methods/recipe.h"

namespace attnd::cli {
// The closing summary of a recipe run: where things are and the numbers.
void print_recipe_result(std::ostream& out, const std::string& verb, const RecipeResult& result);
}  // namespace attnd::cli
