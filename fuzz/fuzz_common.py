"""Shared driver for the fuzz targets: atheris when installed, else a seeded random-mutation loop."""

from __future__ import annotations

import importlib
import random
import sys
import traceback
from pathlib import Path


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One libFuzzer-like mutation: flip, insert, delete, duplicate a span, or splice in a token."""
    out = bytearray(data)
    tokens = [b"{", b"}", b"[", b"]", b'"', b":", b",", b"null", b"true", b"-1", b"1e400", b"NaN", b"\\u0000",
              b'"..\\/x"', b"[[[[[[[[", b"0.0", b"9" * 30]
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(5)
        pos = rng.randrange(len(out) + 1)
        if choice == 0 and out:
            out[min(pos, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1:
            out[pos:pos] = bytes([rng.randrange(256)])
        elif choice == 2 and out:
            del out[pos:pos + rng.randint(1, 16)]
        elif choice == 3 and out:
            start = rng.randrange(len(out))
            out[pos:pos] = out[start:start + rng.randint(1, 64)]
        else:
            out[pos:pos] = rng.choice(tokens)
    return bytes(out)


def random_fuzz(check, seeds: list[bytes], iterations: int, seed: int = 0) -> int:
    """Seeded mutation fuzzing without coverage; returns 1 and prints the input on the first crash."""
    rng = random.Random(seed)
    pool = list(seeds) or [b""]
    for i in range(iterations):
        data = mutate(rng.choice(pool), rng)
        try:
            check(data)
        except Exception:  # noqa: BLE001 - a crash: report the input that made it
            print(f"crash at iteration {i} on input {data!r}", file=sys.stderr)
            traceback.print_exc()
            return 1
        if rng.random() < 0.05:
            pool.append(data)  # keep some mutants to mutate further
    print(f"{iterations} inputs, no crash")
    return 0


def run(argv: list[str], check, instrument: list[str], seeds: Path) -> None:
    seed_data = [p.read_bytes() for p in sorted(seeds.glob("*"))] if seeds.is_dir() else []
    if len(argv) > 2 and argv[1] == "--random":
        sys.exit(random_fuzz(check, seed_data, int(argv[2])))
    try:
        import atheris
    except ImportError:
        sys.exit("atheris is not installed (pip install atheris); use --random N for the seeded mutation fuzzer")
    with atheris.instrument_imports():
        for module in instrument:
            importlib.import_module(module)
    atheris.Setup(argv, check)
    atheris.Fuzz()
