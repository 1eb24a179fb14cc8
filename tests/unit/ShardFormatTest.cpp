#include "data/ShardFormat.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "UserErrorOf.h"
#include "ringtrain/util/Error.h"
#include "util/JsonFields.h"

namespace ringtrain::data {
namespace {

using ringtrain::testing::userErrorOf;

ShardHeader imageHeader() {
  ShardHeader header;
  header.elementType = ElementType::kUInt8;
  header.sampleShape = {3, 5, 7};
  header.count = 11;
  header.numClasses = 4;
  header.featureScale = 1.0 / 255;
  header.dataCrc32c = 0xdeadbeef;
  return header;
}

TEST(ShardFormat, HeaderRoundTrips) {
  const ShardHeader header = imageHeader();
  const std::string bytes = encodeShardHeader(header);
  ASSERT_EQ(bytes.size(), kShardHeaderBytes);
  const ShardHeader parsed = parseShardHeader(bytes, "a.rtshard");
  EXPECT_EQ(parsed.kind, ShardKind::kSamples);
  EXPECT_EQ(parsed.elementType, ElementType::kUInt8);
  EXPECT_EQ(parsed.sampleShape, header.sampleShape);
  EXPECT_EQ(parsed.count, 11);
  EXPECT_EQ(parsed.numClasses, 4);
  EXPECT_EQ(parsed.featureScale, 1.0 / 255);
  EXPECT_EQ(parsed.dataCrc32c, 0xdeadbeefu);
}

TEST(ShardFormat, SizesFollowTheLayout) {
  const ShardHeader header = imageHeader();
  EXPECT_EQ(header.sampleBytes(), 3 * 5 * 7);
  EXPECT_EQ(header.featureBytes(), 11 * 105);
  // Labels start 8-byte aligned after the features.
  EXPECT_EQ(header.labelOffset(), 4096 + (11 * 105 + 7) / 8 * 8);
  EXPECT_EQ(header.fileBytes(), header.labelOffset() + 11 * 8);
  ShardHeader tokens;
  tokens.kind = ShardKind::kTokens;
  tokens.elementType = ElementType::kUInt16;
  tokens.count = 1001;
  tokens.numClasses = 50000;
  EXPECT_EQ(tokens.fileBytes(), 4096 + 2002);
  EXPECT_EQ(tokens.labelOffset(), 0);
}

TEST(ShardFormat, EveryHeaderByteIsChecked) {
  const std::string good = encodeShardHeader(imageHeader());
  for (size_t at : {0, 9, 13, 17, 21, 30, 90, 100, 106, 113, 2000, 4095}) {
    std::string bad = good;
    bad[at] ^= 0x40;
    EXPECT_THROW(parseShardHeader(bad, "a.rtshard"), UserError) << "byte " << at;
  }
  EXPECT_NE(userErrorOf([&] {
              parseShardHeader(good.substr(0, 100), "a.rtshard");
            }).find("a.rtshard: 100 bytes, too short"),
            std::string::npos);
}

TEST(ShardFormat, RejectsImpossibleLayouts) {
  const auto rejected = [](ShardHeader header) {
    return userErrorOf([&] { parseShardHeader(encodeShardHeader(header), "x.rtshard"); });
  };
  ShardHeader header = imageHeader();
  header.count = 0;
  EXPECT_NE(rejected(header).find("sample count 0"), std::string::npos);
  header = imageHeader();
  header.sampleShape = {};
  EXPECT_NE(rejected(header).find("1 to 8 dimensions"), std::string::npos);
  header = imageHeader();
  header.sampleShape = {int64_t{1} << 40, int64_t{1} << 40};
  EXPECT_NE(rejected(header).find("out of range"), std::string::npos);
  header = imageHeader();
  header.numClasses = 0;
  EXPECT_NE(rejected(header).find("class count 0"), std::string::npos);
  header = imageHeader();
  header.featureScale = -1;
  EXPECT_NE(rejected(header).find("feature scale"), std::string::npos);
  header = imageHeader();
  header.kind = ShardKind::kTokens;
  header.elementType = ElementType::kFloat32;
  header.sampleShape = {};
  EXPECT_NE(rejected(header).find("token ids must be integers"), std::string::npos);
}

DatasetIndex twoShardIndex() {
  DatasetIndex index;
  index.elementType = ElementType::kFloat32;
  index.sampleShape = {3};
  index.numClasses = 2;
  index.count = 5;
  index.source = "data.csv";
  index.sourceFormat = "csv";
  const int64_t threeSamples = 4096 + 3 * 12 + 4 + 3 * 8;
  const int64_t twoSamples = 4096 + 2 * 12 + 2 * 8;
  index.shards = {{shardFileName(0), 3, threeSamples, 7}, {shardFileName(1), 2, twoSamples, 9}};
  index.featureMean = {0.5, 1, -2};
  index.featureStd = {1, 0, 3};
  return index;
}

TEST(ShardFormat, IndexRoundTrips) {
  const DatasetIndex index = twoShardIndex();
  const DatasetIndex parsed = parseIndex(encodeIndex(index), "index.json");
  EXPECT_EQ(parsed.count, 5);
  ASSERT_EQ(parsed.shards.size(), 2u);
  EXPECT_EQ(parsed.shards[1].file, "shard-000001.rtshard");
  EXPECT_EQ(parsed.shards[1].dataCrc32c, 9u);
  EXPECT_EQ(parsed.featureStd, index.featureStd);
  EXPECT_EQ(parsed.sourceFormat, "csv");
}

// Edits the index's JSON and puts its checksum right, to reach the checks behind the checksum.
std::string edited(const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json document = nlohmann::json::parse(encodeIndex(twoShardIndex()));
  edit(document);
  document["index_crc32c"] = checksumWithout(document, "index_crc32c");
  return document.dump();
}

TEST(ShardFormat, IndexRejectsWhatDoesNotAddUp) {
  std::string text = encodeIndex(twoShardIndex());
  text[text.find("\"count\": 5")] = ' ';
  EXPECT_NE(
      userErrorOf([&] { parseIndex(text, "index.json"); }).find("index.json is not valid JSON"),
      std::string::npos);
  std::string tampered = encodeIndex(twoShardIndex());
  tampered.replace(tampered.find("data.csv"), 8, "data.CSV");
  EXPECT_NE(userErrorOf([&] { parseIndex(tampered, "index.json"); }).find("fails its checksum"),
            std::string::npos);
  EXPECT_NE(userErrorOf([&] {
              parseIndex(edited([](auto& d) { d["count"] = 6; }), "i.json");
            }).find("the shards hold 5 entries, the index says 6"),
            std::string::npos);
  EXPECT_NE(userErrorOf([&] {
              parseIndex(edited([](auto& d) { d["shards"][0]["bytes"] = 100; }), "i.json");
            }).find("is listed with 100 bytes"),
            std::string::npos);
  EXPECT_NE(userErrorOf([&] {
              parseIndex(edited([](auto& d) { d["feature_std"] = {1, 2}; }), "i.json");
            }).find("feature statistics"),
            std::string::npos);
}

TEST(ShardFormat, IndexNumbersMustBeWholeAndInRange) {
  // Found by fuzzing: a checksum of 6.7e69 was converted to uint32_t, which is undefined.
  EXPECT_NE(
      userErrorOf([] {
        parseIndex(edited([](auto& d) { d["shards"][0]["data_crc32c"] = 6.7e69; }), "i.json");
      }).find("i.json: a shard's data_crc32c is 6.7e+69, not a whole number from 0 to 4294967295"),
      std::string::npos);
  EXPECT_NE(userErrorOf([] {
              parseIndex(edited([](auto& d) { d["count"] = 5.5; }), "i.json");
            }).find("i.json: count is 5.5, not a whole number"),
            std::string::npos);
  EXPECT_NE(userErrorOf([] {
              parseIndex(edited([](auto& d) { d["sample_shape"] = {3, -1}; }), "i.json");
            }).find("sample_shape is -1"),
            std::string::npos);
}

TEST(ShardFormat, IndexNamesStayInsideTheDirectory) {
  for (const char* name : {"../shard-000000.rtshard", "/etc/shard.rtshard", "sub/x.rtshard",
                           ".hidden.rtshard", "model.safetensors", ".rtshard"}) {
    const std::string text = edited([&](auto& d) { d["shards"][0]["file"] = name; });
    EXPECT_NE(
        userErrorOf([&] { parseIndex(text, "index.json"); }).find("names a shard that is not"),
        std::string::npos)
        << name;
  }
}

DatasetIndex tokenIndex() {
  DatasetIndex index;
  index.kind = ShardKind::kTokens;
  index.elementType = ElementType::kUInt16;
  index.numClasses = 8000;
  index.count = 10;
  index.source = "corpus.txt";
  index.sourceFormat = "text";
  index.shards = {{shardFileName(0), 10, 4096 + 20, 3}};
  index.tokenizer = "sentencepiece";
  index.tokenizerFile = kTokenizerFile;
  index.tokenizerCrc32c = 0xdeadbeef;
  return index;
}

TEST(ShardFormat, ATokenIndexNamesItsTokenizer) {
  const DatasetIndex parsed = parseIndex(encodeIndex(tokenIndex()), "index.json");
  EXPECT_EQ(parsed.tokenizer, "sentencepiece");
  EXPECT_EQ(parsed.tokenizerFile, "tokenizer.model");
  EXPECT_EQ(parsed.tokenizerCrc32c, 0xdeadbeefu);
  // Only that file, inside the directory.
  nlohmann::json document = nlohmann::json::parse(encodeIndex(tokenIndex()));
  document["tokenizer"]["file"] = "../secret";
  document["index_crc32c"] = checksumWithout(document, "index_crc32c");
  EXPECT_NE(userErrorOf([&] {
              parseIndex(document.dump(), "index.json");
            }).find("names a tokenizer file other than tokenizer.model"),
            std::string::npos);
  // Samples have none.
  const std::string samples = edited([](auto& d) {
    d["tokenizer"] = nlohmann::json{{"kind", "byte"}};
  });
  EXPECT_NE(userErrorOf([&] {
              parseIndex(samples, "index.json");
            }).find("only a token stream has a tokenizer"),
            std::string::npos);
}

}  // namespace
}  // namespace ringtrain::data
