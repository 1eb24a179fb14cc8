"""Starts a training job of the ringtrain image through the SageMaker Python SDK's local mode, as a
user's launcher script would, and prints {"model_data": ..., "hyperparameters": ...} as its last
line. Run with the Python that has the SDK (scripts/setup.sh installs it apart from the training
environment). Only `docker compose` is replaced (compose_stand_in.py); the SDK writes the job.

    local_mode_job.py --estimator generic --work DIR --output DIR --fit file:///data
    local_mode_job.py --estimator pytorch --work DIR --output DIR \\
        --fit '{"training": "file:///data/train", "validation": "file:///data/val"}' \\
        --distribution '{"mpi": {"enabled": true, "processes_per_host": 2}}'
"""
import argparse
import json
import os
import sys

STAND_IN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compose_stand_in.py")
IMAGE = "ringtrain:local"  # not an ECR image: the SDK neither logs in nor pulls
ROLE = "arn:aws:iam::111122223333:role/ringtrain-local-mode"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--estimator", choices=["generic", "pytorch"], required=True)
    parser.add_argument("--work", required=True, help="the SDK's container root (its temporary directories)")
    parser.add_argument("--output", required=True, help="where model.tar.gz goes")
    parser.add_argument("--fit", required=True, help="what fit() gets: one location, or a JSON object of channels")
    parser.add_argument("--hyperparameters", default="{}", help="JSON object")
    parser.add_argument("--distribution", help="JSON object, for --estimator pytorch")
    args = parser.parse_args()

    # No AWS account: a region and placeholder credentials keep the SDK from looking for either.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local-mode")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local-mode")
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

    import sagemaker.local.image
    from sagemaker.local import LocalSession

    sagemaker.local.image._SageMakerContainer._get_compose_cmd_prefix = staticmethod(
        lambda: [sys.executable, STAND_IN])
    session = LocalSession(sagemaker_config={
        "SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}})
    session.config = {"local": {"local_code": True, "container_root": args.work}}

    common = dict(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="local",
                  output_path="file://" + os.path.abspath(args.output),
                  hyperparameters=json.loads(args.hyperparameters), sagemaker_session=session)
    if args.estimator == "generic":
        from sagemaker.estimator import Estimator

        estimator = Estimator(**common)
    else:
        from sagemaker.pytorch import PyTorch

        # Framework estimators insist on an entry point; the ringtrain image does not run it.
        source = os.path.join(args.work, "source")
        os.makedirs(source, exist_ok=True)
        with open(os.path.join(source, "train.sh"), "w") as f:
            f.write("#!/bin/sh\necho 'not run by the ringtrain image'\n")
        distribution = json.loads(args.distribution) if args.distribution else None
        estimator = PyTorch(entry_point="train.sh", source_dir=source, distribution=distribution, **common)

    fit = json.loads(args.fit) if args.fit.startswith("{") else args.fit
    estimator.fit(fit, wait=True, logs="All")
    print(json.dumps({"model_data": estimator.model_data,
                      "hyperparameters": estimator.hyperparameters()}), flush=True)


if __name__ == "__main__":
    main()
