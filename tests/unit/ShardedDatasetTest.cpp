#include "data/ShardedDataset.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include "UserErrorOf.h"
#include "data/ShardWriter.h"
#include "ringtrain/util/Error.h"
#include "util/Files.h"

namespace ringtrain::data {
namespace {

using ringtrain::testing::userErrorOf;

void flipByte(const std::string& path, int64_t offset) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(offset);
  char byte = 0;
  file.read(&byte, 1);
  byte ^= 0x5a;
  file.seekp(offset);
  file.write(&byte, 1);
}

class ShardedDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "ringtrain-shards-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    removeTree(dir_);
    makeDirectories(dir_);
  }
  void TearDown() override { removeTree(dir_); }
  std::string at(const std::string& name) const { return dir_ + "/" + name; }

  // `count` samples of shape 2x3 with distinct values, in shards of `perShard` samples, written
  // in chunks of 7 so that chunks and shards do not line up.
  std::string writeSamples(const std::string& name, int64_t count, int64_t perShard,
                           ElementType type = ElementType::kFloat32) {
    ShardLayout layout;
    layout.elementType = type;
    layout.sampleShape = {2, 3};
    layout.featureStatistics = true;
    ShardWriter writer(at(name), layout, perShard * 6 * static_cast<int64_t>(elementBytes(type)),
                       false);
    const at::Tensor values =
        features(count).to(type == ElementType::kUInt8 ? at::kByte : at::kFloat);
    const at::Tensor targets = labels(count);
    for (int64_t first = 0; first < count; first += 7) {
      const int64_t take = std::min<int64_t>(7, count - first);
      writer.append(values[first].data_ptr(), targets.data_ptr<int64_t>() + first, take);
    }
    writer.finish({"test", "npy", 0, std::nullopt});
    return at(name);
  }
  static at::Tensor features(int64_t count) {
    return at::arange(count * 6, at::kFloat).remainder(251).view({count, 2, 3});
  }
  static at::Tensor labels(int64_t count) { return at::arange(count, at::kLong).remainder(5); }

  std::string dir_;
};

TEST_F(ShardedDatasetTest, GatherReturnsTheWrittenRowsAtOddSizes) {
  const std::string directory = writeSamples("odd", 53, 10);
  const auto dataset = ShardedDataset::open(directory, {});
  EXPECT_EQ(dataset->size(), 53);
  EXPECT_EQ(dataset->description().shards.size(), 6u);
  EXPECT_EQ(dataset->sampleShape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(dataset->numClasses(), 5);
  const std::vector<int64_t> rows = {52, 0, 9, 10, 11, 31, 9, 49};
  const Batch batch = dataset->gather(rows.data(), static_cast<int64_t>(rows.size()), false);
  const at::Tensor index = at::tensor(rows, at::kLong);
  EXPECT_TRUE(batch.features.equal(features(53).index_select(0, index)));
  EXPECT_TRUE(batch.labels.equal(labels(53).index_select(0, index)));
  dataset->verifyChecksums();
}

TEST_F(ShardedDatasetTest, BytesAreScaledAndStatisticsRecorded) {
  ShardLayout layout;
  layout.elementType = ElementType::kUInt8;
  layout.sampleShape = {4};
  layout.featureScale = 0.5;
  layout.featureStatistics = true;
  ShardWriter writer(at("bytes"), layout, 4096, false);
  const uint8_t values[] = {0, 2, 4, 200, 10, 2, 6, 100, 20, 2, 8, 0};
  const int64_t targets[] = {2, 0, 1};
  writer.append(values, targets, 3);
  const DatasetIndex index = writer.finish({"bytes", "npy", 7, std::nullopt});
  EXPECT_EQ(index.numClasses, 7);
  // Of value x 0.5: feature 0 is {0, 5, 10}.
  EXPECT_DOUBLE_EQ(index.featureMean[0], 5.0);
  EXPECT_DOUBLE_EQ(index.featureStd[0], 5.0);
  EXPECT_DOUBLE_EQ(index.featureStd[1], 0.0);

  const auto dataset = ShardedDataset::open(at("bytes"), {});
  const int64_t rows[] = {2, 0};
  const Batch batch = dataset->gather(rows, 2, false);
  EXPECT_TRUE(
      batch.features.equal(at::tensor({10.f, 1.f, 4.f, 0.f, 0.f, 1.f, 2.f, 100.f}).view({2, 4})));
  ShardOpenOptions standardized;
  standardized.standardizeWith =
      featureStatistics(index.featureMean, index.featureStd, index.count);
  const Batch centred = ShardedDataset::open(at("bytes"), standardized)->gather(rows, 2, false);
  // Feature 0: (10 - 5) / 5; feature 1 is constant: centred, and divided by 1.
  EXPECT_FLOAT_EQ(centred.features[0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(centred.features[1][1].item<float>(), 0.0f);
}

TEST_F(ShardedDatasetTest, TokenWindowsCrossShardBoundaries) {
  ShardLayout layout;
  layout.kind = ShardKind::kTokens;
  layout.elementType = ElementType::kUInt16;
  ShardWriter writer(at("tokens"), layout, 2 * 13, false);  // 13 tokens per shard
  std::vector<uint16_t> tokens(100);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint16_t>(i * 37 % 1000);
  writer.append(tokens.data(), nullptr, 100);
  writer.finish({"tokens", "text", 1000, std::nullopt});

  ShardOpenOptions options;
  options.context = 9;
  const auto dataset = ShardedDataset::open(at("tokens"), options);
  EXPECT_EQ(dataset->size(), (100 - 1) / 9);
  EXPECT_EQ(dataset->sampleShape(), (std::vector<int64_t>{9}));
  EXPECT_EQ(dataset->targetLength(), 9);
  const int64_t rows[] = {10, 1, 0};
  const Batch batch = dataset->gather(rows, 3, false);
  EXPECT_EQ(batch.labels.sizes().vec(), (std::vector<int64_t>{3, 9}));
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t t = 0; t < 9; ++t) {
      // The window, and the window shifted by one.
      EXPECT_EQ(batch.features[i][t].item<float>(), tokens[rows[i] * 9 + t]);
      EXPECT_EQ(batch.labels[i][t].item<int64_t>(), tokens[rows[i] * 9 + t + 1]);
    }
  }
  // What a model with one output per sample learns: the token after the window.
  const at::Tensor last = perSampleLabels(batch.labels);
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(last[i].item<int64_t>(), tokens[rows[i] * 9 + 9]);
  EXPECT_NE(userErrorOf([&] { ShardedDataset::open(at("tokens"), {}); }).find("--context"),
            std::string::npos);
}

std::string writeTokens(const std::string& directory, int64_t vocabulary,
                        const std::optional<text::TokenizerRecord>& tokenizer) {
  ShardLayout layout;
  layout.kind = ShardKind::kTokens;
  layout.elementType = ElementType::kUInt8;
  ShardWriter writer(directory, layout, 4096, false);
  const std::vector<uint8_t> tokens(50, 7);
  writer.append(tokens.data(), nullptr, 50);
  writer.finish({"tokens", "text", vocabulary, tokenizer});
  return directory;
}

TEST_F(ShardedDatasetTest, ATokenStreamKeepsItsTokenizer) {
  ShardOpenOptions options;
  options.context = 4;
  // A model beside the shards, checked against the index.
  const text::TokenizerRecord piece{"sentencepiece", std::string("model\0bytes", 11)};
  const std::string pieces = writeTokens(at("pieces"), 100, piece);
  EXPECT_EQ(readFile(pieces + "/" + kTokenizerFile), piece.model);
  const auto opened = ShardedDataset::open(pieces, options);
  EXPECT_EQ(opened->description().tokenizer, "sentencepiece");
  EXPECT_EQ(opened->tokenizer(), piece);
  flipByte(pieces + "/" + kTokenizerFile, 3);
  EXPECT_NE(userErrorOf([&] { opened->tokenizer(); }).find(pieces + "/tokenizer.model fails"),
            std::string::npos);
  // Bytes record their kind only; bytes from text written before tokenizers were recorded are
  // still known for bytes, and other ids have no tokenizer.
  const text::TokenizerRecord bytes{"byte", ""};
  EXPECT_EQ(ShardedDataset::open(writeTokens(at("bytes"), 256, bytes), options)->tokenizer(),
            bytes);
  EXPECT_FALSE(pathExists(at("bytes") + "/" + kTokenizerFile));
  EXPECT_EQ(
      ShardedDataset::open(writeTokens(at("legacy"), 256, std::nullopt), options)->tokenizer(),
      bytes);
  EXPECT_EQ(ShardedDataset::open(writeTokens(at("ids"), 100, std::nullopt), options)->tokenizer(),
            std::nullopt);
}

TEST_F(ShardedDatasetTest, OneHostsFilesHaveTheTokenizerThatReachedThem) {
  ShardOpenOptions options;
  options.context = 4;
  options.useIndex = false;
  const text::TokenizerRecord piece{"sentencepiece", "model bytes"};
  const std::string pieces = writeTokens(at("pieces"), 100, piece);
  EXPECT_EQ(ShardedDataset::open(pieces, options)->tokenizer(), piece);
  // The index without the model, or a stale index: no tokenizer, and no failure.
  removeTree(pieces + "/" + kTokenizerFile);
  EXPECT_EQ(ShardedDataset::open(pieces, options)->tokenizer(), std::nullopt);
  writeFileDurably(pieces + "/" + kIndexFile, "{not json");
  EXPECT_EQ(ShardedDataset::open(pieces, options)->tokenizer(), std::nullopt);
  const std::string bytes = writeTokens(at("bytes"), 256, text::TokenizerRecord{"byte", ""});
  EXPECT_EQ(ShardedDataset::open(bytes, options)->tokenizer()->kind, "byte");
}

TEST_F(ShardedDatasetTest, ATruncatedShardIsNamed) {
  const std::string directory = writeSamples("cut", 30, 10);
  const std::string victim = directory + "/" + shardFileName(1);
  ASSERT_EQ(::truncate(victim.c_str(), 4096 + 100), 0);
  EXPECT_NE(userErrorOf([&] {
              ShardedDataset::open(directory, {});
            }).find(victim + " has 4196 bytes, its header promises"),
            std::string::npos);
  ASSERT_EQ(::truncate(victim.c_str(), 10), 0);
  EXPECT_NE(userErrorOf([&] { ShardedDataset::open(directory, {}); }).find(victim + ": 10 bytes"),
            std::string::npos);
  ::unlink(victim.c_str());
  EXPECT_NE(userErrorOf([&] { ShardedDataset::open(directory, {}); }).find(victim + " is missing"),
            std::string::npos);
}

TEST_F(ShardedDatasetTest, AChangedByteFailsTheChecksumAndNamesTheShard) {
  const std::string directory = writeSamples("flip", 30, 10);
  const std::string victim = directory + "/" + shardFileName(2);
  flipByte(victim, 4096 + 17);
  const auto dataset = ShardedDataset::open(directory, {});  // sizes and headers still agree
  EXPECT_EQ(userErrorOf([&] { dataset->verifyChecksums(); }),
            victim + " fails its checksum (corrupt)");
  flipByte(victim, 40);
  EXPECT_NE(userErrorOf([&] {
              ShardedDataset::open(directory, {});
            }).find(victim + ": shard header fails its checksum"),
            std::string::npos);
}

TEST_F(ShardedDatasetTest, ACorruptLabelIsAnErrorNotACrash) {
  const std::string directory = writeSamples("label", 8, 8);
  const std::string shard = directory + "/" + shardFileName(0);
  ShardHeader header;
  header.sampleShape = {2, 3};
  header.count = 8;
  flipByte(shard, header.labelOffset() + 3 * 8 + 7);  // sample 3's label is far out of range
  const auto dataset = ShardedDataset::open(directory, {});
  const int64_t row = 3;
  EXPECT_NE(
      userErrorOf([&] { dataset->gather(&row, 1, false); }).find(shard + ": sample 3 has label"),
      std::string::npos);
}

TEST_F(ShardedDatasetTest, ShardsMustAgreeWithTheIndexAndEachOther) {
  writeSamples("a", 20, 10);
  writeSamples("b", 20, 10, ElementType::kUInt8);
  // Another data set's shard in place of one of ours.
  renamePath(at("b") + "/" + shardFileName(1), at("a") + "/" + shardFileName(1));
  EXPECT_NE(userErrorOf([&] { ShardedDataset::open(at("a"), {}); })
                .find(at("a") + "/" + shardFileName(1) + " holds elements of type uint8, but " +
                      at("a") + "/index.json has float32"),
            std::string::npos);
  ShardOpenOptions unindexed;
  unindexed.useIndex = false;
  EXPECT_NE(userErrorOf([&] { ShardedDataset::open(at("a"), unindexed); })
                .find("holds elements of type uint8, but " + at("a") + "/" + shardFileName(0) +
                      " has float32; a data set's shards must all be alike"),
            std::string::npos);
}

TEST_F(ShardedDatasetTest, WithoutTheIndexTheShardsPresentAreRead) {
  const std::string directory = writeSamples("host", 25, 10);
  ::unlink((directory + "/index.json").c_str());
  ::unlink((directory + "/" + shardFileName(0)).c_str());
  EXPECT_NE(userErrorOf([&] { ShardedDataset::open(directory, {}); }).find("has no index.json"),
            std::string::npos);
  ShardOpenOptions unindexed;
  unindexed.useIndex = false;
  const auto dataset = ShardedDataset::open(directory, unindexed);
  EXPECT_EQ(dataset->size(), 15);
  const int64_t rows[] = {0, 14};
  const Batch batch = dataset->gather(rows, 2, false);
  EXPECT_TRUE(batch.features.equal(features(25).index_select(0, at::tensor({10, 24}, at::kLong))));
  dataset->verifyChecksums();
}

TEST_F(ShardedDatasetTest, TheWriterLeavesNothingBehindOnFailureAndReplacesOnlyDataSets) {
  {
    ShardLayout layout;
    layout.sampleShape = {2};
    ShardWriter writer(at("unfinished"), layout, 4096, false);
    const float values[] = {1, 2};
    const int64_t label = -1;
    EXPECT_NE(userErrorOf([&] { writer.append(values, &label, 1); }).find("sample 1 has label -1"),
              std::string::npos);
  }
  EXPECT_EQ(listDirectory(dir_), std::vector<std::string>{});

  writeSamples("set", 5, 10);
  EXPECT_NE(userErrorOf([&] { writeSamples("set", 6, 10); }).find("pass --overwrite"),
            std::string::npos);
  EXPECT_EQ(ShardedDataset::open(at("set"), {})->size(), 5);
  writeFileDurably(at("mine") + ".txt", "user data");
  makeDirectories(at("mine"));
  writeFileDurably(at("mine") + "/notes.txt", "user data");
  ShardLayout layout;
  layout.sampleShape = {2};
  EXPECT_NE(userErrorOf([&] {
              ShardWriter(at("mine"), layout, 4096, true);
            }).find("holds files other than a ringtrain data set"),
            std::string::npos);
  EXPECT_EQ(readFile(at("mine") + "/notes.txt"), "user data");
}

}  // namespace
}  // namespace ringtrain::data
