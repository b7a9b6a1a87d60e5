#include "attnd/data/data_dir.h"

#include <cstdlib>

namespace attnd {

std::string default_data_dir() {
  const char* env = std::getenv("ATTND_DATA_DIR");
  if (env != nullptr && env[0] != '\0') return env;
  return "data";
}

std::string data_path(const std::string& name) { return default_data_dir() + "/" + name; }

}  // namespace attnd
