// SIGTERM, SIGINT and SIGUSR1 as a request to stop cleanly. SageMaker and schedulers send SIGTERM
// before they kill a job; mpirun forwards SIGUSR1 to every rank. The first signal only sets a
// flag, which the training loop shares with the other ranks at its next step so that all of them
// stop at the same step and write a checkpoint; a second one ends the process at once.
#pragma once

namespace ringtrain::platform {

// Also ignores SIGXFSZ, so that a file-size limit makes writes fail with an error we report.
void installStopSignals();

// The first stop signal received, or 0.
int stopSignalReceived();
// "SIGTERM" for SIGTERM, and so on.
const char* signalName(int signal);

}  // namespace ringtrain::platform
