// ringtrain bench-comm: allreduce, reduce-scatter and all-gather bandwidth over a sweep of message
// sizes, in the manner of nccl-tests' all_reduce_perf, reduce_scatter_perf and all_gather_perf.
// Every size is timed for each collective and algorithm, then checked once against the exact
// result of known integer inputs; any wrong element makes the command fail, and so does an
// average bus bandwidth below --min-bw (nccl-tests' NCCL_TESTS_MIN_BW), so that a cluster check
// can rely on the exit status. Reduce-scatter and all-gather work on the shards of sharded data
// parallelism (comm/ShardedCollectives.h).
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/Commands.h"
#include "comm/AllReduce.h"
#include "comm/Session.h"
#include "comm/ShardedCollectives.h"
#include "flags/FlagGroups.h"
#include "flags/FlagValues.h"
#include "launch/Command.h"
#include "platform/Placement.h"
#include "platform/Resources.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"
#include "util/Files.h"
#include "util/NameTable.h"

namespace ringtrain::cli {
namespace {

enum class Collective { kAllReduce, kReduceScatter, kAllGather };

const NameTable<Collective>& collectiveNames() {
  static const NameTable<Collective> names{{"allreduce", Collective::kAllReduce},
                                           {"reduce-scatter", Collective::kReduceScatter},
                                           {"all-gather", Collective::kAllGather}};
  return names;
}

struct BenchOptions {
  std::vector<Collective> collectives{Collective::kAllReduce, Collective::kReduceScatter,
                                      Collective::kAllGather};
  int64_t minBytes = 8;
  int64_t maxBytes = 64 << 20;
  int64_t stepFactor = 2;
  int64_t iterations = 20;
  int64_t warmup = 5;
  std::vector<comm::AllReduceAlgorithm> algorithms{comm::AllReduceAlgorithm::kNative,
                                                   comm::AllReduceAlgorithm::kRing};
  at::ScalarType type = at::kFloat;
  std::string typeName = "float";
  comm::RingOptions ring;
  flags::RankFlags rank;  // --device, --backend, --threads, --comm-timeout
  std::string jsonPath;
  double minBusBandwidth = 0;  // GB/s; 0: no gate
};

constexpr int64_t kRounds = 5;

struct Row {
  int64_t bytes = 0;
  int64_t count = 0;
  std::string collective;
  std::string algorithm;
  double microseconds = 0;
  double algbw = 0;  // GB/s
  double busbw = 0;
  int64_t wrong = 0;
};

cxxopts::Options benchOptions() {
  cxxopts::Options options(
      "ringtrain bench-comm",
      "Allreduce, reduce-scatter and all-gather bandwidth (sum, in place) over a sweep of sizes: "
      "time, algbw, busbw and the number of wrong elements, for the backend's collectives and "
      "ringtrain's ring. Run it under mpirun like training.");
  const auto text = [](const char* fallback) {
    return cxxopts::value<std::string>()->default_value(fallback);
  };
  options.add_options()("b,min-bytes", "smallest message", text("8"), "SIZE")(
      "e,max-bytes", "largest message", text("64M"), "SIZE")(
      "f,step-factor", "multiply the size by this between rows", text("2"), "F")(
      "n,iters", "timed iterations per size", text("20"), "N")(
      "w,warmup-iters", "untimed iterations first", text("5"), "N")(
      "collectives", "comma-separated: allreduce, reduce-scatter, all-gather",
      text("allreduce,reduce-scatter,all-gather"),
      "LIST")("algorithms", "comma-separated: native, ring", text("native,ring"), "LIST")(
      "dtype", "float, double, half or bfloat16", text("float"), "TYPE")(
      "ring-piece", "ring piece size", text("1M"), "SIZE")(
      "min-bw",
      "fail (exit status 1) when an algorithm's average bus bandwidth is below this many GB/s "
      "(0: never)",
      text("0"), "GB/S")("json", "also write the rows to this JSON file (rank 0)",
                         cxxopts::value<std::string>(), "FILE")("h,help", "show this help");
  flags::addRankFlags(options, "", flags::Devices::kAny);
  return options;
}

BenchOptions parseBenchOptions(const cxxopts::ParseResult& result) {
  const auto str = [&](const char* flag) { return result[flag].as<std::string>(); };
  BenchOptions o;
  o.minBytes = flags::parseByteSize("min-bytes", str("min-bytes"));
  o.maxBytes = flags::parseByteSize("max-bytes", str("max-bytes"));
  RINGTRAIN_USER_CHECK(o.minBytes <= o.maxBytes, "--min-bytes must not exceed --max-bytes");
  o.stepFactor = flags::parseInteger("step-factor", str("step-factor"));
  RINGTRAIN_USER_CHECK(o.stepFactor >= 2, "--step-factor must be at least 2");
  o.iterations = flags::parseInteger("iters", str("iters"));
  RINGTRAIN_USER_CHECK(o.iterations >= 1, "--iters must be positive");
  o.warmup = flags::parseInteger("warmup-iters", str("warmup-iters"));
  RINGTRAIN_USER_CHECK(o.warmup >= 0, "--warmup-iters must not be negative");
  o.algorithms.clear();
  std::stringstream list(str("algorithms"));
  for (std::string name; std::getline(list, name, ',');) {
    o.algorithms.push_back(flags::parseAllReduceAlgorithm("algorithms", name));
  }
  RINGTRAIN_USER_CHECK(!o.algorithms.empty(), "--algorithms must name at least one algorithm");
  o.collectives.clear();
  std::stringstream collectives(str("collectives"));
  for (std::string name; std::getline(collectives, name, ',');) {
    o.collectives.push_back(valueNamed(collectiveNames(), "collectives", name));
  }
  RINGTRAIN_USER_CHECK(!o.collectives.empty(), "--collectives must name at least one collective");
  o.typeName = flags::parseChoice("dtype", str("dtype"), {"float", "double", "half", "bfloat16"});
  o.type = o.typeName == "double"     ? at::kDouble
           : o.typeName == "half"     ? at::kHalf
           : o.typeName == "bfloat16" ? at::kBFloat16
                                      : at::kFloat;
  o.ring.pieceBytes = flags::parseByteSize("ring-piece", str("ring-piece"));
  o.rank = flags::readRankFlags(result, flags::Devices::kAny);
  if (result.count("json")) o.jsonPath = str("json");
  o.minBusBandwidth = flags::parseReal("min-bw", str("min-bw"));
  RINGTRAIN_USER_CHECK(o.minBusBandwidth >= 0, "--min-bw must not be negative");
  return o;
}

// Element i of rank r: ((7i + 13r) mod m) - m / 2. Small integers, so that with m = 17 every
// partial sum is exact in every type and the result can be checked element by element; an
// all-gather adds nothing, and m = 1021 (prime) makes every rank's input its own.
constexpr int64_t kSummedModulus = 17;
constexpr int64_t kGatheredModulus = 1021;

at::Tensor pattern(int64_t count, int rank, const at::TensorOptions& options,
                   int64_t modulus = kSummedModulus) {
  return at::arange(count, options.dtype(at::kLong))
      .mul(7)
      .add(13 * rank)
      .remainder(modulus)
      .sub(modulus / 2)
      .to(options.dtype());
}

double secondsOf(const std::function<void()>& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// One collective by one algorithm: what is timed and checked together.
struct Variant {
  Collective collective;
  comm::AllReduceAlgorithm algorithm;
};

void runVariant(const Variant& variant, comm::Communicator& data, const comm::RingOptions& ring,
                at::Tensor& tensor) {
  switch (variant.collective) {
    case Collective::kAllReduce:
      comm::allReduceWith(variant.algorithm, data, tensor, comm::ReduceOp::kSum, ring);
      return;
    case Collective::kReduceScatter:
      comm::reduceScatterShards(variant.algorithm, data, tensor, comm::ReduceOp::kSum, ring);
      return;
    case Collective::kAllGather:
      comm::allGatherShards(variant.algorithm, data, tensor, ring);
      return;
  }
}

// Elements of `result` (this rank's, after `collective` on its pattern) that differ from the
// exact answer: the sum everywhere after an allreduce, the sum in this rank's shard after a
// reduce-scatter, each shard's owner's pattern after an all-gather.
int64_t wrongElements(Collective collective, const at::Tensor& result, const at::Tensor& sum,
                      int rank, int ranks) {
  const std::vector<comm::Span> shards = comm::shardSpans(result.numel(), ranks);
  switch (collective) {
    case Collective::kAllReduce:
      return result.ne(sum).sum().item<int64_t>();
    case Collective::kReduceScatter: {
      const comm::Span own = shards[static_cast<size_t>(rank)];
      return result.slice(0, own.begin, own.end)
          .ne(sum.slice(0, own.begin, own.end))
          .sum()
          .item<int64_t>();
    }
    case Collective::kAllGather: {
      int64_t wrong = 0;
      for (int r = 0; r < ranks; ++r) {
        const comm::Span shard = shards[static_cast<size_t>(r)];
        const at::Tensor owner = pattern(result.numel(), r, result.options(), kGatheredModulus);
        wrong += result.slice(0, shard.begin, shard.end)
                     .ne(owner.slice(0, shard.begin, shard.end))
                     .sum()
                     .item<int64_t>();
      }
      return wrong;
    }
  }
  return 0;
}

// Times every variant at one size. The timed iterations run in rounds that alternate between
// the variants, so that a noisy neighbour on a shared machine slows them alike; each variant's
// figure is the median over rounds of the slowest rank's mean time per call.
std::vector<Row> measureSize(comm::Communicator& data, comm::Communicator& control,
                             const BenchOptions& o, int64_t count, const at::Tensor& sum) {
  const at::TensorOptions options = sum.options();
  std::vector<Variant> variants;
  for (const Collective collective : o.collectives) {
    for (const auto algorithm : o.algorithms) variants.push_back({collective, algorithm});
  }
  // Timed on zeros, which stay zeros however often they are summed or gathered.
  at::Tensor buffer = at::zeros({count}, options);
  for (const Variant& variant : variants) {
    for (int64_t i = 0; i < o.warmup; ++i) runVariant(variant, data, o.ring, buffer);
  }
  const int64_t rounds = std::min<int64_t>(o.iterations, kRounds);
  std::vector<std::vector<double>> perCall(variants.size());
  for (int64_t round = 0; round < rounds; ++round) {
    const int64_t calls = o.iterations / rounds + (round < o.iterations % rounds ? 1 : 0);
    for (size_t v = 0; v < variants.size(); ++v) {
      data.synchronize();
      control.barrier();
      const double seconds = secondsOf([&] {
        for (int64_t i = 0; i < calls; ++i) runVariant(variants[v], data, o.ring, buffer);
        data.synchronize();
      });
      // The slowest rank decides how long a collective took.
      at::Tensor slowest = at::tensor({seconds / static_cast<double>(calls)}, at::kDouble);
      control.allReduce(slowest, comm::ReduceOp::kMax);
      perCall[v].push_back(slowest.item<double>());
    }
  }

  std::vector<Row> rows;
  for (size_t v = 0; v < variants.size(); ++v) {
    const bool gathered = variants[v].collective == Collective::kAllGather;
    at::Tensor checked =
        pattern(count, data.rank(), options, gathered ? kGatheredModulus : kSummedModulus);
    runVariant(variants[v], data, o.ring, checked);
    at::Tensor wrong = at::tensor(
        {wrongElements(variants[v].collective, checked.cpu(), sum.cpu(), data.rank(), data.size())},
        at::kLong);
    control.allReduce(wrong, comm::ReduceOp::kSum);

    std::vector<double>& times = perCall[v];
    std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2),
                     times.end());
    const double median = times[times.size() / 2];
    Row row;
    row.count = count;
    row.bytes = count * static_cast<int64_t>(at::elementSize(o.type));
    row.collective = nameOf(collectiveNames(), variants[v].collective);
    row.algorithm = comm::algorithmName(variants[v].algorithm);
    row.microseconds = median * 1e6;
    row.algbw = median > 0 ? static_cast<double>(row.bytes) / median / 1e9 : 0;
    // nccl-tests' convention: the size is the whole tensor's, and busbw the share of it each
    // rank must send at the least.
    row.busbw = row.algbw * (variants[v].collective == Collective::kAllReduce
                                 ? comm::allReduceBusFactor(data.size())
                                 : comm::reduceScatterBusFactor(data.size()));
    row.wrong = wrong.item<int64_t>();
    rows.push_back(row);
  }
  return rows;
}

// The layout of nccl-tests' in-place columns, with the algorithm added, so that the figures read
// side by side with all_reduce_perf's.
void printHeader(const BenchOptions& o, const comm::Communicator& data) {
  std::printf(
      "# ringtrain bench-comm: %d rank(s), backend %s, %s, in place, %lld iterations "
      "after %lld warm-up, ring piece %lld bytes\n"
      "# time: median over %lld alternating rounds of the slowest rank's mean per call; size: "
      "the whole tensor; reduce-scatter and all-gather over the shards of sharded data "
      "parallelism\n#\n",
      data.size(), data.backendName().c_str(), o.typeName.c_str(),
      static_cast<long long>(o.iterations), static_cast<long long>(o.warmup),
      static_cast<long long>(o.ring.pieceBytes), static_cast<long long>(kRounds));
  std::printf("# %10s %12s %8s %6s %14s %9s %10s %8s %8s %7s\n", "size", "count", "type", "redop",
              "collective", "algorithm", "time", "algbw", "busbw", "#wrong");
  std::printf("# %10s %12s %8s %6s %14s %9s %10s %8s %8s %7s\n", "(B)", "(elements)", "", "", "",
              "", "(us)", "(GB/s)", "(GB/s)", "");
  std::fflush(stdout);  // before the first row, which may be long in coming
}

void printRow(const Row& row, const std::string& type) {
  std::printf("  %10lld %12lld %8s %6s %14s %9s %10.1f %8.3f %8.3f %7lld\n",
              static_cast<long long>(row.bytes), static_cast<long long>(row.count), type.c_str(),
              row.collective == "all-gather" ? "none" : "sum", row.collective.c_str(),
              row.algorithm.c_str(), row.microseconds, row.algbw, row.busbw,
              static_cast<long long>(row.wrong));
  std::fflush(stdout);
}

// Sweeps the sizes on every rank; rank 0 prints the rows and writes --json. Returns the exit
// status, the same on every rank.
int sweep(launch::RankProcess& process, const BenchOptions& bench,
          const platform::Placement& placement) {
  comm::Session& session = process.session();
  comm::Communicator& control = process.control();
  const bool reporter = process.topology().rank == 0;
  platform::applyPlacement(placement);
  platform::retainFreedMemory();  // as in training
  const std::unique_ptr<comm::Communicator> data =
      session.makeCommunicatorFor(placement.device, placement.backend);
  const at::TensorOptions tensorOptions =
      at::TensorOptions().dtype(bench.type).device(placement.device);
  if (reporter) printHeader(bench, *data);

  std::vector<Row> rows;
  const int64_t elementBytes = static_cast<int64_t>(at::elementSize(bench.type));
  for (int64_t bytes = bench.minBytes; bytes <= bench.maxBytes; bytes *= bench.stepFactor) {
    const int64_t count = std::max<int64_t>(1, bytes / elementBytes);
    at::Tensor sum = at::zeros({count}, tensorOptions);
    for (int r = 0; r < data->size(); ++r) sum += pattern(count, r, tensorOptions);
    for (const Row& row : measureSize(*data, control, bench, count, sum)) {
      rows.push_back(row);
      if (reporter) printRow(row, bench.typeName);
    }
  }

  int64_t wrong = 0;
  nlohmann::ordered_json json = nlohmann::ordered_json::array();
  for (const Row& row : rows) {
    wrong += row.wrong;
    json.push_back({{"bytes", row.bytes},
                    {"count", row.count},
                    {"collective", row.collective},
                    {"algorithm", row.algorithm},
                    {"time_us", row.microseconds},
                    {"algbw_gbps", row.algbw},
                    {"busbw_gbps", row.busbw},
                    {"wrong", row.wrong}});
  }
  // Every rank holds the same rows (the times are the slowest rank's), so every rank reaches
  // the same verdict and exits with the same status.
  nlohmann::ordered_json averages = nlohmann::ordered_json::object();
  struct Shortfall {
    std::string variant;  // "collective algorithm"
    double average = 0;
  };
  std::vector<Shortfall> tooSlow;
  for (const Collective collective : bench.collectives) {
    const std::string collectiveName = nameOf(collectiveNames(), collective);
    for (const comm::AllReduceAlgorithm algorithm : bench.algorithms) {
      const std::string name = comm::algorithmName(algorithm);
      double sum = 0;
      int n = 0;
      for (const Row& row : rows) {
        if (row.collective != collectiveName || row.algorithm != name) continue;
        sum += row.busbw;
        ++n;
      }
      const double average = n ? sum / n : 0.0;
      averages[collectiveName][name] = average;
      if (average < bench.minBusBandwidth)
        tooSlow.push_back({collectiveName + " " + name, average});
      if (reporter) {
        std::printf("# Avg bus bandwidth    : %.3f GB/s (%s %s)\n", average, collectiveName.c_str(),
                    name.c_str());
      }
    }
  }
  if (reporter) {
    std::printf("# wrong elements: %lld\n", static_cast<long long>(wrong));
    if (bench.minBusBandwidth > 0) {
      std::printf("# minimum bus bandwidth: %.3f GB/s: %s\n", bench.minBusBandwidth,
                  tooSlow.empty() ? "passed" : "FAILED");
    }
    std::fflush(stdout);
    if (!bench.jsonPath.empty()) {
      nlohmann::ordered_json document{{"ranks", data->size()},
                                      {"backend", data->backendName()},
                                      {"dtype", bench.typeName},
                                      {"iterations", bench.iterations},
                                      {"ring_piece_bytes", bench.ring.pieceBytes},
                                      {"avg_busbw_gbps", averages},
                                      {"rows", json}};
      if (bench.minBusBandwidth > 0) {
        document["min_busbw_gbps"] = bench.minBusBandwidth;
        nlohmann::ordered_json below = nlohmann::ordered_json::array();
        for (const Shortfall& shortfall : tooSlow) below.push_back(shortfall.variant);
        document["below_min_busbw"] = below;
      }
      writeFileAtomically(bench.jsonPath, document.dump(2) + "\n");
    }
  }
  if (wrong > 0) {
    if (reporter) std::cerr << "ringtrain bench-comm: error: " << wrong << " wrong element(s)\n";
    return 1;
  }
  if (!tooSlow.empty()) {
    if (reporter) {
      for (const Shortfall& shortfall : tooSlow) {
        std::cerr << "ringtrain bench-comm: error: average bus bandwidth " << shortfall.average
                  << " GB/s (" << shortfall.variant << ") is below --min-bw "
                  << bench.minBusBandwidth << " GB/s\n";
      }
    }
    return 1;
  }
  return 0;
}

}  // namespace

int runBenchComm(int argc, char** argv) {
  BenchOptions bench;
  platform::Placement placement;
  const auto parse = [&](launch::RankProcess& process) {
    const comm::Topology& topology = process.topology();
    cxxopts::Options options = benchOptions();
    const cxxopts::ParseResult result = flags::parseFlags(options, argc, argv);
    launch::CommandStart start;
    if (result.count("help")) {
      start.help = options.help();
      return start;
    }
    bench = parseBenchOptions(result);
    RINGTRAIN_USER_CHECK(bench.minBusBandwidth == 0 || topology.size > 1,
                         "--min-bw: the bus bandwidth of one rank is 0 (no data crosses between "
                         "ranks); run 2 or more");
    placement = platform::placeRank(bench.rank.device, bench.rank.backend, topology,
                                    bench.rank.threads, comm::ncclCompiledIn());
    if (topology.rank == 0 && !bench.jsonPath.empty()) {
      // Fail now rather than after the sweep.
      const std::filesystem::path parent = std::filesystem::path(bench.jsonPath).parent_path();
      ensureWritableDirectory(parent.empty() ? "." : parent.string(), "--json");
    }
    start.commTimeoutSeconds = bench.rank.commTimeoutSeconds;
    start.heartbeatTimeoutSeconds = bench.rank.heartbeatTimeoutSeconds;
    return start;
  };
  return launch::runCommand(
      "ringtrain bench-comm", argc, argv, parse,
      [&](launch::RankProcess& process) { return sweep(process, bench, placement); });
}

}  // namespace ringtrain::cli
