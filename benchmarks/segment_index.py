"""Benchmark: evaluating the reference segment with SegmentIndex, polars, DuckDB and matches().

Run from the repository root (needs the ``bench`` extra)::

    PYTHONPATH=src python -m benchmarks.segment_index --followers 1000000

The synthetic population is seeded and identical for every evaluator: 100 tags with Zipf-like
popularity (0 to 20 per follower), 300 cities (Zipf-like), spend lognormal, subscribe times
uniform over the 3 years before ``NOW``. polars and DuckDB get their fastest reasonable layout:
tags as two uint64 bitmask columns. Every evaluator must return the same count.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from wxsegment import Follower
from wxsegment.segment import Segment, SegmentIndex, attr, matches, tag

NOW = datetime(2026, 3, 1, tzinfo=timezone(timedelta(hours=8)))
TAGS = 100
MAX_TAGS = 20
MEAN_TAGS = 10
CITIES = [f"c{i:03d}" for i in range(300)]
REFERENCE_CITIES = ["c003", "c017", "c123"]
WINDOW = timedelta(days=180)
CHUNK = 250_000


def reference_segment() -> Segment:
    """`(tag:t12 or tag:t40) and city in [3 cities] and not tag:t7 and subscribe_time within
    180d and spend >= 100`."""
    return (
        (tag("t12") | tag("t40"))
        & attr("city").isin(REFERENCE_CITIES)
        & ~tag("t7")
        & attr("subscribe_time").within(WINDOW)
        & (attr("spend") >= 100)
    )


@dataclass
class Population:
    """Columns of a synthetic population; row ``i`` is follower ``i``."""

    openids: list[str]
    tags_lo: np.ndarray  # bits 0..63: tags t0..t63
    tags_hi: np.ndarray  # bits 0..35: tags t64..t99
    city: np.ndarray  # int16 code into CITIES
    spend: np.ndarray  # float64, cents
    subscribe_us: np.ndarray  # int64 microseconds since the epoch, UTC

    def __len__(self) -> int:
        return len(self.openids)

    def tag_positions(self) -> dict[str, np.ndarray]:
        """Tag name -> positions of the followers carrying it."""
        positions = {}
        for j in range(TAGS):
            word, bit = (self.tags_lo, j) if j < 64 else (self.tags_hi, j - 64)
            positions[f"t{j}"] = np.flatnonzero((word >> np.uint64(bit)) & np.uint64(1))
        return positions

    def followers(self) -> Iterator[Follower]:
        """The same population as `Follower` objects, produced chunk by chunk."""
        names = [f"t{j}" for j in range(TAGS)]
        shifts = np.arange(64, dtype=np.uint64)
        for start in range(0, len(self), CHUNK):
            stop = min(start + CHUNK, len(self))
            lo = ((self.tags_lo[start:stop, None] >> shifts) & np.uint64(1)).astype(bool)
            hi = ((self.tags_hi[start:stop, None] >> shifts[:36]) & np.uint64(1)).astype(bool)
            rows, cols = np.nonzero(np.hstack([lo, hi]))
            # Lazy per-row lists and dicts: building Followers, not numpy scalars, is measured.
            bounds = np.searchsorted(rows, np.arange(stop - start + 1)).tolist()
            flat = list(map(names.__getitem__, cols.tolist()))
            tag_lists = map(flat.__getitem__, map(slice, bounds[:-1], bounds[1:]))
            cities = self.city[start:stop].tolist()
            spends = self.spend[start:stop].tolist()
            attributes = (
                {"city": CITIES[city], "spend": spend}
                for city, spend in zip(cities, spends, strict=True)
            )
            stamps = self.subscribe_us[start:stop].tolist()
            times = map(EPOCH.__add__, map(MICROSECOND.__mul__, stamps))
            yield from map(Follower, self.openids[start:stop], times, tag_lists, attributes)


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)


#: The populations to choose from: ``zipf`` (the default) and ``dense``.
DISTRIBUTIONS = ("zipf", "dense")


def generate(count: int, seed: int = 20260301, distribution: str = "zipf") -> Population:
    """A seeded synthetic population of ``count`` followers (generated in chunks).

    ``dense`` is the harder shape: popular tags on most followers (about 16 tags each on
    average, the reference tags t12 and t40 on 90% and 64% of them, t7 on 37%), the first
    reference city holding 40% of the followers, and spend with a median near 100, so the tag
    and city predicates keep a large share and the range columns do most of the work.
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    dense = distribution == "dense"
    rng = np.random.default_rng(seed)
    if dense:
        probability = 0.9 / np.sqrt(np.arange(1, TAGS + 1))
        # The reference segment's tags become the most popular ones (t7 the sixth).
        for rank, name in ((0, 12), (1, 40), (5, 7)):
            probability[[rank, name]] = probability[[name, rank]]
    else:
        weights = 1.0 / np.arange(1, TAGS + 1) ** 0.8
        probability = np.minimum(weights * (MEAN_TAGS / weights.sum()), 0.9)
    bits = np.uint64(1) << np.arange(64, dtype=np.uint64)
    words_lo, words_hi = [], []
    for start in range(0, count, 1_000_000):
        size = min(1_000_000, count - start)
        member = rng.random((size, TAGS)) < probability
        # Cap at MAX_TAGS by dropping the least popular extra tags of the rare heavy followers.
        for row in np.flatnonzero(member.sum(axis=1) > MAX_TAGS).tolist():
            member[row, np.flatnonzero(member[row])[MAX_TAGS:]] = False
        words_lo.append(np.bitwise_or.reduce(np.where(member[:, :64], bits, 0), axis=1))
        words_hi.append(
            np.bitwise_or.reduce(np.where(member[:, 64:], bits[: TAGS - 64], 0), axis=1)
        )
    tags_lo = np.concatenate(words_lo).astype(np.uint64)
    tags_hi = np.concatenate(words_hi).astype(np.uint64)
    city_weights = 1.0 / np.arange(1, len(CITIES) + 1) ** 0.9
    if dense:
        city_weights /= city_weights.sum()
        first = CITIES.index(REFERENCE_CITIES[0])
        city_weights *= 0.6 / (1.0 - city_weights[first])
        city_weights[first] = 0.4
    city = rng.choice(len(CITIES), size=count, p=city_weights / city_weights.sum())
    spend = np.round(rng.lognormal(mean=4.6 if dense else 3.6, sigma=1.2, size=count), 2)
    now_us = (NOW - EPOCH) // timedelta(microseconds=1)
    span = 3 * 365 * 86400
    subscribe_us = now_us - rng.integers(0, span, size=count) * 1_000_000
    openids = [f"oBench{i:022d}" for i in range(count)]
    return Population(
        openids, tags_lo, tags_hi, city.astype(np.int16), spend, subscribe_us.astype(np.int64)
    )


def from_columns(population: Population) -> SegmentIndex:
    """Build the index through the columnar bulk path."""
    return SegmentIndex.from_columns(
        openids=population.openids,
        subscribe_time=population.subscribe_us.astype("datetime64[us]"),
        tags=population.tag_positions(),
        attributes={"city": (population.city, CITIES), "spend": population.spend},
    )


def timed(function: Callable[[], Any], runs: int, warmup: int = 1) -> tuple[float, float, Any]:
    """The median wall time and the median CPU time (all threads of the process) in seconds
    of ``runs`` calls, and the last result. On a shared machine the CPU time is the figure
    that compares between runs; polars and DuckDB may spend it on several cores at once."""
    result = None
    for _ in range(warmup):
        result = function()
    times = []
    cpu = []
    for _ in range(runs):
        start = time.perf_counter()
        start_cpu = time.process_time()
        result = function()
        cpu.append(time.process_time() - start_cpu)
        times.append(time.perf_counter() - start)
    return statistics.median(times), statistics.median(cpu), result


def rss_bytes() -> int:
    """The resident set size of this process now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def polars_evaluator(population: Population) -> Callable[[], int]:
    """polars over bitmask columns; the expression is built once, the count runs each call."""
    import polars as pl

    frame = pl.DataFrame(
        {
            "tags_lo": population.tags_lo,
            "tags_hi": population.tags_hi,
            "city": pl.Series(np.asarray(CITIES)[population.city]).cast(pl.Enum(CITIES)),
            "spend": population.spend,
            "subscribe_time": pl.Series(population.subscribe_us).cast(pl.Datetime("us", "UTC")),
        }
    )
    lo = pl.col("tags_lo")
    since = NOW - WINDOW
    condition = (
        ((lo & ((1 << 12) | (1 << 40))) != 0)
        & pl.col("city").is_in(REFERENCE_CITIES)
        & ((lo & (1 << 7)) == 0)
        & pl.col("subscribe_time").is_between(since, NOW)
        & (pl.col("spend") >= 100)
    )
    return lambda: int(frame.select(condition.sum()).item())


def duckdb_evaluator(population: Population) -> Callable[[], int]:
    """DuckDB over the same bitmask layout, in its own native table, query parameterized."""
    import duckdb
    import polars as pl

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    cities = ", ".join(f"'{c}'" for c in CITIES)
    connection.execute(f"CREATE TYPE city_t AS ENUM ({cities})")
    # Staged through Parquet: polars writes it natively, so no pyarrow is needed.
    with tempfile.TemporaryDirectory() as directory:
        staging = Path(directory) / "followers.parquet"
        pl.DataFrame(
            {
                "tags_lo": population.tags_lo,
                "tags_hi": population.tags_hi,
                "city": np.asarray(CITIES)[population.city],
                "spend": population.spend,
                "subscribe_us": population.subscribe_us,
            }
        ).write_parquet(staging)
        connection.execute(
            "CREATE TABLE followers AS SELECT tags_lo, tags_hi, city::city_t AS city, spend, "
            "make_timestamp(subscribe_us) AS subscribe_time FROM read_parquet($path)",
            {"path": str(staging)},
        )
    since = (NOW - WINDOW).astimezone(timezone.utc).replace(tzinfo=None)
    now = NOW.astimezone(timezone.utc).replace(tzinfo=None)
    query = (
        "SELECT count(*) FROM followers WHERE (tags_lo & $either) <> 0 "
        "AND city IN ($c1, $c2, $c3) AND (tags_lo & $excluded) = 0 "
        "AND subscribe_time BETWEEN $since AND $now AND spend >= 100"
    )
    parameters = {
        "either": (1 << 12) | (1 << 40),
        "excluded": 1 << 7,
        "c1": REFERENCE_CITIES[0],
        "c2": REFERENCE_CITIES[1],
        "c3": REFERENCE_CITIES[2],
        "since": since,
        "now": now,
    }

    def run() -> int:
        row = connection.execute(query, parameters).fetchone()
        assert row is not None
        return int(row[0])

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per evaluator")
    parser.add_argument(
        "--skip-stream", action="store_true", help="skip the build from Follower objects"
    )
    parser.add_argument("--distribution", choices=DISTRIBUTIONS, default="zipf")
    args = parser.parse_args()
    count = args.followers
    segment = reference_segment()
    print(
        f"followers: {count:,}  distribution: {args.distribution}  cores: {os.cpu_count()}  "
        f"load: {os.getloadavg()[0]:.1f}  segment: {segment}"
    )

    start = time.perf_counter()
    population = generate(count, distribution=args.distribution)
    print(f"generate columns: {time.perf_counter() - start:.1f} s")
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    index = from_columns(population)
    columns_build = time.perf_counter() - start
    gc.collect()
    index_rss = rss_bytes() - before
    print(
        f"build from columns: {columns_build:.1f} s  index memory: "
        f"{index.nbytes() / 2**20:.0f} MiB held (RSS grew {index_rss / 2**20:.0f} MiB)"
    )

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "followers.wxs"
        start = time.perf_counter()
        index.save(path)
        saved = time.perf_counter() - start
        size = path.stat().st_size
        start = time.perf_counter()
        loaded = SegmentIndex.load(path)
        load_time = time.perf_counter() - start
    assert loaded.count(segment, now=NOW) == index.count(segment, now=NOW)
    del loaded
    print(
        f"save: {saved:.1f} s  file: {size / 2**20:.0f} MiB  load: {load_time:.1f} s  "
        f"peak RSS so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB"
    )

    results: dict[str, tuple[float, float, int]] = {}
    results["index count"] = timed(lambda: index.count(segment, now=NOW), args.runs, warmup=3)
    results["index evaluate"] = timed(
        lambda: len(index.evaluate(segment, now=NOW)), args.runs, warmup=1
    )
    polars_run = polars_evaluator(population)
    results["polars bitmask"] = timed(polars_run, max(5, args.runs // 2), warmup=2)
    del polars_run
    duckdb_run = duckdb_evaluator(population)
    results["duckdb bitmask"] = timed(duckdb_run, max(5, args.runs // 2), warmup=2)
    del duckdb_run
    gc.collect()

    if count <= 2_000_000:
        followers = list(population.followers())
        results["matches() loop"] = timed(
            lambda: sum(1 for f in followers if matches(segment, f, now=NOW)), 3, warmup=0
        )
        del followers
        gc.collect()

    if not args.skip_stream:
        del index
        gc.collect()
        start = time.perf_counter()
        consumed = sum(1 for _ in population.followers())
        generation = time.perf_counter() - start
        start = time.perf_counter()
        streamed = SegmentIndex.build(population.followers())
        stream_build = time.perf_counter() - start
        assert consumed == len(streamed) == count
        print(
            f"build from Follower stream: {stream_build:.1f} s "
            f"(of which creating the Followers: {generation:.1f} s)"
        )
        results["index count (stream-built)"] = timed(
            lambda: streamed.count(segment, now=NOW), args.runs, warmup=3
        )

    counts = {result for _, _, result in results.values()}
    assert len(counts) == 1, f"evaluators disagree: {results}"
    base, base_cpu, _ = results["index count"]
    print(f"\nmatching followers: {counts.pop():,}  load: {os.getloadavg()[0]:.1f}")
    print(f"{'evaluator':<28}{'median':>12}{'vs index count':>18}{'CPU':>12}{'CPU vs index':>16}")
    for name, (seconds, cpu, _) in results.items():
        print(
            f"{name:<28}{seconds * 1000:>10.2f} ms{seconds / base:>17.1f}x"
            f"{cpu * 1000:>10.2f} ms{cpu / max(base_cpu, 1e-9):>15.1f}x"
        )
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB")


if __name__ == "__main__":
    main()
