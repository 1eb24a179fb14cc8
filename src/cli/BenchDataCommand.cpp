// ringtrain bench-data: how fast the input pipeline delivers batches from a shard data set, with
// the sampler's order (shuffled or not) and a given number of worker threads, optionally with the
// data set's pages dropped from the page cache first, so that it reads from disk.
#include <chrono>
#include <cxxopts.hpp>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/Commands.h"
#include "data/BatchPrefetcher.h"
#include "data/ShardedDataset.h"
#include "flags/FlagValues.h"
#include "platform/Resources.h"
#include "ringtrain/data/DistributedSampler.h"
#include "ringtrain/util/Error.h"
#include "util/Files.h"

namespace ringtrain::cli {
namespace {

std::vector<int> parseWorkerList(const std::string& text) {
  std::vector<int> workers;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const int64_t value = flags::parseInteger("data-workers", text.substr(start, comma - start));
    RINGTRAIN_USER_CHECK(value >= 0 && value <= 64, "--data-workers values must be 0..64");
    workers.push_back(static_cast<int>(value));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return workers;
}

}  // namespace

int runBenchData(int argc, char** argv) {
  cxxopts::Options options("ringtrain bench-data",
                           "Measure how fast batches come out of a shard data set: samples/s and "
                           "MB/s of stored data, for each number of worker threads.");
  const auto text = [](const char* fallback) {
    return cxxopts::value<std::string>()->default_value(fallback);
  };
  options.add_options()("batch-size", "samples per batch", text("64"), "B")(
      "data-workers", "comma-separated worker counts to measure", text("0,2,4"), "LIST")(
      "depth", "batches assembled ahead (0: twice the workers, at least 2)", text("0"), "N")(
      "samples", "read this many samples of the epoch's order (0: all)", text("0"), "N")(
      "no-shuffle", "read in stored order instead of the sampler's shuffled order")(
      "cold", "drop the data set's pages from the page cache before each measurement")(
      "context", "token data sets: tokens per window", text("64"), "N")(
      "json", "also write the rows to this JSON file", cxxopts::value<std::string>(), "FILE")(
      "h,help", "show this help");
  const flags::DirectoryCommand command = flags::parseDirectoryCommand(options, argc, argv);
  if (command.help) return 0;
  const cxxopts::ParseResult& result = command.flags;
  const std::string& directory = command.directory;
  const int64_t batchSize =
      flags::parseInteger("batch-size", result["batch-size"].as<std::string>());
  RINGTRAIN_USER_CHECK(batchSize > 0, "--batch-size must be positive");
  const int64_t depth = flags::parseInteger("depth", result["depth"].as<std::string>());
  RINGTRAIN_USER_CHECK(depth >= 0 && depth <= 4096, "--depth must be 0..4096");
  const int64_t limit = flags::parseInteger("samples", result["samples"].as<std::string>());
  RINGTRAIN_USER_CHECK(limit >= 0, "--samples must not be negative");
  const bool shuffle = result.count("no-shuffle") == 0;
  data::ShardOpenOptions open;
  open.context = flags::parseInteger("context", result["context"].as<std::string>());
  RINGTRAIN_USER_CHECK(open.context > 0, "--context must be positive");

  platform::retainFreedMemory();  // as training does: batch buffers are reused, not faulted in
  const data::DatasetIndex description = data::ShardedDataset::open(directory, open)->description();
  data::ShardSpec spec;
  spec.datasetSize = description.kind == data::ShardKind::kTokens
                         ? (description.count - 1) / open.context
                         : description.count;
  spec.shuffle = shuffle;
  std::vector<int64_t> order = data::shardIndices(spec);
  if (limit > 0 && limit < static_cast<int64_t>(order.size()))
    order.resize(static_cast<size_t>(limit));
  const int64_t bytesPerSample =
      description.kind == data::ShardKind::kTokens
          ? (open.context + 1) * static_cast<int64_t>(data::elementBytes(description.elementType))
          : [&] {
              int64_t elements = 1;
              for (const int64_t extent : description.sampleShape) elements *= extent;
              return elements * static_cast<int64_t>(data::elementBytes(description.elementType)) +
                     8;
            }();

  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  std::cout << "# bench-data " << directory << ": " << order.size() << " samples of "
            << bytesPerSample << " bytes, batch " << batchSize << ", "
            << (shuffle ? "shuffled" : "in order")
            << (result.count("cold") ? ", page cache dropped first" : "") << "\n"
            << "# workers  depth   seconds   samples/s        MB/s\n";
  for (const int workers : parseWorkerList(result["data-workers"].as<std::string>())) {
    // Pages a process has mapped stay cached: each measurement maps the files afresh.
    if (result.count("cold")) {
      for (const data::ShardEntry& shard : description.shards)
        dropCachedPages(directory + "/" + shard.file);
    }
    const auto dataset = data::ShardedDataset::open(directory, open);
    if (shuffle) dataset->expectRandomAccess();
    data::PrefetchOptions prefetch;
    prefetch.workers = workers;
    prefetch.depth = depth > 0 ? static_cast<int>(depth) : std::max(2, 2 * workers);
    const auto start = std::chrono::steady_clock::now();
    data::BatchPrefetcher batches(dataset, order, batchSize, prefetch);
    int64_t samples = 0;
    for (int64_t b = 0; b < batches.batches(); ++b) samples += batches.next().labels.size(0);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double samplesPerSecond = static_cast<double>(samples) / seconds;
    const double megabytesPerSecond = samplesPerSecond * static_cast<double>(bytesPerSample) / 1e6;
    std::cout << std::setw(9) << workers << std::setw(7) << prefetch.depth << std::fixed
              << std::setprecision(3) << std::setw(10) << seconds << std::setprecision(0)
              << std::setw(12) << samplesPerSecond << std::setprecision(1) << std::setw(12)
              << megabytesPerSecond << std::endl;
    rows.push_back({{"workers", workers},
                    {"depth", prefetch.depth},
                    {"samples", samples},
                    {"bytes_per_sample", bytesPerSample},
                    {"seconds", seconds},
                    {"samples_per_sec", samplesPerSecond},
                    {"mb_per_sec", megabytesPerSecond}});
  }
  if (result.count("json")) {
    writeFileAtomically(result["json"].as<std::string>(),
                        nlohmann::ordered_json{{"directory", directory},
                                               {"shuffle", shuffle},
                                               {"cold", result.count("cold") > 0},
                                               {"batch_size", batchSize},
                                               {"rows", rows}}
                            .dump(2));
  }
  return 0;
}

}  // namespace ringtrain::cli
