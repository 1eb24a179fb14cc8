#include "FlagValues.h"

#include <iostream>

#include "ringtrain/data/Dataset.h"
#include "ringtrain/util/Error.h"
#include "ringtrain/util/Numbers.h"

namespace ringtrain::cli {

int64_t parseInteger(const std::string& flag, const std::string& text) {
  const auto value = parseInt64(text);
  RINGTRAIN_USER_CHECK(value, "--" << flag << ": '" << text << "' is not an integer");
  return *value;
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

cxxopts::ParseResult parseFlags(cxxopts::Options& options, int argc, char** argv) {
  cxxopts::ParseResult result;
  try {
    result = options.parse(argc, argv);
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
  std::string listed;
  for (const auto& choice : choices) {
    if (choice == text) return text;
    listed += (listed.empty() ? "" : "|") + choice;
  }
  throw UserError("--" + flag + " must be " + listed + ", got '" + text + "'");
}

comm::AllReduceAlgorithm parseAllReduceAlgorithm(const std::string& flag, const std::string& text) {
  const std::string name = parseChoice(flag, text, {"auto", "native", "ring"});
  return name == "ring"     ? comm::AllReduceAlgorithm::kRing
         : name == "native" ? comm::AllReduceAlgorithm::kNative
                            : comm::AllReduceAlgorithm::kAuto;
}

}  // namespace ringtrain::cli
