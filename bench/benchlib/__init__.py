"""Helpers for bench/proxy_bench.py: daemons (NSD, dnsdist, Fulcrum), dnsperf phases, reports."""
