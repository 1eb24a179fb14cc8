// Conversions of flag text into values, with errors that name the flag. cxxopts parses every
// flag as a string so that these messages, not its own, reach the user.
#pragma once

#include <cstdint>
#include <cxxopts.hpp>
#include <string>
#include <utility>
#include <vector>

#include "comm/AllReduce.h"

namespace ringtrain::flags {

int64_t parseInteger(const std::string& flag, const std::string& text);
uint64_t parseUnsigned(const std::string& flag, const std::string& text);
// "4096", "64K", "16M", "1G" (binary multiples); positive, at most 1 TiB.
int64_t parseByteSize(const std::string& flag, const std::string& text);
double parseReal(const std::string& flag, const std::string& text);
// Steps "A:B" (1 <= A <= B), or one step "N" (N:N).
std::pair<int64_t, int64_t> parseStepRange(const std::string& flag, const std::string& text);
// --label-column: a 0-based column below 2^20, or (where `noneAllowed`) "none" for tables without
// labels, which is data::kNoLabelColumn.
int parseLabelColumn(const std::string& text, bool noneAllowed);
// Parses argv (argv[0] is the subcommand); UserError for unknown flags and stray arguments.
cxxopts::ParseResult parseFlags(cxxopts::Options& options, int argc, char** argv);
// Commands of the form `ringtrain <command> [flags] DIR`: parses argv with a positional DIR added
// to `options`. With --help, prints the help and returns help = true; otherwise a missing DIR is a
// UserError.
struct DirectoryCommand {
  cxxopts::ParseResult flags;
  std::string directory;
  bool help = false;
};
DirectoryCommand parseDirectoryCommand(cxxopts::Options& options, int argc, char** argv);

// Returns text if it is one of `choices`.
std::string parseChoice(const std::string& flag, const std::string& text,
                        const std::vector<std::string>& choices);
// auto, native or ring.
comm::AllReduceAlgorithm parseAllReduceAlgorithm(const std::string& flag, const std::string& text);

}  // namespace ringtrain::flags
