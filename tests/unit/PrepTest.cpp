// prep then read: the tensors ringtrain's shard reader returns are the tensors the in-memory
// readers return for the same source files.
#include "prep/Prepare.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

#include "UserErrorOf.h"
#include "data/CsvReader.h"
#include "data/IdxReader.h"
#include "data/ShardedDataset.h"
#include "util/Files.h"

namespace ringtrain::prep {
namespace {

using ringtrain::testing::userErrorOf;

class PrepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "ringtrain-prep-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    removeTree(dir_);
    makeDirectories(dir_);
  }
  void TearDown() override { removeTree(dir_); }
  std::string at(const std::string& name) const { return dir_ + "/" + name; }

  // Every sample of the shard data set at `directory`, in order.
  static data::Batch readAll(const std::string& directory) {
    const auto dataset = data::ShardedDataset::open(directory, {});
    std::vector<int64_t> rows(static_cast<size_t>(dataset->size()));
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
    return dataset->gather(rows.data(), dataset->size(), false);
  }

  std::string dir_;
};

TEST_F(PrepTest, CsvReadsBackAsTheCsvReaderReadsIt) {
  std::ofstream(at("a.csv")) << "1,0.5,-2,3e-3\n0,1,2,3\n2,-0.25,7,1e10\n";
  std::ofstream(at("b.csv")) << "1,4,5,6\n";
  PrepOptions options;
  options.input = dir_;
  options.output = at("out");
  options.shardBytes = 4096;
  const data::DatasetIndex index = prepare(options);
  EXPECT_EQ(index.count, 4);
  EXPECT_EQ(index.sourceFormat, "csv");
  const data::Dataset source = data::readCsv(dir_, {});
  const data::Batch read = readAll(at("out"));
  EXPECT_TRUE(read.features.equal(source.features));
  EXPECT_TRUE(read.labels.equal(source.labels));
}

void writeIdx(const std::string& path, const std::vector<uint32_t>& shape,
              const std::vector<uint8_t>& values) {
  std::ofstream file(path, std::ios::binary);
  file.put(0).put(0).put(8).put(static_cast<char>(shape.size()));
  for (const uint32_t extent : shape) {
    for (int shift = 24; shift >= 0; shift -= 8) file.put(static_cast<char>(extent >> shift));
  }
  file.write(reinterpret_cast<const char*>(values.data()),
             static_cast<std::streamsize>(values.size()));
}

TEST_F(PrepTest, IdxReadsBackAsTheIdxReaderReadsIt) {
  std::vector<uint8_t> pixels(13 * 5 * 3);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7);
  std::vector<uint8_t> labels(13);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>(i % 4);
  writeIdx(at("train-images-idx3-ubyte"), {13, 5, 3}, pixels);
  writeIdx(at("train-labels-idx1-ubyte"), {13}, labels);
  PrepOptions options;
  options.input = dir_;
  options.output = at("out");
  prepare(options);
  const data::Dataset source = data::readIdxDirectory(dir_, data::Split::kTrain);
  const data::Batch read = readAll(at("out"));
  EXPECT_TRUE(read.features.equal(source.features));
  EXPECT_TRUE(read.labels.equal(source.labels));
}

// A version 1 .npy file: the header for `descr` and `shape`, padded so the data starts at 128
// bytes, then `data`.
void writeNpy(const std::string& path, const std::string& descr, const std::string& shape,
              const std::string& data) {
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  header.append(128 - 10 - header.size() - 1, ' ').push_back('\n');
  std::ofstream file(path, std::ios::binary);
  file.write("\x93NUMPY\x01\x00", 8);
  file.put(static_cast<char>(header.size())).put(0);
  file << header << data;
}

TEST_F(PrepTest, NpyKeepsTheArrayExactly) {
  const at::Tensor values = at::linspace(-3, 3, 12).view({6, 2});
  writeNpy(at("x.npy"), "<f4", "(6, 2)",
           std::string(static_cast<const char*>(values.data_ptr()), 12 * sizeof(float)));
  PrepOptions options;
  options.input = at("x.npy");
  options.output = at("out");
  const data::DatasetIndex index = prepare(options);
  EXPECT_EQ(index.numClasses, 1);  // without --labels every label is 0
  const data::Batch read = readAll(at("out"));
  EXPECT_TRUE(read.features.equal(values));
  EXPECT_TRUE(read.labels.equal(at::zeros({6}, at::kLong)));
}

TEST_F(PrepTest, NpyBooleansMustBeBytes) {
  // Found in review: an 8-byte bool was accepted, then widened into a 1-byte element.
  writeNpy(at("b.npy"), "<b8", "(3,)", std::string(24, '\1'));
  PrepOptions options;
  options.input = at("b.npy");
  options.output = at("out");
  EXPECT_NE(userErrorOf([&] { prepare(options); }).find("element type '<b8' is not supported"),
            std::string::npos);
}

TEST_F(PrepTest, TheFormatIsDetectedOrAskedFor) {
  std::ofstream(at("notes.md")) << "text";
  EXPECT_NE(userErrorOf([&] { detectFormat(at("notes.md")); }).find("pass --format"),
            std::string::npos);
  std::ofstream(at("x.csv")) << "0,1\n";
  EXPECT_EQ(detectFormat(at("x.csv")), InputFormat::kCsv);
  EXPECT_EQ(detectFormat(dir_), InputFormat::kCsv);
}

}  // namespace
}  // namespace ringtrain::prep
