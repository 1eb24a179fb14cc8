#include "RankFailure.h"

#include <iostream>

#include "ErrorText.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::cli {

int reportCollectiveFailure(const std::string& command, const comm::Topology& topology,
                            const comm::CollectiveFailure& failure) {
  if (failure.reporter()) {
    if (failure.exitCode() == 2) {
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

}  // namespace ringtrain::cli
