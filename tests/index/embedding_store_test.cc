// The embedding store: round trips in every precision, atomic publishing
// with readers pinned to their version, and refusal of damaged files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "funnel/embedding_store.h"
#include "funnel/error.h"
#include "test_util.h"
#include "util/rng.h"

namespace funnel {
namespace {
namespace fs = std::filesystem;

std::vector<float> random_rows(std::size_t n, std::size_t values, std::uint64_t seed) {
  detail::Rng rng(seed);
  std::vector<float> v(n * values);
  for (auto& x : v) x = static_cast<float>(rng.normal());
  return v;
}

class StoreRoundTrip : public ::testing::TestWithParam<Precision> {};

TEST_P(StoreRoundTrip, DecodesWithinThePrecisionsError) {
  test::TempDir tmp;
  StoreSpec spec{"model-abc", GetParam(), 3, 16};
  const std::size_t n = 257, values = 48;
  auto rows = random_rows(n, values, 1);
  rows[5 * values] = 0;  // exact zero survives every precision
  ASSERT_EQ(publish_store_version(tmp.path(), spec, rows, n), 1u);
  auto s = EmbeddingStore::open(tmp.path());
  EXPECT_EQ(s->version(), 1u);
  EXPECT_EQ(s->rows(), n);
  EXPECT_EQ(s->spec().model_id, "model-abc");
  EXPECT_EQ(s->spec().heads, 3u);
  EXPECT_EQ(s->spec().dim, 16u);
  EXPECT_EQ(s->spec().precision, GetParam());
  std::vector<float> out(values);
  double max_err = 0;
  for (std::size_t r = 0; r < n; ++r) {
    s->decode_row(r, out);
    float amax = 0;
    for (std::size_t i = 0; i < values; ++i) amax = std::max(amax, std::fabs(rows[r * values + i]));
    for (std::size_t i = 0; i < values; ++i) {
      double err = std::fabs(out[i] - rows[r * values + i]);
      max_err = std::max(max_err, err);
      switch (GetParam()) {
        case Precision::kFp32: ASSERT_EQ(out[i], rows[r * values + i]); break;
        case Precision::kFp16: ASSERT_LE(err, std::fabs(rows[r * values + i]) * 4.9e-4 + 1e-7); break;
        case Precision::kInt8: ASSERT_LE(err, amax / 127.0 * 0.5 + 1e-6); break;
      }
    }
  }
  s->decode_row(5, out);
  EXPECT_EQ(out[0], 0.0f);
  std::printf("  %s: max abs error %.2e, %zu bytes per row\n", precision_name(GetParam()).c_str(), max_err,
              s->row_bytes());
}

INSTANTIATE_TEST_SUITE_P(AllPrecisions, StoreRoundTrip,
                         ::testing::Values(Precision::kFp32, Precision::kFp16, Precision::kInt8),
                         [](const auto& info) { return precision_name(info.param); });

TEST(Half, ExactValuesAndRounding) {
  for (float f : {0.0f, 1.0f, -2.0f, 0.5f, 65504.0f, 6.103515625e-05f /* smallest normal */, 5.96046448e-08f /* smallest subnormal */})
    EXPECT_EQ(half_to_float(float_to_half(f)), f) << f;
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(1e6f))));
  EXPECT_EQ(half_to_float(float_to_half(1e-9f)), 0.0f);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to even (1).
  EXPECT_EQ(half_to_float(float_to_half(1.0f + 0.00048828125f)), 1.0f);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
}

TEST(Store, ReaderOfVersionNIsUnaffectedByPublishingNPlus1) {
  test::TempDir tmp;
  StoreSpec spec{"m1", Precision::kFp32, 2, 8};
  auto v1 = random_rows(100, 16, 1);
  auto v2 = random_rows(120, 16, 2);
  publish_store_version(tmp.path(), spec, v1, 100);
  auto reader = EmbeddingStore::open(tmp.path());
  spec.model_id = "m2";
  EXPECT_EQ(publish_store_version(tmp.path(), spec, v2, 120), 2u);
  EXPECT_EQ(current_store_version(tmp.path()), 2u);
  // The old reader still serves version 1, byte for byte.
  EXPECT_EQ(reader->version(), 1u);
  EXPECT_EQ(reader->rows(), 100u);
  EXPECT_EQ(reader->spec().model_id, "m1");
  std::vector<float> out(16);
  reader->decode_row(99, out);
  EXPECT_EQ(std::vector<float>(v1.begin() + 99 * 16, v1.begin() + 100 * 16), out);
  // A new reader sees version 2; version 1 can still be opened on purpose.
  auto fresh = EmbeddingStore::open(tmp.path());
  EXPECT_EQ(fresh->version(), 2u);
  EXPECT_EQ(fresh->rows(), 120u);
  EXPECT_EQ(EmbeddingStore::open(tmp.path(), 1)->spec().model_id, "m1");
  // No temporary files are left next to the versions.
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(Store, FailedPublishLeavesTheCurrentVersion) {
  test::TempDir tmp;
  StoreSpec spec{"m", Precision::kInt8, 1, 4};
  auto rows = random_rows(10, 4, 3);
  publish_store_version(tmp.path(), spec, rows, 10);
  rows[7] = std::nanf("");
  EXPECT_THROW(publish_store_version(tmp.path(), spec, rows, 10), Error);
  EXPECT_THROW(publish_store_version(tmp.path(), spec, rows, 11), Error);  // wrong size
  EXPECT_EQ(current_store_version(tmp.path()), 1u);
  EXPECT_FALSE(fs::exists(tmp.path() / "v000002.emb"));
}

std::string open_error(const fs::path& dir) {
  try {
    EmbeddingStore::open(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Store, CorruptOrTruncatedFilesAreRefused) {
  test::TempDir tmp;
  StoreSpec spec{"m", Precision::kFp16, 2, 8};
  auto rows = random_rows(50, 16, 4);
  publish_store_version(tmp.path(), spec, rows, 50);
  const fs::path file = tmp.path() / "v000001.emb";
  const std::string good = test::read_file(file);

  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x40;
  test::write_file(file, flipped);
  EXPECT_NE(open_error(tmp.path()).find("v000001.emb: checksum mismatch"), std::string::npos);

  test::write_file(file, good.substr(0, good.size() - 10));
  EXPECT_NE(open_error(tmp.path()).find("v000001.emb: truncated"), std::string::npos);

  test::write_file(file, good.substr(0, 40));
  EXPECT_NE(open_error(tmp.path()).find("truncated"), std::string::npos);

  std::string bad_magic = good;
  bad_magic[0] = 'X';
  test::write_file(file, bad_magic);
  EXPECT_NE(open_error(tmp.path()).find("bad magic"), std::string::npos);

  std::string bad_version = good;
  bad_version[8] = 9;
  test::write_file(file, bad_version);
  EXPECT_NE(open_error(tmp.path()).find("format version 9"), std::string::npos);

  test::write_file(tmp.path() / "manifest.json", "{\"current\": ");
  EXPECT_NE(open_error(tmp.path()).find("manifest.json: malformed JSON"), std::string::npos);
  EXPECT_NE(open_error(tmp.path() / "nothing").find("no embedding store"), std::string::npos);
}

// Writes `value` (little-endian, `bytes` wide) at `offset` of a copy of `good`.
std::string patched(std::string good, std::size_t offset, std::uint64_t value, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) good[offset + i] = static_cast<char>(value >> (8 * i));
  return good;
}

TEST(Store, BadHeaderFieldsAndPaddedFilesAreRefused) {
  test::TempDir tmp;
  publish_store_version(tmp.path(), {"m", Precision::kFp32, 2, 4}, random_rows(6, 8, 5), 6);
  const fs::path file = tmp.path() / "v000001.emb";
  const std::string good = test::read_file(file);
  // Header: magic 0-7, format version 8, precision 12, rows 16, heads 24,
  // dim 28, row_bytes 32, checksum 40, model id 48.
  auto refused = [&](const std::string& bytes, const std::string& what) {
    test::write_file(file, bytes);
    const std::string msg = open_error(tmp.path());
    EXPECT_TRUE(test::contains(msg, "v000001.emb") && test::contains(msg, what)) << what << ": " << msg;
  };
  refused(patched(good, 12, 7, 4), "header field 'precision': unknown value 7");
  refused(patched(good, 24, 0, 4), "'heads'/'dim' out of range");
  refused(patched(good, 28, 0, 4), "'heads'/'dim' out of range");
  refused(patched(good, 32, 12, 8), "'row_bytes' disagrees");
  refused(patched(good, 16, 7, 8), "truncated or padded");
  refused(good + "extra", "truncated or padded");
  test::write_file(file, good);
  EXPECT_EQ(open_error(tmp.path()), "");
}

TEST(Store, BadManifestsAndMissingVersionsAreRefused) {
  test::TempDir tmp;
  publish_store_version(tmp.path(), {"m", Precision::kFp32, 1, 4}, random_rows(3, 4, 6), 3);
  const fs::path manifest = tmp.path() / "manifest.json";
  const std::string good = test::read_file(manifest);
  test::write_file(manifest, "{\"format_version\": 9, \"current\": 1, \"versions\": []}");
  EXPECT_TRUE(test::contains(open_error(tmp.path()), "manifest.json: field 'format_version': expected 1"));
  test::write_file(manifest, "{\"format_version\": 1, \"versions\": []}");
  EXPECT_TRUE(test::contains(open_error(tmp.path()), "manifest.json: expected {\"current\": N"));
  test::write_file(manifest, "[1, 2]");
  EXPECT_TRUE(test::contains(open_error(tmp.path()), "manifest.json"));
  test::write_file(manifest, good);
  fs::remove(tmp.path() / "v000001.emb");
  EXPECT_TRUE(test::contains(open_error(tmp.path()), "v000001.emb: cannot open store version 1"));
  EXPECT_TRUE(test::contains(test::error_of([&] { EmbeddingStore::open(tmp.path(), 5); }), "v000005.emb"));
  // A publisher refuses a manifest it cannot read, and keeps it.
  test::write_file(manifest, "{");
  EXPECT_THROW(publish_store_version(tmp.path(), {"m", Precision::kFp32, 1, 4}, random_rows(3, 4, 6), 3), Error);
  EXPECT_EQ(test::read_file(manifest), "{");
}

TEST(Store, PublishRefusesBadSpecs) {
  test::TempDir tmp;
  const auto rows = random_rows(3, 4, 7);
  EXPECT_TRUE(test::contains(test::error_of([&] { publish_store_version(tmp.path(), {"m", Precision::kFp32, 0, 4}, rows, 3); }),
                             "heads and dim must be >= 1"));
  EXPECT_TRUE(test::contains(test::error_of([&] { publish_store_version(tmp.path(), {"m", Precision::kFp32, 1, 0}, rows, 3); }),
                             "heads and dim must be >= 1"));
  EXPECT_TRUE(test::contains(
      test::error_of([&] { publish_store_version(tmp.path(), {std::string(64, 'x'), Precision::kFp32, 1, 4}, rows, 3); }),
      "model id longer than 63 bytes"));
  // 63 bytes is the limit, and the id reads back whole.
  publish_store_version(tmp.path(), {std::string(63, 'y'), Precision::kFp32, 1, 4}, rows, 3);
  EXPECT_EQ(EmbeddingStore::open(tmp.path())->spec().model_id, std::string(63, 'y'));
  EXPECT_EQ(current_store_version(tmp.path() / "none"), 0u);
}

TEST(Store, DecodeRowChecksItsArguments) {
  test::TempDir tmp;
  publish_store_version(tmp.path(), {"m", Precision::kFp32, 2, 3}, random_rows(4, 6, 8), 4);
  auto store = EmbeddingStore::open(tmp.path());
  std::vector<float> out(6), small(5);
  store->decode_row(3, out);
  EXPECT_TRUE(test::contains(test::error_of([&] { store->decode_row(4, out); }), "decode_row out of range"));
  EXPECT_TRUE(test::contains(test::error_of([&] { store->decode_row(0, small); }), "decode_row out of range"));
}

}  // namespace
}  // namespace funnel

namespace funnel {
TEST(HeadReport, MeanCosineBetweenAnItemsOwnHeads) {
  // Item 1: orthogonal heads (cosine 0); item 2: the same direction twice,
  // at different lengths (cosine 1). Mean off-diagonal: 0.5.
  std::vector<float> v = {1, 0, 0, 2, 3, 0, 0.5f, 0};
  auto m = mean_head_cosine(v, 2, 2, 2);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_NEAR(m[0], 1.0, 1e-12);
  EXPECT_NEAR(m[1], 0.5, 1e-12);
  EXPECT_NEAR(m[2], 0.5, 1e-12);
  EXPECT_NEAR(m[3], 1.0, 1e-12);
  EXPECT_THROW(mean_head_cosine(v, 3, 2, 2), Error);
}
}  // namespace funnel
