// Factory for the NCCL backend. Built only with RINGTRAIN_WITH_CUDA; otherwise NcclUnavailable.cpp
// provides the same functions and reports that NCCL is not compiled in.
#pragma once

#include <memory>
#include <string>

#include "comm/Watchdog.h"
#include "ringtrain/comm/Communicator.h"

namespace ringtrain::comm {

// Collective: every rank calls it with its own local CUDA device index. NCCL calls return once
// their work is queued; `watchdog` keeps each one's wait open until the stream has run it.
std::unique_ptr<Communicator> makeNcclCommunicator(const Topology& topology, int device,
                                                   std::shared_ptr<Watchdog> watchdog);
std::string ncclVersionString();
bool ncclAvailable();

}  // namespace ringtrain::comm
