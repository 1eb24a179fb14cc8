// ringtrain: data-parallel training of LibTorch models under mpirun.
//
// Map of the code: one folder per concern. A folder includes only from itself and the folders
// after its arrow, which all come further down this list; tests/CheckLayering.cmake holds the
// tree to this map. include/ringtrain/ holds the public headers of api/ and of the folders named
// after its subfolders.
//   cli/          the commands; only in the executable
//     -> flags launch sagemaker prep unsupervised train pipeline io data platform health comm text
//        util
//   sagemaker/    the SageMaker job: configuration files, launch plan, supervising mpirun
//     -> util
//   api/          Runtime, DataParallel, checkpoints and runTraining for programs of their own
//     -> launch train ddp checkpoint models data platform comm util
//   flags/        flag values with errors that name the flag; shared flag groups; train's flags
//     -> launch train pipeline ddp models data comm util
//   launch/       how a rank starts and ends: the command runner, failure reports, the watchdog
//     -> health platform comm util
//   train/        the training loop, its strategies (data-parallel, pipeline), outputs
//     -> pipeline ddp checkpoint models data io health platform comm text util
//   unsupervised/ k-means (one-pass summaries, k-means|| and Lloyd) and PCA
//     -> data comm util
//   prep/         conversion of CSV, IDX, .npy and text into shards
//     -> data text util
//   pipeline/     schedules, their checker, partitioning, the stage runtime
//     -> ddp models health comm util
//   ddp/          parameter sync, gradient buckets and their shards, the reducer
//     -> platform comm util
//   models/       MLP, CNN, GPT, autoencoder and --model-spec networks, as sequences of layers
//     -> util
//   checkpoint/   checkpoint directories (files, checksums)
//     -> util
//   data/         data specs, data sets, CSV/IDX readers, shards, the distributed sampler
//     -> text util
//   io/           safetensors, .npy, tables, a job's final outputs
//     -> util
//   platform/     device placement, threads, CUDA streams, stop signals
//     -> comm util
//   health/       liveness: each rank's step and phase, heartbeats that find a dead or frozen rank
//     -> comm util
//   comm/         Communicator over MPI (CPU) and NCCL (CUDA); the only code that includes mpi.h
//                 or nccl.h
//     -> util
//   text/         tokenizers: bytes, and SentencePiece (linked into the executable only)
//     -> util
//   util/         errors, files, checksums, numbers
#include <iostream>
#include <string>

#include "cli/Commands.h"
#include "launch/ErrorText.h"
#include "ringtrain/BuildInfo.h"
#include "ringtrain/util/Error.h"

namespace {

void printUsage(std::ostream& out) {
  out << "usage: ringtrain <command> [flags]\n\n"
         "commands:\n"
         "  train       train a model over the ranks started by mpirun: data-parallel,\n"
         "              pipelined (--pipeline-stages) or both\n"
         "  eval        score a saved model.safetensors on a data set (loss, accuracy, logits)\n"
         "  predict     write a saved model's output for every sample (classes and probabilities,\n"
         "              autoencoder codes, k-means clusters) as .csv or .npy\n"
         "  generate    continue a prompt with a saved language model\n"
         "  kmeans      k-means clustering over the ranks (one pass, or Lloyd with k-means||)\n"
         "  pca         principal components over the ranks, from merged moments\n"
         "  shard-plan  print which sample indices each rank reads in an epoch (JSON)\n"
         "  pipeline-plan  print a pipeline schedule per stage, checked, with its bubble (JSON)\n"
         "  bench-comm  measure allreduce, reduce-scatter and all-gather bandwidth over sizes\n"
         "  prep        convert CSV, IDX, .npy or text into a memory-mapped shard data set\n"
         "  check-data  verify every checksum of a shard data set\n"
         "  bench-data  measure how fast batches come out of a shard data set\n"
         "  info        print versions, backends and visible devices\n"
         "  doctor      read a failed run's flight records and name the rank that stopped it\n"
         "  sagemaker   the container entrypoint: a SageMaker job from /opt/ml, else plain "
         "ringtrain\n\n"
         "`ringtrain <command> --help` lists a command's flags.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    printUsage(std::cerr);
    return 2;
  }
  const std::string command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    printUsage(std::cout);
    return 0;
  }
  if (command == "--version") {
    std::cout << "ringtrain " << RINGTRAIN_VERSION << "\n";
    return 0;
  }
  try {
    if (command == "train") return ringtrain::cli::runTrain(argc - 1, argv + 1);
    if (command == "shard-plan") return ringtrain::cli::runShardPlan(argc - 1, argv + 1);
    if (command == "pipeline-plan") return ringtrain::cli::runPipelinePlan(argc - 1, argv + 1);
    if (command == "info") return ringtrain::cli::runInfo(argc - 1, argv + 1);
    if (command == "bench-comm") return ringtrain::cli::runBenchComm(argc - 1, argv + 1);
    if (command == "prep") return ringtrain::cli::runPrep(argc - 1, argv + 1);
    if (command == "check-data") return ringtrain::cli::runCheckData(argc - 1, argv + 1);
    if (command == "bench-data") return ringtrain::cli::runBenchData(argc - 1, argv + 1);
    if (command == "sagemaker") return ringtrain::cli::runSageMaker(argc - 1, argv + 1);
    if (command == "eval") return ringtrain::cli::runEval(argc - 1, argv + 1);
    if (command == "predict") return ringtrain::cli::runPredict(argc - 1, argv + 1);
    if (command == "generate") return ringtrain::cli::runGenerate(argc - 1, argv + 1);
    if (command == "kmeans") return ringtrain::cli::runKMeans(argc - 1, argv + 1);
    if (command == "pca") return ringtrain::cli::runPca(argc - 1, argv + 1);
    if (command == "doctor") return ringtrain::cli::runDoctor(argc - 1, argv + 1);
  } catch (const ringtrain::UserError& error) {
    std::cerr << "ringtrain " << command << ": error: " << error.what() << std::endl;
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "ringtrain " << command << ": error: " << ringtrain::launch::errorText(error)
              << std::endl;
    return 1;
  }
  std::cerr << "ringtrain: unknown command '" << command << "'\n";
  printUsage(std::cerr);
  return 2;
}
