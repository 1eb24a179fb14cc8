#include "FlagValues.h"

#include <algorithm>
#include <iostream>
#include <optional>
#include <vector>

#include "ringtrain/data/Dataset.h"
#include "ringtrain/util/Error.h"
#include "util/NameTable.h"
#include "util/Numbers.h"

namespace ringtrain::flags {

int64_t parseInteger(const std::string& flag, const std::string& text) {
  const auto value = parseInt64(text);
  RINGTRAIN_USER_CHECK(value, "--" << flag << ": '" << text << "' is not an integer");
  return *value;
}

std::pair<int64_t, int64_t> parseStepRange(const std::string& flag, const std::string& text) {
  const size_t colon = text.find(':');
  const auto first = parseInt64(text.substr(0, colon));
  const auto last = colon == std::string::npos ? first : parseInt64(text.substr(colon + 1));
  RINGTRAIN_USER_CHECK(first && last && *first >= 1 && *last >= *first,
                       "--" << flag << ": '" << text
                            << "' is not a range of steps A:B with 1 <= A <= B, or one step N");
  return {*first, *last};
}

uint64_t parseUnsigned(const std::string& flag, const std::string& text) {
  const auto value = parseUint64(text);
  RINGTRAIN_USER_CHECK(value, "--" << flag << ": '" << text << "' is not a non-negative integer");
  return *value;
}

int parseLabelColumn(const std::string& text, bool noneAllowed) {
  if (noneAllowed && text == "none") return data::kNoLabelColumn;
  const int64_t column = parseInteger("label-column", text);
  RINGTRAIN_USER_CHECK(column >= 0 && column < (1 << 20),
                       "--label-column must be " << (noneAllowed ? "none or " : "")
                                                 << "between 0 and 1048575, got '" << text << "'");
  return static_cast<int>(column);
}

int64_t parseByteSize(const std::string& flag, const std::string& text) {
  std::string digits = text;
  int64_t multiplier = 1;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'K':
      case 'k':
        multiplier = int64_t{1} << 10;
        break;
      case 'M':
      case 'm':
        multiplier = int64_t{1} << 20;
        break;
      case 'G':
      case 'g':
        multiplier = int64_t{1} << 30;
        break;
      default:
        break;
    }
    if (multiplier > 1) digits.pop_back();
  }
  const auto value = parseInt64(digits);
  RINGTRAIN_USER_CHECK(value && *value > 0 && *value <= (int64_t{1} << 40) / multiplier,
                       "--" << flag << ": '" << text
                            << "' is not a positive size in bytes (suffixes K, M, G allowed)");
  return *value * multiplier;
}

double parseReal(const std::string& flag, const std::string& text) {
  const auto value = parseFiniteDouble(text);
  RINGTRAIN_USER_CHECK(value, "--" << flag << ": '" << text << "' is not a number");
  return *value;
}

namespace {

size_t editDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "unknown flag --lerning-rate; did you mean --lr?" for the first word of `argv` that names no
// flag of `options`, with the nearest flag when one is near enough to be a typo.
std::optional<std::string> unknownFlag(const cxxopts::Options& options, int argc, char** argv) {
  std::vector<std::string> known;
  for (const std::string& group : options.groups()) {
    for (const cxxopts::HelpOptionDetails& option : options.group_help(group).options) {
      known.insert(known.end(), option.l.begin(), option.l.end());
    }
  }
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.rfind("--", 0) != 0 || word.size() == 2) continue;
    const std::string name = word.substr(2, word.find('=') - 2);
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string message = "unknown flag --" + name;
    const std::string* nearest = nullptr;
    // Edits per letter a typo may have; a name cut short (--epoch) counts as one edit. Two letters
    // are too few to guess from.
    size_t best = name.size() < 3 ? 0 : std::max<size_t>(2, name.size() / 3) + 1;
    for (const std::string& candidate : known) {
      const size_t distance = candidate.rfind(name, 0) == 0 ? 1 : editDistance(name, candidate);
      if (distance < best) {
        best = distance;
        nearest = &candidate;
      }
    }
    if (nearest) message += "; did you mean --" + *nearest + "?";
    return message;
  }
  return std::nullopt;
}

}  // namespace

cxxopts::ParseResult parseFlags(cxxopts::Options& options, int argc, char** argv) {
  cxxopts::ParseResult result;
  try {
    result = options.parse(argc, argv);
  } catch (const cxxopts::exceptions::no_such_option& e) {
    const std::optional<std::string> unknown = unknownFlag(options, argc, argv);
    throw UserError((unknown ? *unknown : std::string(e.what())) + " (see " + options.program() +
                    " --help)");
  } catch (const cxxopts::exceptions::exception& e) {
    throw UserError(std::string(e.what()) + " (see " + options.program() + " --help)");
  }
  RINGTRAIN_USER_CHECK(result.unmatched().empty(), "unexpected argument '"
                                                       << result.unmatched().front() << "' (see "
                                                       << options.program() << " --help)");
  return result;
}

DirectoryCommand parseDirectoryCommand(cxxopts::Options& options, int argc, char** argv) {
  options.positional_help("DIR");
  options.add_options()("directory", "", cxxopts::value<std::string>());
  options.parse_positional({"directory"});
  DirectoryCommand command;
  command.flags = parseFlags(options, argc, argv);
  if (command.flags.count("help")) {
    std::cout << options.help({""});
    command.help = true;
    return command;
  }
  RINGTRAIN_USER_CHECK(command.flags.count("directory"),
                       "give the data set directory (see " << options.program() << " --help)");
  command.directory = command.flags["directory"].as<std::string>();
  return command;
}

std::string parseChoice(const std::string& flag, const std::string& text,
                        const std::vector<std::string>& choices) {
  NameTable<std::string> table;
  for (const auto& choice : choices) table.emplace_back(choice, choice);
  return valueNamed(table, flag, text);
}

comm::AllReduceAlgorithm parseAllReduceAlgorithm(const std::string& flag, const std::string& text) {
  return valueNamed(comm::allReduceAlgorithmNames(), flag, text);
}

}  // namespace ringtrain::flags
