"""Runs the container's entrypoint (`ringtrain sagemaker train`) as SageMaker would on one host,
without Docker: builds a SageMaker root (input/config/*.json written the way SageMaker writes them,
the data in input/data/<channel>/) and points the entrypoint at it through RINGTRAIN_SAGEMAKER_ROOT.

    python3 sagemaker/local_job.py --ringtrain build/ringtrain --root /tmp/sm \\
        --hyperparameter epochs=2 --hyperparameter processes_per_host=2

The train and validation channels hold a synthetic CSV data set. The tests use the functions
below to build jobs of their own."""
import argparse
import json
import os
import subprocess
import sys

import numpy as np


def encode_hyperparameters(values):
    """As SageMaker Python SDK framework estimators store them: every value json.dumps'ed into a
    string (so a string "adamw" is stored as "\\"adamw\\"")."""
    return {key: json.dumps(value) for key, value in values.items()}


def write_csv(path, labels, data):
    with open(path, "w") as f:
        for label, row in zip(labels, data):
            f.write(str(label) + "," + ",".join(f"{v:.5f}" for v in row) + "\n")


def make_job(root, hyperparameters, hosts=("algo-1",), current_host="algo-1", channels=None,
             instance_type="ml.c5.xlarge"):
    """Writes <root>/input/config and, for each channel given as {name: (mode, distribution)}, an
    empty input/data/<name>/ for the caller to fill. Returns the root."""
    config = os.path.join(root, "input", "config")
    os.makedirs(config, exist_ok=True)
    channels = channels if channels is not None else {"train": ("File", "FullyReplicated"),
                                                      "validation": ("File", "FullyReplicated")}
    with open(os.path.join(config, "hyperparameters.json"), "w") as f:
        json.dump(encode_hyperparameters(hyperparameters), f)
    resource = {"current_host": current_host, "current_instance_type": instance_type,
                "current_group_name": "homogeneousCluster", "hosts": list(hosts),
                "instance_groups": [{"instance_group_name": "homogeneousCluster",
                                     "instance_type": instance_type, "hosts": list(hosts)}],
                "network_interface_name": "eth0"}
    with open(os.path.join(config, "resourceconfig.json"), "w") as f:
        json.dump(resource, f)
    data_config = {name: {"TrainingInputMode": mode, "S3DistributionType": distribution,
                          "RecordWrapperType": "None"} for name, (mode, distribution) in channels.items()}
    with open(os.path.join(config, "inputdataconfig.json"), "w") as f:
        json.dump(data_config, f)
    for name in channels:
        os.makedirs(os.path.join(root, "input", "data", name), exist_ok=True)
    for directory in ("model", "output", "checkpoints"):
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    return root


def fill_csv_channels(root, rows=2000, features=16, classes=4):
    """Gaussian clusters, one per class: train and validation drawn from the same ones."""
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 3, size=(classes, features))
    labels = rng.integers(0, classes, size=rows + rows // 5)
    data = centres[labels] + rng.normal(0, 1, size=(len(labels), features))
    write_csv(os.path.join(root, "input/data/train/part-0.csv"), labels[:rows], data[:rows])
    write_csv(os.path.join(root, "input/data/validation/part-0.csv"), labels[rows:], data[rows:])


def entrypoint_environment(root):
    env = dict(os.environ)
    env["RINGTRAIN_SAGEMAKER_ROOT"] = root
    # SageMaker containers run as root; Open MPI refuses that unless told.
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return env


def start_entrypoint(ringtrain, root, **popen):
    """`docker run IMAGE train` with ENTRYPOINT ["ringtrain", "sagemaker"]."""
    return subprocess.Popen([ringtrain, "sagemaker", "train"], env=entrypoint_environment(root), **popen)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ringtrain", default=os.path.join(os.path.dirname(__file__), "..", "build", "ringtrain"))
    parser.add_argument("--root", required=True, help="the SageMaker root to create (stands for /opt/ml)")
    parser.add_argument("--hyperparameter", action="append", default=[], metavar="KEY=VALUE",
                        help="a hyperparameter (VALUE parsed as JSON when it is JSON; True and False "
                             "as Python writes them are booleans too)")
    args = parser.parse_args()
    values = {}
    for item in args.hyperparameter:
        key, _, value = item.partition("=")
        python_spelling = {"True": True, "False": False}
        try:
            values[key] = python_spelling[value] if value in python_spelling else json.loads(value)
        except json.JSONDecodeError:
            values[key] = value
    make_job(args.root, values)
    fill_csv_channels(args.root)
    job = start_entrypoint(os.path.abspath(args.ringtrain), args.root)
    code = job.wait()
    print(f"local_job: entrypoint exited {code}; model dir: {sorted(os.listdir(os.path.join(args.root, 'model')))}")
    failure = os.path.join(args.root, "output", "failure")
    if os.path.exists(failure):
        with open(failure) as f:
            print("local_job: failure: " + f.read().strip())
    sys.exit(code)


if __name__ == "__main__":
    main()
