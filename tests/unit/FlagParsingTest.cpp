#include <gtest/gtest.h>

#include <cctype>
#include <memory>

#include "comm/AllReduce.h"
#include "ddp/Reducer.h"
#include "flags/FlagGroups.h"
#include "flags/FlagValues.h"
#include "flags/TrainOptions.h"
#include "ringtrain/util/Error.h"
#include "train/SettingNames.h"

namespace ringtrain::flags {
namespace {

train::TrainOptions parse(std::vector<std::string> args) {
  args.insert(args.begin(), "train");
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  return train::parseTrainOptions(static_cast<int>(argv.size()), argv.data());
}

std::string errorOf(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const UserError& error) {
    return error.what();
  }
  return "no error";
}

TEST(TrainOptions, DefaultsAreUsable) {
  const train::TrainConfig config = parse({}).config;
  EXPECT_EQ(config.trainSpec, "synthetic:20000");
  EXPECT_EQ(config.model.kind, models::ModelKind::kMlp);
  EXPECT_EQ(config.model.hidden, (std::vector<int64_t>{512, 256}));
  EXPECT_TRUE(config.shuffle);
  EXPECT_FALSE(config.dropLast);
}

TEST(TrainOptions, FlagsReachTheConfig) {
  const train::TrainConfig config = parse({"--model",
                                           "cnn",
                                           "--hidden",
                                           "32",
                                           "--batch-size",
                                           "16",
                                           "--lr",
                                           "0.5",
                                           "--epochs",
                                           "3",
                                           "--optimizer",
                                           "adamw",
                                           "--no-shuffle",
                                           "--drop-last",
                                           "--seed",
                                           "9",
                                           "--lr-schedule",
                                           "cosine",
                                           "--val",
                                           "v.csv",
                                           "--csv-header",
                                           "--label-column",
                                           "2",
                                           "--grad-accum",
                                           "4",
                                           "--scale-lr",
                                           "--device",
                                           "cpu",
                                           "--progress",
                                           "off"})
                                        .config;
  EXPECT_EQ(config.model.kind, models::ModelKind::kCnn);
  EXPECT_EQ(config.model.hidden, (std::vector<int64_t>{32}));
  EXPECT_EQ(config.batchSize, 16);
  EXPECT_DOUBLE_EQ(config.lr, 0.5);
  EXPECT_EQ(config.epochs, 3);
  EXPECT_EQ(config.optimizer, "adamw");
  EXPECT_FALSE(config.shuffle);
  EXPECT_TRUE(config.dropLast);
  EXPECT_EQ(config.seed, 9u);
  EXPECT_EQ(config.lrShape, train::LrShape::kCosine);
  EXPECT_EQ(config.valSpec, "v.csv");
  EXPECT_TRUE(config.csv.header);
  EXPECT_EQ(config.csv.labelColumn, 2);
  EXPECT_EQ(config.gradAccum, 4);
  EXPECT_TRUE(config.scaleLr);
  EXPECT_EQ(config.progress, train::ProgressMode::kOff);
}

TEST(TrainOptions, BadInputNamesTheFlag) {
  EXPECT_NE(errorOf({"--bogus"}).find("bogus"), std::string::npos);
  EXPECT_EQ(errorOf({"--epochs", "abc"}), "--epochs: 'abc' is not an integer");
  EXPECT_EQ(errorOf({"--lr", "fast"}), "--lr: 'fast' is not a number");
  EXPECT_EQ(errorOf({"--model", "rnn"}), "--model must be mlp|cnn|gpt|autoencoder, got 'rnn'");
  EXPECT_EQ(errorOf({"--seed", "-3"}), "--seed: '-3' is not a non-negative integer");
  EXPECT_NE(errorOf({"stray"}).find("unexpected argument 'stray'"), std::string::npos);
  EXPECT_NE(errorOf({"--hidden", "5,x"}).find("--hidden"), std::string::npos);
}

TEST(TrainOptions, TraceTakesAFileAndARangeOfSteps) {
  const train::TrainConfig traced = parse({"--trace", "t.json", "--trace-steps", "3:7"}).config;
  EXPECT_EQ(traced.tracePath, "t.json");
  EXPECT_EQ(traced.traceFirstStep, 3);
  EXPECT_EQ(traced.traceLastStep, 7);
  const train::TrainConfig oneStep = parse({"--trace", "t.json", "--trace-steps", "4"}).config;
  EXPECT_EQ(oneStep.traceFirstStep, 4);
  EXPECT_EQ(oneStep.traceLastStep, 4);
  const train::TrainConfig byDefault = parse({"--trace", "t.json"}).config;
  EXPECT_EQ(byDefault.traceFirstStep, 0);
  EXPECT_TRUE(parse({}).config.tracePath.empty());
  const std::string range = "' is not a range of steps A:B with 1 <= A <= B, or one step N";
  EXPECT_EQ(errorOf({"--trace", "t.json", "--trace-steps", "5:2"}), "--trace-steps: '5:2" + range);
  EXPECT_EQ(errorOf({"--trace", "t.json", "--trace-steps", "0:2"}), "--trace-steps: '0:2" + range);
  EXPECT_EQ(errorOf({"--trace", "t.json", "--trace-steps", "2:"}), "--trace-steps: '2:" + range);
  EXPECT_EQ(errorOf({"--trace", "t.json", "--trace-steps", "a:b"}), "--trace-steps: 'a:b" + range);
  EXPECT_EQ(errorOf({"--trace-steps", "2:3"}), "--trace-steps needs --trace FILE");
  EXPECT_EQ(errorOf({"--trace", "t.json", "--trace-steps", "1:1001"}),
            "--trace-steps covers at most 1000 steps");
  EXPECT_EQ(parse({"--trace", "t.json", "--trace-steps", "1:1000"}).config.traceLastStep, 1000);
  EXPECT_EQ(parse({"--tensorboard", "tb"}).config.tensorboardDir, "tb");
  EXPECT_EQ(errorOf({"--tensorboard", ""}), "--tensorboard needs a directory");
  EXPECT_EQ(errorOf({"--trace", ""}), "--trace needs a file name");
}

TEST(TrainOptions, ATypoGetsTheNearestFlag) {
  EXPECT_EQ(errorOf({"--batchsize", "4"}),
            "unknown flag --batchsize; did you mean --batch-size? (see ringtrain train --help)");
  EXPECT_NE(errorOf({"--epoch", "3"}).find("did you mean --epochs?"), std::string::npos);
  EXPECT_NE(errorOf({"--lr=0.1", "--wieght-decay=0.1"}).find("did you mean --weight-decay?"),
            std::string::npos);
  // The nearest by edits, not a flag that merely starts the name.
  EXPECT_NE(errorOf({"--val-fractoin", "0.2"}).find("did you mean --val-fraction?"),
            std::string::npos);
  EXPECT_NE(errorOf({"--lr-shedule", "cosine"}).find("did you mean --lr-schedule?"),
            std::string::npos);
  // Nothing near, or too short to guess from: no guess.
  EXPECT_EQ(errorOf({"--bogus"}), "unknown flag --bogus (see ringtrain train --help)");
  EXPECT_EQ(errorOf({"--ab"}), "unknown flag --ab (see ringtrain train --help)");
}

TEST(TrainOptions, DefaultsMatchTheDocumentedOutputPlace) {
  // Empty: a new runs/DATE-TIME per run (train/RunDirectory.h).
  EXPECT_EQ(parse({}).config.outputDir, "");
  EXPECT_EQ(parse({"--output-dir", "out"}).config.outputDir, "out");
}

TEST(TrainOptions, GradientCommunicationFlags) {
  const train::TrainConfig defaults = parse({}).config;
  EXPECT_EQ(defaults.reducer.limits.bucketBytes, 25 << 20);
  EXPECT_EQ(defaults.reducer.overlapMode, ddp::OverlapMode::kAuto);
  EXPECT_FALSE(defaults.reducer.findUnusedParameters);
  EXPECT_EQ(defaults.reducer.compression, ddp::GradCompression::kNone);
  EXPECT_EQ(defaults.reducer.algorithm, comm::AllReduceAlgorithm::kAuto);
  EXPECT_EQ(parse({"--allreduce", "native"}).config.reducer.algorithm,
            comm::AllReduceAlgorithm::kNative);

  const train::TrainConfig config =
      parse({"--bucket-mb", "0.5", "--no-overlap", "--find-unused-parameters", "--grad-compression",
             "bf16", "--allreduce", "ring"})
          .config;
  EXPECT_EQ(config.reducer.limits.bucketBytes, 512 * 1024);
  EXPECT_EQ(config.reducer.overlapMode, ddp::OverlapMode::kOff);
  EXPECT_EQ(parse({"--overlap", "on"}).config.reducer.overlapMode, ddp::OverlapMode::kOn);
  EXPECT_EQ(parse({"--overlap", "off"}).config.reducer.overlapMode, ddp::OverlapMode::kOff);
  EXPECT_TRUE(config.reducer.findUnusedParameters);
  EXPECT_EQ(config.reducer.compression, ddp::GradCompression::kBf16);
  EXPECT_EQ(config.reducer.algorithm, comm::AllReduceAlgorithm::kRing);

  EXPECT_EQ(errorOf({"--bucket-mb", "0"}), "--bucket-mb must be positive (got 0)");
  EXPECT_EQ(errorOf({"--overlap", "yes"}), "--overlap must be auto|on|off, got 'yes'");
  EXPECT_EQ(errorOf({"--overlap", "on", "--no-overlap"}), "--no-overlap contradicts --overlap on");
  EXPECT_EQ(errorOf({"--allreduce", "tree"}), "--allreduce must be auto|native|ring, got 'tree'");
  EXPECT_EQ(errorOf({"--grad-compression", "int8"}),
            "--grad-compression must be none|fp16|bf16, got 'int8'");
}

TEST(FlagValues, ByteSizesTakeBinarySuffixes) {
  EXPECT_EQ(parseByteSize("b", "8"), 8);
  EXPECT_EQ(parseByteSize("b", "4K"), 4096);
  EXPECT_EQ(parseByteSize("b", "64M"), 64 << 20);
  EXPECT_EQ(parseByteSize("b", "1g"), int64_t{1} << 30);
  for (const char* bad : {"", "M", "0", "-4K", "1.5M", "12Q", "2048G"}) {
    EXPECT_THROW(parseByteSize("b", bad), UserError) << bad;
  }
}

TEST(TrainOptions, HelpListsFlagGroups) {
  const train::TrainOptions parsed = parse({"--help"});
  EXPECT_TRUE(parsed.help);
  EXPECT_NE(parsed.helpText.find("--batch-size"), std::string::npos);
  EXPECT_NE(parsed.helpText.find("Optimizer"), std::string::npos);
}

TEST(TrainOptions, ChoicesInTheHelpComeFromTheNameTables) {
  const std::string help = parse({"--help"}).helpText;
  // cxxopts wraps long descriptions: compare with the help's whitespace folded.
  std::string folded;
  for (const char c : help) {
    if (!std::isspace(static_cast<unsigned char>(c))) {
      folded += c;
    } else if (!folded.empty() && folded.back() != ' ') {
      folded += ' ';
    }
  }
  EXPECT_EQ(choicesIn(comm::allReduceAlgorithmNames()), "auto, native or ring");
  for (const std::string& listed :
       {choicesIn(comm::allReduceAlgorithmNames()), choicesIn(ddp::gradCompressionNames()),
        choicesIn(train::overlapModeNames()), choicesIn(train::lrShapeNames()),
        choicesIn(train::normalizationNames()), choicesIn(train::progressModeNames())}) {
    EXPECT_NE(folded.find(listed), std::string::npos) << listed;
  }
  EXPECT_NE(folded.find("Devices and communication"), std::string::npos);
}

TEST(TrainOptions, CommTimeoutIsNoneOrAtLeastAMillisecond) {
  EXPECT_EQ(parse({}).config.commTimeoutSeconds, 300);
  EXPECT_EQ(parse({"--comm-timeout", "0"}).config.commTimeoutSeconds, 0);
  EXPECT_EQ(parse({"--comm-timeout", "0.001"}).config.commTimeoutSeconds, 0.001);
  EXPECT_EQ(parse({"--comm-timeout", "604800"}).config.commTimeoutSeconds, 604800);
  // Below a millisecond the watchdog's limit would round to none at all.
  for (const char* bad : {"0.0004", "-1", "604801"}) {
    EXPECT_NE(errorOf({"--comm-timeout", bad})
                  .find("--comm-timeout must be 0 (none) or 0.001 to "
                        "604800 seconds"),
              std::string::npos)
        << bad;
  }
}

// The groups every MPI command shares, declared as kmeans and pca declare them (CPU only) or as
// train and bench-comm do. The result reads values through its Options, so it keeps them.
struct ParsedGroups {
  explicit ParsedGroups(Devices devices) : options("ringtrain test", "") {
    addRankFlags(options, "", devices);
    addCsvFlags(options, "", "label column", "0");
    addProgressFlag(options, "");
  }
  cxxopts::Options options;
  cxxopts::ParseResult flags;
};

std::unique_ptr<ParsedGroups> parseGroups(Devices devices, std::vector<std::string> args) {
  auto parsed = std::make_unique<ParsedGroups>(devices);
  args.insert(args.begin(), "test");
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  parsed->flags = parseFlags(parsed->options, static_cast<int>(argv.size()), argv.data());
  return parsed;
}

TEST(FlagGroups, RankFlagsReadAlikeInEveryCommand) {
  const RankFlags defaults = readRankFlags(parseGroups(Devices::kAny, {})->flags, Devices::kAny);
  EXPECT_EQ(defaults.device, "auto");
  EXPECT_EQ(defaults.backend, "auto");
  EXPECT_EQ(defaults.threads, 0);
  EXPECT_EQ(defaults.commTimeoutSeconds, 300);
  const RankFlags cpu = readRankFlags(
      parseGroups(Devices::kCpuOnly, {"--threads", "3", "--comm-timeout", "2.5"})->flags,
      Devices::kCpuOnly);
  EXPECT_EQ(cpu.device, "cpu");
  EXPECT_EQ(cpu.threads, 3);
  EXPECT_EQ(cpu.commTimeoutSeconds, 2.5);
  // Commands that run on CPU only do not take --device.
  EXPECT_THROW(parseGroups(Devices::kCpuOnly, {"--device", "cuda"}), UserError);
  EXPECT_THROW(
      readRankFlags(parseGroups(Devices::kAny, {"--backend", "gloo"})->flags, Devices::kAny),
      UserError);
  EXPECT_THROW(readRankFlags(parseGroups(Devices::kAny, {"--threads", "-1"})->flags, Devices::kAny),
               UserError);
  EXPECT_THROW(
      readRankFlags(parseGroups(Devices::kAny, {"--comm-timeout", "0.0001"})->flags, Devices::kAny),
      UserError);
}

TEST(FlagGroups, CsvAndProgressFlags) {
  const auto parsed =
      parseGroups(Devices::kAny, {"--csv-header", "--label-column", "none", "--progress", "off"});
  const cxxopts::ParseResult& flags = parsed->flags;
  const data::CsvOptions csv = readCsvFlags(flags, true);
  EXPECT_TRUE(csv.header);
  EXPECT_EQ(csv.labelColumn, data::kNoLabelColumn);
  EXPECT_THROW(readCsvFlags(flags, false), UserError);
  EXPECT_EQ(readProgressFlag(flags), train::ProgressMode::kOff);
  EXPECT_EQ(readCsvFlags(parseGroups(Devices::kAny, {})->flags, false).labelColumn, 0);
}

}  // namespace
}  // namespace ringtrain::flags
