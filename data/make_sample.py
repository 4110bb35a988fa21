"""Write the bundled sample registry (示例数据), ``data/sample_registry.geojson``.

The stations come from :func:`geo.registry.sample.generate_sample` (deterministic for
a given seed) and are written by :func:`geo.registry.export.to_geojson`, so the
bundled file is exactly what an export of the sample would be: RFC 7946, a
FeatureCollection in WGS-84 with no ``crs`` member, lists as JSON arrays,
UTF-8 without escapes, and a top-level ``notice`` saying it is sample data.
Positions are generated at 1e-6 degrees, so the file holds at most six
decimals.

Usage::

    .venv/bin/python data/make_sample.py [--n 3000] [--seed 20261121] [--output PATH]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo import settings  # noqa: E402
from geo.registry.export import to_geojson  # noqa: E402
from geo.registry.sample import generate_sample  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="number of stations (default %(default)s)")
    parser.add_argument("--seed", type=int, default=20261121, help="random seed (default %(default)s)")
    parser.add_argument("--output", type=Path, default=settings.SAMPLE_PATH)
    args = parser.parse_args(argv)

    stations = generate_sample(args.n, args.seed)
    text = to_geojson(stations, crs="wgs84")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # newline="" keeps the file byte-identical across platforms.
    with open(args.output, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.write("\n")
    print(f"wrote {args.output}: {len(stations)} stations, {args.output.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
