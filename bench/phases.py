"""The measurements of one bench run, each turned into table rows next to its baseline."""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.report import Row, mib, ms, per_s, verdict, x
from bench.report import ms as ms_
from bench.stack import ROOT, WORKER_QUEUES, BenchError, Proc, Stack
from bench.stats import PeakRss

RESULTS = ROOT / "bench" / "results"
SIM_LATENCY_MS = 50


@dataclass(frozen=True)
class Counts:
    guards: int
    floor_repeats: int
    batch_requests: dict[int, int]  # targets per request -> requests
    per_refresh: int  # tasks of each kind in measurement 2
    e2e_targets: int
    e2e_concurrency: tuple[int, ...]
    sync_refreshes: int
    lookup_seconds: float


FULL = Counts(
    guards=20_000,
    floor_repeats=50,
    batch_requests={1: 300, 100: 100, 500: 60},
    per_refresh=1000,
    e2e_targets=2000,
    e2e_concurrency=(16, 32),
    sync_refreshes=300,
    lookup_seconds=10,
)
QUICK = Counts(
    guards=3000,
    floor_repeats=10,
    batch_requests={1: 40, 100: 15, 500: 10},
    per_refresh=150,
    e2e_targets=300,
    e2e_concurrency=(16, 32),
    sync_refreshes=40,
    lookup_seconds=3,
)
MEASUREMENTS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, stack: Stack, counts: Counts, only: set[str], profile: bool = False):
        from bench.celery_app import create as create_celery
        from freshet.wiring import build_runtime
        from workers.publish import CeleryPublisher

        self.stack, self.counts, self.only, self.profiling = stack, counts, only, profile
        self.settings = stack.settings()
        self.app = create_celery(self.settings)
        self.rt = build_runtime(self.settings, CeleryPublisher(self.app), pool_size=2)
        self.engine = self.rt.engine
        self.client = stack.redis()
        self.rows: list[Row] = []
        self.data: dict[str, Any] = {}
        self.api_url = ""
        self.rss = PeakRss()  # the API's, over the whole run

    @property
    def api_peak_rss(self) -> int:
        return self.rss.peaks.get("api", 0)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.rt.close()
            self.client.close()

    def phase(self, key: str, title: str, fn: Callable[[], None]) -> None:
        if key not in self.only:
            return
        log(f"{key}. {title}")
        t0 = time.perf_counter()
        try:
            fn()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            log(f"   failed: {exc}")
            self.data.setdefault("errors", {})[key] = traceback.format_exc()
            self.rows.append(
                Row(key, title, f"error: {type(exc).__name__}: {exc}"[:80], "", result="error")
            )
        log(f"   ({time.perf_counter() - t0:.1f}s)")

    def profile(
        self, label: str, pid: int, gil: bool = True
    ) -> contextlib.AbstractContextManager[Any]:
        """py-spy on `pid` and its children for the block, when --profile asked for it:
        GIL-holding samples (CPU) by default, every active sample (waits too) if not."""
        if not self.profiling:
            return contextlib.nullcontext()
        from bench import flame

        path = RESULTS / f"profile-{label}.txt"
        self.data.setdefault("profiles", {})[label] = str(path)
        return flame.recording(pid, path, gil=gil)

    def api_pid(self) -> int:
        return self.stack.procs["api"].pid

    def api_rss(self) -> int:
        proc = self.stack.procs.get("api")
        return proc.rss_bytes() if proc else 0

    # 8 -------------------------------------------------------------------------------------
    def monitor_schedule(self) -> None:
        from bench import monitor_schedule as ms
        from bench.tenancy import unlimited_tenant
        from tests.factories import make_catalog

        catalog_id = make_catalog(self.engine, "bench-monitored", "shopify", ["bench.invalid"])
        tenant, _ = unlimited_tenant(self.engine, catalogs=["bench-monitored"])
        repeats = 3 if self.counts is QUICK else 7
        d = ms.measure(
            self.rt, tenant.org_id, catalog_id, "http://bench.invalid/products/p", repeats
        )
        self.data["monitor_schedule"] = d
        self.rows.append(
            Row(
                "10",
                f"monitor scheduling pass: {d['due']:,} due of {d['products']:,} (DB time)",
                f"{ms_(d['pass_median_ms'])} (max {ms_(d['pass_max_ms'])})",
                f"{ms_(d['floor_median_ms'])} INSERT…SELECT of {d['due']:,} rows",
                x(d["pass_median_ms"] / max(d["floor_median_ms"], 1e-3)),
                f"≤ {ms_(ms.TARGET_MS)}",
                verdict(d["pass_median_ms"] <= ms.TARGET_MS),
            )
        )

    # 6 -------------------------------------------------------------------------------------
    def guards(self) -> None:
        from bench import admission

        d = admission.measure(self.client, self.counts.guards)
        self.data["guards"] = d
        self.rows.append(
            Row(
                "6",
                "guards: admission checks, sequential",
                per_s(d["admits_per_s"]),
                f"{per_s(d['ping_per_s'])} PING round trips",
                x(d["ratio"]),
                "≥ 0.50×",
                verdict(d["ratio"] >= 0.5),
            )
        )

    # 1 -------------------------------------------------------------------------------------
    def batch(self) -> None:
        from bench import batch_accept, floors

        sizes = sorted(self.counts.batch_requests)
        floor = floors.batch_floor(
            self.stack.database_url, self.stack.redis_url, sizes, self.counts.floor_repeats
        )
        self.data["batch_floor"] = floor
        headers = self.batch_tenant()
        present = batch_accept.endpoint_present()
        self.data["batch"] = {}
        for n in sizes:
            f = floor[n]["floor"]
            base = f"floor p50 {ms(f['p50_ms'])} (COPY + 1 pipelined push)"
            what = f"batch accept, {n} target{'s' if n > 1 else ''}: p50 / p95 / p99"
            if not present:
                self.rows.append(Row("1", what, "n/a (endpoint missing)", base, result="n/a"))
                continue
            with (
                self.profile(f"api-batch-{n}", self.api_pid())
                if n == max(sizes)
                else contextlib.nullcontext()
            ):
                d = batch_accept.measure(
                    self.api_url, self.stack.sim_url, headers, n, self.counts.batch_requests[n]
                )
            self.data["batch"][n] = d
            log(
                f"   {n:>3} targets: p50 {d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms, "
                f"statuses {d['statuses']}"
            )
            ratio = d["p50_ms"] / f["p50_ms"]
            target, result = "", ""
            if n == 500:
                target = "p50 ≤ 50 ms, p99 ≤ 150 ms, ≤ 5× floor"
                result = verdict(d["p50_ms"] <= 50 and d["p99_ms"] <= 150 and ratio <= 5)
            if set(d["statuses"]) != {202}:
                result = f"{result} (statuses {d['statuses']})".strip()
            self.rows.append(
                Row(
                    "1",
                    what,
                    f"{d['p50_ms']:.1f} / {d['p95_ms']:.1f} / {d['p99_ms']:.1f} ms",
                    base,
                    x(ratio) + " (p50)",
                    target,
                    result,
                )
            )
        self._forget_queued_work()

    def _forget_queued_work(self) -> None:
        """Accepted-but-unrun work from measurement 1 must not leak into the next ones."""
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE jobs SET status = 'cancelled', finished_at = now(), "
                    "error = 'bench: accepted only' WHERE status = 'queued'"
                )
            )
        self.client.delete(*WORKER_QUEUES, "unacked", "unacked_index")

    def batch_tenant(self) -> dict[str, str]:
        """Headers of an organization granted the simulator's shop catalog (made once)."""
        if "batch_headers" not in self.data:
            from bench import batch_accept
            from bench.tenancy import unlimited_tenant
            from tests.factories import make_catalog

            make_catalog(
                self.engine,
                batch_accept.CATALOG,
                "shopify",
                [batch_accept.catalog_domain(self.stack.sim_host)],
            )
            tenant, _ = unlimited_tenant(self.engine, catalogs=[batch_accept.CATALOG])
            self.data["batch_headers"] = tenant.headers
        headers: dict[str, str] = self.data["batch_headers"]
        return headers

    # 2 -------------------------------------------------------------------------------------
    def per_refresh(self) -> None:
        from bench import batch_accept, refresh_cost
        from bench.tenancy import unlimited_tenant

        self.stack.set_faults(latency_ms=0)
        _, principal = unlimited_tenant(self.engine)
        batch = None
        if batch_accept.endpoint_present() and self.api_url:
            batch = {
                "api_url": self.api_url,
                "sim_url": self.stack.sim_url,
                "headers": self.batch_tenant(),
            }
        drain = refresh_cost.Drain(
            self.app, self.client, self.engine, self.main_worker(), profile=self.profile
        )
        d = refresh_cost.measure(
            drain=drain,
            rt=self.rt,
            principal=principal,
            n=self.counts.per_refresh,
            concurrency=8,
            tag="C",
            batch=batch,
            log=log,
        )
        self.data["per_refresh"] = d
        noop = d["noop"]
        pairs = [("review job", d["freshet_review"], d["http_get_review"], "review page")]
        if "freshet_batch_target" in d:
            pairs.insert(
                0,
                ("batch target", d["freshet_batch_target"], d["http_get_product"], "product .json"),
            )
        # The targets: a batch target at most twice the bare task, a review job 2.5 times.
        limits = {"batch target": 2.0, "review job": 2.5}
        for name, fr, raw, page in pairs:
            ratio = fr["cpu_ms"] / raw["cpu_ms"]
            failed = f" ({fr['failed']} failed)" if fr["failed"] else ""
            self.rows.append(
                Row(
                    "2",
                    f"worker CPU per refresh: {name}, 0 ms upstream",
                    ms(fr["cpu_ms"]),
                    f"{ms(raw['cpu_ms'])} task: 1 HTTP GET ({page}); "
                    f"{ms(noop['cpu_ms'])} no-op task",
                    x(ratio),
                    f"≤ {limits[name]:g}×",
                    verdict(ratio <= limits[name]) + failed,
                )
            )
            self.rows.append(
                Row(
                    "2",
                    f"worker wall per refresh: {name} (8 threads, 1/throughput)",
                    f"{ms(fr['wall_ms'])} ({per_s(fr['per_s'])})",
                    f"{ms(raw['wall_ms'])} ({per_s(raw['per_s'])}) HTTP GET task; "
                    f"{ms(noop['wall_ms'])} no-op",
                    x(fr["wall_ms"] / raw["wall_ms"]),
                )
            )

    def main_worker(self) -> Proc:
        proc = self.stack.procs.get("worker")
        if proc is None or not proc.alive():
            proc = self.stack.start_worker("worker", 8, app=self.app)
        return proc

    # 3 + 7 ---------------------------------------------------------------------------------
    def throughput(self) -> None:
        from bench import batch_accept, throughput
        from bench.tenancy import unlimited_tenant

        self.stack.stop("worker")  # each concurrency gets a fresh worker of its own
        self.stack.set_faults(latency_ms=SIM_LATENCY_MS)
        per = self.data.get("per_refresh", {})
        use_batch = batch_accept.endpoint_present() and bool(self.api_url)
        kind = "freshet_batch_target" if use_batch else "freshet_review"
        cpu_ms = per.get(kind, {}).get("cpu_ms")
        cpu_bound = 1000 / cpu_ms if cpu_ms else None
        api_rss = self.api_rss if "api" in self.stack.procs else None
        principal = None if use_batch else unlimited_tenant(self.engine)[1]
        self.data["throughput"] = []
        try:
            for i, c in enumerate(self.counts.e2e_concurrency):
                common = dict(
                    stack=self.stack,
                    app=self.app,
                    engine=self.engine,
                    n=self.counts.e2e_targets,
                    concurrency=c,
                    tag=f"T{i}",
                    api_rss=api_rss,
                )
                if use_batch:
                    d = throughput.measure_batch(
                        api_url=self.api_url, headers=self.batch_tenant(), **common
                    )
                else:
                    assert principal is not None  # made above whenever use_batch is false
                    d = throughput.measure_reviews(rt=self.rt, principal=principal, **common)
                self.data["throughput"].append(d)
                conc_bound = c / (SIM_LATENCY_MS / 1000)
                lower = min(conc_bound, cpu_bound or conc_bound)
                ratio = d["per_s"] / lower
                log(
                    f"   {c} threads: {d['per_s']:.0f}/s end to end, drain "
                    f"{d['drain_per_s']:.0f}/s (bound {lower:.0f}/s)"
                )
                what = "batch targets" if use_batch else "review jobs"
                self.rows.append(
                    Row(
                        "3",
                        f"end to end: {d['n']} {what}, 50 ms upstream, {c} threads",
                        per_s(d["per_s"]),
                        f"min({per_s(conc_bound)} threads/latency, "
                        f"{per_s(cpu_bound) if cpu_bound else 'n/a'} CPU bound from (2))",
                        x(ratio),
                        "≥ 0.85×",
                        verdict(ratio >= 0.85)
                        + (f" ({d['failed']} failed)" if d["failed"] else ""),
                    )
                )
        finally:
            self.stack.set_faults()
        peak_w = max((d["peak_rss"].get("worker", 0) for d in self.data["throughput"]), default=0)
        peak_a = max(
            [self.api_peak_rss] + [d["peak_rss"].get("api", 0) for d in self.data["throughput"]]
        )
        self.data["memory"] = {"worker_peak_rss": peak_w, "api_peak_rss": peak_a}
        if "7" in self.only:
            self.rows.append(
                Row(
                    "7",
                    "peak RSS: worker during (3); API (master + 2 workers) over the run",
                    f"worker {mib(peak_w)}; API {mib(peak_a)}",
                    "",
                )
            )

    # 4 -------------------------------------------------------------------------------------
    def sync_refresh(self) -> None:
        from bench import sync_refresh
        from bench.tenancy import unlimited_tenant

        self.main_worker()
        headers = [
            unlimited_tenant(self.engine)[0].headers
            for _ in range(max(1, -(-self.counts.sync_refreshes // sync_refresh.FORCE_CAP_PER_ORG)))
        ]
        if not sync_refresh.endpoint_present():
            self.rows.append(
                Row(
                    "4",
                    "sync refresh: added latency p50 / p99",
                    "n/a (endpoint missing)",
                    "",
                    result="n/a",
                )
            )
            return
        self.stack.set_faults(latency_ms=SIM_LATENCY_MS)
        try:
            with (
                self.profile("api-sync-refresh", self.api_pid(), gil=False),
                self.profile("worker-sync-refresh", self.main_worker().pid, gil=False),
            ):
                d = sync_refresh.measure(
                    self.api_url,
                    self.stack.sim_url,
                    self.stack.sim_total,
                    headers,
                    sync_refresh.item_ids(700_000_000, self.counts.sync_refreshes),
                    engine=self.engine,
                )
        finally:
            self.stack.set_faults()
        self.data["sync_refresh"] = d
        tl = d.get("timeline") or {}
        if tl:
            log(
                f"   p50: queued {tl['queued_p50_ms']:.1f} ms (insert to claim), run "
                f"{tl['run_p50_ms']:.1f} ms (claim to finish) of {d['p50_ms']:.1f} ms total"
            )
        self.rows.append(
            Row(
                "4",
                "sync refresh: Freshet's added latency p50 / p99",
                f"{ms(d['added_p50_ms'])} / {ms(d['added_p99_ms'])}",
                f"total {ms(d['p50_ms'])} / {ms(d['p99_ms'])} minus "
                f"{d['upstream_fetches_per_refresh']:.1f} × {ms(d['direct_get']['p50_ms'])} upstream",
                "",
                "p50 ≤ 15 ms, p99 ≤ 40 ms",
                verdict(d["added_p50_ms"] <= 15 and d["added_p99_ms"] <= 40)
                + ("" if set(d["statuses"]) == {200} else f" (statuses {d['statuses']})"),
            )
        )

    # 5 -------------------------------------------------------------------------------------
    def cached_lookups(self) -> None:
        import requests

        from bench import lookups, sync_refresh
        from bench.bare_app import KEY
        from bench.tenancy import unlimited_tenant

        headers = unlimited_tenant(self.engine)[0].headers
        pid = "700999999"
        self.main_worker()
        if not sync_refresh.endpoint_present():
            self.rows.append(
                Row("5", "cached lookups, 32 clients", "n/a (endpoint missing)", "", result="n/a")
            )
            return
        requests.post(f"{self.api_url}/v1/products/{pid}/refresh", headers=headers, timeout=60)
        check = requests.get(f"{self.api_url}/v1/products/{pid}", headers=headers, timeout=30)
        if check.status_code != 200:
            raise BenchError(
                f"GET /v1/products/{pid} answered {check.status_code}: {check.text[:200]}"
            )
        self.client.set(KEY, check.content)  # the bare endpoint answers the same bytes
        secs = self.counts.lookup_seconds
        url = f"{self.api_url}/v1/products/{pid}"
        lookups.run_load(url, headers, 2)  # warm
        bare_url = self.stack.start_gunicorn("bare", "bench.bare_app:create()")
        try:
            lookups.run_load(bare_url + f"/v1/products/{pid}", {}, 2)
            # Taken in turns (Freshet, bare, Freshet…): a shared machine's load weighs on both.
            with self.profile("api-lookup", self.api_pid()):
                both = lookups.interleaved(
                    {
                        "freshet": lambda t: lookups.run_load(url, headers, t),
                        "bare": lambda t: lookups.run_load(bare_url + f"/v1/products/{pid}", {}, t),
                    },
                    secs,
                )
            fr, bare = both["freshet"], both["bare"]
        finally:
            self.stack.stop("bare")
        # The same load spread over 32 organizations and 32 products: what is left when no
        # row (the organization's month of usage, the product's read counter) is hot.
        spread = self._spread_lookups(32)
        with self.profile("api-lookup-spread", self.api_pid()):
            fr_spread = lookups.run_load(url, {}, secs, spread=spread)
        gen = lookups.load_generator()
        self.data["lookups"] = {
            "freshet": fr,
            "freshet_spread": fr_spread,
            "bare": bare,
            "load_generator": gen,
        }
        ratio = fr["per_s"] / bare["per_s"]
        note = "" if not fr["non_2xx"] else f" ({fr['non_2xx']} non-2xx!)"
        self.rows.append(
            Row(
                "5",
                f"cached lookups, 32 clients ({gen}), gthread 2×8: 1 org, 1 product",
                per_s(fr["per_s"]) + note,
                f"{per_s(bare['per_s'])} bare Flask + 1 Redis GET",
                x(ratio),
                "≥ 0.60×",
                verdict(ratio >= 0.6 and not fr["non_2xx"]),
            )
        )
        ratio = fr_spread["per_s"] / bare["per_s"]
        note = "" if not fr_spread["non_2xx"] else f" ({fr_spread['non_2xx']} non-2xx!)"
        self.rows.append(
            Row(
                "5",
                "cached lookups, same, spread over 32 orgs × 32 products",
                per_s(fr_spread["per_s"]) + note,
                "(same bare run)",
                x(ratio),
                "(diagnostic)",
                "",
            )
        )

    def _spread_lookups(self, n: int) -> list[tuple[str, dict[str, str]]]:
        import requests

        from bench.tenancy import unlimited_tenant

        out = []
        for i in range(n):
            headers = unlimited_tenant(self.engine)[0].headers
            pid = str(700_888_000 + i)
            resp = requests.post(
                f"{self.api_url}/v1/products/{pid}/refresh", headers=headers, timeout=60
            )
            if resp.status_code != 200:
                raise BenchError(f"refresh of {pid} answered {resp.status_code}")
            out.append((f"/v1/products/{pid}", headers))
        return out

    # 8, 9 (issue #17) ---------------------------------------------------------------------
    def processes(self) -> None:
        from bench import scale

        n, c = self.counts.e2e_targets, 16
        d = scale.processes(self, n, c)
        self.data["processes"] = d
        self.rows.append(
            Row(
                "8",
                f"end to end: {n} batch targets, 50 ms upstream, 2 worker processes × {c} threads",
                per_s(d["p2"]["per_s"]),
                f"{per_s(d['p1']['per_s'])} with 1 process × {c} threads",
                x(d["ratio"]),
                "report",
                "",
            )
        )

    def big_database(self) -> None:
        from bench import scale

        self.main_worker()
        path, headers = self._spread_lookups(1)[0]
        d = scale.big_database(self, path, headers, self.batch_tenant())
        self.data["big_database"] = d
        for key, what in (
            ("sweep_s", "sweeper pass"),
            ("lookup_s", "cached lookup"),
            ("accept_100_s", "batch accept, 100 targets"),
        ):
            ratio = d["ratios"][key]
            self.rows.append(
                Row(
                    "9",
                    f"{what} with {d['jobs']:,} finished jobs, {d['observations']:,} observations",
                    ms(d["big"][key] * 1000),
                    f"{ms(d['empty'][key] * 1000)} on the database before",
                    x(ratio),
                    "≤ 1.5×",
                    verdict(ratio <= 1.5),
                )
            )

    # 11 + 12 (issue #14) -------------------------------------------------------------------------------
    def fair_share(self) -> None:
        from bench import fairness

        batches, per = (10, 200) if self.counts is FULL else (4, 100)
        # Each mode brings its own worker with fair share on or off; the shared one left by
        # earlier rows would take launches under its own setting (a fair-share launch of a
        # workflow the other mode wrote as already sent: its jobs would wait for the sweeper).
        self.stack.stop("worker")
        d = fairness.fair_share(self.stack, self.app, self.engine, batches, per)
        self.data["fair_share"] = d
        log(f"   {d}")
        what = f"{batches} x {per} targets of A at {fairness.LATENCY_MS} ms, then 1 of B"
        self.rows.append(
            Row(
                "11",
                f"fair share: B's wait behind {what}",
                f"{d['b_fair_s']:.2f} s (fair share)",
                f"{d['b_alone_s']:.2f} s alone; {d['b_fifo_s']:.1f} s without fair share",
                "",
                "≤ 5 s",
                verdict(d["b_fair_s"] <= 5),
            )
        )
        ratio = d["a_fair_per_s"] / d["a_fifo_per_s"]
        self.rows.append(
            Row(
                "11",
                f"fair share: A's throughput, {fairness.THREADS} threads",
                per_s(d["a_fair_per_s"]) + " (fair share)",
                per_s(d["a_fifo_per_s"]) + " without fair share",
                x(ratio),
                "≥ 0.90×",
                verdict(ratio >= 0.9),
            )
        )

    def throttling_host(self) -> None:
        from bench import fairness

        targets, storm = (900, 10.0) if self.counts is FULL else (500, 8.0)
        self.stack.stop("worker")  # the storm's worker alone serves its targets
        d = fairness.throttling_host(self.stack, self.app, self.engine, targets, storm)
        self.data["throttling_host"] = d
        series = " ".join(str(s["requests"]) for s in d["per_second"])
        log(f"   requests/s: {series}")
        self.rows.append(
            Row(
                "12",
                f"429 storm ({storm:g} s) on a 20/s host: requests/s before / storm / after"
                f" ({d['completed']}/{d['targets']} done, {d['failed']} failed when sampling ended)",
                f"{d['before_per_s']:.1f} / {d['storm_per_s']:.1f} / "
                f"{d['after_peak_per_s']:.0f} (peak)",
                f"per second: {series}",
                "",
                "storm < 25% of before, 0 failed",
                verdict(d["storm_per_s"] < 0.25 * d["before_per_s"] and d["failed"] == 0),
            )
        )

    def run(self) -> None:
        with self.rss:
            self.phase("6", "guards vs raw Redis round trips", self.guards)
            self.phase("10", "monitor scheduling pass, 1k due of 100k", self.monitor_schedule)
            # Rows 2 and 3 measure batch targets through the API; without it they fall back
            # to review jobs, a different path with a different CPU bound.
            if self.only & {"1", "2", "3", "4", "5", "7", "8", "9"}:
                log("starting the API under gunicorn (gthread 2×8)")
                self.api_url = self.stack.start_gunicorn("api", "api.app:wsgi()")
                self.rss.add("api", self.api_rss)
            self.phase("1", "batch acceptance vs raw floor", self.batch)
            self.phase("2", "per-refresh worker overhead", self.per_refresh)
            self.phase("4", "synchronous refresh latency", self.sync_refresh)
            self.phase("5", "cached lookup throughput", self.cached_lookups)
            self.phase("3", "end-to-end throughput (and 7: memory)", self.throughput)
            self.phase("8", "one vs two worker processes", self.processes)
            self.phase("9", "a large database", self.big_database)
            self.phase("11", "fair share between organizations", self.fair_share)
            self.phase("12", "request rate to a throttling host", self.throttling_host)
        if "7" in self.only and "3" not in self.only:
            self.rows.append(
                Row(
                    "7",
                    "peak RSS",
                    f"API {mib(self.api_peak_rss)}",
                    "",
                    result="(worker: run with 3)",
                )
            )
