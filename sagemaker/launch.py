"""Launches ringtrain as a SageMaker training job with the SageMaker Python SDK (v2 `Estimator`).

    pip install 'sagemaker>=2.200,<3'   # the 2.x series, whose Estimator this script uses
    python3 sagemaker/launch.py --image <account>.dkr.ecr.<region>.amazonaws.com/ringtrain:latest \\
        --role arn:aws:iam::<account>:role/<SageMakerRole> --train s3://bucket/data/train \\
        --validation s3://bucket/data/validation --checkpoints s3://bucket/ringtrain/checkpoints

Every hyperparameter is a `ringtrain train` flag (without the dashes; `batch_size` and `batch-size`
both work), plus `processes_per_host` and `mpi_options` for the launcher (sagemaker/README.md).
Metrics are read from rank 0's key=value lines. Not run by the tests: it needs an AWS account."""
import argparse
import sys

METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": r" loss=([0-9.eE+-]+)"},
    {"Name": "train:samples_per_sec", "Regex": r"samples_per_sec=([0-9.eE+-]+)"},
    {"Name": "validation:loss", "Regex": r"val_loss=([0-9.eE+-]+)"},
    {"Name": "validation:accuracy", "Regex": r"val_accuracy=([0-9.eE+-]+)"},
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", required=True)
    parser.add_argument("--role", required=True)
    parser.add_argument("--train", required=True, help="S3 prefix of the train channel")
    parser.add_argument("--validation", help="S3 prefix of the validation channel")
    parser.add_argument("--checkpoints", help="S3 prefix kept in sync with /opt/ml/checkpoints")
    parser.add_argument("--instance-type", default="ml.g5.12xlarge")
    parser.add_argument("--instance-count", type=int, default=2)
    parser.add_argument("--spot", action="store_true", help="managed spot training (resumes from checkpoints)")
    args = parser.parse_args()

    try:
        from sagemaker.estimator import Estimator
        from sagemaker.inputs import TrainingInput
    except ImportError as error:
        sys.exit(f"launch.py needs the SageMaker Python SDK 2.x (pip install 'sagemaker>=2.200,<3'): {error}")

    estimator = Estimator(
        image_uri=args.image,
        role=args.role,
        instance_count=args.instance_count,
        instance_type=args.instance_type,
        hyperparameters={
            "model": "cnn",
            "epochs": 10,
            "batch_size": 64,
            "optimizer": "adamw",
            "lr": 0.001,
            "precision": "bf16",
            "checkpoint_every": 500,
        },
        metric_definitions=METRIC_DEFINITIONS,
        checkpoint_s3_uri=args.checkpoints,
        use_spot_instances=args.spot,
        max_run=24 * 3600,
        max_wait=48 * 3600 if args.spot else None,
    )
    channels = {"train": TrainingInput(args.train, distribution="FullyReplicated", input_mode="File")}
    if args.validation:
        channels["validation"] = TrainingInput(args.validation, distribution="FullyReplicated", input_mode="File")
    estimator.fit(channels)


if __name__ == "__main__":
    main()
