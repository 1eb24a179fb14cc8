#include "Command.h"

#include <iostream>

#include "health/FlightRecord.h"
#include "platform/StopSignals.h"

namespace ringtrain::launch {

int runCommand(const std::string& program, int& argc, char**& argv,
               const std::function<CommandStart(RankProcess&)>& parse,
               const std::function<int(RankProcess&)>& run) {
  RankProcess process(program, argc, argv);
  try {
    CommandStart start;
    comm::runOnAllRanks(process.control(), [&] { start = parse(process); });
    if (start.help) {
      if (process.topology().rank == 0) std::cout << *start.help << std::flush;
      return 0;
    }
    process.watchLiveness(start.heartbeatTimeoutSeconds);
    process.watchCommunication(start.commTimeoutSeconds);
    const int status = run(process);
    if (platform::stopSignalReceived() != 0) health::dumpFlightRecord("stopped by a signal");
    return status;
  } catch (const comm::CollectiveFailure& failure) {
    if (failure.exitCode() == 1) health::dumpFlightRecord("internal error");
    return process.reportCollectiveFailure(failure);
  } catch (const std::exception& error) {
    process.abortAfterFailure(error);
  }
}

}  // namespace ringtrain::launch
