// Factory for the NCCL backend. Built only with RINGTRAIN_WITH_CUDA; otherwise NcclUnavailable.cpp
// provides the same functions and reports that NCCL is not compiled in.
#pragma once

#include <memory>
#include <string>

#include "ringtrain/comm/Communicator.h"

namespace ringtrain::comm {

// Collective: every rank calls it with its own local CUDA device index.
std::unique_ptr<Communicator> makeNcclCommunicator(const Topology& topology, int device);
std::string ncclVersionString();
bool ncclAvailable();

}  // namespace ringtrain::comm
