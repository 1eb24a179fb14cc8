#include <cxxopts.hpp>
#include <iostream>

#include "cli/Commands.h"
#include "flags/FlagValues.h"
#include "health/FlightRecord.h"

namespace ringtrain::cli {
namespace {

std::string lastCallOf(const nlohmann::json& record) {
  const nlohmann::json& calls = record.at("calls");
  if (calls.empty()) return "no communication call yet";
  const nlohmann::json& call = calls.back();
  health::WaitingCall last{call.at("communicator").get<int64_t>(),
                           call.at("sequence").get<int64_t>(),
                           call.at("operation").get<std::string>(),
                           "",
                           -1,
                           call.at("bytes").get<int64_t>()};
  return "last call " + health::describeCall(last) +
         (call.at("end_ns").is_null() ? " (still running)" : " (done)");
}

}  // namespace

int runDoctor(int argc, char** argv) {
  cxxopts::Options options("ringtrain doctor",
                           "Read the flight records a failed run left (DIR/flight-recorder/"
                           "rank-<r>.json, one per rank that could write one) and say which rank "
                           "stopped the job, where, and what the others waited in.");
  options.add_options()("h,help", "show this help");
  const flags::DirectoryCommand command = flags::parseDirectoryCommand(options, argc, argv);
  if (command.help) return 0;
  const std::vector<health::FlightRecord> records = health::readFlightRecords(command.directory);
  std::cout << "verdict: " << health::verdictOfRecords(records) << "\n";
  for (const health::FlightRecord& record : records) {
    const health::RankState& state = record.state;
    std::cout << "  rank " << state.rank << " (host " << state.host << ", pid " << state.pid
              << "): " << record.reason << "; step " << state.progress.step << ", "
              << health::phaseName(state.progress.phase) << "; "
              << (state.waiting ? "waits in " + health::describeCall(*state.waiting)
                                : lastCallOf(record.json))
              << "\n";
  }
  return 0;
}

}  // namespace ringtrain::cli
