// safetensors files (huggingface/safetensors): u64 little-endian header length N, N bytes of UTF-8
// JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
// then the data buffer. The reader validates every rule of the reference reader and throws
// InputError naming the file, what is wrong and what was expected; the writer produces what the
// reference writer produces (data sorted by dtype size then name, header padded to 8 bytes).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "attnd/core/tensor_map.h"

namespace attnd {

using SafetensorsMetadata = std::map<std::string, std::string>;

struct SafetensorsFile {
  TensorMap tensors;
  SafetensorsMetadata metadata;
};

// One header entry, as written in the file (dtype is the safetensors name: "F32", "BF16"...).
struct SafetensorsTensorInfo {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // data_offsets, relative to the start of the data buffer
  uint64_t end = 0;
  int64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

struct SafetensorsHeader {
  std::vector<SafetensorsTensorInfo> tensors;  // by name
  SafetensorsMetadata metadata;
  uint64_t header_size = 0;  // N
  uint64_t file_size = 0;    // 8 + N + data
};

// Reads and validates a whole file into owned, contiguous CPU tensors.
SafetensorsFile read_safetensors(const std::string& path);
// The same from bytes in memory; `source` names them in error messages.
SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& source);
// Reads and validates only the header (every structural rule; the data is not read). Dtypes the
// format knows but this LibTorch lacks (F8_*, U16...) are accepted here, so `attnd info` can
// show them; read_safetensors rejects them.
SafetensorsHeader read_safetensors_header(const std::string& path);

// The file's bytes. Tensors are detached, moved to the CPU and made contiguous; an undefined
// tensor or a dtype safetensors cannot store is an InputError naming the tensor.
std::string serialize_safetensors(const TensorMap& tensors,
                                  const SafetensorsMetadata& metadata = {});
// Streams the same bytes to `path` through AtomicFile (temp file + fsync + rename).
void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const SafetensorsMetadata& metadata = {});

// A sharded checkpoint: `dir_or_index` is a directory holding model.safetensors.index.json or the
// index file itself; its "weight_map" maps each tensor name to a shard file next to the index.
TensorMap read_safetensors_sharded(const std::string& dir_or_index);
// The shard files an index names (distinct, sorted), as paths next to the index.
std::vector<std::string> safetensors_index_shards(const std::string& dir_or_index);

// "F32" for torch::kFloat...; InputError for a dtype safetensors cannot store.
std::string safetensors_dtype_name(torch::ScalarType type);
// Bits per element of a safetensors dtype name (F4 is 4, F32 is 32); 0 for an unknown name.
int safetensors_dtype_bits(const std::string& dtype);

}  // namespace attnd
