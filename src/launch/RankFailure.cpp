#include "RankFailure.h"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "ErrorText.h"
#include "health/FlightRecord.h"
#include "platform/StopSignals.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::launch {

int reportCollectiveFailure(const std::string& program, const comm::Topology& topology,
                            const comm::CollectiveFailure& failure) {
  if (failure.reporter()) {
    if (failure.exitCode() != 1) {
      std::cerr << program << ": error: " << failure.what() << std::endl;
    } else {
      std::cerr << program << ": internal error on rank " << topology.rank << " (" << topology.host
                << "): " << failure.what() << std::endl;
    }
  }
  return failure.exitCode();
}

void abortAfterRankFailure(const std::string& program, const comm::Session& session,
                           const std::exception& error) {
  health::dumpFlightRecord(std::string("error: ") + errorText(error));
  const comm::Topology& topology = session.topology();
  std::cerr << program << ": error on rank " << topology.rank << " (" << topology.host
            << "): " << errorText(error) << std::endl;
  session.abortJob(dynamic_cast<const UserError*>(&error) ? 2 : 1);
}

void watchCommunication(comm::Session& session, const std::string& program, double seconds,
                        const std::shared_ptr<health::Heartbeats>& heartbeats) {
  const comm::Topology& topology = session.topology();
  const auto timeout = std::chrono::milliseconds(std::llround(seconds * 1000));
  // A hub reports first: it has heard every rank, so its report names the culprit.
  const auto holdBack = heartbeats && heartbeats->watching() ? heartbeats->reportDelay()
                                                             : commTimeoutHoldBack(topology);
  const std::weak_ptr<health::Heartbeats> heard = heartbeats;
  session.limitWaits(
      timeout,
      [&topology, timeout, program, heard](const comm::OpenWaits::Expired& expired) {
        abortAfterCommTimeout(program, topology, expired, timeout, heard.lock().get());
      },
      holdBack);
}

std::shared_ptr<health::Heartbeats> watchLiveness(comm::Communicator& control,
                                                  const std::string& program, double seconds) {
  const comm::Topology topology = control.topology();
  auto heartbeats = std::make_shared<health::Heartbeats>(
      control, std::chrono::milliseconds(std::llround(seconds * 1000)),
      [topology, program, seconds](const std::vector<health::LostRank>& lost) {
        abortAfterLostRanks(program, topology, lost, seconds);
      });
  if (!heartbeats->problem().empty()) {
    std::cerr << program << ": warning: no heartbeats: " << heartbeats->problem()
              << "; a dead or frozen rank is found by --comm-timeout only" << std::endl;
  }
  return heartbeats;
}

void abortAfterLostRanks(const std::string& program, const comm::Topology& topology,
                         const std::vector<health::LostRank>& lost, double timeoutSeconds) {
  // Nothing lost: a hub reports. A rank that got SIGTERM (not the stop requests SIGINT and
  // SIGUSR1) after ranks exited is being ended by a launcher that saw them end and names them.
  const bool onlyExits = std::all_of(lost.begin(), lost.end(),
                                     [](const health::LostRank& rank) { return rank.exited; });
  const bool launcherEnding = platform::stopSignalReceived() == SIGTERM && onlyExits;
  health::dumpFlightRecord(lost.empty() ? "ended by another rank's report" : "ranks lost");
  if (!lost.empty() && !launcherEnding) {
    const std::string report = health::describeLost(lost);
    std::ostringstream message;
    message << program << ": error on rank " << topology.rank << " (" << topology.host
            << "): ending the job, ranks lost (--heartbeat-timeout " << timeoutSeconds << " s):\n";
    std::istringstream lines(report);
    for (std::string line; std::getline(lines, line);) message << "  " << line << "\n";
    std::cerr << message.str() << std::flush;
  }
  std::fflush(stdout);
  std::_Exit(1);
}

std::chrono::milliseconds commTimeoutHoldBack(const comm::Topology& topology) {
  return std::chrono::seconds(2) * std::min(topology.rank, 4);
}

void abortAfterCommTimeout(const std::string& program, const comm::Topology& topology,
                           const comm::OpenWaits::Expired& expired,
                           std::chrono::milliseconds timeout, health::Heartbeats* heartbeats) {
  // The report and the word to the others first: writing the record may be slow.
  const std::string folder = health::flightRecordFolder();
  // A rank above 0 that got SIGTERM while holding back is being ended by the launcher, because a
  // lower rank already reported.
  if (topology.rank == 0 || platform::stopSignalReceived() == 0) {
    std::ostringstream message;
    message << program << ": error on rank " << topology.rank << " (" << topology.host << "): ";
    if (!expired.failure.empty()) {
      message << expired.failure << "\n";
    } else {
      message << expired.description << " has not completed after " << std::fixed
              << std::setprecision(1) << expired.waited.count() / 1000.0
              << " s: another rank stopped making progress or died (--comm-timeout "
              << timeout.count() / 1000.0 << " s)\n";
    }
    // A hub has heard every rank: what each was doing names the one that stopped.
    if (heartbeats && heartbeats->hub()) {
      std::vector<health::RankState> ranks(static_cast<size_t>(topology.size));
      for (int rank = 0; rank < topology.size; ++rank) ranks[static_cast<size_t>(rank)].rank = rank;
      for (health::RankState& state : heartbeats->lastHeard()) {
        ranks.at(static_cast<size_t>(state.rank)) = std::move(state);
      }
      ranks.at(static_cast<size_t>(topology.rank)) = health::currentState();
      message << "  verdict: " << health::verdictOf(ranks) << "\n";
    }
    if (!folder.empty()) {
      message << "  flight records: " << folder << " (`ringtrain doctor "
              << folder.substr(0, folder.rfind('/')) << "` reads them)\n";
    }
    std::cerr << message.str() << std::flush;
  }
  // The others write their flight records and exit.
  if (heartbeats) heartbeats->endJob();
  health::dumpFlightRecord("communication timeout");
  // Not MPI_Abort: the main thread (and the reducer's) may be inside MPI, which this process only
  // entered for one thread at a time. A rank that exits without finalising makes the launcher
  // end the others.
  std::fflush(stdout);
  std::_Exit(1);
}

}  // namespace ringtrain::launch
