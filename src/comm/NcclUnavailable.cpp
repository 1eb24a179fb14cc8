#include "NcclCommunicator.h"

#include "ringtrain/util/Error.h"

namespace ringtrain::comm {

std::unique_ptr<Communicator> makeNcclCommunicator(const Topology&, int,
                                                   std::shared_ptr<Watchdog>) {
  throw UserError(
      "this ringtrain was built without CUDA/NCCL; rebuild with -DRINGTRAIN_CUDA=ON or use "
      "--device cpu");
}

std::string ncclVersionString() {
  return "not compiled in";
}
bool ncclAvailable() {
  return false;
}

}  // namespace ringtrain::comm
