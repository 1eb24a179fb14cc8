#include "comm/Session.h"

#include "comm/Mpi.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "HostStagedCommunicator.h"
#include "MpiCheck.h"
#include "MpiCommunicator.h"
#include "NcclCommunicator.h"
#include "WatchedCommunicator.h"

namespace ringtrain::comm {

Session::Session(int* argc, char*** argv) {
  int provided = 0;
  // SERIALIZED leaves room for a communication thread that takes turns with the main thread.
  MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided));
  allowsCommunicationThread_ = provided >= MPI_THREAD_SERIALIZED;
  MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &topology_.rank));
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &topology_.size));

  char host[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  MPI_CHECK(MPI_Get_processor_name(host, &length));
  topology_.host.assign(host, static_cast<size_t>(length));
  findHostRanks();
}

// Ranks share a host when they share memory, unless RINGTRAIN_HOST names their host instead, which
// lets one machine stand in for several hosts (tests of multi-host data layouts).
void Session::findHostRanks() {
  const char* named = std::getenv("RINGTRAIN_HOST");
  int anyNamed = named != nullptr && *named != '\0';
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &anyNamed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
  if (!anyNamed) {
    MPI_Comm hostComm;
    MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, topology_.rank,
                                  MPI_INFO_NULL, &hostComm));
    MPI_CHECK(MPI_Comm_rank(hostComm, &topology_.localRank));
    MPI_CHECK(MPI_Comm_size(hostComm, &topology_.localSize));
    hostGroup_ = topology_.rank;
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &hostGroup_, 1, MPI_INT, MPI_MIN, hostComm));
    MPI_CHECK(MPI_Comm_free(&hostComm));
    return;
  }
  if (named != nullptr && *named != '\0') topology_.host = named;
  std::vector<char> mine(MPI_MAX_PROCESSOR_NAME, '\0');
  topology_.host.copy(mine.data(), mine.size() - 1);
  std::vector<char> all(mine.size() * static_cast<size_t>(topology_.size));
  MPI_CHECK(MPI_Allgather(mine.data(), static_cast<int>(mine.size()), MPI_CHAR, all.data(),
                          static_cast<int>(mine.size()), MPI_CHAR, MPI_COMM_WORLD));
  topology_.localRank = 0;
  topology_.localSize = 0;
  hostGroup_ = -1;
  for (int rank = 0; rank < topology_.size; ++rank) {
    if (std::string(all.data() + rank * mine.size()) != mine.data()) continue;
    if (hostGroup_ < 0) hostGroup_ = rank;
    if (rank < topology_.rank) ++topology_.localRank;
    ++topology_.localSize;
  }
}

Session::~Session() {
  watchdog_.reset();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

std::unique_ptr<Communicator> Session::watched(std::unique_ptr<Communicator> communicator,
                                               int64_t group) const {
  return std::make_unique<WatchedCommunicator>(std::move(communicator), watchdog_, callLog_,
                                               callLog_->newCommunicator(group));
}

std::unique_ptr<Communicator> Session::makeCpuCommunicator() const {
  return watched(std::make_unique<MpiCommunicator>(topology_));
}

std::unique_ptr<Communicator> Session::makeHostCommunicator() const {
  Topology host = topology_;
  host.rank = topology_.localRank;
  host.size = topology_.localSize;
  return watched(std::make_unique<MpiCommunicator>(host, hostGroup_, topology_.rank), hostGroup_);
}

std::unique_ptr<Communicator> Session::makeCudaCommunicator(int device) const {
  return watched(makeNcclCommunicator(topology_, device, watchdog_));
}

std::unique_ptr<Communicator> Session::makeCommunicatorFor(const c10::Device& device,
                                                           Backend backend) const {
  if (!device.is_cuda()) return makeCpuCommunicator();
  if (backend == Backend::kNccl) return makeCudaCommunicator(device.index());
  return std::make_unique<HostStagedCommunicator>(makeCpuCommunicator(), device);
}

void Session::limitWaits(std::chrono::milliseconds timeout, Watchdog::Handler onTimeout,
                         std::chrono::milliseconds holdBack) {
  watchdog_->arm(timeout, std::move(onTimeout), holdBack);
}

void Session::abortJob(int exitCode) const {
  std::fflush(stdout);
  std::fflush(stderr);
  if (topology_.size > 1) MPI_Abort(MPI_COMM_WORLD, exitCode);
  std::_Exit(exitCode);
}

std::string mpiLibraryVersion() {
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(version, &length);
  std::string text(version, static_cast<size_t>(length));
  const auto end = text.find_first_of(",\n");
  return end == std::string::npos ? text : text.substr(0, end);
}

std::string ncclVersion() {
  return ncclVersionString();
}
bool ncclCompiledIn() {
  return ncclAvailable();
}

}  // namespace ringtrain::comm
