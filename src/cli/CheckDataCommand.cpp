#include <cxxopts.hpp>
#include <iostream>

#include "ProgressMeter.h"
#include "cli/Commands.h"
#include "data/ShardedDataset.h"
#include "flags/FlagGroups.h"
#include "flags/FlagValues.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::cli {

int runCheckData(int argc, char** argv) {
  cxxopts::Options options("ringtrain check-data",
                           "Read a ringtrain data set in full and verify every shard's checksum "
                           "(training itself only checks sizes and headers).");
  options.add_options()("no-index",
                        "check the *.rtshard files present, without index.json (a host's "
                        "share of a data set)")("h,help", "show this help");
  flags::addProgressFlag(options, "");
  const flags::DirectoryCommand command = flags::parseDirectoryCommand(options, argc, argv);
  if (command.help) return 0;
  const cxxopts::ParseResult& result = command.flags;
  const std::string& directory = command.directory;
  data::ShardOpenOptions open;
  open.useIndex = result.count("no-index") == 0;
  open.context = 1;  // any window length will do for reading every byte
  const auto dataset = data::ShardedDataset::open(directory, open);
  ProgressMeter meter("check-data " + directory, flags::readProgressFlag(result));
  dataset->verifyChecksums([&meter](int64_t done, int64_t total) { meter.update(done, total); });
  const auto tokenizer = dataset->tokenizer();  // a SentencePiece model is checked as it is read
  const data::DatasetIndex& description = dataset->description();
  std::cout << "check-data: " << directory << ": " << description.shards.size() << " shard(s), "
            << description.count
            << (description.kind == data::ShardKind::kTokens ? " tokens" : " samples")
            << (tokenizer ? " (" + tokenizer->kind + " tokenizer)" : std::string())
            << ", every checksum matches" << std::endl;
  return 0;
}

}  // namespace ringtrain::cli
