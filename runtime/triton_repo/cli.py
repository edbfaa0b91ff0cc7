"""tubelet-triton: write a Triton Inference Server model repository entry from a Tubelet artifact."""

from __future__ import annotations

import argparse
import sys

from runtime.cli.main import run_main

EXAMPLES = """examples:
  tubelet-triton --artifact build/videomae-motion --repository /srv/triton/models
  tubelet-triton --artifact build/videomae-motion --repository models --name motion --instances 2 --kind gpu \\
      --preferred-batch 4,8 --queue-delay-us 2000 --overwrite

then: tritonserver --model-repository /srv/triton/models   (docs/SCALE.md has the container command)
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tubelet-triton", description=__doc__, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact", required=True, help="artifact folder written by export/build_engine.py")
    p.add_argument("--repository", required=True, help="model repository folder (created if missing)")
    p.add_argument("--name", default=None, help="model name in the repository (default: the artifact folder's name)")
    p.add_argument("--preferred-batch", default=None, metavar="N,N",
                   help="dynamic batcher's preferred batch sizes (default: half the max batch and the max)")
    p.add_argument("--queue-delay-us", type=int, default=1000,
                   help="longest a request waits for others to batch with, in microseconds (default 1000)")
    p.add_argument("--instances", type=int, default=1, help="model instances (instance_group count, default 1)")
    p.add_argument("--kind", default="auto", choices=("auto", "gpu", "cpu"),
                   help="instance kind of the ONNX model (default auto); TensorRT plans always run on a GPU")
    p.add_argument("--no-engines", action="store_true", help="write the ONNX model only, not the TensorRT plans")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing entries of the same name, if tubelet-triton wrote them and they are unchanged")
    return p


def _preferred(text: str | None, parser) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        parser.error(f"--preferred-batch must be comma-separated integers, e.g. 4,8; got {text!r}")
    if not sizes or min(sizes) < 1:
        parser.error(f"--preferred-batch sizes must be >= 1, got {text!r}")
    return sizes


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.instances < 1:
        parser.error(f"--instances must be >= 1, got {args.instances}")
    if args.queue_delay_us < 0:
        parser.error(f"--queue-delay-us must be >= 0, got {args.queue_delay_us}")
    args.preferred = _preferred(args.preferred_batch, parser)
    return run_main(write, args)


def write(args) -> int:
    from runtime.triton_repo import RepositoryOptions, write_repository

    options = RepositoryOptions(args.name, args.preferred, args.queue_delay_us, args.instances, args.kind,
                                not args.no_engines)
    write_repository(args.artifact, args.repository, options, overwrite=args.overwrite)
    return 0


if __name__ == "__main__":
    sys.exit(main())
