#include "Command.h"

#include <iostream>

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
    process.watchCommunication(start.commTimeoutSeconds);
    process.watchLiveness(start.heartbeatTimeoutSeconds);
    return run(process);
  } catch (const comm::CollectiveFailure& failure) {
    return process.reportCollectiveFailure(failure);
  } catch (const std::exception& error) {
    process.abortAfterFailure(error);
  }
}

}  // namespace ringtrain::launch
