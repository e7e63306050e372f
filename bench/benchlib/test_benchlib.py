"""Unit tests for the benchmark's parsing and arithmetic (no root, no daemons):
python3 -m unittest discover -s bench/benchlib -p 'test_*.py'"""

import math
import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchlib import measure, report  # noqa: E402

DNSPERF_OUTPUT = """DNS Performance Testing Tool
[Status] Sending queries (to 127.0.0.2:53)
> NOERROR www.bench.test A 0.000100
> NOERROR (weird) name A 0.000300
> T mail.bench.test A
> NOERROR bench.test SOA 0.000200
> SERVFAIL api.bench.test AAAA 0.004000
> NOERROR broken line
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         5
  Queries completed:    4 (80.00%)
  Queries lost:         1 (20.00%)

  Queries per second:   1999.5
"""


class ParseTests(unittest.TestCase):
    def test_latencies_skip_lost_and_broken_lines(self):
        self.assertEqual(measure.latencies_us(DNSPERF_OUTPUT), [100.0, 200.0, 300.0, 4000.0])

    def test_statistics(self):
        self.assertEqual(measure.stat_value(DNSPERF_OUTPUT, "Queries completed"), 4.0)
        self.assertEqual(measure.stat_value(DNSPERF_OUTPUT, "Queries lost"), 1.0)
        self.assertEqual(measure.stat_value(DNSPERF_OUTPUT, "Queries per second"), 1999.5)
        self.assertTrue(math.isnan(measure.stat_value(DNSPERF_OUTPUT, "Run time (s)")))

    def test_percentile_nearest_rank(self):
        values = [float(v) for v in range(1, 101)]
        self.assertEqual(measure.percentile(values, 0.99), 99.0)
        self.assertEqual(measure.percentile(values, 0.50), 50.0)
        self.assertEqual(measure.percentile([7.0], 0.99), 7.0)
        self.assertTrue(math.isnan(measure.percentile([], 0.99)))

    def test_own_process_tree_has_cpu(self):
        before = measure.tree_ticks([os.getpid()])
        deadline = measure.time.monotonic() + 0.1
        while measure.time.monotonic() < deadline:
            pass
        self.assertGreater(measure.tree_ticks([os.getpid()]), before)
        self.assertEqual(measure.tree_ticks([2**22 + 12345]), 0)


def row(case, qps, cpu, p99):
    return {
        "case": case,
        "saturation": {"qps": qps, "lost": 0, "cpu_us_per_query": {"proxy": cpu, "backends": 5.0}},
        "fixed_rate": {"p99_us": p99, "mean_us": p99 / 2, "lost": 0,
                       "cpu_us_per_query": {"proxy": cpu, "backends": 5.0}},
    }


class SummaryTests(unittest.TestCase):
    def test_ratios_per_round_then_median(self):
        rounds = [
            [row("direct", 100.0, float("nan"), 100.0), row("dnsdist", 50.0, 10.0, 300.0),
             row("fulcrum", 95.0, 4.0, 150.0)],
            [row("direct", 200.0, float("nan"), 100.0), row("dnsdist", 60.0, 10.0, 500.0),
             row("fulcrum", 190.0, 6.0, 180.0)],
            [row("direct", 10.0, float("nan"), 100.0), {"case": "dnsdist", "error": "x"},
             row("fulcrum", 9.0, 5.0, 120.0)],
        ]
        summary = report.summarize(rounds)
        ratios = {k: v["median"] for k, v in summary["ratios"].items()}
        self.assertAlmostEqual(ratios["fulcrum/direct QPS"], 0.95)
        self.assertAlmostEqual(ratios["fulcrum/dnsdist CPU per query (saturation)"], 0.5)
        self.assertAlmostEqual(ratios["fulcrum added p99 us"], 50.0)
        self.assertAlmostEqual(ratios["dnsdist added p99 us"], 300.0)
        self.assertEqual(summary["medians"]["dnsdist"]["rounds_measured"], 2)
        self.assertEqual(summary["medians"]["fulcrum"]["saturation"]["qps"], 95.0)
        text = report.summary_text(summary)
        self.assertIn("fulcrum CPU/query <= 0.5 x dnsdist (saturation): met", text)
        self.assertIn("fulcrum QPS >= 0.9 x direct:                     met", text)

    def test_missing_cases_print_na_and_json_is_strict(self):
        summary = report.summarize([[row("direct", 100.0, float("nan"), 100.0)]])
        self.assertIn("n/a", report.summary_text(summary))
        self.assertIsNone(report.json_safe({"a": [float("nan")]})["a"][0])


if __name__ == "__main__":
    unittest.main()
