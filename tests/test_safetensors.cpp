// safetensors reader/writer. Oracles: files whose bytes are written by hand here, the byte
// vectors of the reference implementation's own tests, and a hand parse of the writer's output.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "attnd/core/error.h"
#include "attnd/core/torch_compat.h"
#include "attnd/io/safetensors.h"
#include "test_utils.h"

namespace attnd {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::TempDir;

std::string u64le(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return out;
}

// 8-byte length + header + data, the length taken from the header unless given.
std::string file_bytes(const std::string& header, const std::string& data = "") {
  return u64le(header.size()) + header + data;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string raw(const torch::Tensor& t) {
  torch::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

void expect_same(const torch::Tensor& expected, const torch::Tensor& actual,
                 const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what;
  EXPECT_EQ(actual.scalar_type(), expected.scalar_type()) << what;
  EXPECT_EQ(actual.sizes(), expected.sizes()) << what;
  EXPECT_TRUE(actual.device().is_cpu()) << what;
  EXPECT_TRUE(actual.is_contiguous()) << what;
  EXPECT_EQ(raw(actual), raw(expected.cpu())) << what;  // bit-exact, NaN-safe
}

class Safetensors : public ::testing::Test {
 protected:
  TempDir dir;

  // Writes `bytes`, reads them, expects an InputError whose message names the file and holds
  // `phrase`. Returns the message.
  std::string expect_error(const std::string& bytes, const std::string& phrase,
                           bool header_too = true) {
    const std::string path = dir / "bad.safetensors";
    write_bytes(path, bytes);
    std::string message;
    try {
      read_safetensors(path);
      ADD_FAILURE() << "no error, expected one containing: " << phrase;
    } catch (const InputError& e) {
      message = e.what();
      EXPECT_NE(message.find(phrase), std::string::npos) << message;
      EXPECT_NE(message.find(path), std::string::npos) << message;
    }
    if (header_too) {
      try {
        read_safetensors_header(path);
        ADD_FAILURE() << "header reader: no error, expected: " << phrase;
      } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
      }
    }
    // The in-memory parser applies the same rules.
    EXPECT_THROW(parse_safetensors(bytes, "memory"), InputError);
    return message;
  }
};

// ---- round trips ---------------------------------------------------------------------------

TEST_F(Safetensors, RoundTripEveryDtypeAndShape) {
  torch::manual_seed(0);
  const std::vector<torch::ScalarType> types = {
      torch::kBool, torch::kByte, torch::kChar,     torch::kShort,  torch::kInt,
      torch::kLong, torch::kHalf, torch::kBFloat16, torch::kFloat, torch::kDouble,
      torch::kComplexFloat};
  const std::vector<std::vector<int64_t>> shapes = {{2, 3}, {}, {0}, {3, 0, 2}, {1, 2, 1, 5}};
  TensorMap tensors;
  for (auto type : types) {
    for (size_t s = 0; s < shapes.size(); ++s) {
      torch::Tensor t;
      if (type == torch::kBool) {
        t = torch::randint(0, 2, shapes[s]).to(torch::kBool);
      } else if (type == torch::kComplexFloat) {
        t = torch::complex(torch::randn(shapes[s]), torch::randn(shapes[s]));
      } else if (isIntegralType(type, /*includeBool=*/false)) {
        t = torch::randint(-100, 100, shapes[s]).to(type);
        if (type == torch::kByte) t = torch::randint(0, 256, shapes[s]).to(type);
      } else {
        t = (torch::randn(shapes[s]) * 1000).to(type);
      }
      tensors[std::string(c10::toString(type)) + "." + std::to_string(s)] = t;
    }
  }
  tensors["special"] = torch::tensor(std::vector<double>{std::nan(""), INFINITY, -INFINITY, -0.0});
  const SafetensorsMetadata metadata = {{"format", "pt"}, {"note", "caf\xc3\xa9"}, {"", ""}};

  const std::string path = dir / "all.safetensors";
  write_safetensors(path, tensors, metadata);
  SafetensorsFile back = read_safetensors(path);
  EXPECT_EQ(back.metadata, metadata);
  ASSERT_EQ(back.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) expect_same(t, back.tensors.at(name), name);

  // serialize_safetensors gives the very bytes write_safetensors wrote.
  EXPECT_EQ(serialize_safetensors(tensors, metadata), read_bytes(path));
}

TEST_F(Safetensors, WritesViewsGradTensorsAndEmptyMaps) {
  torch::Tensor base = torch::arange(12, torch::kFloat).reshape({3, 4});
  TensorMap tensors = {{"transposed", base.t()},
                       {"slice", base.index({torch::indexing::Slice(), 1})},
                       {"grad", torch::ones({2}, torch::requires_grad())},
                       {"conj", torch::complex(torch::ones({2}), torch::ones({2})).conj()}};
  SafetensorsFile back = parse_safetensors(serialize_safetensors(tensors), "memory");
  expect_same(base.t().contiguous(), back.tensors.at("transposed"), "transposed");
  expect_same(torch::tensor({1.f, 5.f, 9.f}), back.tensors.at("slice"), "slice");
  expect_same(torch::ones({2}), back.tensors.at("grad"), "grad");
  expect_same(torch::complex(torch::ones({2}), -torch::ones({2})), back.tensors.at("conj"),
              "conj");

  SafetensorsFile empty = parse_safetensors(serialize_safetensors({}), "memory");
  EXPECT_TRUE(empty.tensors.empty());
  EXPECT_TRUE(empty.metadata.empty());
}

TEST_F(Safetensors, WriterAcceptsDeviceTensors) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::Tensor t = torch::arange(6, torch::kFloat).reshape({2, 3});
  SafetensorsFile back =
      parse_safetensors(serialize_safetensors({{"t", t.to(torch::kCUDA)}}), "memory");
  expect_same(t, back.tensors.at("t"), "t");
}

// ---- independent oracles -------------------------------------------------------------------

TEST_F(Safetensors, ReadsHandBuiltFile) {
  // Out-of-order keys, metadata last, spaces around the JSON: all legal.
  const std::string header =
      "  {\"b\":{\"dtype\":\"I16\",\"shape\":[3],\"data_offsets\":[16,22]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
      "\"e\":{\"dtype\":\"F64\",\"shape\":[0,4],\"data_offsets\":[22,22]},"
      "\"s\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[22,23]},"
      "\"__metadata__\":{\"k\":\"v\"}}   ";
  // F32 1.0, -2.0, 0.5, 3.0 | I16 1, -1, 300 | U8 200
  const std::string data = std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0\x00\x00\x00\x3f", 12) +
                           std::string("\x00\x00\x40\x40", 4) +
                           std::string("\x01\x00\xff\xff\x2c\x01", 6) + "\xc8";
  const std::string path = dir / "hand.safetensors";
  write_bytes(path, file_bytes(header, data));

  SafetensorsFile f = read_safetensors(path);
  ASSERT_EQ(f.tensors.size(), 4u);
  EXPECT_EQ(f.metadata, (SafetensorsMetadata{{"k", "v"}}));
  const auto& a = f.tensors.at("a");
  ASSERT_EQ(a.scalar_type(), torch::kFloat);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a[0][0].item<float>(), 1.0f);
  EXPECT_EQ(a[0][1].item<float>(), -2.0f);
  EXPECT_EQ(a[1][0].item<float>(), 0.5f);
  EXPECT_EQ(a[1][1].item<float>(), 3.0f);
  const auto& b = f.tensors.at("b");
  ASSERT_EQ(b.scalar_type(), torch::kShort);
  EXPECT_EQ(b[0].item<int16_t>(), 1);
  EXPECT_EQ(b[1].item<int16_t>(), -1);
  EXPECT_EQ(b[2].item<int16_t>(), 300);
  EXPECT_EQ(f.tensors.at("e").scalar_type(), torch::kDouble);
  EXPECT_EQ(f.tensors.at("e").sizes(), (std::vector<int64_t>{0, 4}));
  const auto& s = f.tensors.at("s");
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<uint8_t>(), 200);

  SafetensorsHeader h = read_safetensors_header(path);
  EXPECT_EQ(h.header_size, header.size());
  EXPECT_EQ(h.file_size, 8 + header.size() + data.size());
  ASSERT_EQ(h.tensors.size(), 4u);
  EXPECT_EQ(h.tensors[0].name, "a");  // by name
  EXPECT_EQ(h.tensors[1].name, "b");
  EXPECT_EQ(h.tensors[1].dtype, "I16");
  EXPECT_EQ(h.tensors[1].shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(h.tensors[1].begin, 16u);
  EXPECT_EQ(h.tensors[1].end, 22u);
  EXPECT_EQ(h.tensors[1].numel(), 3);
  EXPECT_EQ(h.tensors[3].numel(), 1);  // scalar
}

TEST_F(Safetensors, WriterMatchesReferenceBytes) {
  // The byte vectors of huggingface/safetensors' own serialization tests.
  TensorMap one = {{"attn.0", torch::arange(6, torch::kFloat).reshape({1, 2, 3})}};
  const std::string header = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],"
                             "\"data_offsets\":[0,24]}}";
  ASSERT_EQ(header.size(), 64u);
  const std::string data("\x00\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x00\x40"
                         "\x00\x00\x40\x40\x00\x00\x80\x40\x00\x00\xa0\x40", 24);
  EXPECT_EQ(serialize_safetensors(one), file_bytes(header, data));

  // Shorter name: 7 spaces of padding bring the header to 72 bytes.
  TensorMap padded = {{"attn0", torch::arange(6, torch::kFloat).reshape({1, 1, 2, 3})}};
  const std::string header2 = "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],"
                              "\"data_offsets\":[0,24]}}       ";
  ASSERT_EQ(header2.size(), 72u);
  EXPECT_EQ(serialize_safetensors(padded), file_bytes(header2, data));

  EXPECT_EQ(serialize_safetensors({}), file_bytes("{}      "));
  EXPECT_EQ(serialize_safetensors({}, {{"framework", "pt"}}),
            file_bytes("{\"__metadata__\":{\"framework\":\"pt\"}}     "));
}

TEST_F(Safetensors, WriterLayoutParsedByHand) {
  TensorMap tensors = {{"z_f64", torch::ones({1}, torch::kDouble)},
                       {"a_u8", torch::ones({3}, torch::kByte)},
                       {"m_f32", torch::ones({2}, torch::kFloat)},
                       {"b_i32", torch::ones({1}, torch::kInt)},
                       {"h_f16", torch::ones({1}, torch::kHalf)},
                       {"c_i64", torch::ones({2}, torch::kLong)}};
  const std::string bytes = serialize_safetensors(tensors, {{"who", "attnd"}});
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  ASSERT_EQ(n % 8, 0u);
  const std::string text = bytes.substr(8, n);
  json h = json::parse(text);
  // Larger elements first, then by name: c_i64, z_f64 | b_i32, m_f32 | h_f16 | a_u8.
  const std::vector<std::pair<std::string, std::pair<int, int>>> expected = {
      {"c_i64", {0, 16}}, {"z_f64", {16, 24}}, {"b_i32", {24, 28}},
      {"m_f32", {28, 36}}, {"h_f16", {36, 38}}, {"a_u8", {38, 41}}};
  size_t previous_pos = text.find("\"__metadata__\"");
  ASSERT_NE(previous_pos, std::string::npos);
  for (const auto& [name, range] : expected) {
    ASSERT_TRUE(h.contains(name)) << name;
    EXPECT_EQ(h[name]["data_offsets"], json::array({range.first, range.second})) << name;
    size_t pos = text.find("\"" + name + "\"");
    EXPECT_GT(pos, previous_pos) << name << " is out of order in the header text";
    previous_pos = pos;
  }
  EXPECT_EQ(h["__metadata__"], json({{"who", "attnd"}}));
  EXPECT_EQ(h["m_f32"]["dtype"], "F32");
  EXPECT_EQ(h["m_f32"]["shape"], json::array({2}));
  EXPECT_EQ(bytes.size(), 8 + n + 41);
  // Every tensor starts at a file offset divisible by its element size.
  for (const auto& [name, t] : tensors) {
    uint64_t begin = h[name]["data_offsets"][0].get<uint64_t>();
    EXPECT_EQ((8 + n + begin) % t.element_size(), 0u) << name;
  }
}

TEST_F(Safetensors, ReadsMisalignedData) {
  // A one-byte U8 tensor before an F64, and a header length that is not a multiple of 8: the
  // F64 data sits at a file offset that is not 8-aligned (as in files of old writers).
  std::string header = "{\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                       "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[1,17]}}";
  ASSERT_NE((8 + header.size() + 1) % 8, 0u);
  double values[2] = {1.5, -1e300};
  std::string data = "\x07" + std::string(reinterpret_cast<const char*>(values), 16);
  const std::string path = dir / "misaligned.safetensors";
  write_bytes(path, file_bytes(header, data));
  SafetensorsFile f = read_safetensors(path);
  EXPECT_EQ(f.tensors.at("u").item<uint8_t>(), 7);
  EXPECT_EQ(f.tensors.at("d")[0].item<double>(), 1.5);
  EXPECT_EQ(f.tensors.at("d")[1].item<double>(), -1e300);
}

// ---- one test per malformed-file rule -------------------------------------------------------

const std::string kF32x2 = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
const std::string k8Bytes(8, '\x01');

TEST_F(Safetensors, RejectsFileShorterThan8Bytes) {
  expect_error(std::string("\x02\x00\x00", 3), "too small");
  expect_error("", "too small");
}

TEST_F(Safetensors, RejectsHeaderLengthOverLimit) {
  expect_error(u64le(100'000'001) + "{}", "exceeds the limit");
  expect_error(u64le(UINT64_MAX) + "{}", "exceeds the limit");
}

TEST_F(Safetensors, RejectsHeaderPastEndOfFile) {
  expect_error(u64le(100) + "{}      ", "runs past the end");
}

TEST_F(Safetensors, RejectsNonUtf8Header) {
  expect_error(file_bytes("{\"a\xff\":" + kF32x2 + "}", k8Bytes), "not valid UTF-8");
  // An encoded surrogate (U+D800) is not UTF-8 either.
  expect_error(file_bytes("{\"a\xed\xa0\x80\":" + kF32x2 + "}", k8Bytes), "not valid UTF-8");
}

TEST_F(Safetensors, RejectsInvalidJson) {
  expect_error(file_bytes("{\"a\":", k8Bytes), "not valid JSON");
  // nlohmann stops at a NUL byte; the reference parser (and attnd) reject it.
  expect_error(file_bytes("{\"a\":" + kF32x2 + "}" + std::string(3, '\0'), k8Bytes),
               "not valid JSON");
  expect_error(file_bytes("{\"a\":" + kF32x2 + "}" + std::string(1, '\0') + "garbage", k8Bytes),
               "not valid JSON");
  expect_error(file_bytes("{\"a\":" + kF32x2 + "} x", k8Bytes), "not valid JSON");
}

TEST_F(Safetensors, RejectsHeaderThatIsNotAnObject) {
  expect_error(file_bytes("[1, 2]  "), "not a JSON object");
}

TEST_F(Safetensors, RejectsEntryThatIsNotAnObject) {
  expect_error(file_bytes("{\"a\": 3}"), "tensor 'a' is not an object");
}

TEST_F(Safetensors, RejectsMissingDtype) {
  expect_error(file_bytes(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", k8Bytes),
               "tensor 'a' has no \"dtype\"");
}

TEST_F(Safetensors, RejectsMissingShape) {
  expect_error(file_bytes(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", k8Bytes),
               "tensor 'a' has no \"shape\"");
}

TEST_F(Safetensors, RejectsMissingDataOffsets) {
  expect_error(file_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", k8Bytes),
               "tensor 'a' has no \"data_offsets\"");
}

TEST_F(Safetensors, RejectsWrongFieldTypes) {
  expect_error(file_bytes(R"({"a":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", k8Bytes),
               "\"dtype\" must be a string");
  expect_error(file_bytes(R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", k8Bytes),
               "\"shape\" must be an array of non-negative integers");
  expect_error(file_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", k8Bytes),
               "\"shape\" must be an array of non-negative integers");
  expect_error(file_bytes(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", k8Bytes),
               "\"shape\" must be an array of non-negative integers");
  expect_error(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}})", k8Bytes),
               "\"data_offsets\" must be [begin, end]");
  expect_error(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", k8Bytes),
               "\"data_offsets\" must be [begin, end]");
  expect_error(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":"0-8"}})", k8Bytes),
               "\"data_offsets\" must be [begin, end]");
}

TEST_F(Safetensors, RejectsUnknownDtype) {
  std::string msg = expect_error(
      file_bytes(R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", k8Bytes),
      "unknown dtype 'F33'");
  EXPECT_NE(msg.find("BF16"), std::string::npos) << "lists the valid dtypes: " << msg;
}

TEST_F(Safetensors, RejectsFormatDtypesThisLibTorchLacks) {
  std::vector<std::string> lacking = {"F8_E8M0"};
#if !ATTND_TORCH_AT_LEAST(2, 1)
  lacking.push_back("F8_E4M3");
  lacking.push_back("F8_E5M2");
#endif
#if !ATTND_TORCH_AT_LEAST(2, 3)
  lacking.push_back("U16");
#endif
  for (const auto& dtype : lacking) {
    const int bytes = safetensors_dtype_bits(dtype) / 8;
    const std::string header = "{\"a\":{\"dtype\":\"" + dtype +
                               "\",\"shape\":[2],\"data_offsets\":[0," +
                               std::to_string(2 * bytes) + "]}}";
    const std::string bytes_ = file_bytes(header, std::string(2 * bytes, '\0'));
    expect_error(bytes_, "not supported by LibTorch", /*header_too=*/false);
    // The header alone is valid: `attnd info` can show such files.
    SafetensorsHeader h = read_safetensors_header(dir / "bad.safetensors");
    ASSERT_EQ(h.tensors.size(), 1u);
    EXPECT_EQ(h.tensors[0].dtype, dtype);
  }
  // Sub-byte F4: 3 elements are 12 bits, not whole bytes.
  expect_error(file_bytes(R"({"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", std::string(2, '\0')),
               "whole number of bytes");
}

TEST_F(Safetensors, RejectsDataThatDoesNotStartAtZero) {
  expect_error(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                          std::string(12, '\0')),
               "must start at 0");
}

TEST_F(Safetensors, RejectsGapBetweenTensors) {
  expect_error(file_bytes(R"({"a":)" + kF32x2 +
                              R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
                          std::string(16, '\0')),
               "gap of 4 bytes before tensor 'b'");
}

TEST_F(Safetensors, RejectsOverlappingTensors) {
  expect_error(file_bytes(R"({"a":)" + kF32x2 +
                              R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                          std::string(12, '\0')),
               "overlaps tensor 'a'");
}

TEST_F(Safetensors, RejectsEndBeforeBegin) {
  expect_error(file_bytes(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", k8Bytes),
               "end before begin");
}

TEST_F(Safetensors, RejectsSizeOverflow) {
  // numel = 2^32 * 2^32 overflows 64 bits.
  expect_error(file_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],)"
                          R"("data_offsets":[0,8]}})",
                          k8Bytes),
               "overflows");
  // numel = 2^62 fits, but 2^62 * 32 bits does not.
  expect_error(file_bytes(R"({"a":{"dtype":"F32","shape":[4611686018427387904],)"
                          R"("data_offsets":[0,8]}})",
                          k8Bytes),
               "byte size of shape [4611686018427387904] in F32 overflows");
}

TEST_F(Safetensors, RejectsRangeThatDoesNotMatchShapeAndDtype) {
  expect_error(file_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", k8Bytes),
               "need 12 bytes");
}

TEST_F(Safetensors, RejectsTrailingBytes) {
  expect_error(file_bytes(R"({"a":)" + kF32x2 + "}", k8Bytes + "xyz!"),
               "4 bytes after the end of the last tensor");
  expect_error(file_bytes("{}", "x"), "1 bytes after the end of the last tensor");
}

TEST_F(Safetensors, RejectsMissingBytes) {
  expect_error(file_bytes(R"({"a":)" + kF32x2 + "}", std::string(5, '\0')), "file is truncated");
}

TEST_F(Safetensors, RejectsDuplicateNames) {
  expect_error(file_bytes(R"({"a":)" + kF32x2 + R"(,"a":)" + kF32x2 + "}", k8Bytes),
               "duplicate key \"a\"");
  // Inside an entry too (which "dtype" would count?).
  expect_error(
      file_bytes(R"({"a":{"dtype":"F32","dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
                 k8Bytes),
      "duplicate key \"dtype\"");
}

TEST_F(Safetensors, RejectsMetadataThatIsNotAnObjectOfStrings) {
  expect_error(file_bytes(R"({"__metadata__":"pt"})"),
               "\"__metadata__\" must be an object of strings");
  expect_error(file_bytes(R"({"__metadata__":{"epoch":3}})"),
               "\"__metadata__\" must be an object of strings, but \"epoch\" is number");
  // null means "no metadata" to the reference reader.
  const std::string path = dir / "null-meta.safetensors";
  write_bytes(path, file_bytes(R"({"__metadata__":null})"));
  EXPECT_TRUE(read_safetensors(path).metadata.empty());
}

TEST_F(Safetensors, RejectsBoolBytesOtherThanZeroOrOne) {
  expect_error(file_bytes(R"({"a":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})",
                          std::string("\x01\x00\x02", 3)),
               "expected 0 or 1", /*header_too=*/false);
}

TEST_F(Safetensors, MissingFileAndDirectoryAreInputErrors) {
  try {
    read_safetensors(dir / "nope.safetensors");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open '" + (dir / "nope.safetensors")),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(read_safetensors(dir.path()), InputError);
  EXPECT_THROW(read_safetensors_header(dir.path()), InputError);
}

// ---- writer errors and atomicity ------------------------------------------------------------

TEST_F(Safetensors, FailedWriteLeavesOldFileIntact) {
  const std::string path = dir / "model.safetensors";
  write_safetensors(path, {{"w", torch::ones({4})}});
  const std::string before = read_bytes(path);

  TensorMap bad = {{"a", torch::zeros({2})}, {"b", torch::Tensor()}};
  EXPECT_THROW(write_safetensors(path, bad), InputError);
  EXPECT_THROW(write_safetensors(path, {{"q", torch::zeros({2}, torch::kComplexDouble)}}),
               InputError);
  EXPECT_THROW(write_safetensors(path, {{"__metadata__", torch::zeros({2})}}), InputError);
  EXPECT_EQ(read_bytes(path), before);
  // No temporary file is left behind.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);

  // A directory that cannot be created (its parent is a file): an error, nothing written.
  EXPECT_THROW(write_safetensors(path + "/sub/x.safetensors", {{"w", torch::ones({1})}}), Error);
  EXPECT_EQ(read_bytes(path), before);
}

TEST_F(Safetensors, DtypeNames) {
  EXPECT_EQ(safetensors_dtype_name(torch::kBFloat16), "BF16");
  EXPECT_EQ(safetensors_dtype_name(torch::kBool), "BOOL");
  EXPECT_THROW(safetensors_dtype_name(torch::kComplexDouble), InputError);
  EXPECT_EQ(safetensors_dtype_bits("F4"), 4);
  EXPECT_EQ(safetensors_dtype_bits("C64"), 64);
  EXPECT_EQ(safetensors_dtype_bits("nope"), 0);
}

// ---- sharded --------------------------------------------------------------------------------

TEST_F(Safetensors, ReadsShardedCheckpoint) {
  write_safetensors(dir / "model-00001-of-00002.safetensors",
                    {{"a", torch::ones({2})}, {"b", torch::zeros({1}, torch::kLong)}});
  write_safetensors(dir / "model-00002-of-00002.safetensors", {{"c", torch::full({3}, 7.0)}});
  json index = {{"metadata", {{"total_size", 32}}},
                {"weight_map",
                 {{"a", "model-00001-of-00002.safetensors"},
                  {"b", "model-00001-of-00002.safetensors"},
                  {"c", "model-00002-of-00002.safetensors"}}}};
  write_bytes(dir / "model.safetensors.index.json", index.dump());

  for (const std::string& arg : {dir.path(), dir / "model.safetensors.index.json"}) {
    TensorMap t = read_safetensors_sharded(arg);
    ASSERT_EQ(t.size(), 3u);
    expect_same(torch::ones({2}), t.at("a"), "a");
    expect_same(torch::zeros({1}, torch::kLong), t.at("b"), "b");
    expect_same(torch::full({3}, 7.0), t.at("c"), "c");
  }
  EXPECT_EQ(safetensors_index_shards(dir.path()),
            (std::vector<std::string>{dir / "model-00001-of-00002.safetensors",
                                      dir / "model-00002-of-00002.safetensors"}));
}

TEST_F(Safetensors, ShardedErrors) {
  auto expect_sharded_error = [&](const json& index, const std::string& phrase) {
    write_bytes(dir / "model.safetensors.index.json", index.dump());
    try {
      read_safetensors_sharded(dir.path());
      ADD_FAILURE() << "no error, expected: " << phrase;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
    }
  };
  write_safetensors(dir / "s1.safetensors", {{"a", torch::ones({2})}, {"b", torch::ones({2})}});
  expect_sharded_error({{"weight_map", {{"a", "s1.safetensors"}, {"b", "s2.safetensors"}}}},
                       "s2.safetensors' (holding tensor 'b' and 0 more) is missing");
  expect_sharded_error({{"weight_map", {{"a", "s1.safetensors"}, {"b", "s1.safetensors"},
                                        {"x", "s1.safetensors"}}}},
                       "tensor 'x' is mapped to shard 's1.safetensors', which does not contain it");
  expect_sharded_error({{"weight_map", {{"a", "s1.safetensors"}}}},
                       "tensor 'b' is not listed in the weight_map");
  write_safetensors(dir / "s2.safetensors", {{"c", torch::ones({2})}});
  expect_sharded_error({{"weight_map", {{"a", "s1.safetensors"}, {"b", "s2.safetensors"},
                                        {"c", "s2.safetensors"}}}},
                       "holds tensor 'b', which the weight_map of");
  expect_sharded_error({{"weight_map", {{"a", "../s1.safetensors"}}}},
                       "must be a file name next to the index");
  expect_sharded_error({{"weights", {}}}, "\"weight_map\"");
  fs::remove(dir / "model.safetensors.index.json");
  EXPECT_THROW(read_safetensors_sharded(dir.path()), InputError);
}

}  // namespace
}  // namespace attnd
