#include "MpiTopology.h"

#include "MpiCheck.h"

namespace ringtrain::comm {

Topology topologyOf(MPI_Comm comm, std::string host) {
  Topology topology;
  topology.host = std::move(host);
  MPI_CHECK(MPI_Comm_rank(comm, &topology.rank));
  MPI_CHECK(MPI_Comm_size(comm, &topology.size));
  MPI_Comm sameHost = MPI_COMM_NULL;
  MPI_CHECK(
      MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, topology.rank, MPI_INFO_NULL, &sameHost));
  MPI_CHECK(MPI_Comm_rank(sameHost, &topology.localRank));
  MPI_CHECK(MPI_Comm_size(sameHost, &topology.localSize));
  MPI_CHECK(MPI_Comm_free(&sameHost));
  return topology;
}

}  // namespace ringtrain::comm
