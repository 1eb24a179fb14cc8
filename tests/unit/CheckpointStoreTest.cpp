#include "checkpoint/CheckpointStore.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>

#include "ringtrain/util/Error.h"
#include "util/Crc32c.h"
#include "util/Files.h"

namespace ringtrain::checkpoint {
namespace {

using nlohmann::json;

class CheckpointStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "ringtrain-checkpoints-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    removeTree(dir_);
  }
  void TearDown() override { removeTree(dir_); }
  std::string at(const std::string& a, const std::string& b = "") const {
    return dir_ + "/" + a + (b.empty() ? "" : "/" + b);
  }

  // Files whose contents are a function of the step, so any mix-up shows.
  static NamedBlobs filesFor(int64_t step) {
    return {{"model.bin", std::string(1000 + step, static_cast<char>('a' + step % 26))},
            {"optimizer.bin", "state of step " + std::to_string(step)}};
  }
  std::string write(int64_t step) {
    return writeCheckpoint(dir_, step, json{{"step_state", step}}, filesFor(step));
  }
  static void overwrite(const std::string& file, const std::string& bytes) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  }
  std::vector<std::string> entries() const {
    std::vector<std::string> names = listDirectory(dir_);
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
};

TEST_F(CheckpointStore, RoundTripsStateAndFiles) {
  const std::string path = write(12);
  EXPECT_EQ(path, at("step-000000012"));
  const Checkpoint checkpoint = readCheckpoint(path);
  EXPECT_EQ(checkpoint.step, 12);
  EXPECT_EQ(checkpoint.state, (json{{"step_state", 12}}));
  EXPECT_EQ(checkpoint.files, filesFor(12));
  EXPECT_EQ(entries(), (std::vector<std::string>{"step-000000012"}));  // nothing left behind
}

TEST_F(CheckpointStore, NamesParseBack) {
  EXPECT_EQ(stepOfCheckpointName(checkpointName(0)), 0);
  EXPECT_EQ(stepOfCheckpointName(checkpointName(1234567890123)), 1234567890123);
  EXPECT_FALSE(stepOfCheckpointName("step-"));
  EXPECT_FALSE(stepOfCheckpointName("step-12x"));
  EXPECT_FALSE(stepOfCheckpointName(".partial-step-000000012-77"));
}

TEST_F(CheckpointStore, LatestSkipsIncompleteTruncatedAndCorruptCheckpoints) {
  for (int64_t step : {10, 20, 30, 40, 50}) write(step);
  ::unlink(at("step-000000050", "manifest.json").c_str());                   // incomplete
  ASSERT_EQ(::truncate(at("step-000000040", "model.bin").c_str(), 500), 0);  // truncated
  overwrite(at("step-000000030", "optimizer.bin"), "state of step 31");      // same size, new bytes
  std::string manifest = readFile(at("step-000000020", "manifest.json"));
  manifest.replace(manifest.find("\"step\": 20"), 10, "\"step\": 21");  // corrupt manifest
  overwrite(at("step-000000020", "manifest.json"), manifest);

  std::vector<std::string> skipped;
  const auto latest = latestCheckpoint(dir_, &skipped);
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->step, 10);
  EXPECT_EQ(latest->files, filesFor(10));
  ASSERT_EQ(skipped.size(), 4u);
  EXPECT_NE(skipped[0].find("incomplete"), std::string::npos) << skipped[0];
  EXPECT_NE(skipped[1].find("truncated"), std::string::npos) << skipped[1];
  EXPECT_NE(skipped[2].find("optimizer.bin fails its checksum"), std::string::npos) << skipped[2];
  EXPECT_NE(skipped[3].find("manifest.json fails its checksum"), std::string::npos) << skipped[3];
}

TEST_F(CheckpointStore, NoCheckpointInAMissingOrEmptyDirectory) {
  EXPECT_FALSE(latestCheckpoint(dir_));
  makeDirectories(dir_);
  EXPECT_FALSE(latestCheckpoint(dir_));
}

TEST_F(CheckpointStore, ManifestCannotNameFilesOutsideTheCheckpoint) {
  const std::string path = write(3);
  json manifest = json::parse(readFile(path + "/manifest.json"));
  manifest["files"][0]["name"] = "../../outside";
  manifest.erase("manifest_crc32c");
  manifest["manifest_crc32c"] = crc32c(manifest.dump());  // a well-formed, hostile manifest
  overwrite(path + "/manifest.json", manifest.dump());
  try {
    readCheckpoint(path);
    FAIL() << "expected an error";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("outside the checkpoint"), std::string::npos)
        << error.what();
  }
}

TEST_F(CheckpointStore, PruneKeepsTheNewestAndRemovesLeftovers) {
  for (int64_t step : {1, 2, 3, 4}) write(step);
  makeDirectories(at(".partial-step-000000005-999"));
  makeDirectories(at("unrelated"));
  pruneCheckpoints(dir_, 2);
  EXPECT_EQ(entries(), (std::vector<std::string>{"step-000000003", "step-000000004", "unrelated"}));
}

TEST_F(CheckpointStore, RewritingAStepReplacesItWhole) {
  write(7);
  const std::string path = writeCheckpoint(dir_, 7, json{{"second", true}}, filesFor(8));
  const Checkpoint checkpoint = readCheckpoint(path);
  EXPECT_EQ(checkpoint.state, (json{{"second", true}}));
  EXPECT_EQ(checkpoint.files, filesFor(8));
  EXPECT_EQ(entries(), (std::vector<std::string>{"step-000000007"}));
}

// A write that runs out of space (here a file-size limit, which root cannot bypass the way it
// bypasses permissions) fails with an error and leaves the earlier checkpoint as it was.
TEST_F(CheckpointStore, FailedWriteLeavesThePreviousCheckpointIntact) {
  write(1);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto previousHandler = std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of a signal
  rlimit small = saved;
  small.rlim_cur = 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    writeCheckpoint(dir_, 2, json::object(), {{"model.bin", std::string(4096, 'x')}});
  } catch (const UserError& error) {
    message = error.what();
  }
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previousHandler);
  EXPECT_NE(message.find("cannot write"), std::string::npos) << message;
  EXPECT_EQ(entries(), (std::vector<std::string>{"step-000000001"}));
  EXPECT_EQ(latestCheckpoint(dir_)->files, filesFor(1));
}

// Files streamed in pieces: each file holds the pieces in order, and the manifest its size and
// the checksum of the whole, computed here without chaining.
TEST_F(CheckpointStore, StreamedFilesHoldTheirPiecesAndTheirChecksums) {
  CheckpointWriter writer(dir_, 3);
  for (const auto& [name, bytes] : filesFor(3)) {
    writer.beginFile(name);
    for (size_t at = 0; at < bytes.size(); at += 7) {
      writer.append(bytes.data() + at, std::min<size_t>(7, bytes.size() - at));
    }
  }
  EXPECT_EQ(writer.commit(json{{"step_state", 3}}), at("step-000000003"));
  const json manifest = json::parse(readFile(at("step-000000003", "manifest.json")));
  ASSERT_EQ(manifest.at("files").size(), 2u);
  size_t index = 0;
  for (const auto& [name, bytes] : filesFor(3)) {
    const json& entry = manifest.at("files")[index++];
    EXPECT_EQ(entry.at("name"), name);
    EXPECT_EQ(entry.at("bytes"), bytes.size());
    EXPECT_EQ(entry.at("crc32c"), crc32cPortable(bytes));
    EXPECT_EQ(readFile(at("step-000000003", name)), bytes);
  }
}

// A writer dropped before commit (its caller threw) leaves nothing behind.
TEST_F(CheckpointStore, AnUncommittedWriterLeavesNothing) {
  write(1);
  {
    CheckpointWriter writer(dir_, 2);
    writer.beginFile("model.bin");
    writer.append("abc", 3);
  }
  EXPECT_EQ(entries(), (std::vector<std::string>{"step-000000001"}));
}

// After a failure the writer takes what is still sent without throwing (ranks streaming into it
// must not be left waiting); commit() reports the failure and nothing is left behind.
TEST_F(CheckpointStore, StreamedWriteReportsItsFirstFailureAtCommit) {
  write(1);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto previousHandler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  {
    CheckpointWriter writer(dir_, 2);
    const std::string chunk(3 << 20, 'x');  // past the writer's buffer: written at once
    writer.beginFile("model.bin");
    EXPECT_NO_THROW(writer.append(chunk.data(), chunk.size()));
    EXPECT_NO_THROW(writer.append(chunk.data(), chunk.size()));
    EXPECT_NO_THROW(writer.beginFile("optimizer.bin"));
    EXPECT_NO_THROW(writer.append(chunk.data(), 10));
    try {
      writer.commit(json::object());
    } catch (const UserError& error) {
      message = error.what();
    }
    EXPECT_EQ(entries(), (std::vector<std::string>{"step-000000001"}));
  }
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previousHandler);
  EXPECT_NE(message.find("cannot write"), std::string::npos) << message;
  EXPECT_EQ(latestCheckpoint(dir_)->files, filesFor(1));
}

}  // namespace
}  // namespace ringtrain::checkpoint
