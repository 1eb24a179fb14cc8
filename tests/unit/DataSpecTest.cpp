#include "data/DataSpec.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "UserErrorOf.h"
#include "util/Files.h"

namespace ringtrain::data {
namespace {

TEST(DataSpec, PrefixesNameTheFormatAndTheRestIsTheLocation) {
  const std::pair<std::string, DataFormat> cases[] = {
      {"csv:a/b.csv", DataFormat::kCsv},
      {"idx:/data/mnist", DataFormat::kIdx},
      {"shards:out/set", DataFormat::kShards},
      {"pipe:/opt/ml/input/data/train", DataFormat::kPipe}};
  for (const auto& [text, format] : cases) {
    const DataSpec spec = parseDataSpec(text);
    EXPECT_EQ(spec.format, format) << text;
    EXPECT_EQ(spec.text, text);
    EXPECT_EQ(spec.location, text.substr(text.find(':') + 1)) << text;
  }
}

TEST(DataSpec, SyntheticFieldsAreReadWithTheirDefaults) {
  const DataSpec full = parseDataSpec("synthetic:30:9:3");
  EXPECT_EQ(full.format, DataFormat::kSynthetic);
  EXPECT_TRUE(full.location.empty());
  EXPECT_EQ(full.synthetic.size, 30);
  EXPECT_EQ(full.synthetic.dim, 9);
  EXPECT_EQ(full.synthetic.classes, 3);
  const DataSpec sizeOnly = parseDataSpec("synthetic:500");
  EXPECT_EQ(sizeOnly.synthetic.size, 500);
  EXPECT_EQ(sizeOnly.synthetic.dim, SyntheticSpec().dim);
  EXPECT_EQ(sizeOnly.synthetic.classes, SyntheticSpec().classes);
}

TEST(DataSpec, MalformedSpecsAreRefusedByName) {
  EXPECT_EQ(testing::userErrorOf([] { parseDataSpec(""); }), "empty data spec");
  EXPECT_EQ(testing::userErrorOf([] { parseDataSpec("synthetic:abc"); }),
            "data spec 'synthetic:abc': size 'abc' is not a positive integer");
  EXPECT_EQ(testing::userErrorOf([] { parseDataSpec("synthetic:10:0"); }),
            "data spec 'synthetic:10:0': dimension '0' is not a positive integer");
  EXPECT_EQ(testing::userErrorOf([] { parseDataSpec("synthetic:10:4:3:2"); }),
            "data spec 'synthetic:10:4:3:2': expected synthetic:N[:DIM[:CLASSES]]");
}

class BarePath : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = "/tmp/ringtrain-dataspec-" + std::to_string(::getpid());
    makeDirectories(root_);
  }
  void TearDown() override { removeTree(root_); }
  std::string directoryWith(const std::string& name, const std::string& file) {
    const std::string directory = root_ + "/" + name;
    makeDirectories(directory);
    writeFileAtomically(directory + "/" + file, "x");
    return directory;
  }
  std::string root_;
};

TEST_F(BarePath, IsToldApartByWhatTheDirectoryHolds) {
  const std::string shards = directoryWith("shards", "index.json");
  const std::string unindexedShards = directoryWith("copied", "part-00000.rtshard");
  const std::string idx = directoryWith("mnist", "t10k-images-idx3-ubyte");
  const std::string csv = directoryWith("tables", "a.csv");
  EXPECT_EQ(parseDataSpec(shards).format, DataFormat::kShards);
  EXPECT_EQ(parseDataSpec(unindexedShards).format, DataFormat::kShards);
  EXPECT_EQ(parseDataSpec(idx).format, DataFormat::kIdx);
  EXPECT_EQ(parseDataSpec(csv).format, DataFormat::kCsv);
  EXPECT_EQ(parseDataSpec(root_ + "/missing.csv").format, DataFormat::kCsv);
  EXPECT_EQ(parseDataSpec(idx).location, idx);
  // A prefix wins over what the directory holds.
  EXPECT_EQ(parseDataSpec("csv:" + shards).format, DataFormat::kCsv);
}

TEST(DataSpec, StreamsAndShardsAreNotReadIntoMemory) {
  EXPECT_NE(testing::userErrorOf([] {
              loadDataset(parseDataSpec("pipe:/nowhere"), Split::kTrain, {});
            }).find("streamed"),
            std::string::npos);
  EXPECT_NE(testing::userErrorOf([] {
              loadDataset(parseDataSpec("shards:/nowhere"), Split::kTrain, {});
            }).find("memory-mapped"),
            std::string::npos);
}

}  // namespace
}  // namespace ringtrain::data
