// The subcommands of the ringtrain executable. Each takes argv with the subcommand name first and
// returns the process exit status.
#pragma once

namespace ringtrain::cli {

int runTrain(int argc, char** argv);         // ringtrain train: the training job (starts MPI)
int runShardPlan(int argc, char** argv);     // ringtrain shard-plan: sampler indices as JSON
int runPipelinePlan(int argc, char** argv);  // ringtrain pipeline-plan: a schedule, checked
int runInfo(int argc, char** argv);          // ringtrain info: versions, backends, devices
int runBenchComm(int argc, char** argv);     // ringtrain bench-comm: collective bandwidth sweep
int runPrep(int argc, char** argv);          // ringtrain prep: convert data into shards
int runCheckData(int argc, char** argv);     // ringtrain check-data: verify a data set's checksums
int runBenchData(int argc, char** argv);     // ringtrain bench-data: input pipeline throughput
int runSageMaker(int argc, char** argv);     // ringtrain sagemaker: the container entrypoint
int runEval(int argc, char** argv);          // ringtrain eval: score a saved model on a data set
int runPredict(int argc, char** argv);       // ringtrain predict: a saved model's output per sample
int runGenerate(int argc, char** argv);      // ringtrain generate: text from a language model
int runKMeans(int argc, char** argv);        // ringtrain kmeans: k-means clustering (starts MPI)
int runPca(int argc, char** argv);           // ringtrain pca: principal components (starts MPI)
int runDoctor(int argc, char** argv);        // ringtrain doctor: who stopped a failed run

}  // namespace ringtrain::cli
