#!/usr/bin/env python3
"""A Python client of md-serve: streams one symbol's merged order book over gRPC.

Prints one JSON object per line per summary: symbol, sequence, spread, crossed, bids, asks
(each level {"exchange", "price", "amount"}, prices and amounts the exact decimal strings the
server sent), venues (state name, lag and times in ns as strings, as md-serve's web API) and
the summary's two clocks.

The stubs are generated at start from the repository's proto/orderbook.proto with
`python -m grpc_tools.protoc` into a temporary folder: no generated code is kept.

    python book_client.py --addr 127.0.0.1:9051 --symbol BTC-USDT --count 5

The bearer token, if md-serve wants one, comes from the environment (MD_SERVE_TOKEN) or from
--token-file, never from the command line. Exit codes: 0 after --count summaries or Ctrl-C,
1 when the server is unreachable, refuses the stream or ends it, 2 for bad arguments.
"""

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_PROTO_DIR = Path(__file__).resolve().parent.parent.parent / "proto"
PROG = "book_client.py"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--addr", default="127.0.0.1:9051", help="md-serve's gRPC address, HOST:PORT")
    parser.add_argument("--symbol", required=True, help="BTC-USDT or btcusdt")
    parser.add_argument("--depth", type=int, default=0, help="rows per side (0: the server's default, 10)")
    parser.add_argument("--venues", default="", help="venues to merge, e.g. binance,bybit (default: all)")
    parser.add_argument("--count", type=int, default=0, help="stop after N summaries (0: until Ctrl-C)")
    parser.add_argument("--token-file", help="read the bearer token from this file (else MD_SERVE_TOKEN)")
    parser.add_argument("--proto-dir", default=str(DEFAULT_PROTO_DIR), help="where orderbook.proto is")
    args = parser.parse_args(argv)
    if args.depth < 0 or args.count < 0:
        parser.error("--depth and --count take a whole number, 0 or more")
    return args


def generate_stubs(proto_dir, out_dir):
    """Compiles orderbook.proto into out_dir and imports the two generated modules."""
    proto = Path(proto_dir) / "orderbook.proto"
    if not proto.is_file():
        raise SystemExit(f"{PROG}: {proto} not found (see --proto-dir)")
    command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}",
               f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", str(proto)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{PROG}: protoc failed: {done.stderr.strip()}")
    sys.path.insert(0, out_dir)
    return importlib.import_module("orderbook_pb2"), importlib.import_module("orderbook_pb2_grpc")


def read_token(token_file):
    if token_file:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as e:
            print(f"{PROG}: --token-file {token_file}: {e.strerror}", file=sys.stderr)
            sys.exit(2)
    else:
        token = os.environ.get("MD_SERVE_TOKEN", "").strip()
    return token or None


def level(l):
    return {"exchange": l.exchange, "price": l.price, "amount": l.amount}


def to_json(pb2, summary):
    """One summary as a dict; int64 ns values as strings (JSON readers in other languages
    lose precision beyond 2^53), as md-serve's web API writes them."""
    return {
        "symbol": summary.symbol,
        "sequence": summary.sequence,
        "spread": summary.spread,
        "crossed": summary.crossed,
        "bids": [level(l) for l in summary.bids],
        "asks": [level(l) for l in summary.asks],
        "venues": [
            {
                "exchange": v.exchange,
                "state": pb2.State.Name(v.state) if v.state in pb2.State.values() else str(v.state),
                "since_ns": str(v.since_ns),
                "lag_ns": str(v.lag_ns),
                "exchange_ts_ns": str(v.exchange_ts_ns),
                "local_ts_ns": str(v.local_ts_ns),
                "detail": v.detail,
            }
            for v in summary.venues
        ],
        "exchange_ts_ns": str(summary.exchange_ts_ns),
        "local_ts_ns": str(summary.local_ts_ns),
    }


def stream(args, pb2, pb2_grpc, token):
    import grpc

    metadata = [("authorization", f"Bearer {token}")] if token else []
    venues = [v for v in args.venues.split(",") if v]
    request = pb2.Request(symbol=args.symbol, depth=args.depth, venues=venues)
    with grpc.insecure_channel(args.addr) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=5)
        except grpc.FutureTimeoutError:
            print(f"{PROG}: cannot reach md-serve at {args.addr}", file=sys.stderr)
            return 1
        shown = 0
        try:
            for summary in pb2_grpc.AggregatorStub(channel).BookSummary(request, metadata=metadata):
                print(json.dumps(to_json(pb2, summary)), flush=True)
                shown += 1
                if args.count and shown >= args.count:
                    return 0
        except grpc.RpcError as e:
            print(f"{PROG}: {args.symbol}: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    print(f"{PROG}: md-serve ended the stream of {args.symbol}", file=sys.stderr)
    return 1


def main(argv):
    args = parse_args(argv)
    token = read_token(args.token_file)
    with tempfile.TemporaryDirectory(prefix="md-book-client-") as out_dir:
        pb2, pb2_grpc = generate_stubs(args.proto_dir, out_dir)
        try:
            return stream(args, pb2, pb2_grpc, token)
        except KeyboardInterrupt:
            return 0
        except BrokenPipeError:
            # The reader of our stdout has gone (`| head`): stop quietly, and let the
            # interpreter's last flush go nowhere instead of failing again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
