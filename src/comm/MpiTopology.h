// Where this process sits in an MPI communicator: its rank and size there, and its rank among the
// members that share its host (shared memory, as MPI sees it).
#pragma once

#include "comm/Mpi.h"

#include <string>

#include "ringtrain/comm/Communicator.h"

namespace ringtrain::comm {

// Collective over `comm`.
Topology topologyOf(MPI_Comm comm, std::string host);

}  // namespace ringtrain::comm
