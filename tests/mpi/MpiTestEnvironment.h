// Shared by the multi-rank tests: the job's CPU communicator, set up once by MpiTestMain.cpp.
#pragma once

#include "comm/Session.h"
#include "ringtrain/comm/Communicator.h"

namespace ringtrain::testing {

comm::Communicator& worldCommunicator();
comm::Session& session();

}  // namespace ringtrain::testing
