#include "RankFailure.h"

#include <unistd.h>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "ErrorText.h"
#include "ringtrain/platform/StopSignals.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::cli {

int reportCollectiveFailure(const std::string& command, const comm::Topology& topology,
                            const comm::CollectiveFailure& failure) {
  if (failure.reporter()) {
    if (failure.exitCode() != 1) {
      std::cerr << "ringtrain " << command << ": error: " << failure.what() << std::endl;
    } else {
      std::cerr << "ringtrain " << command << ": internal error on rank " << topology.rank << " ("
                << topology.host << "): " << failure.what() << std::endl;
    }
  }
  return failure.exitCode();
}

void abortAfterRankFailure(const std::string& command, const comm::Session& session,
                           const std::exception& error) {
  const comm::Topology& topology = session.topology();
  std::cerr << "ringtrain " << command << ": error on rank " << topology.rank << " ("
            << topology.host << "): " << errorText(error) << std::endl;
  session.abortJob(dynamic_cast<const UserError*>(&error) ? 2 : 1);
}

void abortAfterCommTimeout(const std::string& command, const comm::Session& session,
                           const comm::OpenWaits::Expired& expired,
                           std::chrono::milliseconds timeout) {
  const comm::Topology& topology = session.topology();
  // All ranks waiting on the same missing peer time out together. Higher ranks hold back so that
  // the lowest one reports; when it ends the job, the launcher's SIGTERM reaches the others
  // while they hold back, and they leave without repeating the report.
  const auto holdBack = std::chrono::seconds(2) * std::min(topology.rank, 4);
  const auto until = std::chrono::steady_clock::now() + holdBack;
  while (std::chrono::steady_clock::now() < until && platform::stopSignalReceived() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (platform::stopSignalReceived() == 0 || holdBack.count() == 0) {
    std::ostringstream message;
    message << "ringtrain " << command << ": error on rank " << topology.rank << " ("
            << topology.host << "): " << expired.description << " has not completed after "
            << std::fixed << std::setprecision(1) << expired.waited.count() / 1000.0
            << " s: another rank stopped making progress or died (--comm-timeout "
            << timeout.count() / 1000.0 << " s)\n";
    std::cerr << message.str() << std::flush;
  }
  // MPI_Abort is called from the watchdog's thread while the main thread sits inside MPI; should
  // the library not cope, the alarm's default action still ends the process.
  alarm(30);
  session.abortJob(1);
}

}  // namespace ringtrain::cli
