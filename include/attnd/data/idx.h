// IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or plain.
//
// Layout: magic 0x00 0x00 <type> <ndims>, then ndims big-endian uint32 sizes, then the data in
// row-major order. attnd reads unsigned-byte data (type 0x08): 0x00000803 images [N, H, W],
// 0x00000801 labels [N].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attnd {

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // prod(dims) bytes, row-major
};

// Reads `path` (gzip or uncompressed). InputError naming the file for: a missing/unreadable file,
// a corrupt gzip stream, a bad magic (zero bytes, type other than unsigned byte, no dims), a
// truncated file, or bytes after the data. `expected_ndims` (> 0) also checks the rank.
IdxArray read_idx(const std::string& path, int expected_ndims = 0);

}  // namespace attnd
